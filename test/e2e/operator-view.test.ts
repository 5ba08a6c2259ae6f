// What an operator sees of a running two-node lab: the agent's /metrics move by exactly
// what the traffic sent and agree with the maps; CNI commands arrive as metrics (also
// those sent while the agent was stopped, and never at the plugin's expense); node
// source changes show up as events and syncs; /readyz fails when a hook is detached and
// a restart repairs it; and the twill CLI agrees with the maps, with the agent down.
// (The dashboards' queries are evaluated by a real Prometheus in dashboards.test.ts.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { counterLabel, FAMILY_NAMES } from '../../bpf/counters';
import { DIRECTIONS, REASONS } from '../../bpf/layouts';
import { pinPaths } from '../../bpf/datapath';
import { TC_HANDLE, TC_PRIORITY } from '../../bpf/device-hooks';
import { pinnedCounters } from '../../bpf/pinned-maps';
import { TcxLink } from '../../bpf/tsbpf';
import { hookOn } from '../helpers/hooks';
import { inNetns, needsRoot, repoRoot } from '../helpers/kernel';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import { newContainerID } from '../lab/node';
import { TEST_ATTACH, executablesOf, runPlugin } from '../helpers/processes';
import { agentGet, scrape, valueOf, type Sample } from '../helpers/prometheus';
import { ping } from '../helpers/traffic';
import { waitFor } from '../helpers/wait';
import { addPod, labDown, labUp, writeNodesFile, type Lab } from '../lab/cluster';
import type { TestNode } from '../lab/node';

const CLI = executablesOf(repoRoot).cli;
/** An ICMP echo of ping's default 56 bytes, as the hooks see it: Ethernet 14 + IPv4 20 + ICMP 8 + 56. */
const PING_FRAME_BYTES = 98;
const PINGS = 10;

function twill(node: TestNode, ...args: string[]): string {
  return inNetns(node.ns, process.execPath, [CLI, ...args, '--bpffs-root', node.bpffsRoot, '--state-dir', node.stateDir]);
}

/** Sends SIGTERM to the node's agent (a child of this test) and waits for it to exit. */
async function stopAgent(node: TestNode): Promise<void> {
  const pid = node.agentPid;
  process.kill(pid, 'SIGTERM');
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await waitFor(`agent ${pid} to exit`, () => !alive(), 5000);
  node.agentPid = 0;
}

