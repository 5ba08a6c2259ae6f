// The CNI_* environment as a typed CmdArgs, checked the way the runtime would expect:
// which variables each command needs, and what a container ID and interface name may be.
import { Code, CniError } from './errors';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CmdArgs {
  command: Command;
  containerID: string;
  /** Empty on a DEL after the sandbox is gone (containerd sends CNI_NETNS=""). */
  netns: string;
  ifname: string;
  /** CNI_ARGS as key/value pairs (K8S_POD_NAMESPACE, K8S_POD_NAME, …). */
  args: Record<string, string>;
  path: string;
}

const ATTACHMENT_COMMANDS: readonly Command[] = ['ADD', 'DEL', 'CHECK'];
// Which variables each command cannot do without (CNI_NETNS is optional for DEL).
const REQUIRED: Record<string, readonly Command[]> = {
  CNI_CONTAINERID: ATTACHMENT_COMMANDS,
  CNI_NETNS: ['ADD', 'CHECK'],
  CNI_IFNAME: ATTACHMENT_COMMANDS,
  CNI_PATH: ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'],
};
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
// Arguments the Kubernetes runtimes pass; anything else needs IgnoreUnknown=1.
const KNOWN_ARGS = new Set(['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

export function validateInterfaceName(name: string, field: string): void {
  if (name.length > 15 || name === '.' || name === '..' || !/^[^\s/:]+$/.test(name)) {
    throw new CniError(Code.InvalidEnvironment, `${field} ${JSON.stringify(name)} is not a valid interface name: at most 15 characters, none of them '/', ':' or whitespace`);
  }
}

export function parseCniArgs(text: string): Record<string, string> {
  const args: Record<string, string> = {};
  for (const pair of text.split(';').filter((p) => p !== '')) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new CniError(Code.InvalidEnvironment, `CNI_ARGS: ${JSON.stringify(pair)} is not KEY=VALUE`);
    args[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  const ignoreUnknown = ['1', 'true'].includes((args.IgnoreUnknown ?? '').toLowerCase());
  const unknown = Object.keys(args).filter((key) => !KNOWN_ARGS.has(key));
  if (unknown.length > 0 && !ignoreUnknown) {
    throw new CniError(Code.UnsupportedField, `CNI_ARGS: unknown argument ${unknown.join(', ')} (pass IgnoreUnknown=1 to ignore it)`);
  }
  return args;
}

export function parseCommand(env: NodeJS.ProcessEnv): Command {
  const command = env.CNI_COMMAND;
  if (!command) throw new CniError(Code.InvalidEnvironment, 'CNI_COMMAND is not set');
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(Code.InvalidEnvironment, `CNI_COMMAND ${JSON.stringify(command)} is not one of ${COMMANDS.join(', ')}`);
  }
  return command as Command;
}

export function parseCmdArgs(command: Command, env: NodeJS.ProcessEnv): CmdArgs {
  const missing = Object.entries(REQUIRED)
    .filter(([name, commands]) => commands.includes(command) && !env[name])
    .map(([name]) => name);
  if (missing.length > 0) throw new CniError(Code.InvalidEnvironment, `required environment variables missing for ${command}: ${missing.join(', ')}`);
  const args: CmdArgs = {
    command,
    containerID: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    path: env.CNI_PATH ?? '',
  };
  if (ATTACHMENT_COMMANDS.includes(command)) {
    if (!CONTAINER_ID.test(args.containerID)) {
      throw new CniError(Code.InvalidEnvironment, `CNI_CONTAINERID ${JSON.stringify(args.containerID)} must start with a letter or digit and hold only letters, digits, '_', '.' and '-'`);
    }
    validateInterfaceName(args.ifname, 'CNI_IFNAME');
    if (args.netns !== '' && !args.netns.startsWith('/')) {
      throw new CniError(Code.InvalidEnvironment, `CNI_NETNS ${JSON.stringify(args.netns)} must be an absolute path`);
    }
  }
  return args;
}
