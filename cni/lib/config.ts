// The network configuration on stdin: decoded, typed, validated, with Twill's defaults.
import { DEFAULT_AGENT_SOCKET, DEFAULT_STATE_DIR, type Attachment, type PodLimits } from '../../agent/api/cni';
import { parseBandwidth } from './bandwidth';
import { Code, CniError, invalidConfig as invalid } from './errors';
import { parseResult, type Result } from './result';
import { SUPPORTED_VERSIONS, atLeast } from './versions';

export type { Attachment };

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** The agent's unix socket (default /run/twill/cni.sock). */
  agentSocket: string;
  /** The agent's state directory (default /var/lib/twill), where a DEL it cannot take waits for it. */
  stateDir: string;
  /** Pod MTU; default: what the agent published for this node. */
  mtu?: number;
  /** The pod's bandwidth limits (runtimeConfig.bandwidth). */
  limits?: PodLimits;
  prevResult?: Result;
  /** GC: the attachments the runtime still knows; everything else is garbage. */
  validAttachments?: Attachment[];
}

/** stdin larger than this is refused before parsing. */
export const MAX_STDIN_BYTES = 1 << 20;
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function optionalString(raw: Record<string, unknown>, field: string): string | undefined {
  const value = raw[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') invalid(field, 'must be a non-empty string');
  if (!value.startsWith('/')) invalid(field, `must be an absolute path, got ${JSON.stringify(value)}`);
  return value;
}

function parseValidAttachments(value: unknown): Attachment[] {
  if (!Array.isArray(value)) invalid('cni.dev/valid-attachments', 'must be a list');
  return value.map((entry: unknown, i) => {
    const attachment = entry as Record<string, unknown>;
    if (typeof attachment?.containerID !== 'string' || typeof attachment?.ifname !== 'string') {
      invalid(`cni.dev/valid-attachments[${i}]`, 'must have string containerID and ifname');
    }
    return { containerID: attachment.containerID as string, ifname: attachment.ifname as string };
  });
}

/**
 * The agent socket a config names, even one that fails validation, so that a refused
 * command is still counted by that node's agent; the default when there is none.
 */
export function agentSocketOf(stdin: Buffer): string {
  try {
    const { agentSocket } = JSON.parse(stdin.toString('utf8')) as { agentSocket?: unknown };
    if (typeof agentSocket === 'string' && agentSocket.startsWith('/')) return agentSocket;
  } catch {
    // Not JSON: the command's own error says so.
  }
  return DEFAULT_AGENT_SOCKET;
}

export function parseNetConf(stdin: Buffer): NetConf {
  if (stdin.length > MAX_STDIN_BYTES) throw new CniError(Code.DecodeFailure, `network config on stdin is ${stdin.length} bytes, more than the ${MAX_STDIN_BYTES} allowed`);
  let raw: unknown;
  try {
    raw = JSON.parse(stdin.toString('utf8'));
  } catch (error) {
    throw new CniError(Code.DecodeFailure, `network config on stdin is not JSON: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CniError(Code.DecodeFailure, 'network config on stdin must be a JSON object');
  const config = raw as Record<string, unknown>;

  const { cniVersion, name, type, mtu, ipam } = config;
  if (typeof cniVersion !== 'string' || cniVersion === '') invalid('cniVersion', 'is required and must be a string');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(Code.IncompatibleVersion, `cniVersion ${JSON.stringify(cniVersion)} is not supported`, `supported versions: ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) invalid('name', 'is required: letters, digits, "_", "." and "-", starting with a letter or digit');
  if (typeof type !== 'string' || type === '') invalid('type', 'is required and must be a string');
  if (mtu !== undefined && (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 576 || mtu > 65535)) invalid('mtu', 'must be an integer from 576 to 65535');
  if (ipam !== undefined) throw new CniError(Code.UnsupportedField, 'network config: ipam is not supported: Twill assigns pod addresses from the node\'s pod CIDR itself');
  const { runtimeConfig } = config;
  if (runtimeConfig !== undefined && (typeof runtimeConfig !== 'object' || runtimeConfig === null || Array.isArray(runtimeConfig))) invalid('runtimeConfig', 'must be an object');

  const netConf: NetConf = {
    cniVersion,
    name,
    type,
    agentSocket: optionalString(config, 'agentSocket') ?? DEFAULT_AGENT_SOCKET,
    stateDir: optionalString(config, 'stateDir') ?? DEFAULT_STATE_DIR,
  };
  if (mtu !== undefined) netConf.mtu = mtu as number;
  const limits = parseBandwidth(runtimeConfig as Record<string, unknown> | undefined);
  if (limits) netConf.limits = limits;
  if (config.prevResult !== undefined && config.prevResult !== null) netConf.prevResult = parseResult(config.prevResult);
  if (config['cni.dev/valid-attachments'] !== undefined) {
    netConf.validAttachments = parseValidAttachments(config['cni.dev/valid-attachments']);
  }
  return netConf;
}

/** Commands newer than the config's version are refused, as the spec asks. */
export function requireVersionFor(command: string, netConf: NetConf, minimum: string): void {
  if (!atLeast(netConf.cniVersion, minimum)) {
    throw new CniError(Code.IncompatibleVersion, `${command} needs cniVersion ${minimum} or later; the config says ${netConf.cniVersion}`);
  }
}