describe('the operator view of a two-node lab', needsRoot, () => {
  let lab: Lab;
  let node1: TestNode;
  const pod = (name: string) => lab.pods.find((p) => p.name === name) as Lab['pods'][number];
  const datapath = (samples: Sample[], metric: string, reason: string, direction: string, family = 'ipv4'): number => valueOf(samples, metric, { reason, family, direction });

  before(async () => {
    lab = await labUp({ nodes: 2, podsPerNode: 2, mode: 'native', prefix: `${TEST_NETNS_PREFIX}${process.pid}-o`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-lab-')) });
    process.on('exit', () => labDown(lab));
    node1 = lab.nodes[0];
  });
  after(() => lab && labDown(lab));

  test('healthz and readyz pass, and the build and mode are exported', () => {
    assert.deepEqual(agentGet(node1.ns, '/healthz'), { status: 200, body: 'ok\n' });
    assert.deepEqual(agentGet(node1.ns, '/readyz'), { status: 200, body: 'ok\n' });
    const samples = scrape(node1.ns);
    assert.equal(valueOf(samples, 'twill_agent_ready'), 1);
    const info = samples.find((s) => s.name === 'twill_agent_info');
    assert.equal(info?.labels.mode, 'native');
    assert.equal(info?.labels.attach, TEST_ATTACH === 'tc' ? 'tc' : 'tcx');
    assert.match(info?.labels.version ?? '', /^\d+\.\d+\.\d+/);
    assert.equal(agentGet(node1.ns, '/nothing').status, 404);
  });

  test('datapath counters move by exactly the packets and bytes the traffic sent', () => {
    const before = scrape(node1.ns);
    assert.equal(ping(pod('node1-pod1').ns, pod('node2-pod1').ip, PINGS), PINGS, 'across nodes');
    assert.equal(ping(pod('node1-pod1').ns, pod('node1-pod2').ip, PINGS), PINGS, 'on the node');
    const afterTraffic = scrape(node1.ns);
    const moved = (metric: string, reason: string, direction: string): number =>
      datapath(afterTraffic, metric, reason, direction) - datapath(before, metric, reason, direction);

    // Requests to node2 leave from_pod; their replies arrive from_netdev.
    assert.equal(moved('twill_datapath_packets_total', 'forwarded_remote', 'from_pod'), PINGS);
    assert.equal(moved('twill_datapath_bytes_total', 'forwarded_remote', 'from_pod'), PINGS * PING_FRAME_BYTES);
    assert.equal(moved('twill_datapath_packets_total', 'delivered_local', 'from_netdev'), PINGS);
    assert.equal(moved('twill_datapath_bytes_total', 'delivered_local', 'from_netdev'), PINGS * PING_FRAME_BYTES);
    // On the node, requests and replies both leave a pod and are redirected.
    assert.equal(moved('twill_datapath_packets_total', 'delivered_local', 'from_pod'), 2 * PINGS);
    assert.equal(moved('twill_datapath_bytes_total', 'delivered_local', 'from_pod'), 2 * PINGS * PING_FRAME_BYTES);

    // The exported counters are the map's: read between two scrapes, every map value
    // lies between them (pods may send IPv6 neighbour discovery at any time).
    const first = scrape(node1.ns);
    const fromMap = pinnedCounters(node1.bpffsRoot);
    const second = scrape(node1.ns);
    for (const counter of fromMap) {
      const labels = [counterLabel(counter.reason), counterLabel(counter.direction), counterLabel(counter.family)] as const;
      for (const [metric, value] of [['twill_datapath_packets_total', counter.packets], ['twill_datapath_bytes_total', counter.bytes]] as const) {
        const [low, high] = [datapath(first, metric, ...labels), datapath(second, metric, ...labels)];
        assert.ok(low <= Number(value) && Number(value) <= high, `${metric} ${labels.join('/')}: map ${value}, scrapes ${low} and ${high}`);
      }
    }
    // Every reason of each family under every hook is exported, those the map has not counted at 0.
    const series = (samples: Sample[]) => samples.filter((s) => s.name === 'twill_datapath_packets_total');
    assert.equal(series(first).length, Object.keys(REASONS).length * FAMILY_NAMES.length * Object.keys(DIRECTIONS).length);
    const counted = new Set(fromMap.map((c) => `${counterLabel(c.reason)}/${counterLabel(c.family)}/${counterLabel(c.direction)}`));
    assert.ok(series(first).every((s) => counted.has(`${s.labels.reason}/${s.labels.family}/${s.labels.direction}`) || s.value === 0), 'a series the map has not counted is 0');
  });

  test('map occupancy and the node count', () => {
    const samples = scrape(node1.ns);
    assert.equal(valueOf(samples, 'twill_bpf_map_entries', { map: 'endpoints' }), 2);
    assert.equal(valueOf(samples, 'twill_bpf_map_entries', { map: 'node_subnets' }), 1);
    assert.equal(valueOf(samples, 'twill_bpf_map_capacity', { map: 'endpoints' }), 256, `a slot for every address of ${node1.podCIDR}`);
    assert.equal(valueOf(samples, 'twill_nodes'), 2);
  });

  test('CNI commands are counted by result with the agent\'s time, refused ones and those that waited out a wedged agent included', async () => {
    const before = scrape(node1.ns);
    const count = (samples: Sample[], command: string, result: string): number => valueOf(samples, 'twill_cni_operations_total', { command, result });
    assert.equal(count(before, 'ADD', 'success'), 2, 'the lab added two pods on node1');

    const gone = await runPlugin(node1.ns, 'DEL', { containerID: newContainerID(), netns: '' }, node1.netConf());
    assert.equal(gone.exitCode, 0, 'DEL of an unknown container succeeds');
    const broken = await runPlugin(node1.ns, 'ADD', { containerID: newContainerID(), netns: `/run/netns/${pod('node1-pod1').ns}`, ifname: 'eth1' }, { ...node1.netConf(), mtu: 1 });
    assert.equal((broken.output as { code: number }).code, 7, 'an MTU out of range is an invalid config');

    // A stopped (wedged) agent: the plugin waits for it, and gets its answer once it runs again.
    process.kill(node1.agentPid, 'SIGSTOP');
    let adding: ReturnType<typeof addPod>;
    try {
      adding = addPod(lab, node1, 'node1-pod3');
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      process.kill(node1.agentPid, 'SIGCONT');
    }
    assert.ok((await adding).ip);

    const afterwards = scrape(node1.ns);
    assert.equal(count(afterwards, 'ADD', 'success'), 3);
    assert.equal(count(afterwards, 'ADD', 'invalid_config'), 1, 'refused by the plugin, counted by the agent');
    assert.equal(count(afterwards, 'DEL', 'success') - count(before, 'DEL', 'success'), 1);
    assert.equal(valueOf(afterwards, 'twill_cni_operation_duration_seconds_count', { command: 'ADD' }), 3, 'the agent times what it served');
    const addSeconds = valueOf(afterwards, 'twill_cni_operation_duration_seconds_sum', { command: 'ADD' });
    assert.ok(addSeconds > 0 && addSeconds < 3 * 2, `3 ADDs took the agent ${addSeconds} s`);
  });

  test('a node joining and leaving the source shows as events, nodes and syncs', async () => {
    const before = scrape(node1.ns);
    const joining = { name: 'node9', ip: '192.168.60.99', podCIDR: '10.244.9.0/24' };
    writeNodesFile(lab, [...lab.nodes, joining]);
    await waitFor('node9 in the map', () => valueOf(scrape(node1.ns), 'twill_bpf_map_entries', { map: 'node_subnets' }) === 2, 5000);
    const joined = scrape(node1.ns);
    writeNodesFile(lab);
    await waitFor('node9 gone from the map', () => valueOf(scrape(node1.ns), 'twill_bpf_map_entries', { map: 'node_subnets' }) === 1, 5000);
    const left = scrape(node1.ns);

    assert.equal(valueOf(joined, 'twill_nodes'), 3);
    assert.equal(valueOf(left, 'twill_nodes'), 2);
    const reloads = (samples: Sample[]): number => valueOf(samples, 'twill_node_source_events_total', { source: 'static', event: 'reload' });
    assert.equal(reloads(left) - reloads(before), 2);
    assert.equal(valueOf(left, 'twill_node_sync_duration_seconds_count') - valueOf(before, 'twill_node_sync_duration_seconds_count'), 2);
    assert.equal(valueOf(left, 'twill_node_sync_lag_seconds_count') - valueOf(before, 'twill_node_sync_lag_seconds_count'), 2);
    assert.equal(valueOf(left, 'twill_node_sync_errors_total'), 0);
    assert.ok(valueOf(left, 'twill_node_sync_last_success_timestamp_seconds') > valueOf(before, 'twill_node_sync_last_success_timestamp_seconds'));
    assert.equal(valueOf(left, 'twill_node_source_errors_total', { source: 'static' }), 0);
  });

  test('readyz fails while a device hook is detached, healthz does not, and a restart repairs the hook', async () => {
    const hook = hookOn(node1.ns, node1.bpffsRoot, 'from_netdev', 'eth0');
    assert.ok(hook, 'from_netdev on eth0');
    if (hook.mode === 'tcx') {
      const link = TcxLink.openPinned(pinPaths(node1.bpffsRoot).link('from_netdev', 'eth0'));
      try {
        link.detach();
      } finally {
        link.close();
      }
    } else {
      inNetns(node1.ns, 'tc', ['filter', 'del', 'dev', 'eth0', 'ingress', 'pref', String(TC_PRIORITY), 'handle', `0x${TC_HANDLE.toString(16)}`, 'bpf']);
    }
    const ready = agentGet(node1.ns, '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body, `datapath: from_netdev is not attached to eth0 ingress (${hook.mode})\n`);
    assert.equal(agentGet(node1.ns, '/healthz').status, 200, 'a restart is not needed for the agent to answer');
    assert.equal(valueOf(scrape(node1.ns), 'twill_agent_ready'), 0);

    await stopAgent(node1);
    await node1.startAgent();
    assert.deepEqual(agentGet(node1.ns, '/readyz'), { status: 200, body: 'ok\n' });
    assert.equal(ping(pod('node1-pod1').ns, pod('node2-pod2').ip, 3), 3, 'cross-node traffic flows again');
  });

  test('the CLI shows what the maps hold, with the agent down', async () => {
    await stopAgent(node1);
    try {
      const pods = lab.pods.filter((p) => p.node === node1.name);
      const veths = JSON.parse(inNetns(node1.ns, 'ip', ['-j', 'link', 'show', 'type', 'veth'])) as Array<{ ifname: string; ifindex: number; address: string }>;
      const endpoints = JSON.parse(twill(node1, 'endpoints', '--json')) as Array<Record<string, unknown>>;
      assert.deepEqual(
        endpoints.map((e) => ({ ip: e.ip, podMac: e.podMac })),
        pods.map((p) => ({ ip: p.ip, podMac: `02:74:${p.ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join(':')}` })).sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true })),
      );
      for (const endpoint of endpoints) {
        const veth = veths.find((v) => v.ifindex === endpoint.ifindex);
        assert.equal(endpoint.hostVeth, veth?.ifname, `${endpoint.ip}: host veth by ifindex`);
        assert.equal(endpoint.hostMac, veth?.address);
      }
      // The table says the same as the JSON, row for row.
      const rows = twill(node1, 'endpoints').trim().split('\n').slice(1).map((line) => line.split(/\s+/));
      assert.deepEqual(rows.map((r) => [r[0], r[1], Number(r[2]), r[3], r[4]]), endpoints.map((e) => [e.ip, e.hostVeth, e.ifindex, e.podMac, e.hostMac]));

      const node2 = lab.nodes[1];
      assert.deepEqual(JSON.parse(twill(node1, 'nodes', '--json')), { subnets: [{ cidr: node2.podCIDR, nodeIp: node2.ip, tunnel: false }], refused: [] });
      assert.deepEqual(twill(node1, 'nodes').trim().split('\n').map((line) => line.split(/\s{2,}/)), [['POD SUBNET', 'NODE IP', 'VIA'], [node2.podCIDR, node2.ip, 'native']]);

      // Pods keep sending (IPv6 router solicitations count as dropped_not_ipv4 whenever the
      // kernel sends them), so the CLI's figures must lie between two reads of the map.
      type Counter = { reason: string; family: string; direction: string; packets: number; bytes: number };
      const readMap = (): Counter[] => pinnedCounters(node1.bpffsRoot).map((c) => ({ reason: counterLabel(c.reason), family: counterLabel(c.family), direction: counterLabel(c.direction), packets: Number(c.packets), bytes: Number(c.bytes) }));
      const keyOf = (c: Counter) => `${c.reason}/${c.family}/${c.direction}`;
      const byKey = (list: Counter[]) => [...list].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
      const before = new Map(readMap().map((c) => [keyOf(c), c]));
      const counters = byKey(JSON.parse(twill(node1, 'counters', '--json')) as Counter[]);
      const after = byKey(readMap());
      assert.deepEqual(counters.map(keyOf), after.map(keyOf));
      counters.forEach((c, i) => {
        const low = before.get(keyOf(c)) ?? { packets: 0, bytes: 0 };
        assert.ok(low.packets <= c.packets && c.packets <= after[i].packets, `${keyOf(c)}: ${c.packets} packets outside ${low.packets}..${after[i].packets}`);
        assert.ok(low.bytes <= c.bytes && c.bytes <= after[i].bytes, `${keyOf(c)}: ${c.bytes} bytes outside ${low.bytes}..${after[i].bytes}`);
      });

      const status = JSON.parse(twill(node1, 'status', '--json')) as {
        settings: { nodeName: string; podCIDR: string };
        programs: Array<{ name: string }>;
        deviceAttachments: Array<{ device: string; direction: string; program: string; mode: string }>;
        podAttachments: number;
        maps: Array<{ name: string; entries: number }>;
        agent: { ready: boolean; detail: string };
      };
      assert.equal(status.settings.nodeName, 'node1');
      assert.deepEqual(status.programs.map((p) => p.name), ['from_pod', 'from_netdev', 'to_tunnel', 'to_pod']);
      const mode = TEST_ATTACH === 'tc' ? 'tc' : 'tcx';
      assert.deepEqual(status.deviceAttachments.map((a) => [a.device, a.direction, a.program, a.mode]), [['eth0', 'ingress', 'from_netdev', mode]]);
      assert.match(twill(node1, 'status'), mode === 'tc' ? /eth0\s+ingress\s+from_netdev\s+tc filter handle 0x7477 pref 1\n/ : /eth0\s+ingress\s+from_netdev\s+tcx link \d+\n/);
      assert.equal(status.podAttachments, pods.length);
      assert.deepEqual(status.maps.filter((m) => m.name !== 'counters').map((m) => [m.name, m.entries]), [['endpoints', pods.length], ['pod_limits', 0], ['node_subnets', 1], ['node_subnets6', 0]]);
      assert.equal(status.agent.ready, false);
      assert.match(status.agent.detail, /not answering on port 9962/);
      assert.match(twill(node1, 'status'), /agent:\s+not answering/);
    } finally {
      await node1.startAgent();
    }
    assert.match(twill(node1, 'status'), /agent:\s+ready/);
  });

});
