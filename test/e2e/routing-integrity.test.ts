// Routing integrity on the lab, as a rogue node and an unlucky operator would test it:
// node claims that would hijack traffic (the whole Internet, a neighbour's subnet, half
// of this node's, the Service range, a pod or loopback as a node's address) refused one
// by one while the real nodes keep their routes and pods keep talking; a refused node
// admitted once the holder of its subnet leaves; one bad entry in the nodes file
// refusing one node, not the file; no loop through an underlay router for an address
// no pod holds; nodes-file reads that fail (out of file descriptors, a directory in
// its place) retried until the change applies, with /readyz saying meanwhile that the
// list is stale; and, in vxlan mode, an uplink MTU lowered under live pods answered
// with "fragmentation needed", TCP completing both ways and new pods getting the MTU.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { packetsFor } from '../../bpf/counters';
import { readNodeSettings } from '../../agent/lib/node-settings';
import { pinnedCounters, pinnedRemoteSubnets } from '../../bpf/pinned-maps';
import type { RefusalReason } from '../../agent/lib/node-claims';
import { inNetns, needsRoot, repoRoot } from '../helpers/kernel';
import { executablesOf } from '../helpers/processes';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import { agentGet, scrape, valueOf } from '../helpers/prometheus';
import { ping, startTcpServer, tcpEchoBulk } from '../helpers/traffic';
import { waitFor } from '../helpers/wait';
import { OUTSIDE_IP, addPod, labDown, labUp, type Lab } from '../lab/cluster';
import type { TestNode } from '../lab/node';

const CLI = executablesOf(repoRoot).cli;
const APPLIED_WITHIN_MS = 5_000;
const ROGUE_IP = '192.168.60.50';

type Entry = Record<string, unknown>;

