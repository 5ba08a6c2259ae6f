// The CNI protocol around the commands: which command, its checked arguments and
// config, and what to print. Pure of process I/O (main.ts does that), so tests run
// the plugin in-process. Command modules load lazily: VERSION never loads the
// native binding.
import { parseCmdArgs, parseCommand, type Command } from './args';
import { parseNetConf, requireVersionFor, stateDirOf, type NetConf } from './config';
import { asCniError, type CodeValue } from './errors';
import { resultOf, type CniReport } from './report';
import { SPEC_VERSION, versionInfo } from './versions';

export interface PluginOutput {
  /** JSON for stdout, if the command prints anything. */
  stdout?: string;
  exitCode: 0 | 1;
  /** What to tell the agent (all but VERSION and unknown commands), and where its settings are. */
  report?: { stateDir: string } & Omit<CniReport, 'seconds'>;
}

export async function dispatch(env: NodeJS.ProcessEnv, stdin: Buffer): Promise<PluginOutput> {
  let netConf: NetConf | undefined;
  let command: Command | undefined;
  const reportOf = (code?: CodeValue): PluginOutput['report'] =>
    command && command !== 'VERSION' ? { stateDir: netConf?.stateDir ?? stateDirOf(stdin), command, result: resultOf(code) } : undefined;
  try {
    command = parseCommand(env);
    if (command === 'VERSION') return { stdout: JSON.stringify(versionInfo()), exitCode: 0 };
    const args = parseCmdArgs(command, env);
    netConf = parseNetConf(stdin);
    let output: Record<string, unknown> | undefined;
    switch (command) {
      case 'ADD':
        output = await (await import('./add')).add(args, netConf);
        break;
      case 'DEL':
        await (await import('./del')).del(args, netConf);
        break;
      case 'CHECK':
        requireVersionFor('CHECK', netConf, '0.4.0');
        await (await import('./check')).check(args, netConf);
        break;
      case 'STATUS':
        requireVersionFor('STATUS', netConf, '1.1.0');
        (await import('./status')).status(netConf);
        break;
      case 'GC':
        requireVersionFor('GC', netConf, '1.1.0');
        await (await import('./gc')).gc(netConf);
        break;
    }
    return { ...(output ? { stdout: JSON.stringify(output) } : {}), exitCode: 0, report: reportOf() };
  } catch (thrown) {
    const error = asCniError(thrown);
    const body = { cniVersion: netConf?.cniVersion ?? SPEC_VERSION, code: error.code, msg: error.msg, ...(error.details ? { details: error.details } : {}) };
    return { stdout: JSON.stringify(body), exitCode: 1, report: reportOf(error.code) };
  }
}
