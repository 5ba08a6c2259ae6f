// How the plugin tells the agent what it did, for the agent's CNI metrics: one JSON line
// per command over a unix socket the agent listens on. Best effort by design: a plugin
// must never fail or wait because the agent is down, slow or gone, so every failure is
// ignored and the whole exchange is cut off after REPORT_TIMEOUT_MS.
import net from 'node:net';

import { COMMANDS, type Command } from './args';
import { Code, type CodeValue } from './errors';

export interface CniReport {
  command: Exclude<Command, 'VERSION'>;
  /** 'success', or the CNI error code's name (try_again_later, internal, …). */
  result: string;
  /** From the plugin process starting to its result. */
  seconds: number;
}

/** A connect on a local socket takes microseconds; this only bounds a wedged agent. */
export const REPORT_TIMEOUT_MS = 50;
/** One report is well under this; anything longer is not ours. */
export const MAX_REPORT_BYTES = 512;

/** IncompatibleVersion → incompatible_version: label values from the code table itself. */
const RESULT_OF_CODE = new Map<number, string>(Object.entries(Code).map(([name, code]) => [code, name.replace(/(?<!^)([A-Z])/g, '_$1').toLowerCase()]));
const RESULTS = new Set(['success', ...RESULT_OF_CODE.values()]);
export const REPORTED_COMMANDS = COMMANDS.filter((command): command is CniReport['command'] => command !== 'VERSION');

export function resultOf(code: CodeValue | undefined): string {
  return code === undefined ? 'success' : (RESULT_OF_CODE.get(code) as string);
}

/** Sends one report; resolves once it is written or has failed, never rejects. */
export function sendReport(socketPath: string, report: CniReport): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.createConnection(socketPath);
    const finish = (): void => {
      socket.destroy();
      resolve();
    };
    socket.setTimeout(REPORT_TIMEOUT_MS, finish);
    socket.once('error', finish);
    socket.once('connect', () => socket.end(JSON.stringify(report) + '\n', finish));
  });
}

/** The agent's side: a report it can count, or undefined for anything else. */
export function parseReport(line: string): CniReport | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  const { command, result, seconds } = (raw ?? {}) as Record<string, unknown>;
  if (typeof command !== 'string' || !(REPORTED_COMMANDS as readonly string[]).includes(command)) return undefined;
  if (typeof result !== 'string' || !RESULTS.has(result)) return undefined;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return undefined;
  return { command: command as CniReport['command'], result, seconds };
}
