// The agent in a cluster of 5,000 nodes (and 50 bad claims it refuses), with 110 pods of
// its own (the kubelet's default maximum): how long the real twill-agent takes to bring
// the node-subnets map and the host routes from a handful of nodes to 5,000 after its
// static nodes file changes, how long one changed node takes among 5,000, and how much
// memory it holds there. Completion is checked from outside the agent: the pinned map
// is read and the routes are listed with iproute2.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { TWILL_ROUTE_PROTOCOL } from '../../agent/lib/node-sync';
import { decodeNodeSubnet, nodeSubnetKey } from '../../bpf/node-subnets';
import { pinnedRemoteSubnets, withPinnedMap } from '../../bpf/pinned-maps';
import { TestNetns } from '../helpers/netns';
import { standaloneNode, type TestNode } from '../lab/node';
import { scrape, valueOf } from '../helpers/prometheus';
import { waitFor } from '../helpers/wait';
import type { Observation, Suite } from './suite';

export const NODE_SCALE_GROUP = 'agent, 5,000 nodes';
export const NODE_SCALE_SUBJECT = 'twill-agent';
/** Other nodes in the large cluster: the map and the routes hold one entry each. */
const MANY_NODES = 5000;
/** Other nodes in the small cluster every repetition starts from. */
const FEW_NODES = 3;
const SELF = 'bench-node';
const CLUSTER_CIDR = '10.0.0.0/8';
/** A /16 uplink subnet, so every node's address is on-link. */
const UPLINK_PREFIX_LENGTH = 16;
const PEER_ADDRESS = '172.20.0.1';
const UPLINK = 'uplink0';
const SYNC_TIMEOUT_MS = 120_000;
const POLL_MS = 10;
/** Time for the agent's garbage collector to catch up before its RSS is read. */
const SETTLE_MS = 1000;
/** The kubelet's default maxPods: the agent holds every one's address and wiring. */
const PODS = 110;

interface Node {
  name: string;
  podCIDR: string;
  internalIP: string;
}

/** Node n of the cluster (0 is the one the agent runs on), with `addressShift` moving its address. */
function clusterNode(n: number, addressShift = 0): Node {
  const host = 10 + n + addressShift;
  return { name: n === 0 ? SELF : `node${n}`, podCIDR: `10.${n >> 8}.${n & 0xff}.0/24`, internalIP: `172.20.${host >> 8}.${host & 0xff}` };
}

function cluster(others: number): Node[] {
  return Array.from({ length: others + 1 }, (_, n) => clusterNode(n));
}

/** Bad claims listed after the real nodes, as a rogue or a broken config adds them: the agent must refuse each. */
const ROGUES = 50;
function rogue(r: number): Node {
  const name = `rogue${r}`;
  const claims: Array<Omit<Node, 'name'>> = [
    { podCIDR: clusterNode(1 + ((r * 97) % MANY_NODES)).podCIDR, internalIP: `172.21.0.${r + 1}` }, // another node's subnet
    { podCIDR: '0.0.0.0/0', internalIP: `172.21.0.${r + 1}` }, // the whole Internet
    { podCIDR: `10.255.${r}.0/24`, internalIP: `127.0.0.${r + 1}` }, // loopback as its address
    { podCIDR: `192.168.${r}.0/24`, internalIP: `172.21.0.${r + 1}` }, // outside the cluster CIDR
    { podCIDR: '10.0.0.0/25', internalIP: `172.21.0.${r + 1}` }, // half of this node's subnet
  ];
  return { name, ...claims[r % claims.length] };
}

function withRogues(nodes: Node[]): Node[] {
  return [...nodes, ...Array.from({ length: ROGUES }, (_, r) => rogue(r))];
}

/** The route table Twill's routes should form for `nodes`: pod CIDR -> gateway (rogues get none). */
function expectedRoutes(nodes: Node[]): Map<string, string> {
  return new Map(nodes.filter((node) => node.name !== SELF && !node.name.startsWith('rogue')).map((node) => [node.podCIDR, node.internalIP]));
}

