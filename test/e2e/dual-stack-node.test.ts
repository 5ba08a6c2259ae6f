// IPv6 pods on one node, beside IPv4 ones (dual-stack) and alone (IPv6-only), through
// the real agent and plugin: both addresses in the CNI result of every spec version,
// the pod's IPv6 default route via fe80::1 with a permanent neighbour entry, IPv6
// between pods redirected by the datapath, node to pod and back, a spoofed source and
// a rogue router advertisement refused, CHECK, a restart, and DEL leaving nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { packetsFor } from '../../bpf/counters';
import { occupiedSlots, readEndpoint } from '../../bpf/endpoints';
import { pinnedCounters, withPinnedMap } from '../../bpf/pinned-maps';
import type { DirectionName, ReasonName } from '../../bpf/layouts';
import { hostVethName } from '../../agent/lib/pods/naming';
import { needsRoot } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';
import { routerAdvertisement } from '../helpers/packets';
import { sendFrames } from '../helpers/raw-frames';
import { ping, startTcpServer, tcpExchange } from '../helpers/traffic';
import { type PodSpec, type TestNode, newContainerID, standaloneNode } from '../lab/node';

const POD_CIDRS = '10.244.0.0/24,fd00:10:244::/64';
const CLUSTER_CIDRS = '10.244.0.0/16,fd00:10:244::/56';
/** The node's own IPv6 address, on its loopback (a standalone node has no uplink). */
const NODE_IPV6 = 'fd00:50::1';

interface Pod extends PodSpec {
  ns: TestNetns;
  result: Record<string, unknown>;
  /** Its addresses as the CNI result gives them, without the prefix length. */
  ipv4?: string;
  ipv6: string;
}

type IpEntry = { address: string; gateway?: string; version?: string };
const ipsOf = (result: Record<string, unknown>): IpEntry[] => result.ips as IpEntry[];
const bare = (entry: IpEntry | undefined): string | undefined => entry?.address.split('/')[0];