function writeEntries(lab: Lab, entries: Entry[]): void {
  const temporary = `${lab.nodesFile}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(entries));
  fs.renameSync(temporary, lab.nodesFile);
}

const realEntries = (lab: Lab): Entry[] => lab.nodes.map((node) => ({ name: node.name, podCIDR: node.podCIDR, internalIP: node.ip }));

/** Twill's routes on a node, one "destination via gateway" or "unreachable destination" each, sorted. */
function twillRoutes(node: TestNode): string[] {
  const routes = JSON.parse(inNetns(node.ns, 'ip', ['-j', 'route', 'show', 'proto', '77'])) as Array<{ dst: string; gateway?: string; type?: string }>;
  return routes.map((route) => (route.type === 'unreachable' ? `unreachable ${route.dst}` : `${route.dst} via ${route.gateway}`)).sort();
}

/** What each node must hold whatever a rogue claims: a route and map entry for every other real node, its own range unreachable. */
function expectedRoutes(lab: Lab, node: TestNode): string[] {
  return [...lab.nodes.filter((other) => other !== node).map((other) => `${other.podCIDR} via ${other.ip}`), `unreachable ${node.podCIDR}`].sort();
}

const refusedBy = (node: TestNode, reason: RefusalReason): number => valueOf(scrape(node.ns), 'twill_nodes_refused', { reason });
const syncs = (node: TestNode): number => valueOf(scrape(node.ns), 'twill_node_sync_duration_seconds_count');

function twill(node: TestNode, ...args: string[]): string {
  return inNetns(node.ns, process.execPath, [CLI, ...args, '--bpffs-root', node.bpffsRoot, '--state-dir', node.stateDir]);
}

describe('routing integrity, native mode, with an underlay router', needsRoot, () => {
  let lab: Lab;
  const pod = (name: string) => lab.pods.find((p) => p.name === name) as Lab['pods'][number];
  const podsTalk = (): boolean => ping(pod('node1-pod1').ns, pod('node2-pod1').ip, 2) === 2 && ping(pod('node2-pod1').ns, pod('node1-pod1').ip, 2) === 2;

  /** Writes the file and waits until every node has judged and synced it (the judged reason counted, or none refused). */
  async function apply(entries: Entry[], refusals: Array<[TestNode, RefusalReason]> = []): Promise<void> {
    const before = lab.nodes.map(syncs);
    writeEntries(lab, entries);
    await waitFor(
      'every node to sync the new list',
      () => lab.nodes.every((node, i) => syncs(node) > before[i]) && refusals.every(([node, reason]) => refusedBy(node, reason) === 1),
      APPLIED_WITHIN_MS,
      () => `; refused: ${lab.nodes.map((node) => fs.readFileSync(path.join(node.stateDir, 'refused-nodes.json'), 'utf8')).join(' | ')}`,
    );
  }

  before(async () => {
    lab = await labUp({ nodes: 2, podsPerNode: 1, mode: 'native', prefix: `${TEST_NETNS_PREFIX}${process.pid}-r`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-lab-')), outside: true });
    process.on('exit', () => labDown(lab));
    // The outside host is the nodes' default gateway, and a router that knows the pod
    // subnets (a cloud route table, BGP): where a loop would form.
    const router = lab.outside?.ns as string;
    inNetns(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    for (const node of lab.nodes) {
      inNetns(router, 'ip', ['route', 'add', node.podCIDR, 'via', node.ip]);
      inNetns(node.ns, 'ip', ['route', 'add', 'default', 'via', OUTSIDE_IP]);
    }
  });
  after(() => lab && labDown(lab));

  const rogueClaims: Array<[string, Entry, (lab: Lab) => Array<[TestNode, RefusalReason]>]> = [
    ['the whole Internet', { podCIDR: '0.0.0.0/0', internalIP: ROGUE_IP }, (l) => l.nodes.map((n) => [n, 'outside_cluster'])],
    ["node2's subnet", { podCIDR: '10.244.2.0/24', internalIP: ROGUE_IP }, (l) => [[l.nodes[0], 'overlaps_node'], [l.nodes[1], 'overlaps_this_node']]],
    ["half of node1's subnet", { podCIDR: '10.244.1.0/25', internalIP: ROGUE_IP }, (l) => [[l.nodes[0], 'overlaps_this_node'], [l.nodes[1], 'overlaps_node']]],
    ['the Service range', { podCIDR: '10.96.0.0/12', internalIP: ROGUE_IP }, (l) => l.nodes.map((n) => [n, 'outside_cluster'])],
    ['a range wider than the cluster', { podCIDR: '10.0.0.0/8', internalIP: ROGUE_IP }, (l) => l.nodes.map((n) => [n, 'outside_cluster'])],
    ["a pod's address as its own", { podCIDR: '10.244.9.0/24', internalIP: '10.244.1.2' }, (l) => l.nodes.map((n) => [n, 'address'])],
    ['loopback as its own address', { podCIDR: '10.244.9.0/24', internalIP: '127.0.0.1' }, (l) => l.nodes.map((n) => [n, 'address'])],
  ];
  for (const [what, claim, refusals] of rogueClaims) {
    test(`a node claiming ${what} is refused on every node, which keep their routes, maps and traffic`, async () => {
      await apply([...realEntries(lab), { name: 'rogue', ...claim }], refusals(lab));
      for (const node of lab.nodes) {
        assert.deepEqual(twillRoutes(node), expectedRoutes(lab, node), `${node.name}'s routes`);
        assert.deepEqual(pinnedRemoteSubnets(node.bpffsRoot).map((s) => s.cidr), lab.nodes.filter((other) => other !== node).map((other) => other.podCIDR));
        assert.ok(!inNetns(node.ns, 'ip', ['route', 'show', 'proto', '77']).includes('default'), 'no default route of ours');
      }
      assert.ok(podsTalk(), 'pods on the two nodes still reach each other');
      const [node1] = lab.nodes;
      const listed = JSON.parse(twill(node1, 'nodes', '--json')) as { refused: Array<{ name: string; reason: string }> };
      assert.deepEqual(listed.refused.map((n) => [n.name, n.reason]), [['rogue', refusals(lab)[0][1]]]);
      assert.match(twill(node1, 'nodes'), new RegExp(`REFUSED NODE[\\s\\S]*rogue[\\s\\S]*${refusals(lab)[0][1]}`));
    });
  }

  test('a refused node is admitted once the holder of its subnet leaves, and refused again when it returns', async () => {
    const [node1, node2] = lab.nodes;
    const rogue = { name: 'rogue', podCIDR: node2.podCIDR, internalIP: ROGUE_IP };
    await apply([...realEntries(lab), rogue], [[node1, 'overlaps_node']]);
    await apply([realEntries(lab)[0], rogue]);
    assert.deepEqual(twillRoutes(node1), [`${node2.podCIDR} via ${ROGUE_IP}`, `unreachable ${node1.podCIDR}`]);
    assert.equal(refusedBy(node1, 'overlaps_node'), 0);
    // Established claims are kept in list order: node2 back after the rogue is the newcomer.
    await apply([realEntries(lab)[0], rogue, realEntries(lab)[1]], [[node1, 'overlaps_node']]);
    assert.match(fs.readFileSync(path.join(node1.stateDir, 'refused-nodes.json'), 'utf8'), /"name": "node2"/);
    await apply(realEntries(lab));
    assert.deepEqual(twillRoutes(node1), expectedRoutes(lab, node1));
    assert.ok(podsTalk());
  });

  test('a bad entry in the nodes file refuses that node and no other', async () => {
    const [node1] = lab.nodes;
    const node4 = { name: 'node4', podCIDR: '10.244.4.0/24', internalIP: '192.168.60.14' };
    await apply([...realEntries(lab), { name: 'node3', podCIDR: 24, internalIP: '192.168.60.13' }, node4], [[node1, 'malformed']]);
    assert.deepEqual(twillRoutes(node1), [...expectedRoutes(lab, node1), '10.244.4.0/24 via 192.168.60.14'].sort());
    await apply(realEntries(lab));
    assert.equal(refusedBy(node1, 'malformed'), 0);
  });

  test("a pod pinging a free address of another node's range: dropped there, counted, no loop through the router", async () => {
    const [node1] = lab.nodes;
    const router = lab.outside?.ns as string;
    // A rule without a target only counts what the router forwards to that address.
    inNetns(router, 'iptables', ['-w', '-I', 'FORWARD', '-d', '10.244.1.77']);
    const forwarded = (): number => Number(/^\s*(\d+)\s.*10\.244\.1\.77/m.exec(inNetns(router, 'iptables', ['-w', '-L', 'FORWARD', '-v', '-x', '-n']))?.[1]);
    const dropped = (): bigint => packetsFor(pinnedCounters(node1.bpffsRoot), 'TWILL_DROPPED_NO_POD', 'TWILL_FROM_NETDEV');
    const [routerBefore, droppedBefore] = [forwarded(), dropped()];
    assert.equal(ping(pod('node2-pod1').ns, '10.244.1.77', 3), 0);
    // Each echo would otherwise cross the router until its TTL ran out: ~30 times.
    assert.equal(forwarded() - routerBefore, 0, 'echoes forwarded by the router');
    assert.equal(dropped() - droppedBefore, 3n, 'each echo dropped by from_netdev on node1');
    // The node's own traffic meets the unreachable route, never the default one.
    assert.throws(() => inNetns(node1.ns, 'ip', ['route', 'get', '10.244.1.77']), /No route to host/);
  });

  test("a nodes-file change made while the agent is out of file descriptors applies once it has them again", async () => {
    const [node1, node2] = lab.nodes;
    const pid = node1.agentPid;
    const errors = (): number => valueOf(scrape(node1.ns), 'twill_node_source_errors_total', { source: 'static' });
    const errorsBefore = errors();
    // The kernel gives the lowest free descriptor: with the soft limit there, every open fails.
    const inUse = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number));
    let lowestFree = 0;
    while (inUse.has(lowestFree)) lowestFree++;
    const softLimit = inNetns(node1.ns, 'prlimit', ['--pid', String(pid), '--nofile', '--raw', '--noheadings', '--output', 'SOFT']).trim();
    const node5 = { name: 'node5', podCIDR: '10.244.5.0/24', internalIP: '192.168.60.15' };
    inNetns(node1.ns, 'prlimit', ['--pid', String(pid), `--nofile=${lowestFree}:`]);
    try {
      writeEntries(lab, [...realEntries(lab), node5]);
      await waitFor('node2 to take node5', () => twillRoutes(node2).includes('10.244.5.0/24 via 192.168.60.15'), APPLIED_WITHIN_MS);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.ok(!twillRoutes(node1).includes('10.244.5.0/24 via 192.168.60.15'), 'node1 could read the file without file descriptors');
    } finally {
      inNetns(node1.ns, 'prlimit', ['--pid', String(pid), `--nofile=${softLimit}:`]);
    }
    // No edit follows: only the retry can pick the change up.
    await waitFor('node1 to take node5', () => twillRoutes(node1).includes('10.244.5.0/24 via 192.168.60.15'), 15_000);
    assert.ok(errors() > errorsBefore, 'the failed reads were counted');
    assert.deepEqual(agentGet(node1.ns, '/readyz'), { status: 200, body: 'ok\n' });
    await apply(realEntries(lab));
  });

  test('while the nodes file cannot be read, /readyz says the list in force is stale; it clears once the file is back', async () => {
    const [node1] = lab.nodes;
    const aside = `${lab.nodesFile}.aside`;
    fs.renameSync(lab.nodesFile, aside);
    fs.mkdirSync(lab.nodesFile);
    try {
      await waitFor('readyz to fail', () => agentGet(node1.ns, '/readyz').status === 503, APPLIED_WITHIN_MS);
      assert.match(agentGet(node1.ns, '/readyz').body, /node source: nodes file .* not applied for \d+ s \(EISDIR.*\); the last good list is in force/);
      assert.deepEqual(twillRoutes(node1), expectedRoutes(lab, node1), 'the last good list stays in force');
    } finally {
      fs.rmdirSync(lab.nodesFile);
      fs.renameSync(aside, lab.nodesFile);
    }
    await waitFor('readyz to pass', () => agentGet(node1.ns, '/readyz').status === 200, APPLIED_WITHIN_MS);
    assert.ok(podsTalk());
  });
});

