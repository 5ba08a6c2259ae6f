// The agent's configuration: a YAML or JSON file (--config), then flags over it, then
// defaults; validated once so every later step can trust it.
import fs from 'node:fs';

import YAML from 'yaml';

import { DEFAULT_BPFFS_ROOT } from '../../bpf/datapath';
import { ATTACH_CHOICES, type AttachChoice } from '../../bpf/device-hooks';
import { addressesByFamily, cidrsByFamily, type CidrsByFamily } from '../../bpf/addresses';
import { parseIpv4Prefix } from '../netlink';
import { DEFAULT_STATE_DIR } from '../api/cni';

export type Mode = 'native' | 'vxlan';

export interface AgentConfig {
  nodeName: string;
  /** This node's pod range, or one of each family (IPv4,IPv6) for dual-stack pods; default: what the node source says of this node. */
  podCIDR?: string;
  /** Every pod range of the cluster, one of each family the pods have; pod traffic to anywhere else is masqueraded. */
  clusterCIDR?: string;
  /** This node's address on the uplink; reached by other nodes (cross-node issue). */
  nodeIP?: string;
  /** The device carrying traffic to other nodes; from_netdev is attached to it. */
  uplink?: string;
  bpffsRoot: string;
  stateDir: string;
  /** Runtime files: the socket the CNI plugin sends its requests to (cni.sock). */
  runDir: string;
  /** A static list of nodes and their pod CIDRs (cross-node issue). */
  nodesFile?: string;
  mode: Mode;
  /** How programs attach to devices: TCX links (Linux 6.6+), clsact filters (tc), or TCX where the kernel has it (auto). */
  attach: AttachChoice;
  /** VXLAN network identifier in overlay mode. */
  vni: number;
  /** UDP port of the VXLAN overlay; the same on every node. */
  vxlanPort: number;
  /** Kubeconfig for the Node informer; in a pod the service account is used instead. */
  kubeconfig?: string;
  /** Pod interface MTU; default: the uplink's MTU, or 1500 without one. */
  mtu?: number;
  metricsPort: number;
  logLevel: string;
  /**
   * The node's /proc/sys/net, where the agent sets the host side of pod veths so that
   * pods cannot reconfigure the node (a container's own /proc/sys is read-only).
   */
  procSysNet: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const KEYS: Record<keyof AgentConfig, 'string' | 'number'> = {
  nodeName: 'string',
  podCIDR: 'string',
  clusterCIDR: 'string',
  vni: 'number',
  vxlanPort: 'number',
  kubeconfig: 'string',
  nodeIP: 'string',
  uplink: 'string',
  bpffsRoot: 'string',
  stateDir: 'string',
  runDir: 'string',
  nodesFile: 'string',
  mode: 'string',
  attach: 'string',
  mtu: 'number',
  metricsPort: 'number',
  logLevel: 'string',
  procSysNet: 'string',
};

const DEFAULTS = {
  bpffsRoot: DEFAULT_BPFFS_ROOT,
  stateDir: DEFAULT_STATE_DIR,
  runDir: '/run/twill',
  mode: 'native',
  attach: 'auto',
  vni: 1,
  vxlanPort: 8472,
  metricsPort: 9962,
  logLevel: 'info',
  procSysNet: '/proc/sys/net',
} as const;

/** One CIDR, or one of each family separated by a comma, as Kubernetes writes them. */
export function requireCidrs(name: string, value: string): CidrsByFamily {
  try {
    return cidrsByFamily(value);
  } catch (error) {
    throw new ConfigError(`${name} ${JSON.stringify(value)} is not a CIDR such as 10.244.1.0/24, nor one of each family such as 10.244.1.0/24,fd00:10:244:1::/64: ${(error as Error).message}`);
  }
}

const familyNames = (cidrs: CidrsByFamily): string => Object.keys(cidrs).sort().join(' and ') || 'none';

/** The node's pod CIDRs (from the flags or its node source) must have the cluster's families. */
export function requireSameFamilies(podCIDR: string, clusterCIDR: string): void {
  const [podCIDRs, clusterCIDRs] = [requireCidrs('podCIDR', podCIDR), requireCidrs('clusterCIDR', clusterCIDR)];
  if (familyNames(podCIDRs) !== familyNames(clusterCIDRs)) {
    throw new ConfigError(`podCIDR ${podCIDR} (${familyNames(podCIDRs)}) and clusterCIDR ${clusterCIDR} (${familyNames(clusterCIDRs)}) differ in IP families: give the node a pod CIDR of each family the cluster has`);
  }
}

/** Reads a config file; YAML is a superset of JSON, so one parser serves both. */
export function readConfigFile(file: string): Partial<AgentConfig> {
  let parsed: unknown;
  try {
    parsed = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`config file ${file}: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file}: expected a mapping of settings`);
  for (const [key, value] of Object.entries(parsed)) {
    const type = KEYS[key as keyof AgentConfig];
    if (!type) throw new ConfigError(`config file ${file}: unknown setting ${JSON.stringify(key)} (known: ${Object.keys(KEYS).join(', ')})`);
    if (typeof value !== type) throw new ConfigError(`config file ${file}: ${key} must be a ${type}`);
  }
  return parsed as Partial<AgentConfig>;
}

/** Merges file and flags (flags win) over the defaults and validates the result. */
export function resolveConfig(file: Partial<AgentConfig>, flags: Partial<AgentConfig>): AgentConfig {
  const merged = { ...DEFAULTS, ...file, ...flags };
  const { nodeName, podCIDR, clusterCIDR, nodeIP, mode, attach, mtu, metricsPort, vni, vxlanPort } = merged;
  if (!nodeName) throw new ConfigError('nodeName is required (--node-name, or NODE_NAME from the downward API)');
  const podCIDRs = podCIDR === undefined ? undefined : requireCidrs('podCIDR', podCIDR);
  if (podCIDRs?.ipv4 && parseIpv4Prefix(podCIDRs.ipv4).prefixLength > 30) throw new ConfigError(`podCIDR ${podCIDRs.ipv4} is too small for pods: use /30 or larger`);
  if (clusterCIDR !== undefined) requireCidrs('clusterCIDR', clusterCIDR);
  // A node with one family in a dual-stack cluster, or the other way round, would have
  // pods that cannot reach half the cluster, or traffic masqueraded that should not be.
  if (podCIDR !== undefined && clusterCIDR !== undefined) requireSameFamilies(podCIDR, clusterCIDR);
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) throw new ConfigError(`vni ${vni} must be an integer from 1 to 16777215`);
  if (nodeIP !== undefined) {
    try {
      addressesByFamily(nodeIP);
    } catch (error) {
      throw new ConfigError(`nodeIP ${JSON.stringify(nodeIP)} is not an address such as 192.168.1.10, nor one of each family such as 192.168.1.10,fd00:1::10: ${(error as Error).message}`);
    }
  }
  if (mode !== 'native' && mode !== 'vxlan') throw new ConfigError(`mode ${JSON.stringify(mode)} must be native or vxlan`);
  if (!(ATTACH_CHOICES as readonly string[]).includes(attach)) throw new ConfigError(`attach ${JSON.stringify(attach)} must be one of ${ATTACH_CHOICES.join(', ')}`);
  // Pod traffic for other nodes' own addresses leaves unwrapped, and the receiver refuses
  // pod sources that do not arrive in the tunnel: it must leave masqueraded.
  if (mode === 'vxlan' && clusterCIDR === undefined) throw new ConfigError('mode vxlan needs clusterCIDR: pod traffic to other nodes\' own addresses must be masqueraded, since a node refuses pod sources that do not arrive through the tunnel');
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535)) throw new ConfigError(`mtu ${mtu} must be an integer from 576 to 65535`);
  if (!Number.isInteger(metricsPort) || metricsPort < 1 || metricsPort > 65535) throw new ConfigError(`metricsPort ${metricsPort} must be a TCP port`);
  if (!Number.isInteger(vxlanPort) || vxlanPort < 1 || vxlanPort > 65535) throw new ConfigError(`vxlanPort ${vxlanPort} must be a UDP port`);
  return { ...merged, nodeName, mode, attach };
}
