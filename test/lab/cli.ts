// The lab command (the README's first command):
//   up [--nodes N] [--pods N] [--mode native|vxlan] [--ip-family ipv4|ipv6|dual] [--no-iperf]
//        builds the cluster, prints its pods and a connectivity matrix, runs a short
//        iperf3 between pods on two nodes, and leaves it running to explore
//   status   the matrix again
//   down     removes everything the lab made
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { inNetns, repoRoot } from '../helpers/kernel';
import { executablesOf } from '../helpers/processes';
import { LAB_IP_FAMILIES, connectivityMatrix, labDown, labUp, type Lab, type LabIpFamily, type LabMode } from './cluster';

const LAB_DIRECTORY = '/run/twill-lab';
const STATE_FILE = '/run/twill-lab.json';
const PREFIX = 'twl-';

function save(lab: Lab): void {
  fs.writeFileSync(STATE_FILE, JSON.stringify(lab, null, 2), { mode: 0o600 });
}

function load(): Lab | undefined {
  return fs.existsSync(STATE_FILE) ? (JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as Lab) : undefined;
}

function down(): void {
  const lab = load();
  if (!lab) {
    console.log('no lab is running');
    return;
  }
  labDown(lab);
  fs.rmSync(STATE_FILE, { force: true });
  console.log('lab removed: agents stopped, namespaces, bpffs mount and state deleted');
}

function printMatrix(lab: Lab): boolean {
  const cells = connectivityMatrix(lab);
  const sources = [...new Set(cells.map((c) => c.from))];
  const width = Math.max(...lab.pods.map((p) => p.name.length), 6) + 1;
  console.log(`\nconnectivity (ping${lab.options.ipFamily === 'dual' ? ', each pod at both addresses' : ''}), ${lab.options.mode} mode, ${lab.options.ipFamily ?? 'ipv4'}:`);
  console.log(''.padEnd(width) + lab.pods.map((p) => p.name.padEnd(width)).join(''));
  for (const from of sources) {
    const row = lab.pods.map((pod) => {
      const cell = cells.find((c) => c.from === from && c.to === pod.name);
      return (cell ? (cell.ok ? 'ok' : 'FAIL') : '-').padEnd(width);
    });
    console.log(from.padEnd(width) + row.join(''));
  }
  const failed = cells.filter((c) => !c.ok).length;
  console.log(`${cells.length - failed}/${cells.length} reachable`);
  return failed === 0;
}

/** A short iperf3 run from the first pod of node 1 to the first pod of node 2. */
async function iperf(lab: Lab): Promise<void> {
  const client = lab.pods.find((p) => p.node === 'node1');
  const server = lab.pods.find((p) => p.node === 'node2');
  if (!client || !server) return;
  const daemon = spawn('ip', ['netns', 'exec', server.ns, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const report = JSON.parse(inNetns(client.ns, 'iperf3', ['-c', server.ip, '-t', '2', '-J'], 30_000)) as { end: { sum_received: { bits_per_second: number } } };
    console.log(`\niperf3 ${client.name} -> ${server.name} (across nodes, 2 s): ${(report.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s`);
  } finally {
    daemon.kill('SIGKILL');
  }
}

const CLI = executablesOf(repoRoot).cli;

async function up(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { nodes: { type: 'string', default: '2' }, pods: { type: 'string', default: '2' }, mode: { type: 'string', default: 'native' }, 'ip-family': { type: 'string', default: 'ipv4' }, 'no-iperf': { type: 'boolean', default: false } } });
  const mode = values.mode as LabMode;
  if (mode !== 'native' && mode !== 'vxlan') throw new Error('--mode must be native or vxlan');
  const ipFamily = values['ip-family'] as LabIpFamily;
  if (!LAB_IP_FAMILIES.includes(ipFamily)) throw new Error(`--ip-family must be one of ${LAB_IP_FAMILIES.join(', ')}`);
  const nodes = Number(values.nodes);
  const podsPerNode = Number(values.pods);
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 8) throw new Error('--nodes must be 2 to 8');
  if (!Number.isInteger(podsPerNode) || podsPerNode < 1 || podsPerNode > 16) throw new Error('--pods must be 1 to 16');
  if (load()) down();

  console.log(`bringing up ${nodes} nodes with ${podsPerNode} pods each (${mode}, ${ipFamily})...`);
  const lab = await labUp({ nodes, podsPerNode, mode, ipFamily, prefix: PREFIX, directory: LAB_DIRECTORY, detached: true });
  save(lab);
  for (const node of lab.nodes) {
    console.log(`\n${node.name}  ns ${node.ns}  ${node.ip}  pods ${node.podCIDR}  agent pid ${node.agentPid}`);
    for (const pod of lab.pods.filter((p) => p.node === node.name)) console.log(`  ${pod.name.padEnd(12)} ${pod.ips.join(', ').padEnd(12)}  ns ${pod.ns}`);
  }
  const allReachable = printMatrix(lab);
  if (!values['no-iperf']) await iperf(lab);
  const node1 = lab.nodes[0];
  const twill = `ip netns exec ${node1.ns} node ${path.relative(process.cwd(), CLI)}`;
  const where = `--bpffs-root ${node1.bpffsRoot} --state-dir ${node1.stateDir}`;
  console.log(`\ndatapath counters on ${node1.name} (twill counters):`);
  console.log(inNetns(node1.ns, process.execPath, [CLI, 'counters', ...where.split(' ')]).trimEnd());
  console.log(`\nexplore:  ip netns exec ${lab.pods[0].ns} ping ${lab.pods.at(-1)?.ip}`);
  console.log(`          ${twill} status ${where}     (or endpoints, nodes, counters; --json)`);
  console.log(`          ip netns exec ${node1.ns} curl -s localhost:9962/metrics     (and /healthz, /readyz)`);
  console.log(`          bpftool map dump pinned ${path.join(node1.bpffsRoot, 'maps', 'endpoints')}`);
  console.log('remove:   npm run lab:down');
  if (!allReachable) process.exitCode = 1;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the lab creates namespaces and loads BPF programs: run it as root');
  const [command = 'up', ...rest] = process.argv.slice(2);
  if (command === 'up') await up(rest);
  else if (command === 'down') down();
  else if (command === 'status') {
    const lab = load();
    if (!lab) console.log('no lab is running');
    else if (!printMatrix(lab)) process.exitCode = 1;
  } else throw new Error(`unknown command ${command}: use up, status or down`);
}

main().catch((error: unknown) => {
  console.error(`lab: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
