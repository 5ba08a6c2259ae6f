// Nanoseconds per packet of each datapath path under BPF_PROG_TEST_RUN, next to an
// empty TC program (what the test-run harness alone costs), and the node-subnet
// lookups with 10 versus 5,000 node subnets in the map. IPv4 paths run on a node with
// only an IPv4 pod CIDR, as before IPv6 came; IPv6 paths on a dual-stack one, and VXLAN
// over an IPv6 underlay on an IPv6-only one.
//
// The harness repeats a run on the same packet. A path that wraps or unwraps VXLAN
// would meet its own output on the second run, so those paths run once per call, in
// a group of their own next to the empty program and the native path run the same
// way. One run per call also times the clock reads around it (~60 ns here): figures
// compare only within their group.
import path from 'node:path';

import { writeEndpoint, type Endpoint, type PodCidrs } from '../../bpf/endpoints';
import { encodeNodeSubnet, encodeNodeSubnet6, nodeSubnet6Key, nodeSubnetKey, nodeSubnetMapsOf, rebuildFromNodeSubnets } from '../../bpf/node-subnets';
import { openDatapath } from '../../bpf/open-datapath';
import { BpfObject, type BpfProgram } from '../../bpf/tsbpf';
import { testObjects } from '../helpers/kernel';
import { ipv4Packet, ipv6Frame, udpDatagram, vxlanPacket } from '../helpers/packets';
import { median } from './results';
import type { Suite } from './suite';

export const PROGRAM_GROUP = 'datapath program, ns per packet';
export const ONE_RUN_GROUP = 'VXLAN wrapped and unwrapped by the programs, ns per packet, one run per call';
export const EMPTY = 'empty TC program';
export const NODE_MAP_GROUPS = { fromPod: 'from_pod to another node, by node subnets', fromNetdev: 'from_netdev into a pod, by node subnets' };
const FEW_NODES = 10;
const MANY_NODES = 5000;

// Routed paths lower the TTL on every run of a repeat (the harness reuses the packet),
// so one call repeats at most 250 times from TTL 255 and stays on the same path.
const REPEAT = 250;
const TTL = 255;

const NODE_IP = '192.168.60.1';
const NODE_IP6 = 'fd00:60::1';
const POD_CIDR = '10.244.0.0/24';
const DUAL_STACK: PodCidrs = { ipv4: POD_CIDR, ipv6: 'fd00:10:244::/64' };
const IPV6_ONLY: PodCidrs = { ipv6: DUAL_STACK.ipv6 };
// As the lab's agents run: node subnets laid out over the cluster CIDR (node_slots).
// and IPv6 node subnets over the IPv6 cluster CIDR (node_slots6).
const CLUSTER_CIDR = '10.0.0.0/8,fd00:10:244::/48';
const TUNNEL_FLAG_NODE = 3;
const VXLAN_PORT = 8472;
// BPF_PROG_TEST_RUN delivers the packet as arriving on lo (ifindex 1): the sender sits
// behind it, and it is the uplink too (the VXLAN device is ifindex 2).
const sender = { ip: '10.244.0.2', ifindex: 1, podMac: '02:00:0a:f4:00:02', hostMac: '02:aa:00:00:00:02' } satisfies Endpoint;
const receiver = { ip: '10.244.0.3', ifindex: 4242, podMac: '02:00:0a:f4:00:03', hostMac: '02:aa:00:00:00:03' } satisfies Endpoint;
const receiverUsingStack = { ip: '10.244.0.4', ifindex: 4243, podMac: '02:00:0a:f4:00:04', hostMac: '02:aa:00:00:00:04', usesStack: true } satisfies Endpoint;
// The same pods' IPv6 addresses, at the same offsets of the IPv6 pod CIDR.
const [sender6, receiver6] = ['fd00:10:244::2', 'fd00:10:244::3'];
const ipv6Packet = (source: string, destination: string): Buffer =>
  ipv6Frame({ source, destination, nextHeader: 17, payload: udpDatagram({ source, destination, sourcePort: 40000, destinationPort: 8080 }, Buffer.alloc(18)), hopLimit: TTL });

/** Other node n's pod subnet and address (this node's pods are in POD_CIDR). */
function node(n: number): { cidr: string; ip: string } {
  return { cidr: `10.${100 + (n >> 8)}.${n & 0xff}.0/24`, ip: `192.168.${n >> 8}.${n & 0xff}` };
}
const podOn = (n: number): string => node(n).cidr.replace('.0/24', '.7');
/** Other node n's IPv6 pod subnet and address (this node's IPv6 pods are in fd00:10:244::/64). */
function node6(n: number): { cidr: string; ip: string } {
  return { cidr: `fd00:10:244:${n.toString(16)}::/64`, ip: `fd00:60::${n.toString(16)}` };
}
const podOn6 = (n: number): string => node6(n).cidr.replace('::/64', '::7');
const NATIVE_NODE = 5;

interface Path {
  subject: string;
  program: 'from_pod' | 'from_netdev' | 'to_tunnel' | 'empty';
  packet: Buffer;
}