describe('vxlan mode, the uplink MTU lowered under live pods', needsRoot, () => {
  let lab: Lab;
  const ECHO_PORT = 7010;
  const pod = (name: string) => lab.pods.find((p) => p.name === name) as Lab['pods'][number];

  before(async () => {
    lab = await labUp({ nodes: 2, podsPerNode: 1, mode: 'vxlan', prefix: `${TEST_NETNS_PREFIX}${process.pid}-m`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-lab-')) });
    process.on('exit', () => labDown(lab));
  });
  after(() => lab && labDown(lab));

  test('pods get "fragmentation needed", TCP completes both ways, the VXLAN device and new pods follow the uplink', async () => {
    const [node1, node2] = lab.nodes;
    const [client, server] = [pod('node1-pod1'), pod('node2-pod1')];
    assert.equal(readNodeSettings(node1.stateDir)?.mtu, 1450);
    // The underlay now carries 1400 bytes: both ends of the wire.
    for (const node of lab.nodes) inNetns(node.ns, 'ip', ['link', 'set', 'eth0', 'mtu', '1400']);
    await waitFor('the agents to follow', () => lab.nodes.every((node) => readNodeSettings(node.stateDir)?.mtu === 1350), 10_000);
    for (const node of lab.nodes) assert.match(inNetns(node.ns, 'ip', ['link', 'show', 'twill-vxlan']), /mtu 1350/);

    // 1,372 bytes of ping data: 1,400 inside, 1,450 wrapped.
    const tooBig = (() => {
      try {
        return inNetns(client.ns, 'ping', ['-M', 'do', '-s', '1372', '-c', '2', '-i', '0.2', '-W', '1', server.ip]);
      } catch (error) {
        return String((error as { stdout?: Buffer }).stdout ?? error);
      }
    })();
    assert.match(tooBig, /[Ff]rag needed.*mtu = 1350|message too long, mtu=1350|mtu = 1350/);
    assert.ok(packetsFor(pinnedCounters(node1.bpffsRoot), 'TWILL_PASSED_TOO_BIG', 'TWILL_FROM_POD') > 0n, 'handed to the stack under passed_too_big');
    assert.equal(ping(client.ns, server.ip, 2), 2, 'small packets still flow');

    // 4 MiB each way over one connection, started from either node: path MTU discovery works.
    const size = 4 << 20;
    for (const [from, to] of [[client, server], [server, client]]) {
      const echo = await startTcpServer(to.ns, ECHO_PORT);
      try {
        assert.equal(tcpEchoBulk(from.ns, to.ip, ECHO_PORT, size), size, `${from.name} to ${to.name} and back`);
      } finally {
        echo.stop();
      }
    }

    const fresh = await addPod(lab, node2, 'node2-pod2');
    assert.match(inNetns(fresh.ns, 'ip', ['link', 'show', 'eth0']), /mtu 1350/);
    assert.equal(ping(client.ns, fresh.ip, 2), 2);
  });
});
