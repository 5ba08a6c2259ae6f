// How the plugin tells the agent what it did, for the agent's CNI metrics: one JSON line
// per command over a unix socket the agent listens on. Best effort by design: a plugin
// must never fail or wait because the agent is down, slow or gone, so the line is handed
// to the socket without blocking (tsbpf's sendToUnixSocket: Node's net module cost every
// command ~3 ms more, measured, mostly to load it) and any failure is ignored.
import { COMMANDS, type Command } from './args';
import { Code, type CodeValue } from './errors';

export interface CniReport {
  command: Exclude<Command, 'VERSION'>;
  /** 'success', or the CNI error code's name (try_again_later, internal, …). */
  result: string;
  /** From the plugin process starting to its result. */
  seconds: number;
}

/** One report is well under this; anything longer is not ours. */
export const MAX_REPORT_BYTES = 512;

/** IncompatibleVersion → incompatible_version: label values from the code table itself. */
const RESULT_OF_CODE = new Map<number, string>(Object.entries(Code).map(([name, code]) => [code, name.replace(/(?<!^)([A-Z])/g, '_$1').toLowerCase()]));
const RESULTS = new Set(['success', ...RESULT_OF_CODE.values()]);
export const REPORTED_COMMANDS = COMMANDS.filter((command): command is CniReport['command'] => command !== 'VERSION');

export function resultOf(code: CodeValue | undefined): string {
  return code === undefined ? 'success' : (RESULT_OF_CODE.get(code) as string);
}

/** Sends one report to the socket at `socketPath` (a non-empty path), or gives up at once. */
export function sendReport(socketPath: string, report: CniReport): void {
  // Loaded here, not at the top: the command table above is all VERSION needs of this
  // module, and VERSION never loads the native binding.
  const { sendToUnixSocket } = require('../../bpf/tsbpf') as typeof import('../../bpf/tsbpf');
  sendToUnixSocket(socketPath, Buffer.from(JSON.stringify(report) + '\n'));
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