const TUNNEL_NODE_POD = podOn(TUNNEL_FLAG_NODE);

const nativeRemote: Path = { subject: 'from_pod: to another node, native', program: 'from_pod', packet: ipv4Packet(sender.ip, podOn(NATIVE_NODE), { ttl: TTL }) };
const delivery: Path = { subject: 'from_netdev: from another node into a pod', program: 'from_netdev', packet: ipv4Packet(podOn(NATIVE_NODE), receiver.ip, { ttl: TTL }) };
const empty: Path = { subject: EMPTY, program: 'empty', packet: ipv4Packet(sender.ip, receiver.ip, { ttl: TTL }) };
export const WRAPPING = 'from_pod: to another node, vxlan (wraps it)';

const paths: Path[] = [
  empty,
  { subject: 'from_pod: to a pod on this node', program: 'from_pod', packet: ipv4Packet(sender.ip, receiver.ip, { ttl: TTL }) },
  { subject: 'from_pod: to a pod on this node that uses the stack (conntrack lookup)', program: 'from_pod', packet: ipv4Packet(sender.ip, receiverUsingStack.ip, { ttl: TTL }) },
  nativeRemote,
  { subject: 'from_pod: to the host stack', program: 'from_pod', packet: ipv4Packet(sender.ip, '10.96.0.10', { ttl: TTL }) },
  delivery,
  { subject: "to_tunnel: the host's own traffic, tunnel key set", program: 'to_tunnel', packet: ipv4Packet(NODE_IP, TUNNEL_NODE_POD, { ttl: TTL }) },
];

/** On the dual-stack node. */
const ipv6Paths: Path[] = [
  { subject: 'from_pod: IPv6 to a pod on this node', program: 'from_pod', packet: ipv6Packet(sender6, receiver6) },
  { subject: 'from_pod: IPv6 to the host stack', program: 'from_pod', packet: ipv6Packet(sender6, '2001:db8::10') },
  { subject: 'from_pod: IPv6 to another node, native', program: 'from_pod', packet: ipv6Packet(sender6, podOn6(NATIVE_NODE)) },
  { subject: 'from_netdev: IPv6 from another node into a pod', program: 'from_netdev', packet: ipv6Packet(podOn6(NATIVE_NODE), receiver6) },
];
export const IPV6_PROGRAM_SUBJECTS = ipv6Paths.map((p) => p.subject);

/** Run once per call (see the top). */
const oneRunPaths: Path[] = [
  empty,
  nativeRemote,
  { subject: WRAPPING, program: 'from_pod', packet: ipv4Packet(sender.ip, TUNNEL_NODE_POD, { ttl: TTL }) },
  { subject: 'from_netdev: VXLAN from another node into a pod (unwraps it)', program: 'from_netdev', packet: vxlanPacket(node(TUNNEL_FLAG_NODE).ip, NODE_IP, ipv4Packet(TUNNEL_NODE_POD, receiver.ip, { ttl: TTL })) },
];

/** IPv6 in VXLAN, run once per call: over IPv4 on the dual-stack node, over IPv6 on the IPv6-only one. */
const ipv6OneRunPaths = (['IPv4', 'IPv6'] as const).map((underlay) => {
  const [self, other] = underlay === 'IPv4' ? [NODE_IP, node(TUNNEL_FLAG_NODE).ip] : [NODE_IP6, node6(TUNNEL_FLAG_NODE).ip];
  return {
    underlay,
    paths: [
      { subject: `from_pod: IPv6 to another node, vxlan over ${underlay} (wraps it)`, program: 'from_pod', packet: ipv6Packet(sender6, podOn6(TUNNEL_FLAG_NODE)) },
      { subject: `from_netdev: IPv6 in VXLAN over ${underlay} into a pod (unwraps it)`, program: 'from_netdev', packet: vxlanPacket(other, self, ipv6Packet(podOn6(TUNNEL_FLAG_NODE), receiver6)) },
    ] satisfies Path[],
  };
});
export const IPV6_ONE_RUN_SUBJECTS = ipv6OneRunPaths.flatMap(({ paths }) => paths.map((p) => p.subject));

/**
 * The datapath loaded with `count` other nodes' subnets (of each family of `podCIDRs`) and
 * pods with addresses of `podCIDRs`' families, and its programs. Node TUNNEL_FLAG_NODE's
 * subnets are tunnelled: over its IPv4 address, or without IPv4 pods, its IPv6 one.
 */
