#!/usr/bin/env node
// twill: inspects Twill's datapath on this node from its pinned maps, programs and
// links, whether or not the agent is running. Tables for people, --json for scripts.
//
//   lib/cli/node-state.ts   what is read from the pins and node settings
//   lib/cli/table.ts        text tables
import { parseArgs } from 'node:util';

import { DEFAULT_BPFFS_ROOT, pinPaths } from '../bpf/datapath';
import { TC_HANDLE, TC_PRIORITY, listAttachments } from '../bpf/device-hooks';
import { DEFAULT_STATE_DIR } from './api/cni';
import { pinnedEndpoints, pinnedRemoteSubnets } from '../bpf/pinned-maps';
import { readCounterRows, readNodeState, requireDatapath } from './lib/cli/node-state';
import { formatLimit, formatTable } from './lib/cli/table';
import { readRefusedNodes } from './lib/refused-nodes';

const USAGE = `usage: twill <command> [--json] [--bpffs-root DIR] [--state-dir DIR] [--metrics-port PORT]
  status      node settings, programs, device hooks, map occupancy, and whether the agent is ready
  endpoints   this node's pods (the endpoints map)
  nodes       the other nodes' pod subnets (the node_subnets map), and the nodes refused, with why
  counters    packets and bytes by reason and hook (the counters map)
options:
  --json               print JSON instead of a table
  --bpffs-root DIR     where the agent pinned the datapath (default ${DEFAULT_BPFFS_ROOT})
  --state-dir DIR      the agent's state dir, for the node settings (default ${DEFAULT_STATE_DIR})
  --metrics-port PORT  the agent's metrics and health port on this host (default 9962)`;

const AGENT_TIMEOUT_MS = 1000;

interface Options {
  json: boolean;
  bpffsRoot: string;
  stateDir: string;
  metricsPort: number;
}

/** The agent's own answer to /readyz, or why there is none. */
async function agentReadiness(port: number): Promise<{ ready: boolean; detail: string }> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(AGENT_TIMEOUT_MS) });
    return { ready: response.ok, detail: (await response.text()).trim() };
  } catch (error) {
    return { ready: false, detail: `not answering on port ${port} (${(error as Error).cause ?? (error as Error).message}); the datapath keeps running without it` };
  }
}

async function status(options: Options): Promise<unknown> {
  const state = readNodeState(options.bpffsRoot, options.stateDir);
  const agent = await agentReadiness(options.metricsPort);
  if (options.json) return { ...state, agent };
  const { settings } = state;
  const lines = [
    `node:       ${settings ? `${settings.nodeName}, pods from ${settings.podCIDR}, MTU ${settings.mtu}` : `no node settings in ${options.stateDir} (the agent has not finished starting here)`}`,
    `agent:      ${agent.ready ? 'ready' : agent.detail.replace(/\n/g, '; ')}`,
    `bpffs:      ${options.bpffsRoot}`,
    `pods:       ${state.podAttachments} attached`,
    '',
    formatTable(['PROGRAM', 'ID', 'TAG'], state.programs.map((p) => [p.name, p.id, p.tag])),
    '',
    formatTable(['DEVICE', 'HOOK', 'PROGRAM', 'ATTACHED AS'], state.deviceAttachments.map((a) => [a.device, a.direction, a.program, a.linkId ? `tcx link ${a.linkId}` : `tc filter handle 0x${TC_HANDLE.toString(16)} pref ${TC_PRIORITY}`])),
    '',
    formatTable(['MAP', 'ENTRIES', 'CAPACITY'], state.maps.map((m) => [m.name, m.entries, m.capacity])),
  ];
  return lines.join('\n');
}

function endpoints(options: Options): unknown {
  requireDatapath(options.bpffsRoot);
  const veths = new Map(listAttachments(pinPaths(options.bpffsRoot)).filter((a) => a.program === 'from_pod').map((a) => [a.ifindex, a.device]));
  const rows = pinnedEndpoints(options.bpffsRoot).map((e) => ({ ...e, hostVeth: veths.get(e.ifindex) ?? '', usesStack: e.usesStack ?? false }));
  if (options.json) return rows;
  return formatTable(
    ['POD IP', 'HOST VETH', 'IFINDEX', 'POD MAC', 'HOST MAC', 'USES STACK', 'INGRESS LIMIT', 'EGRESS LIMIT'],
    rows.map((e) => [[e.ip, e.ip6].filter(Boolean).join(','), e.hostVeth || '-', e.ifindex, e.podMac, e.hostMac, e.usesStack ? 'yes' : 'no', formatLimit(e.limits.ingress), formatLimit(e.limits.egress)]),
  );
}

function nodes(options: Options): unknown {
  requireDatapath(options.bpffsRoot);
  const subnets = pinnedRemoteSubnets(options.bpffsRoot);
  const refused = readRefusedNodes(options.stateDir) ?? [];
  if (options.json) return { subnets, refused };
  const routed = formatTable(['POD SUBNET', 'NODE IP', 'VIA'], subnets.map((s) => [s.cidr, s.nodeIp, s.tunnel ? 'vxlan' : 'native']));
  if (refused.length === 0) return routed;
  const refusals = formatTable(['REFUSED NODE', 'FAMILY', 'POD SUBNET', 'NODE IP', 'REASON'], refused.map((n) => [n.name, n.family ?? '-', n.podCIDR ?? '-', n.internalIP ?? '-', n.reason]));
  return [routed, '', refusals, '', ...refused.map((n) => `${n.name}: ${n.detail}`)].join('\n');
}

function counters(options: Options): unknown {
  const rows = readCounterRows(options.bpffsRoot);
  if (options.json) return rows.map((c) => ({ ...c, packets: Number(c.packets), bytes: Number(c.bytes) }));
  return formatTable(['REASON', 'FAMILY', 'DIRECTION', 'PACKETS', 'BYTES'], rows.map((c) => [c.reason, c.family, c.direction, c.packets, c.bytes]));
}

const COMMANDS: Record<string, (options: Options) => unknown> = { status, endpoints, nodes, counters };

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      'bpffs-root': { type: 'string', default: DEFAULT_BPFFS_ROOT },
      'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
      'metrics-port': { type: 'string', default: '9962' },
      help: { type: 'boolean', default: false },
    },
  });
  const command = COMMANDS[positionals[0] ?? ''];
  if (values.help || !command || positionals.length !== 1) {
    (values.help ? process.stdout : process.stderr).write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const options = { json: values.json, bpffsRoot: values['bpffs-root'], stateDir: values['state-dir'], metricsPort: Number(values['metrics-port']) };
  const output = await command(options);
  process.stdout.write(`${options.json ? JSON.stringify(output, null, 2) : output}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`twill: ${error.message}\n`);
    process.exitCode = 1;
  },
);