interface SyncMetric {
  sum: number;
  count: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function nodeScaleSuite(): Suite {
  let directory: string | undefined;
  let node: TestNode | undefined;
  let peer: TestNetns | undefined;
  let pods: TestNetns[] = [];
  let repetition = 0;

  const nodesFile = (): string => path.join(directory as string, 'nodes.json');
  const bpffsRoot = (): string => (node as TestNode).bpffsRoot;
  const agentPid = (): number => (node as TestNode).agentPid;

  /** Writes the whole list next to the file and renames it into place, as a config manager would. */
  const publish = (nodes: Node[]): number => {
    const temporary = `${nodesFile()}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(nodes, null, 2));
    const renamed = performance.now();
    fs.renameSync(temporary, nodesFile());
    return renamed;
  };

  const mapEntries = (): number => withPinnedMap(bpffsRoot(), 'node_subnets', (map) => map.keys().length);

  /** Twill's routes to other nodes in the node namespace, as iproute2 lists them: destination -> gateway (its own pod CIDR's unreachable route aside). */
  const twillRoutes = (): Map<string, string> => {
    const routes = JSON.parse((node as TestNode).exec('ip', ['-j', 'route', 'show', 'proto', String(TWILL_ROUTE_PROTOCOL)])) as Array<{ dst: string; gateway?: string; type?: string }>;
    return new Map(routes.filter((route) => route.type !== 'unreachable').map((route) => [route.dst, route.gateway ?? '']));
  };

  const routesMatch = (expected: Map<string, string>): boolean => {
    const routes = twillRoutes();
    return routes.size === expected.size && [...expected].every(([cidr, gateway]) => routes.get(cidr) === gateway);
  };

  /** Polls until `done` holds and returns when it did (performance.now()), or throws at the deadline. */
  const waitUntil = async (what: string, done: () => boolean): Promise<number> => {
    await waitFor(what, done, SYNC_TIMEOUT_MS, () => `(map holds ${mapEntries()}, ${twillRoutes().size} routes)`, POLL_MS);
    return performance.now();
  };

  /** Waits for the map and the routes to hold exactly `nodes`' other nodes; returns when they did. The routes are listed only once the in-process map read agrees. */
  const synced = (what: string, nodes: Node[]): Promise<number> => {
    const expected = expectedRoutes(nodes);
    return waitUntil(what, () => mapEntries() === expected.size && routesMatch(expected));
  };

  /** Checks every map entry against the list, beyond the count the wait looked at. */
  const checkMap = (nodes: Node[]): void => {
    const expected = expectedRoutes(nodes);
    const entries = pinnedRemoteSubnets(bpffsRoot());
    const wrong = entries.find((entry) => expected.get(entry.cidr) !== entry.nodeIp || entry.tunnel);
    if (entries.length !== expected.size || wrong) throw new Error(`node_subnets map does not match the nodes file: ${entries.length} entries, first wrong ${JSON.stringify(wrong)}`);
  };

  const nodeSubnetOf = (cidr: string): string | undefined =>
    withPinnedMap(bpffsRoot(), 'node_subnets', (map) => {
      const value = map.lookup(nodeSubnetKey(cidr));
      return value ? decodeNodeSubnet(value).nodeIp : undefined;
    });

  const routeGateway = (cidr: string): string | undefined => {
    const [route] = JSON.parse((node as TestNode).exec('ip', ['-j', 'route', 'show', 'exact', cidr, 'proto', String(TWILL_ROUTE_PROTOCOL)])) as Array<{ gateway?: string }>;
    return route?.gateway;
  };

  const rssMiB = (): number => {
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${agentPid()}/status`, 'utf8'));
    if (!rss) throw new Error(`no VmRSS for the agent (PID ${agentPid()})`);
    return Number(rss[1]) / 1024;
  };

  const syncMetric = (): SyncMetric => {
    const samples = scrape((node as TestNode).ns);
    return { sum: valueOf(samples, 'twill_node_sync_duration_seconds_sum'), count: valueOf(samples, 'twill_node_sync_duration_seconds_count') };
  };

  /** The agent's own duration of the one sync since `before`: it records it only once the sync returns. */
  const agentSyncSeconds = async (before: SyncMetric): Promise<number> => {
    let after = before;
    await waitUntil("the agent's sync metric", () => (after = syncMetric()).count > before.count);
    if (after.count - before.count !== 1) throw new Error(`expected one node sync for one file change, the agent counted ${after.count - before.count}`);
    return after.sum - before.sum;
  };

  return {
    name: 'node scale',
    baselines: {},
    async setUp() {
      directory = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bench-node-scale-'));
      node = standaloneNode('scale-node', clusterNode(0).podCIDR, { name: SELF, agentFlags: ['--nodes-file', nodesFile(), '--mode', 'native', '--cluster-cidr', CLUSTER_CIDR] });
      peer = new TestNetns('scale-peer');
      const self = clusterNode(0);
      node.exec('ip', ['link', 'add', UPLINK, 'type', 'veth', 'peer', 'name', UPLINK, 'netns', peer.name]);
      node.exec('ip', ['addr', 'add', `${self.internalIP}/${UPLINK_PREFIX_LENGTH}`, 'dev', UPLINK]);
      peer.exec('ip', ['addr', 'add', `${PEER_ADDRESS}/${UPLINK_PREFIX_LENGTH}`, 'dev', UPLINK]);
      node.exec('ip', ['link', 'set', UPLINK, 'up']);
      peer.exec('ip', ['link', 'set', UPLINK, 'up']);

      const small = cluster(FEW_NODES);
      publish(small);
      await node.startAgent();
      // `ip netns exec` execs the agent, so the child's PID is the agent's own.
      const executable = fs.readlinkSync(`/proc/${agentPid()}/exe`);
      if (executable !== fs.realpathSync(process.execPath)) throw new Error(`PID ${agentPid()} runs ${executable}, not the agent's node`);
      await synced('small cluster at start', small);

      for (let i = 0; i < PODS; i++) {
        const pod = new TestNetns('scale-pod');
        pods.push(pod);
        await node.add({ containerID: `bench-pod-${i}`, netns: pod.path });
      }
    },
    async measure() {
      const small = cluster(FEW_NODES);
      const large = withRogues(cluster(MANY_NODES));
      const before = syncMetric();

      const renamed = publish(large);
      const syncSeconds = ((await synced(`${MANY_NODES} nodes`, large)) - renamed) / 1000;
      checkMap(large);
      const agentSeconds = await agentSyncSeconds(before);

      // A different node moves each repetition, so every change is a real one; never one
      // of the small cluster, so shrinking back only removes.
      const moved = FEW_NODES + 1 + (repetition++ % (MANY_NODES - FEW_NODES));
      const changed = large.map((entry, n) => (n === moved ? clusterNode(n, MANY_NODES) : entry));
      const { podCIDR, internalIP } = changed[moved];
      const changeRenamed = publish(changed);
      const changeSeconds = ((await waitUntil('one node changed', () => nodeSubnetOf(podCIDR) === internalIP && routeGateway(podCIDR) === internalIP)) - changeRenamed) / 1000;

      await sleep(SETTLE_MS);
      const rss = rssMiB();

      publish(small);
      await synced('back to the small cluster', small);

      const observation = (metric: string, unit: string, value: number): Observation => ({ group: NODE_SCALE_GROUP, subject: NODE_SCALE_SUBJECT, metric, unit, value });
      return [
        observation('sync time', 's', syncSeconds),
        observation("sync, agent's own metric", 's', agentSeconds),
        observation('one node changed among 5,000', 's', changeSeconds),
        observation('RSS', 'MiB', rss),
      ];
    },
    tearDown() {
      node?.remove();
      pods.forEach((pod) => pod.delete());
      pods = [];
      peer?.delete();
      if (directory) fs.rmSync(directory, { recursive: true, force: true });
      peer = node = directory = undefined;
    },
  };
}