function loadDatapath(count: number, podCIDRs: PodCidrs = { ipv4: POD_CIDR }): { object: BpfObject; programs: Map<Path['program'], BpfProgram> } {
  const opened = openDatapath({ podCIDRs, nodeIp: podCIDRs.ipv4 ? NODE_IP : NODE_IP6, clusterCIDR: CLUSTER_CIDR, uplinkIfindex: 1, tunnelIfindex: 2, vxlanPort: VXLAN_PORT });
  const object = opened.object.load();
  const programs = new Map<Path['program'], BpfProgram>();
  try {
    const endpoints = object.map('endpoints');
    const withIpv6 = (pod: Endpoint, ip6: string): Endpoint => ({ ...pod, ip: podCIDRs.ipv4 ? pod.ip : undefined, ip6 });
    const pods: Endpoint[] = podCIDRs.ipv6 ? [withIpv6(sender, sender6), withIpv6(receiver, receiver6)] : [sender, receiver, receiverUsingStack];
    for (const pod of pods) writeEndpoint(endpoints, podCIDRs, pod);
    endpoints.close();
    const maps = nodeSubnetMapsOf(object);
    if (podCIDRs.ipv4) for (let n = 1; n <= count; n++) maps.nodeSubnets.update(nodeSubnetKey(node(n).cidr), encodeNodeSubnet({ nodeIp: node(n).ip, tunnel: n === TUNNEL_FLAG_NODE }));
    if (podCIDRs.ipv6) for (let n = 1; n <= count; n++) maps.nodeSubnets6.update(nodeSubnet6Key(node6(n).cidr), encodeNodeSubnet6({ nodeIp: n === TUNNEL_FLAG_NODE && podCIDRs.ipv4 ? node(n).ip : node6(n).ip, tunnel: n === TUNNEL_FLAG_NODE }));
    rebuildFromNodeSubnets(maps, opened.slotLayouts);
    Object.values(maps).forEach((map) => map.close());
    for (const name of ['from_pod', 'from_netdev', 'to_tunnel'] as const) programs.set(name, object.program(name));
    return { object, programs };
  } catch (error) {
    object.close();
    throw error;
  }
}

interface Run {
  group: string;
  subject: string;
  program: BpfProgram;
  packet: Buffer;
  repeat: number;
}

export function programCostSuite(options: { calls: number }): Suite {
  const loaded: Array<{ close: () => void }> = [];
  let runs: Run[] = [];

  return {
    name: 'program cost',
    baselines: { [PROGRAM_GROUP]: EMPTY, [ONE_RUN_GROUP]: EMPTY, [NODE_MAP_GROUPS.fromPod]: `${FEW_NODES} node subnets`, [NODE_MAP_GROUPS.fromNetdev]: `${FEW_NODES} node subnets` },
    async setUp() {
      const empty = BpfObject.open(path.join(testObjects, 'empty.bpf.o')).load();
      loaded.push(empty);
      const emptyProgram = empty.program('empty');
      loaded.push(emptyProgram);
      const few = loadDatapath(FEW_NODES);
      loaded.push(few.object, ...few.programs.values());
      const many = loadDatapath(MANY_NODES);
      loaded.push(many.object, ...many.programs.values());
      const dual = loadDatapath(FEW_NODES, DUAL_STACK);
      loaded.push(dual.object, ...dual.programs.values());
      const ipv6Only = loadDatapath(FEW_NODES, IPV6_ONLY);
      loaded.push(ipv6Only.object, ...ipv6Only.programs.values());
      const programOf = (datapath: typeof few, name: Path['program']): BpfProgram => (name === 'empty' ? emptyProgram : (datapath.programs.get(name) as BpfProgram));
      const manyNodes = `${MANY_NODES.toLocaleString('en')} node subnets`;
      const run = (group: string, subject: string, datapath: typeof few, measured: Path, repeat = REPEAT): Run => ({ group, subject, program: programOf(datapath, measured.program), packet: measured.packet, repeat });
      runs = [
        ...paths.map((p) => run(PROGRAM_GROUP, p.subject, few, p)),
        ...ipv6Paths.map((p) => run(PROGRAM_GROUP, p.subject, dual, p)),
        ...oneRunPaths.map((p) => run(ONE_RUN_GROUP, p.subject, few, p, 1)),
        ...ipv6OneRunPaths.flatMap(({ underlay, paths: onePaths }) => onePaths.map((p) => run(ONE_RUN_GROUP, p.subject, underlay === 'IPv4' ? dual : ipv6Only, p, 1))),
        run(NODE_MAP_GROUPS.fromPod, `${FEW_NODES} node subnets`, few, nativeRemote),
        run(NODE_MAP_GROUPS.fromPod, manyNodes, many, nativeRemote),
        run(NODE_MAP_GROUPS.fromNetdev, `${FEW_NODES} node subnets`, few, delivery),
        run(NODE_MAP_GROUPS.fromNetdev, manyNodes, many, delivery),
      ];
    },
    async measure() {
      // Round-robin: call k of every path runs within a few µs of the others', so a
      // slower moment of the machine hits them all and the ratios hold.
      const means = runs.map(() => [] as number[]);
      for (let call = 0; call < options.calls; call++) {
        runs.forEach((run, i) => means[i].push(run.program.testRun(run.packet, { repeat: run.repeat }).durationNs));
      }
      return runs.map((run, i) => ({ group: run.group, subject: run.subject, metric: 'ns per packet', unit: 'ns', value: median(means[i]) }));
    },
    tearDown() {
      runs = [];
      // Programs before the objects they came from.
      for (const resource of loaded.splice(0).reverse()) resource.close();
    },
  };
}
