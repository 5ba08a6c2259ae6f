// Command-line flags of twill-agent, as a partial config that overrides the file.
import { parseArgs } from 'node:util';

import { ConfigError, type AgentConfig } from './config';

export const USAGE = `usage: twill-agent [--config FILE] [flags]
  --config FILE        YAML or JSON settings; flags override it
  --node-name NAME     this node (default: $NODE_NAME)
  --pod-cidr CIDR      this node's pod range, or one per family (default: from the node source)
  --cluster-cidr CIDR  all pod ranges, one per family; pod traffic to elsewhere is masqueraded
  --node-ip IP[,IP]    this node's address towards other nodes, one per family
  --uplink DEVICE      the device towards other nodes (default: the one holding the node IP)
  --bpffs-root DIR     where maps, programs and links are pinned (default /sys/fs/bpf/twill)
  --state-dir DIR      node settings and IPAM state (default /var/lib/twill)
  --run-dir DIR        runtime files: the socket the CNI plugin asks (default /run/twill)
  --nodes-file FILE    static list of nodes {name, podCIDRs, internalIPs}, reloaded on change
  --kubeconfig FILE    watch Node objects with this kubeconfig (in a pod: the service account)
  --mode MODE          native (default) or vxlan
  --attach MODE        how programs attach to devices: auto (default: tcx where the
                       kernel has it, Linux 6.6+), tcx, or tc (clsact filters)
  --vni N              VXLAN network identifier (default 1)
  --vxlan-port PORT    VXLAN UDP port (default 8472, as Flannel and the Linux default use)
  --mtu N              pod MTU (default: the uplink's, or 1500)
  --metrics-port PORT  Prometheus metrics and health (default 9962)
  --proc-sys-net DIR   the node's /proc/sys/net, writable (default /proc/sys/net)
  --log-level LEVEL    pino level (default info)`;

export interface ParsedFlags {
  configFile?: string;
  help: boolean;
  overrides: Partial<AgentConfig>;
}

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv): ParsedFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        config: { type: 'string' },
        'node-name': { type: 'string' },
        'pod-cidr': { type: 'string' },
        'cluster-cidr': { type: 'string' },
        kubeconfig: { type: 'string' },
        vni: { type: 'string' },
        'vxlan-port': { type: 'string' },
        'node-ip': { type: 'string' },
        uplink: { type: 'string' },
        'bpffs-root': { type: 'string' },
        'state-dir': { type: 'string' },
        'run-dir': { type: 'string' },
        'nodes-file': { type: 'string' },
        mode: { type: 'string' },
        attach: { type: 'string' },
        mtu: { type: 'string' },
        'metrics-port': { type: 'string' },
        'log-level': { type: 'string' },
        'proc-sys-net': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n${USAGE}`);
  }
  const number = (flag: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) throw new ConfigError(`--${flag} must be a whole number, got ${JSON.stringify(value)}`);
    return Number(value);
  };
  const overrides: Partial<AgentConfig> = {
    nodeName: values['node-name'] ?? env.NODE_NAME,
    podCIDR: values['pod-cidr'],
    clusterCIDR: values['cluster-cidr'],
    kubeconfig: values.kubeconfig,
    vni: number('vni', values.vni),
    vxlanPort: number('vxlan-port', values['vxlan-port']),
    nodeIP: values['node-ip'],
    uplink: values.uplink,
    bpffsRoot: values['bpffs-root'],
    stateDir: values['state-dir'],
    runDir: values['run-dir'],
    nodesFile: values['nodes-file'],
    mode: values.mode as AgentConfig['mode'] | undefined,
    attach: values.attach as AgentConfig['attach'] | undefined,
    mtu: number('mtu', values.mtu),
    metricsPort: number('metrics-port', values['metrics-port']),
    logLevel: values['log-level'],
    procSysNet: values['proc-sys-net'],
  };
  for (const key of Object.keys(overrides) as Array<keyof AgentConfig>) {
    if (overrides[key] === undefined) delete overrides[key];
  }
  return { configFile: values.config, help: values.help ?? false, overrides };
}