describe('IPv6 pods on a dual-stack node', needsRoot, () => {
  let node: TestNode;
  const pods: Pod[] = [];
  const counted = (reason: ReasonName, direction: DirectionName): bigint => packetsFor(pinnedCounters(node.bpffsRoot), reason, direction, 'TWILL_IPV6');

  const addPod = async (cniVersion = '1.0.0'): Promise<Pod> => {
    const ns = new TestNetns('dual');
    const spec = { containerID: newContainerID(), netns: ns.path };
    const { result } = await node.add(spec, node.netConf({}, cniVersion));
    const ips = ipsOf(result);
    const pod = { ...spec, ns, result, ipv4: bare(ips.find((ip) => !ip.address.includes(':'))), ipv6: bare(ips.find((ip) => ip.address.includes(':'))) as string };
    pods.push(pod);
    return pod;
  };

  before(async () => {
    node = standaloneNode('dual', POD_CIDRS, { agentFlags: ['--pod-cidr', POD_CIDRS, '--cluster-cidr', CLUSTER_CIDRS] });
    node.exec('ip', ['-6', 'addr', 'add', `${NODE_IPV6}/128`, 'dev', 'lo']);
    await node.startAgent();
  });
  after(async () => {
    pods.forEach((pod) => pod.ns.delete());
    await node?.cleanup();
  });

  for (const cniVersion of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    test(`ADD ${cniVersion}: an address of each family at the same offset, each with its gateway and default route`, async () => {
      const pod = await addPod(cniVersion);
      const old = ['0.3.1', '0.4.0'].includes(cniVersion);
      const ips = ipsOf(pod.result);
      assert.equal(ips.length, 2, JSON.stringify(ips));
      const offset = Number(pod.ipv4?.split('.')[3]);
      assert.deepEqual(ips, [
        { ...(old ? { version: '4' } : {}), address: `10.244.0.${offset}/32`, gateway: '169.254.1.1', interface: 1 },
        { ...(old ? { version: '6' } : {}), address: `fd00:10:244::${offset.toString(16)}/128`, gateway: 'fe80::1', interface: 1 },
      ]);
      assert.deepEqual(pod.result.routes, [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }, { dst: '::/0', gw: 'fe80::1' }]);
    });
  }

  test('in the pod: the IPv6 address usable at once, the default route via fe80::1, and fe80::1 a permanent neighbour', () => {
    const [pod] = pods;
    const address = pod.ns.exec('ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']);
    assert.match(address, new RegExp(`inet6 ${pod.ipv6}/128`));
    assert.doesNotMatch(address, /tentative/, 'no duplicate address detection holds it back');
    assert.match(pod.ns.exec('ip', ['-6', 'route', 'show', 'default']), /default via fe80::1 dev eth0/);
    assert.match(pod.ns.exec('ip', ['-6', 'neigh', 'show', 'dev', 'eth0']), /fe80::1 lladdr [0-9a-f:]+ PERMANENT/);
    const veth = hostVethName({ containerID: pod.containerID, ifname: 'eth0' });
    assert.match(node.exec('ip', ['-6', 'route', 'show', `${pod.ipv6}/128`]), new RegExp(`dev ${veth}`), 'the host route to the pod');
    assert.match(node.exec('ip', ['-6', 'neigh', 'show', pod.ipv6]), /PERMANENT/, 'the host needs no neighbour discovery to reach it');
  });

  test('IPv6 between pods is redirected by the datapath, ICMPv6 and TCP', async () => {
    const [a, b] = pods;
    const before = counted('TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD');
    assert.equal(ping(a.ns.name, b.ipv6, 5), 5);
    assert.ok(counted('TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD') - before >= 10n, 'requests and replies both redirected, counted as IPv6');
    const server = await startTcpServer(b.ns.name, 7070, undefined, '::');
    try {
      assert.equal(tcpExchange(a.ns.name, b.ipv6, 7070), 'twill-echo');
    } finally {
      server.stop();
    }
    assert.equal(ping(a.ns.name, b.ipv4 as string, 2), 2, 'IPv4 beside it');
  });

  test('node to pod and pod to node over IPv6', () => {
    const [a] = pods;
    assert.equal(ping(node.ns, a.ipv6, 3), 3, 'node to pod');
    assert.equal(ping(a.ns.name, NODE_IPV6, 3), 3, 'pod to node');
  });

  test('IPv6 to a host outside the cluster CIDR leaves masqueraded to the node; within it, the pod is seen as itself', async () => {
    const [a] = pods;
    const outside = new TestNetns('out6');
    try {
      node.exec('ip', ['link', 'add', 'out6', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name]);
      node.exec('ip', ['-6', 'addr', 'add', '2001:db8:ff::1/64', 'dev', 'out6', 'nodad']);
      node.exec('ip', ['link', 'set', 'out6', 'up']);
      outside.exec('ip', ['-6', 'addr', 'add', '2001:db8:ff::2/64', 'dev', 'eth0', 'nodad']);
      outside.exec('ip', ['-6', 'addr', 'add', 'fd00:10:244:99::2/128', 'dev', 'eth0', 'nodad']);
      outside.exec('ip', ['link', 'set', 'eth0', 'up']);
      outside.exec('ip', ['-6', 'route', 'add', 'default', 'via', '2001:db8:ff::1']);
      node.exec('ip', ['-6', 'route', 'add', 'fd00:10:244:99::2/128', 'via', '2001:db8:ff::2']);
      const server = await startTcpServer(outside.name, 7071, 'outside', '::');
      try {
        assert.equal(tcpExchange(a.ns.name, '2001:db8:ff::2', 7071), 'outside saw 2001:db8:ff::1', 'masqueraded to the node\'s address');
        assert.equal(tcpExchange(a.ns.name, 'fd00:10:244:99::2', 7071), `outside saw ${a.ipv6}`, 'inside the cluster CIDR: not masqueraded');
      } finally {
        server.stop();
      }
    } finally {
      outside.delete();
    }
  });

  test('a pod sending from an IPv6 address not its own is refused and counted', () => {
    const [a, b] = pods;
    a.ns.exec('ip', ['-6', 'addr', 'add', 'fd00:10:244::99/128', 'dev', 'eth0', 'nodad']);
    const before = counted('TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD');
    assert.equal(ping(a.ns.name, b.ipv6, 3, 'fd00:10:244::99'), 0);
    assert.ok(counted('TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD') - before >= 3n);
    a.ns.exec('ip', ['-6', 'addr', 'del', 'fd00:10:244::99/128', 'dev', 'eth0']);
  });

  test("a pod's router advertisement reaches neither the node nor another pod", () => {
    const [a, b] = pods;
    const mac = a.ns.exec('cat', ['/sys/class/net/eth0/address']).trim();
    const before = counted('TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD');
    const advertisement = (destination: string) => routerAdvertisement({ source: 'fe80::bad', destination, sourceMac: mac, prefix: { prefix: '2001:db8:bad::/64' } });
    sendFrames(a.ns.name, 'eth0', [advertisement('ff02::1'), advertisement(b.ipv6)]);
    assert.equal(counted('TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD') - before, 2n);
    assert.doesNotMatch(b.ns.exec('ip', ['-6', 'route', 'show']), /2001:db8:bad|default via fe80::bad/);
    assert.doesNotMatch(node.exec('ip', ['-6', 'route', 'show']), /2001:db8:bad|fe80::bad/);
  });

  test('CHECK passes with both addresses, and fails naming the IPv6 one when prevResult lacks it', async () => {
    const [a] = pods;
    const check = await node.plugin('CHECK', a, node.netConf({ prevResult: a.result }));
    assert.equal(check.exitCode, 0, JSON.stringify(check.output));
    const withoutIpv6 = { ...a.result, ips: ipsOf(a.result).filter((ip) => !ip.address.includes(':')) };
    const broken = await node.plugin('CHECK', a, node.netConf({ prevResult: withoutIpv6 }));
    assert.equal(broken.output?.code, 100);
    assert.match(String(broken.output?.msg), new RegExp(`prevResult does not list ${a.ipv6}/128`));
  });

  test('the endpoints map holds both addresses of each pod in one slot; a restart keeps them, and IPv6 flows on', async () => {
    const slots = () => withPinnedMap(node.bpffsRoot, 'endpoints', (map) => occupiedSlots(map).map(({ key, endpoint }) => [key.readUInt32LE(0), endpoint.ip, endpoint.ip6]));
    const held = slots();
    assert.deepEqual(held.map(([, ip, ip6]) => [ip, ip6]), held.map(([slot]) => [`10.244.0.${slot}`, `fd00:10:244::${Number(slot).toString(16)}`]));
    assert.deepEqual(new Set(held.map(([, , ip6]) => ip6)), new Set(pods.map((pod) => pod.ipv6)));
    await node.stopAgent('SIGTERM');
    await node.startAgent();
    assert.deepEqual(slots(), held);
    assert.equal(ping(pods[0].ns.name, pods[1].ipv6, 3), 3);
  });

  test('DEL removes the IPv6 route, neighbour and endpoint with the rest, and frees the slot', async () => {
    const pod = pods.pop() as Pod;
    const del = await node.plugin('DEL', pod);
    assert.equal(del.exitCode, 0, JSON.stringify(del.output));
    assert.doesNotMatch(node.exec('ip', ['-6', 'route', 'show']), new RegExp(`${pod.ipv6} `));
    assert.doesNotMatch(node.exec('ip', ['-6', 'neigh', 'show']), new RegExp(`${pod.ipv6} `));
    assert.equal(withPinnedMap(node.bpffsRoot, 'endpoints', (map) => readEndpoint(map, { ipv6: 'fd00:10:244::/64', ipv4: '10.244.0.0/24' }, pod.ipv6)), undefined);
    assert.ok(!fs.readdirSync(path.join(node.stateDir, 'ipam')).includes(pod.ipv4 as string), 'the slot is free');
    pod.ns.delete();
  });
});

describe('IPv6 pods on an IPv6-only node', needsRoot, () => {
  let node: TestNode;
  const namespaces: TestNetns[] = [];
  before(async () => {
    node = standaloneNode('six', 'fd00:10:246::/64');
    await node.startAgent();
  });
  after(async () => {
    namespaces.forEach((ns) => ns.delete());
    await node?.cleanup();
  });

  test('pods get an IPv6 address alone, among the first 4,096 of the CIDR, and reach each other', async () => {
    const added = [];
    for (let i = 0; i < 2; i++) {
      const ns = new TestNetns('six');
      namespaces.push(ns);
      const { result } = await node.add({ containerID: newContainerID(), netns: ns.path });
      added.push({ ns, ips: ipsOf(result) });
    }
    for (const { ns, ips } of added) {
      assert.equal(ips.length, 1, JSON.stringify(ips));
      assert.match(ips[0].address, /^fd00:10:246::[0-9a-f]{1,3}\/128$/);
      assert.equal(ips[0].gateway, 'fe80::1');
      assert.doesNotMatch(ns.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']), /inet /, 'no IPv4 address');
    }
    assert.equal(fs.readdirSync(path.join(node.stateDir, 'ipam')).filter((name) => name.includes(':')).length, 2, 'IPAM records named by the IPv6 addresses');
    assert.equal(ping(added[0].ns.name, bare(added[1].ips[0]) as string, 3), 3);
  });

  test('vxlan mode with IPv6 pods alone refuses a node without an IPv6 address, naming it: VXLAN then runs over IPv6', async () => {
    await node.stopAgent('SIGTERM');
    await assert.rejects(node.startAgent(['--mode', 'vxlan', '--cluster-cidr', 'fd00:10:246::/56', '--node-ip', '192.168.50.1']), /mode vxlan needs an IPv6 address of node \S+, the tunnel's end \(VXLAN runs over IPv6 where pods have only IPv6\); 192\.168\.50\.1 has none/);
  });

});
