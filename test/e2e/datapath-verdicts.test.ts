// The datapath programs' verdicts as a table run through BPF_PROG_TEST_RUN: each row
// is a packet, the verdict expected, the counter that must move (under the packet's
// family), and for redirects the MACs the packet must leave with. IPv4 in a node
// without IPv6, then IPv6 (and IPv4 beside it) in a dual-stack node and an IPv6-only one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { readCounters, type Counter } from '../../bpf/counters';
import { PROGRAMS, type ProgramName } from '../../bpf/datapath';
import { writeEndpoint, type Endpoint, type PodCidrs } from '../../bpf/endpoints';
import { LAYOUTS, SUBNET_FLAGS, slotKey, type DirectionName, type FamilyName, type ReasonName } from '../../bpf/layouts';
import { encodeNodeSubnet, encodeNodeSubnet6, nodeSubnet6Key, nodeSubnetKey, nodeSubnetMapsOf, rebuildFromNodeSubnets } from '../../bpf/node-subnets';
import { openDatapath, type DatapathSettings } from '../../bpf/open-datapath';
import type { BpfMap, BpfObject, BpfProgram } from '../../bpf/tsbpf';
import { needsRoot } from '../helpers/kernel';
import { ipv4FromBytes } from '../../agent/netlink';
import { ipv6FromBytes } from '../../bpf/addresses';
import { arpFrame, ethernetFrame, icmpEchoRequest, icmpRedirect, icmpv6Redirect, ipv4ChecksumValid, ipv4Frame, ipv4Packet, ipv6Frame, neighbourSolicitation, routerAdvertisement, udpDatagram, vxlanPacket, type Ipv4Fields, type VxlanOptions } from '../helpers/packets';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

// This node's pods are in 10.244.0.0/24. Under BPF_PROG_TEST_RUN the packet arrives on
// lo (ifindex 1): pod A "sits behind" it.
const POD_CIDR = '10.244.0.0/24';
const podA = { ip: '10.244.0.2', ifindex: 1, podMac: '02:00:0a:f4:00:02', hostMac: '02:aa:00:00:00:02' } satisfies Endpoint;
const podB = { ip: '10.244.0.3', ifindex: 4242, podMac: '02:00:0a:f4:00:03', hostMac: '02:aa:00:00:00:03' } satisfies Endpoint;
// A pod that has sent into the host stack: replies to it may need conntrack.
const podC = { ip: '10.244.0.4', ifindex: 4243, podMac: '02:00:0a:f4:00:04', hostMac: '02:aa:00:00:00:04', usesStack: true } satisfies Endpoint;

interface Row {
  name: string;
  program: ProgramName;
  packet: Buffer;
  verdict: number;
  counted: [ReasonName, DirectionName];
  /** For redirects: the Ethernet destination and source the packet must carry. */
  macs?: [string, string];
  /** For routed packets: the TTL they leave with (the checksum must still be right). */
  ttl?: number;
  /** For routed IPv6 packets: the hop limit they leave with. */
  hopLimit?: number;
}

// This node is 192.168.60.1; node 2 is reached natively, node 3 through the tunnel;
// nodes 4 and 5 have nested subnets of two prefix lengths (tunnelled, so the MACs tell
// which node a packet went to).
const NODE_IP = '192.168.60.1';
const subnets: Array<[string, number, string, number]> = [
  ['10.244.1.0', 24, '192.168.60.2', 0],
  ['10.244.2.0', 24, '192.168.60.3', SUBNET_FLAGS.TWILL_SUBNET_TUNNEL],
  ['10.250.0.0', 16, '192.168.60.4', SUBNET_FLAGS.TWILL_SUBNET_TUNNEL],
  ['10.250.3.0', 24, '192.168.60.5', SUBNET_FLAGS.TWILL_SUBNET_TUNNEL],
];

/** A UDP datagram from pod A, from port 40000, in an IPv4 frame with `fields`. */
const fromPodA = (destination: string, fields: Partial<Ipv4Fields> = {}, destinationPort = 8080): Buffer =>
  ipv4Frame({ source: podA.ip, destination, protocol: 17, payload: udpDatagram({ source: podA.ip, destination, sourcePort: 40000, destinationPort }, Buffer.alloc(16)), ...fields });
const VXLAN_PORT = 8472;
const VNI = 7;
const icmpRouterAdvertisement = Buffer.from([9, 0, 0xf6, 0xff, 0, 0, 0, 0]);

const rows: Row[] = [
  { name: 'pod to local pod: MACs rewritten, redirected into the peer', program: 'from_pod', packet: ipv4Packet(podA.ip, podB.ip), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
  { name: 'pod to an address that is no pod: passed to the stack', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.96.0.10'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  { name: 'pod to a free address of the pod CIDR (an empty slot): dropped, never routed on', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.0.99'), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_POD', 'TWILL_FROM_POD'] },
  { name: "pod to the pod CIDR's network address, natively routed: dropped, no pod holds it", program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.0.0'), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_POD', 'TWILL_FROM_POD'] },
  { name: 'source that is no endpoint: dropped as spoofed', program: 'from_pod', packet: ipv4Packet('10.244.0.99', podB.ip), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: 'source outside the pod CIDR: dropped as spoofed', program: 'from_pod', packet: ipv4Packet('10.245.0.2', podB.ip), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: "another pod's address from this veth: dropped as spoofed", program: 'from_pod', packet: ipv4Packet(podB.ip, podA.ip), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: "ARP for the pod's own address and MAC: passed", program: 'from_pod', packet: arpFrame({ op: 'request', senderMac: podA.podMac, senderIp: podA.ip, targetIp: '169.254.1.1' }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_IPV4', 'TWILL_FROM_POD'] },
  { name: "gratuitous ARP for another pod's address: dropped as spoofed", program: 'from_pod', packet: arpFrame({ op: 'request', senderMac: podA.podMac, senderIp: podB.ip, targetIp: podB.ip }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: "gratuitous ARP for the node's address: dropped as spoofed", program: 'from_pod', packet: arpFrame({ op: 'reply', senderMac: podA.podMac, senderIp: NODE_IP, targetMac: podB.hostMac, targetIp: NODE_IP }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: "ARP with the pod's address and another MAC: dropped as spoofed", program: 'from_pod', packet: arpFrame({ op: 'reply', senderMac: '02:de:ad:be:ef:00', senderIp: podA.ip, targetMac: podB.hostMac, targetIp: '169.254.1.1' }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: 'ARP that is not IPv4 over Ethernet: dropped as malformed', program: 'from_pod', packet: ethernetFrame(0x0806, Buffer.alloc(28)), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'IPv6 from a pod of an IPv4 cluster: dropped', program: 'from_pod', packet: ethernetFrame(0x86dd, Buffer.alloc(40)), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NOT_IPV4', 'TWILL_FROM_POD'] },
  { name: 'an IPv6 neighbour solicitation from a pod: dropped', program: 'from_pod', packet: neighbourSolicitation({ source: 'fe80::74:aff:fe00:2', target: 'fe80::1' }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NOT_IPV4', 'TWILL_FROM_POD'] },
  { name: 'an IPv6 router advertisement from a pod: dropped as a router message', program: 'from_pod', packet: routerAdvertisement({ source: 'fe80::74:aff:fe00:2', sourceMac: podA.podMac, prefix: { prefix: '2001:db8:bad::/64' } }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD'] },
  { name: 'an ICMPv6 redirect from a pod: dropped as a router message', program: 'from_pod', packet: icmpv6Redirect({ source: 'fe80::74:aff:fe00:2', target: 'fe80::74:aff:fe00:2', redirected: '2001:db8::1' }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD'] },
  { name: 'another EtherType (LLDP) from a pod: dropped', program: 'from_pod', packet: ethernetFrame(0x88cc, Buffer.alloc(46)), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NOT_IPV4', 'TWILL_FROM_POD'] },
  { name: 'an ICMP redirect from a pod: dropped as a router message', program: 'from_pod', packet: ipv4Frame({ source: podA.ip, destination: NODE_IP, protocol: 1, payload: icmpRedirect(podA.ip, fromPodA('10.96.0.10').subarray(14)) }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD'] },
  { name: 'an ICMP router advertisement from a pod: dropped as a router message', program: 'from_pod', packet: ipv4Frame({ source: podA.ip, destination: '224.0.0.1', protocol: 1, payload: icmpRouterAdvertisement }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD'] },
  { name: 'an ICMP echo request to a local pod: delivered', program: 'from_pod', packet: ipv4Frame({ source: podA.ip, destination: podB.ip, protocol: 1, payload: icmpEchoRequest(1, 1) }), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
  { name: 'IPv4 header with a wrong checksum: dropped as malformed', program: 'from_pod', packet: fromPodA(podB.ip, { badChecksum: true }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'version 6 inside an IPv4 frame: dropped as malformed', program: 'from_pod', packet: fromPodA(podB.ip, { version: 6 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'a total length beyond the frame: dropped as malformed', program: 'from_pod', packet: fromPodA(podB.ip, { totalLength: 200 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'a total length shorter than the header: dropped as malformed', program: 'from_pod', packet: fromPodA(podB.ip, { totalLength: 16 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'IPv4 options with a right checksum: delivered', program: 'from_pod', packet: fromPodA(podB.ip, { ipOptions: Buffer.from([1, 1, 1, 1, 1, 1, 1, 0]) }), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
  { name: 'IPv4 options under a wrong checksum: dropped as malformed', program: 'from_pod', packet: fromPodA(podB.ip, { ipOptions: Buffer.from([1, 1, 1, 0]), badChecksum: true }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'a first TCP fragment too short for the TCP header: dropped', program: 'from_pod', packet: ipv4Frame({ source: podA.ip, destination: podB.ip, protocol: 6, payload: Buffer.alloc(8), fragment: 0x2000 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_FRAGMENT', 'TWILL_FROM_POD'] },
  { name: 'a fragment at offset 8, over the transport header: dropped', program: 'from_pod', packet: fromPodA(podB.ip, { fragment: 0x0001 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_FRAGMENT', 'TWILL_FROM_POD'] },
  { name: 'a first UDP fragment to a local pod: delivered', program: 'from_pod', packet: fromPodA(podB.ip, { fragment: 0x2000 }), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
  { name: 'a later fragment to a local pod: delivered', program: 'from_pod', packet: fromPodA(podB.ip, { fragment: 0x0010 }), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
  { name: 'a fragment to a pod that uses the stack: passed whole to the stack', program: 'from_pod', packet: fromPodA(podC.ip, { fragment: 0x0010 }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_FRAGMENT', 'TWILL_FROM_POD'] },
  ...['127.0.0.1', '0.0.0.0', '224.0.0.251', '240.0.0.1', '255.255.255.255'].map((martian): Row => ({ name: `pod to ${martian}: dropped as martian`, program: 'from_pod', packet: fromPodA(martian), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MARTIAN', 'TWILL_FROM_POD'] })),
  { name: 'pod to the cloud metadata address (link-local): passed to the stack', program: 'from_pod', packet: fromPodA('169.254.169.254'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  { name: 'pod to port 8472 of the node without a tunnel: passed to the stack', program: 'from_pod', packet: fromPodA(NODE_IP, {}, VXLAN_PORT), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  // The kernel refuses to test-run a frame shorter than an IPv4 header, so truncation
  // here is a header whose IHL claims more bytes than the frame has.
  { name: 'IPv4 header longer than the packet: dropped as malformed', program: 'from_pod', packet: ipv4Packet(podA.ip, podB.ip, { payloadLength: 0, headerWords: 15 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'IPv4 header length below 20 bytes: dropped as malformed', program: 'from_pod', packet: ipv4Packet(podA.ip, podB.ip, { headerWords: 4 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'pod to a native node subnet: TTL down, redirected to the uplink neighbour', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.1.7'), verdict: TC_ACT_REDIRECT, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD'], ttl: 63 },
  { name: 'pod to a tunnelled node subnet: TTL down, tunnel MACs, redirected to the VXLAN device', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.2.7'), verdict: TC_ACT_REDIRECT, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD'], macs: ['02:76:c0:a8:3c:03', '02:76:c0:a8:3c:01'], ttl: 63 },
  { name: 'a destination in two nested node subnets: the longer prefix wins', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.250.3.7'), verdict: TC_ACT_REDIRECT, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD'], macs: ['02:76:c0:a8:3c:05', '02:76:c0:a8:3c:01'], ttl: 63 },
  { name: 'a destination only in the shorter of two nested subnets: the shorter one', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.250.9.7'), verdict: TC_ACT_REDIRECT, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD'], macs: ['02:76:c0:a8:3c:04', '02:76:c0:a8:3c:01'], ttl: 63 },
  { name: 'pod to a /24 of the cluster CIDR that no node has: passed to the stack', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.9.7'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  { name: 'pod to an address below the cluster CIDR: passed to the stack', program: 'from_pod', packet: ipv4Packet(podA.ip, '9.244.1.7'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  { name: 'pod to an address above the cluster CIDR: passed to the stack', program: 'from_pod', packet: ipv4Packet(podA.ip, '11.244.1.7'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  { name: 'pod to a remote pod with TTL 1: passed so the stack answers time exceeded', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.1.7', { ttl: 1 }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_TTL_EXCEEDED', 'TWILL_FROM_POD'] },
  { name: 'from the network to a local pod: TTL down, redirected into the peer', program: 'from_netdev', packet: ipv4Packet('10.244.1.9', podB.ip), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV'], macs: [podB.podMac, podB.hostMac], ttl: 63 },
  { name: 'to the tunnel for a tunnelled node subnet: key set, sent on', program: 'to_tunnel', packet: ipv4Packet('192.168.60.1', '10.244.2.7'), verdict: TC_ACT_OK, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_TO_TUNNEL'] },
  { name: 'to the tunnel, not IPv4: counted as such and left to the device', program: 'to_tunnel', packet: ethernetFrame(0x86dd, Buffer.alloc(40)), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_IPV4', 'TWILL_TO_TUNNEL'] },
  { name: 'to the tunnel for no node subnet: dropped', program: 'to_tunnel', packet: ipv4Packet('192.168.60.1', '10.96.0.10'), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_TUNNEL', 'TWILL_TO_TUNNEL'] },
  { name: 'from a host (not a pod) to a local pod: through the stack so conntrack sees both ways', program: 'from_netdev', packet: ipv4Packet('192.168.60.2', podB.ip), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_FROM_HOST', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network to a free address of the pod CIDR: dropped, so it cannot loop back out', program: 'from_netdev', packet: ipv4Packet('10.244.1.9', '10.244.0.99'), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_POD', 'TWILL_FROM_NETDEV'] },
  { name: 'from an outside host to a free address of the pod CIDR: dropped', program: 'from_netdev', packet: ipv4Packet('203.0.113.9', '10.244.0.99'), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_POD', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network to the node itself: passed', program: 'from_netdev', packet: ipv4Packet('192.168.60.2', '192.168.60.1'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network, a wrong header checksum: dropped as malformed', program: 'from_netdev', packet: ipv4Frame({ source: '10.244.1.9', destination: podB.ip, protocol: 17, payload: Buffer.alloc(16), badChecksum: true }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network, a tiny first TCP fragment for a pod: dropped', program: 'from_netdev', packet: ipv4Frame({ source: '10.244.1.9', destination: podB.ip, protocol: 6, payload: Buffer.alloc(8), fragment: 0x2000 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_FRAGMENT', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network, a fragment for a pod that uses the stack: passed whole to the stack', program: 'from_netdev', packet: ipv4Frame({ source: '10.244.1.9', destination: podC.ip, protocol: 17, payload: Buffer.alloc(16), fragment: 0x0010 }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_FRAGMENT', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network, IPv6: passed as not IPv4', program: 'from_netdev', packet: ethernetFrame(0x86dd, Buffer.alloc(40)), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_IPV4', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network, IPv4 header longer than the packet: dropped as malformed', program: 'from_netdev', packet: ipv4Packet('192.168.60.2', podB.ip, { payloadLength: 0, headerWords: 15 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_NETDEV'] },
];

const macOf = (packet: Buffer, offset: number): string => Array.from(packet.subarray(offset, offset + 6), (b) => b.toString(16).padStart(2, '0')).join(':');

// Node subnets of this node's prefix length (/24) in the cluster CIDR are looked up in
// node_slots, an array, when the agent has a cluster CIDR; the /16 stays in the hash.
const CLUSTER_CIDR = '10.0.0.0/8';

/** The datapath loaded for this node, with its pods and the other nodes' subnets (IPv6 ones: `subnets6`, CIDR, node address and whether it is tunnelled: by default, when the address is IPv4). */
function loadNode(settings: Omit<DatapathSettings, 'podCIDRs'>, podCIDRs: PodCidrs = { ipv4: POD_CIDR }, pods: Endpoint[] = [podA, podB, podC], subnets6: Array<[string, string, boolean?]> = []): { object: BpfObject; counters: BpfMap; programs: Map<ProgramName, BpfProgram> } {
  const opened = openDatapath({ podCIDRs, nodeIp: NODE_IP, clusterCIDR: CLUSTER_CIDR, ...settings });
  const object = opened.object.load();
  const maps = { endpoints: object.map('endpoints'), ...nodeSubnetMapsOf(object) };
  for (const pod of pods) writeEndpoint(maps.endpoints, podCIDRs, pod);
  for (const [address, prefixLength, nodeIp, flags] of subnets) maps.nodeSubnets.update(nodeSubnetKey(`${address}/${prefixLength}`), encodeNodeSubnet({ nodeIp, tunnel: flags === SUBNET_FLAGS.TWILL_SUBNET_TUNNEL }));
  for (const [cidr, nodeIp, tunnel = !nodeIp.includes(':')] of subnets6) maps.nodeSubnets6.update(nodeSubnet6Key(cidr), encodeNodeSubnet6({ nodeIp, tunnel }));
  rebuildFromNodeSubnets(maps, opened.slotLayouts);
  Object.values(maps).forEach((map) => map.close());
  return { object, counters: object.map('counters'), programs: new Map(PROGRAMS.map((name) => [name, object.program(name)])) };
}

function unload(node: ReturnType<typeof loadNode> | undefined): void {
  node?.programs.forEach((program) => program.close());
  node?.counters.close();
  node?.object.close();
}

const snapshot = (counters: BpfMap): Map<string, bigint> => new Map(readCounters(counters).map((c: Counter) => [`${c.reason}/${c.family}/${c.direction}`, c.packets]));

/**
 * Runs `packet` through `program` and checks that exactly the counter `counted` moved,
 * by one, under the family of the frame's EtherType (ARP and the rest count as IPv4).
 */
/** Runs `packet` through `program`; the counter of `counted` in the family of the packet's EtherType (or `family`: an unwrapped packet counts as its inner one) must move by one, and no other. */
function runCounted(node: ReturnType<typeof loadNode>, program: ProgramName, packet: Buffer, counted: [ReasonName, DirectionName], family?: FamilyName): { retval: number; packet: Buffer } {
  const before = snapshot(node.counters);
  const result = (node.programs.get(program) as BpfProgram).testRun(packet);
  const moved = [...snapshot(node.counters)].filter(([key, packets]) => packets !== (before.get(key) ?? 0n));
  const key = [counted[0], family ?? (packet.readUInt16BE(12) === 0x86dd ? 'TWILL_IPV6' : 'TWILL_IPV4'), counted[1]].join('/');
  assert.deepEqual(moved, [[key, (before.get(key) ?? 0n) + 1n]], 'exactly one counter moved, by one');
  return result;
}

/** A row's checks on the verdict and on the packet the program left. */
function checkRow(row: Row, result: { retval: number; packet: Buffer }): void {
  assert.equal(result.retval, row.verdict, 'verdict');
  if (row.macs) assert.deepEqual([macOf(result.packet, 0), macOf(result.packet, 6)], row.macs, 'Ethernet destination, source');
  if (row.ttl !== undefined) {
    assert.equal(result.packet[14 + 8], row.ttl, 'TTL');
    assert.ok(ipv4ChecksumValid(result.packet), 'the IPv4 checksum follows the TTL');
  }
  if (row.hopLimit !== undefined) assert.equal(hopLimitOf(result.packet), row.hopLimit, 'hop limit');
  if (!row.macs && row.ttl === undefined && row.hopLimit === undefined) assert.deepEqual(result.packet, row.packet, 'the packet is unchanged');
}

for (const [where, clusterCIDR] of [['node_slots and the hash', CLUSTER_CIDR], ['the hash alone (no cluster CIDR)', undefined]] as const) {
  describe(`datapath verdicts under BPF_PROG_TEST_RUN, node subnets in ${where}`, needsRoot, () => {
    let node: ReturnType<typeof loadNode>;
    before(() => {
      node = loadNode({ clusterCIDR });
    });
    after(() => unload(node));

    for (const row of rows) test(row.name, () => checkRow(row, runCounted(node, row.program, row.packet, row.counted)));
  });
}

// With an uplink, pod traffic to a tunnelled subnet is wrapped in VXLAN by from_pod and
// unwrapped by from_netdev on the uplink; the VXLAN device (ifindex 2 here) is only a
// fallback. Node 3 (192.168.60.3) owns the tunnelled 10.244.2.0/24.
describe('VXLAN wrapped and unwrapped by the programs', needsRoot, () => {
  const NODE3 = '192.168.60.3';
  let node: ReturnType<typeof loadNode>;
  before(() => {
    node = loadNode({ uplinkIfindex: 1, tunnelIfindex: 2, vni: VNI, vxlanPort: VXLAN_PORT });
  });
  after(() => unload(node));

  test('a pod to a tunnelled node subnet: wrapped as the VXLAN device would, redirected to the uplink', () => {
    const packet = ipv4Packet(podA.ip, '10.244.2.7');
    const result = runCounted(node, 'from_pod', packet, ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD']);
    assert.equal(result.retval, TC_ACT_REDIRECT);
    const wrapped = result.packet;
    assert.equal(wrapped.length, packet.length + 50, 'outer IPv4, UDP, VXLAN and inner Ethernet');
    const [ip, udp, vxlan, inner] = [14, 34, 42, 50];
    assert.equal(wrapped.readUInt16BE(12), 0x0800);
    assert.equal(wrapped[ip], 0x45);
    assert.equal(wrapped.readUInt16BE(ip + 2), wrapped.length - 14, 'outer total length');
    assert.equal(wrapped.readUInt16BE(ip + 6), 0x4000, "don't fragment");
    assert.equal(wrapped[ip + 9], 17, 'UDP');
    assert.deepEqual([ipv4FromBytes(wrapped.subarray(ip + 12, ip + 16)), ipv4FromBytes(wrapped.subarray(ip + 16, ip + 20))], [NODE_IP, NODE3]);
    assert.ok(ipv4ChecksumValid(wrapped), 'outer header checksum');
    assert.ok(wrapped.readUInt16BE(udp) >= 49152, 'source port in the dynamic range');
    assert.equal(wrapped.readUInt16BE(udp + 2), VXLAN_PORT);
    assert.equal(wrapped.readUInt16BE(udp + 4), wrapped.length - 34, 'UDP length');
    assert.equal(wrapped.readUInt16BE(udp + 6), 0, 'no UDP checksum');
    assert.deepEqual([wrapped.readUInt32BE(vxlan), wrapped.readUInt32BE(vxlan + 4)], [0x08000000, VNI << 8], 'VXLAN flags and VNI');
    assert.deepEqual([macOf(wrapped, inner), macOf(wrapped, inner + 6), wrapped.readUInt16BE(inner + 12)], ['02:76:c0:a8:3c:03', '02:76:c0:a8:3c:01', 0x0800], 'inner Ethernet: the VXLAN devices');
    const innerFrame = wrapped.subarray(inner);
    assert.equal(innerFrame[14 + 8], 63, 'inner TTL down by one');
    assert.ok(ipv4ChecksumValid(innerFrame));
    assert.deepEqual(innerFrame.subarray(14 + 12), packet.subarray(14 + 12), 'addresses and payload unchanged');
  });

  const fromNode3 = (inner: Buffer, options: VxlanOptions = {}, outerSource = NODE3, outerDestination = NODE_IP): Buffer => vxlanPacket(outerSource, outerDestination, inner, { port: VXLAN_PORT, vni: VNI, ...options });

  test('from the node owning the inner source, for a pod here: unwrapped, TTL down, redirected into the pod', () => {
    const inner = ipv4Packet('10.244.2.7', podB.ip);
    const result = runCounted(node, 'from_netdev', fromNode3(inner), ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV']);
    assert.equal(result.retval, TC_ACT_REDIRECT);
    assert.equal(result.packet.length, inner.length);
    assert.deepEqual([macOf(result.packet, 0), macOf(result.packet, 6)], [podB.podMac, podB.hostMac]);
    assert.equal(result.packet[14 + 8], 63);
    assert.ok(ipv4ChecksumValid(result.packet));
    assert.deepEqual(result.packet.subarray(14 + 12), inner.subarray(14 + 12), 'addresses and payload unchanged');
  });

  const declined: Array<[string, Buffer]> = [
    ['another VNI', fromNode3(ipv4Packet('10.244.2.7', podB.ip), { vni: VNI + 1 })],
    ['another UDP port', fromNode3(ipv4Packet('10.244.2.7', podB.ip), { port: 4789 })],
    ['VXLAN flags beyond the VNI flag', fromNode3(ipv4Packet('10.244.2.7', podB.ip), { flags: 0x88 })],
    ['a fragment', fromNode3(ipv4Packet('10.244.2.7', podB.ip), { fragment: 0x2000 })],
    ['for another node', fromNode3(ipv4Packet('10.244.2.7', podB.ip), {}, NODE3, '192.168.60.9')],
    ['from a node that does not own the inner source', fromNode3(ipv4Packet('10.244.2.7', podB.ip), {}, '192.168.60.5')],
    ['an inner source in a natively routed subnet', fromNode3(ipv4Packet('10.244.1.9', podB.ip), {}, '192.168.60.2')],
    ['an inner source that is no pod (the host)', fromNode3(ipv4Packet(NODE3, podB.ip))],
    ['an inner destination that is no pod', fromNode3(ipv4Packet('10.244.2.7', '10.244.0.99'))],
    ['an inner TTL of 1', fromNode3(ipv4Packet('10.244.2.7', podB.ip, { ttl: 1 }))],
    ['not IPv4 inside', fromNode3(ethernetFrame(0x86dd, Buffer.alloc(40)))],
  ];
  for (const [what, packet] of declined) {
    test(`VXLAN with ${what}: left whole to the VXLAN device`, () => {
      const result = runCounted(node, 'from_netdev', packet, ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV']);
      assert.equal(result.retval, TC_ACT_OK);
      assert.deepEqual(result.packet, packet, 'the packet is unchanged');
    });
  }

  // Only nodes speak the tunnel, and pods of tunnelled subnets arrive only through it.
  const tunnelRows: Array<Omit<Row, 'program'> & { program?: ProgramName }> = [
    { name: "a pod's datagram to this node's VXLAN port: dropped", packet: fromPodA(NODE_IP, {}, VXLAN_PORT), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_TUNNEL_FROM_POD', 'TWILL_FROM_POD'] },
    { name: "a pod's datagram to another node's VXLAN port: dropped", packet: fromPodA(NODE3, {}, VXLAN_PORT), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_TUNNEL_FROM_POD', 'TWILL_FROM_POD'] },
    { name: "a pod's datagram to the VXLAN port of a host outside: dropped", packet: fromPodA('203.0.113.9', {}, VXLAN_PORT), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_TUNNEL_FROM_POD', 'TWILL_FROM_POD'] },
    { name: "a pod's datagram to the VXLAN port of another pod: delivered", packet: fromPodA(podB.ip, {}, VXLAN_PORT), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
    { name: "a pod's datagram to another port of the node: passed", packet: fromPodA(NODE_IP, {}, 53), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
    { name: "a pod to the VXLAN device's address (the pod CIDR's network address): passed, it is the node's", packet: fromPodA('10.244.0.0', {}, 53), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
    { name: "from the VXLAN device's own traffic, a reply to its address: passed to the host", program: 'from_netdev', packet: fromNode3(ipv4Packet('10.244.2.7', '10.244.0.0')), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV'] },
    { name: 'unwrapped from the network, a source in a tunnelled subnet: dropped', program: 'from_netdev', packet: ipv4Packet('10.244.2.7', podB.ip), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NOT_WRAPPED', 'TWILL_FROM_NETDEV'] },
    { name: "unwrapped from the network, a source in this node's pod CIDR: dropped", program: 'from_netdev', packet: ipv4Packet('10.244.0.9', NODE_IP), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NOT_WRAPPED', 'TWILL_FROM_NETDEV'] },
    { name: 'unwrapped from the network, a source in a natively routed subnet: delivered', program: 'from_netdev', packet: ipv4Packet('10.244.1.9', podB.ip), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV'], macs: [podB.podMac, podB.hostMac] },
    { name: 'unwrapped from the network, a host source: through the stack', program: 'from_netdev', packet: ipv4Packet(NODE3, podB.ip), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_FROM_HOST', 'TWILL_FROM_NETDEV'] },
    { name: 'VXLAN carrying a UDP checksum: left whole to the VXLAN device, which checks it', program: 'from_netdev', packet: withUdpChecksum(fromNode3(ipv4Packet('10.244.2.7', podB.ip))), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV'] },
    { name: 'VXLAN whose inner header is damaged: left whole to the VXLAN device', program: 'from_netdev', packet: fromNode3(ipv4Frame({ source: '10.244.2.7', destination: podB.ip, protocol: 17, payload: Buffer.alloc(16), badChecksum: true })), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV'] },
    { name: 'VXLAN carrying a fragment: left whole to the VXLAN device', program: 'from_netdev', packet: fromNode3(ipv4Packet('10.244.2.7', podB.ip, { fragment: 0x2000 })), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV'] },
  ];
  for (const row of tunnelRows) {
    test(row.name, () => {
      const result = runCounted(node, row.program ?? 'from_pod', row.packet, row.counted);
      assert.equal(result.retval, row.verdict, 'verdict');
      if (row.macs) assert.deepEqual([macOf(result.packet, 0), macOf(result.packet, 6)], row.macs, 'Ethernet destination, source');
    });
  }
});

/** A VXLAN frame with a nonzero UDP checksum, which the VXLAN device verifies (the programs send 0). */
function withUdpChecksum(frame: Buffer): Buffer {
  const copy = Buffer.from(frame);
  copy.writeUInt16BE(0x1234, 14 + 20 + 6);
  return copy;
}

// On the VXLAN device itself (here the test-run device, ifindex 1) the tunnel key tells
// who sent a frame; one without a node's key (none under BPF_PROG_TEST_RUN) is refused,
// whatever it carries. The e2e suite pod-attacks sends real ones.
describe('frames on the VXLAN device without a node as their sender', needsRoot, () => {
  let node: ReturnType<typeof loadNode>;
  before(() => {
    node = loadNode({ uplinkIfindex: 3, tunnelIfindex: 1, vxlanPort: VXLAN_PORT });
  });
  after(() => unload(node));

  for (const [what, packet] of [['IPv4 from a pod subnet', ipv4Packet('10.244.2.7', podB.ip)], ['ARP', arpFrame({ op: 'request', senderMac: '02:76:c0:a8:3c:03', senderIp: '10.244.2.7', targetIp: podB.ip })]] as const) {
    test(`${what}: dropped as forged`, () => {
      const result = runCounted(node, 'from_netdev', packet, ['TWILL_DROPPED_FORGED_TUNNEL', 'TWILL_FROM_NETDEV']);
      assert.equal(result.retval, TC_ACT_SHOT);
    });
  }
});

// The same pods with IPv6 addresses at the same offsets of this node's IPv6 pod CIDR.
const POD_CIDR6 = 'fd00:10:244::/64';
const pod6A = { ...podA, ip6: 'fd00:10:244::2' } satisfies Endpoint;
const pod6B = { ...podB, ip6: 'fd00:10:244::3' } satisfies Endpoint;
const LINK_LOCAL_A = 'fe80::74:aff:fe00:2';

/** An IPv6 frame from pod A (its own address unless `source` says otherwise): UDP from port 40000 unless `nextHeader` and `payload` are given. */
function fromPodA6(destination: string, { source = pod6A.ip6, nextHeader = 17, payload, destinationPort = 8080 }: { source?: string; nextHeader?: number; payload?: Buffer; destinationPort?: number } = {}): Buffer {
  const body = payload ?? udpDatagram({ source, destination, sourcePort: 40000, destinationPort }, Buffer.alloc(16));
  return ipv6Frame({ source, destination, nextHeader, payload: body });
}
/** An extension header of 8 bytes (hop-by-hop, routing, destination options: next header, length 0, padding), then UDP. */
const extensionThenUdp = (destination: string): Buffer => Buffer.concat([Buffer.from([17, 0, 1, 4, 0, 0, 0, 0]), udpDatagram({ source: pod6A.ip6, destination, sourcePort: 40000, destinationPort: 8080 }, Buffer.alloc(16))]);
/** A hop-by-hop header of 8 bytes holding the router alert option MLD messages carry, then ICMPv6. */
const ROUTER_ALERT_THEN_ICMPV6 = Buffer.from([58, 0, 5, 2, 0, 0, 1, 0]);
/** An ICMPv6 message of `type` with an 20-byte body; the programs read only the type. */
const icmpv6 = (type: number): Buffer => Buffer.concat([Buffer.from([type, 0, 0, 0]), Buffer.alloc(20)]);
/** A frame cut short: an IPv6 header whose payload length claims more than the frame carries. */
function truncated(frame: Buffer): Buffer {
  const copy = Buffer.from(frame);
  copy.writeUInt16BE(copy.length, 14 + 4);
  return copy;
}

// Other nodes' IPv6 pod subnets: /64s of the IPv6 cluster CIDR (node_slots6 when it is
// given), one nested in a /56, whose mask ends inside a 32-bit word of the address, and
// a /48 and another /56 outside it (the hash).
const CLUSTER_CIDR6 = 'fd00:10:244::/48';
const SUBNETS6: Array<[string, string]> = [
  ['fd00:10:244:1::/64', 'fd00:60::2'],
  ['fd00:10:244:300::/56', 'fd00:60::3'],
  ['fd00:10:244:303::/64', 'fd00:60::5'],
  ['fd00:10:250::/48', 'fd00:60::4'],
  ['fd00:10:252:100::/56', 'fd00:60::6'],
];
const hopLimitOf = (frame: Buffer): number => frame[14 + 7];

const rows6: Row[] = [
  { name: 'IPv6 pod to local pod: MACs rewritten, redirected into the peer', program: 'from_pod', packet: fromPodA6(pod6B.ip6), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
  { name: 'IPv6 echo request to a local pod: delivered', program: 'from_pod', packet: fromPodA6(pod6B.ip6, { nextHeader: 58, payload: icmpv6(128) }), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
  { name: 'IPv4 beside it in the same node: delivered', program: 'from_pod', packet: ipv4Packet(podA.ip, podB.ip), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
  { name: 'IPv6 to a free address of the pod CIDR: dropped, never routed on', program: 'from_pod', packet: fromPodA6('fd00:10:244::99'), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_POD', 'TWILL_FROM_POD'] },
  { name: 'IPv6 to the pod CIDR past the slots pods get: passed to the stack', program: 'from_pod', packet: fromPodA6('fd00:10:244::1:0'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  { name: 'IPv6 to an address outside the cluster: passed to the stack', program: 'from_pod', packet: fromPodA6('2001:db8::1'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  { name: 'IPv6 from a free address of the pod CIDR: dropped as spoofed', program: 'from_pod', packet: fromPodA6(pod6B.ip6, { source: 'fd00:10:244::99' }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: "IPv6 from another pod's address on this veth: dropped as spoofed", program: 'from_pod', packet: fromPodA6(pod6A.ip6, { source: pod6B.ip6 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: 'IPv6 from outside the pod CIDR: dropped as spoofed', program: 'from_pod', packet: fromPodA6(pod6B.ip6, { source: '2001:db8::7' }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: 'IPv6 from a link-local address, not neighbour discovery: dropped as spoofed', program: 'from_pod', packet: fromPodA6(pod6B.ip6, { source: LINK_LOCAL_A }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: 'a neighbour solicitation from a link-local address: passed to the stack', program: 'from_pod', packet: neighbourSolicitation({ source: LINK_LOCAL_A, target: 'fe80::1', sourceMac: podA.podMac }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NEIGHBOUR_DISCOVERY', 'TWILL_FROM_POD'] },
  { name: "a neighbour solicitation from the pod's own address: passed to the stack", program: 'from_pod', packet: neighbourSolicitation({ source: pod6A.ip6, target: 'fe80::1', sourceMac: podA.podMac }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NEIGHBOUR_DISCOVERY', 'TWILL_FROM_POD'] },
  { name: 'a duplicate address detection probe (from ::): passed to the stack', program: 'from_pod', packet: neighbourSolicitation({ source: '::', target: pod6A.ip6, sourceMac: podA.podMac }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NEIGHBOUR_DISCOVERY', 'TWILL_FROM_POD'] },
  { name: 'a router solicitation from a link-local address: passed to the stack', program: 'from_pod', packet: fromPodA6('ff02::2', { source: LINK_LOCAL_A, nextHeader: 58, payload: icmpv6(133) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NEIGHBOUR_DISCOVERY', 'TWILL_FROM_POD'] },
  { name: 'an MLDv2 report from ::: passed to the stack', program: 'from_pod', packet: fromPodA6('ff02::16', { source: '::', nextHeader: 58, payload: icmpv6(143) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NEIGHBOUR_DISCOVERY', 'TWILL_FROM_POD'] },
  { name: 'an MLDv2 report behind its hop-by-hop router alert, from a link-local address: passed to the stack', program: 'from_pod', packet: fromPodA6('ff02::16', { source: LINK_LOCAL_A, nextHeader: 0, payload: Buffer.concat([ROUTER_ALERT_THEN_ICMPV6, icmpv6(143)]) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NEIGHBOUR_DISCOVERY', 'TWILL_FROM_POD'] },
  { name: "a router advertisement behind hop-by-hop options, from the pod's own address: dropped as a router message", program: 'from_pod', packet: fromPodA6('ff02::1', { nextHeader: 0, payload: Buffer.concat([ROUTER_ALERT_THEN_ICMPV6, icmpv6(134)]) }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD'] },
  { name: 'an echo request behind hop-by-hop options, from a link-local address: dropped as spoofed', program: 'from_pod', packet: fromPodA6(pod6B.ip6, { source: LINK_LOCAL_A, nextHeader: 0, payload: Buffer.concat([ROUTER_ALERT_THEN_ICMPV6, icmpv6(128)]) }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: "a neighbour advertisement from another pod's address: dropped as spoofed", program: 'from_pod', packet: fromPodA6('ff02::1', { source: pod6B.ip6, nextHeader: 58, payload: icmpv6(136) }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: 'a router advertisement from a link-local address: dropped as a router message', program: 'from_pod', packet: routerAdvertisement({ source: LINK_LOCAL_A, sourceMac: podA.podMac, prefix: { prefix: '2001:db8:bad::/64' } }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD'] },
  { name: "a router advertisement from the pod's own address to a pod: dropped as a router message", program: 'from_pod', packet: routerAdvertisement({ source: pod6A.ip6, destination: pod6B.ip6, sourceMac: podA.podMac }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD'] },
  { name: 'an ICMPv6 redirect: dropped as a router message', program: 'from_pod', packet: icmpv6Redirect({ source: pod6A.ip6, destination: pod6B.ip6, target: pod6A.ip6, redirected: '2001:db8::1' }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD'] },
  ...[[0, 'hop-by-hop options'], [43, 'a routing header'], [60, 'destination options']].map(([nextHeader, what]): Row => ({ name: `${what} to a local pod: passed whole to the stack, which parses and routes it`, program: 'from_pod', packet: fromPodA6(pod6B.ip6, { nextHeader: nextHeader as number, payload: extensionThenUdp(pod6B.ip6) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_EXTENSION_HEADER', 'TWILL_FROM_POD'] })),
  { name: 'a fragment to a local pod: passed whole to the stack', program: 'from_pod', packet: fromPodA6(pod6B.ip6, { nextHeader: 44, payload: Buffer.concat([Buffer.from([17, 0, 0, 1, 0, 0, 0, 7]), Buffer.alloc(24)]) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_EXTENSION_HEADER', 'TWILL_FROM_POD'] },
  { name: 'a router advertisement behind destination options: passed, and the hop limit the stack takes off voids it', program: 'from_pod', packet: fromPodA6(pod6B.ip6, { nextHeader: 60, payload: Buffer.concat([Buffer.from([58, 0, 1, 4, 0, 0, 0, 0]), icmpv6(134)]) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_EXTENSION_HEADER', 'TWILL_FROM_POD'] },
  { name: 'an extension header from a spoofed source: dropped as spoofed', program: 'from_pod', packet: fromPodA6(pod6B.ip6, { source: pod6B.ip6, nextHeader: 0, payload: extensionThenUdp(pod6B.ip6) }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  ...['::1', '::', 'ff02::1', 'ff05::2', 'fe80::1', '::ffff:a00:1', '::a00:1'].map((martian): Row => ({ name: `IPv6 pod to ${martian}: dropped as martian`, program: 'from_pod', packet: fromPodA6(martian), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MARTIAN', 'TWILL_FROM_POD'] })),
  { name: 'an IPv6 header with version 4: dropped as malformed', program: 'from_pod', packet: (() => { const frame = fromPodA6(pod6B.ip6); frame[14] = 0x40; return frame; })(), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  // The kernel refuses to test-run a frame shorter than an IPv6 header, so truncation
  // here is a payload length that claims more than the frame has.
  { name: 'an IPv6 payload length beyond the frame: dropped as malformed', program: 'from_pod', packet: truncated(fromPodA6(pod6B.ip6)), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'IPv6 from a host (not a pod) to a local pod: through the stack so conntrack sees both ways', program: 'from_netdev', packet: ipv6Frame({ source: '2001:db8::9', destination: pod6B.ip6, nextHeader: 17, payload: Buffer.alloc(16) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_FROM_HOST', 'TWILL_FROM_NETDEV'] },
  { name: 'IPv6 from a remote pod with an extension header: passed whole to the stack', program: 'from_netdev', packet: ipv6Frame({ source: 'fd00:10:244:1::9', destination: pod6B.ip6, nextHeader: 60, payload: Buffer.concat([Buffer.from([17, 0, 1, 4, 0, 0, 0, 0]), Buffer.alloc(16)]) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_EXTENSION_HEADER', 'TWILL_FROM_NETDEV'] },
  { name: 'IPv6 from a remote pod with hop limit 1: passed so the stack answers time exceeded', program: 'from_netdev', packet: ipv6Frame({ source: 'fd00:10:244:1::9', destination: pod6B.ip6, nextHeader: 17, payload: Buffer.alloc(16), hopLimit: 1 }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_TTL_EXCEEDED', 'TWILL_FROM_NETDEV'] },
  { name: 'IPv6 pod to a remote pod with hop limit 1: passed so the stack answers time exceeded', program: 'from_pod', packet: ipv6Frame({ source: pod6A.ip6, destination: 'fd00:10:244:1::7', nextHeader: 17, payload: Buffer.alloc(16), hopLimit: 1 }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_TTL_EXCEEDED', 'TWILL_FROM_POD'] },
  ...['fd00:10:244:1::7', 'fd00:10:244:303::7', 'fd00:10:244:3ff::7', 'fd00:10:250:9::7', 'fd00:10:252:100::7', 'fd00:10:252:1ff::7'].map((destination): Row => ({ name: `IPv6 pod to ${destination}, in a node's IPv6 subnet: hop limit down, redirected to the uplink neighbour`, program: 'from_pod', packet: fromPodA6(destination), verdict: TC_ACT_REDIRECT, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD'], hopLimit: 63 })),
  ...['fd00:10:244:2::7', 'fd00:10:252:200::7', 'fd00:10:252:ff::7'].map((destination): Row => ({ name: `IPv6 pod to ${destination}, just outside every node's subnet: passed to the stack`, program: 'from_pod', packet: fromPodA6(destination), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] })),
  { name: 'IPv6 from a remote pod to a local pod: hop limit down, redirected into the peer', program: 'from_netdev', packet: ipv6Frame({ source: 'fd00:10:244:1::9', destination: pod6B.ip6, nextHeader: 17, payload: Buffer.alloc(16) }), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV'], macs: [podB.podMac, podB.hostMac], hopLimit: 63 },
  { name: 'IPv6 from the network to a free address of the pod CIDR: dropped', program: 'from_netdev', packet: ipv6Frame({ source: '2001:db8::9', destination: 'fd00:10:244::99', nextHeader: 17, payload: Buffer.alloc(16) }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_POD', 'TWILL_FROM_NETDEV'] },
  { name: 'IPv6 from the network to the node: passed', program: 'from_netdev', packet: ipv6Frame({ source: '2001:db8::9', destination: '2001:db8::1', nextHeader: 17, payload: Buffer.alloc(16) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV'] },
  { name: 'IPv6 neighbour discovery from the network: passed', program: 'from_netdev', packet: neighbourSolicitation({ source: 'fe80::9', target: 'fe80::1' }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV'] },
  { name: 'IPv6 from the network, cut short: dropped as malformed', program: 'from_netdev', packet: truncated(ipv6Frame({ source: '2001:db8::9', destination: pod6B.ip6, nextHeader: 17, payload: Buffer.alloc(16) })), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_NETDEV'] },
  { name: 'IPv6 routed by the stack to the pod behind this veth: counted as delivered', program: 'to_pod', packet: ipv6Frame({ source: '2001:db8::9', destination: pod6A.ip6, nextHeader: 17, payload: Buffer.alloc(16) }), verdict: TC_ACT_OK, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_TO_POD'] },
  { name: 'IPv6 on a veth that is not the pod’s: passed', program: 'to_pod', packet: ipv6Frame({ source: '2001:db8::9', destination: pod6B.ip6, nextHeader: 17, payload: Buffer.alloc(16) }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_TO_POD'] },
  { name: 'to the tunnel, IPv6 for a natively routed subnet: dropped, there is no tunnel to it', program: 'to_tunnel', packet: fromPodA6('fd00:10:244:1::7'), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_TUNNEL', 'TWILL_TO_TUNNEL'] },
];

for (const [where, clusterCIDR] of [['node_slots6 and the hash', `${CLUSTER_CIDR},${CLUSTER_CIDR6}`], ['the hash alone (no IPv6 cluster CIDR)', CLUSTER_CIDR]] as const) {
  describe(`datapath verdicts for IPv6, in a dual-stack node, IPv6 node subnets in ${where}`, needsRoot, () => {
    let node: ReturnType<typeof loadNode>;
    before(() => {
      node = loadNode({ clusterCIDR }, { ipv4: POD_CIDR, ipv6: POD_CIDR6 }, [pod6A, pod6B, { ...podC, ip6: 'fd00:10:244::4' }], SUBNETS6);
    });
    after(() => unload(node));
    test(`the /64s are looked up in ${where}`, () => {
      const lengths = node.object.map('node_subnet_lengths6');
      try {
        const slotted = lengths.lookup(slotKey(0))?.readUInt32LE(LAYOUTS.node_subnet_lengths.members.slotted_length);
        assert.equal(slotted, clusterCIDR.includes(',') ? 64 : 0);
      } finally {
        lengths.close();
      }
    });
    for (const row of rows6) test(row.name, () => checkRow(row, runCounted(node, row.program, row.packet, row.counted)));
  });
}

/** A pod of an IPv6-only node: its IPv6 address alone. */
const only6 = (pod: Endpoint): Endpoint => ({ ...pod, ip: undefined });

describe('datapath verdicts in an IPv6-only node', needsRoot, () => {
  let node: ReturnType<typeof loadNode>;
  before(() => {
    node = loadNode({ clusterCIDR: undefined }, { ipv6: 'fd00:10:244::/112' }, [only6(pod6A), only6(pod6B)]);
  });
  after(() => unload(node));
  const rows: Row[] = [
    rows6[0],
    { name: 'IPv4 from a pod: dropped as spoofed, no IPv4 address is its own', program: 'from_pod', packet: ipv4Packet(podA.ip, podB.ip), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
    { name: 'ARP from a pod: dropped as spoofed', program: 'from_pod', packet: arpFrame({ op: 'request', senderMac: podA.podMac, senderIp: podA.ip, targetIp: '169.254.1.1' }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
    { name: 'IPv6 past the 4,096 slots of an IPv6-only node: passed to the stack', program: 'from_pod', packet: fromPodA6('fd00:10:244::1000'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
    { name: 'IPv6 to a free slot: dropped', program: 'from_pod', packet: fromPodA6('fd00:10:244::fff'), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_POD', 'TWILL_FROM_POD'] },
  ];
  for (const row of rows) test(row.name, () => checkRow(row, runCounted(node, row.program, row.packet, row.counted)));
});

/** Pod A's IPv6 packet to node 3's tunnelled subnet, and what from_pod made of it: forwarded, `overhead` bytes of `headers` longer. */
function wrappedToNode3(node: ReturnType<typeof loadNode>, overhead: number, headers: string): [Buffer, Buffer] {
  const packet = fromPodA6('fd00:10:244:2::7');
  const result = runCounted(node, 'from_pod', packet, ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD']);
  assert.equal(result.retval, TC_ACT_REDIRECT);
  assert.equal(result.packet.length, packet.length + overhead, headers);
  return [packet, result.packet];
}

/** The frame a wrap carries: the pod's IPv6 packet `sent`, one off its hop limit, addresses and payload as they were. */
function assertWrappedAsSent6(innerFrame: Buffer, sent: Buffer): void {
  assert.equal(hopLimitOf(innerFrame), 63, 'inner hop limit down by one');
  assert.deepEqual(innerFrame.subarray(14 + 8), sent.subarray(14 + 8), 'addresses and payload unchanged');
}

/** An unwrapped IPv6 frame `inner` redirected into pod B: the outer headers gone, pod B's MACs, one off the hop limit. */
function assertUnwrappedIntoPodB(result: { retval: number; packet: Buffer }, inner: Buffer): void {
  assert.equal(result.retval, TC_ACT_REDIRECT);
  assert.equal(result.packet.length, inner.length);
  assert.deepEqual([macOf(result.packet, 0), macOf(result.packet, 6), result.packet.readUInt16BE(12)], [podB.podMac, podB.hostMac, 0x86dd], "pod B's MACs, and the Ethernet header says IPv6");
  assertWrappedAsSent6(result.packet, inner);
}

/** IPv6 from a pod of node 3's tunnelled fd00:10:244:2::/64, as it comes out of a tunnel. */
const remote6 = (destination: string, options: { hopLimit?: number; nextHeader?: number } = {}): Buffer => ipv6Frame({ source: 'fd00:10:244:2::7', destination, nextHeader: options.nextHeader ?? 17, payload: Buffer.alloc(16), hopLimit: options.hopLimit });

// IPv6 pods of a vxlan node: their packets to another node's IPv6 subnet are wrapped
// in VXLAN over IPv4, to the node's IPv4 address, and unwrapped on arrival, as IPv4
// pods' are. Node 3 (192.168.60.3) owns the tunnelled fd00:10:244:2::/64.
describe('IPv6 in a vxlan node', needsRoot, () => {
  const NODE3 = '192.168.60.3';
  let node: ReturnType<typeof loadNode>;
  before(() => {
    node = loadNode({ uplinkIfindex: 1, tunnelIfindex: 2, vxlanPort: VXLAN_PORT }, { ipv4: POD_CIDR, ipv6: POD_CIDR6 }, [pod6A, pod6B], [['fd00:10:244:2::/64', NODE3]]);
  });
  after(() => unload(node));
  const fromNode3 = (inner: Buffer, outerSource = NODE3): Buffer => vxlanPacket(outerSource, NODE_IP, inner, { port: VXLAN_PORT });

  test('an IPv6 pod to a tunnelled IPv6 subnet: wrapped in VXLAN over IPv4 to its node, hop limit down, redirected to the uplink', () => {
    const [packet, wrapped] = wrappedToNode3(node, 50, 'outer IPv4, UDP, VXLAN and inner Ethernet');
    const [ip, udp, inner] = [14, 34, 50];
    assert.equal(wrapped.readUInt16BE(12), 0x0800, 'outer IPv4');
    assert.deepEqual([ipv4FromBytes(wrapped.subarray(ip + 12, ip + 16)), ipv4FromBytes(wrapped.subarray(ip + 16, ip + 20))], [NODE_IP, NODE3]);
    assert.ok(ipv4ChecksumValid(wrapped), 'outer header checksum');
    assert.equal(wrapped.readUInt16BE(udp + 2), VXLAN_PORT);
    assert.equal(wrapped.readUInt16BE(udp + 4), wrapped.length - 34, 'UDP length');
    assert.deepEqual([macOf(wrapped, inner), macOf(wrapped, inner + 6), wrapped.readUInt16BE(inner + 12)], ['02:76:c0:a8:3c:03', '02:76:c0:a8:3c:01', 0x86dd], 'inner Ethernet: the VXLAN devices, IPv6');
    assertWrappedAsSent6(wrapped.subarray(inner), packet);
  });

  test('IPv6 in VXLAN from the node owning its source, for a pod here: unwrapped, hop limit down, redirected into the pod', () => {
    const inner = remote6(pod6B.ip6);
    assertUnwrappedIntoPodB(runCounted(node, 'from_netdev', fromNode3(inner), ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV'], 'TWILL_IPV6'), inner);
  });

  const declined: Array<[string, Buffer]> = [
    ['from a node that does not own the inner source', fromNode3(remote6(pod6B.ip6), '192.168.60.5')],
    ['an inner destination that is no pod', fromNode3(remote6('fd00:10:244::99'))],
    ['an inner hop limit of 1', fromNode3(remote6(pod6B.ip6, { hopLimit: 1 }))],
    ['an inner extension header', fromNode3(remote6(pod6B.ip6, { nextHeader: 60 }))],
    ['an inner source that is no pod subnet', fromNode3(ipv6Frame({ source: '2001:db8::3', destination: pod6B.ip6, nextHeader: 17, payload: Buffer.alloc(16) }))],
  ];
  for (const [what, packet] of declined) {
    test(`IPv6 in VXLAN with ${what}: left whole to the VXLAN device`, () => {
      const result = runCounted(node, 'from_netdev', packet, ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV']);
      assert.equal(result.retval, TC_ACT_OK);
      assert.deepEqual(result.packet, packet, 'the packet is unchanged');
    });
  }

  const rows: Row[] = [
    { name: "unwrapped from the network, an IPv6 source in this node's pod CIDR: dropped", program: 'from_netdev', packet: ipv6Frame({ source: 'fd00:10:244::9', destination: '2001:db8::1', nextHeader: 17, payload: Buffer.alloc(16) }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NOT_WRAPPED', 'TWILL_FROM_NETDEV'] },
    { name: 'unwrapped from the network, an IPv6 source in a tunnelled subnet: dropped', program: 'from_netdev', packet: remote6(pod6B.ip6), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NOT_WRAPPED', 'TWILL_FROM_NETDEV'] },
    { name: "a pod's IPv6 datagram to the VXLAN port of a host: dropped", program: 'from_pod', packet: fromPodA6('2001:db8::1', { destinationPort: VXLAN_PORT }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_TUNNEL_FROM_POD', 'TWILL_FROM_POD'] },
    { name: 'to the tunnel, IPv6 for a tunnelled subnet: key set to its node, sent on', program: 'to_tunnel', packet: ipv6Frame({ source: 'fd00:10:244::', destination: 'fd00:10:244:2::7', nextHeader: 17, payload: Buffer.alloc(16) }), verdict: TC_ACT_OK, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_TO_TUNNEL'] },
    { name: 'to the tunnel, IPv6 for no node subnet: dropped', program: 'to_tunnel', packet: ipv6Frame({ source: 'fd00:10:244::', destination: 'ff02::16', nextHeader: 0, payload: Buffer.alloc(16) }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_TUNNEL', 'TWILL_TO_TUNNEL'] },
  ];
  for (const row of rows) test(row.name, () => checkRow(row, runCounted(node, row.program, row.packet, row.counted)));
});

// An IPv6-only vxlan node: VXLAN runs over the nodes' IPv6 addresses, wrapped and
// unwrapped by the programs as over IPv4. This node is NODE_IP6; node 3 (NODE3_IP6)
// owns the tunnelled fd00:10:244:2::/64.
const NODE_IP6 = 'fd00:192:168:60::1';
const NODE3_IP6 = 'fd00:192:168:60::3';
describe('VXLAN over an IPv6 underlay', needsRoot, () => {
  const NODE3 = NODE3_IP6;
  let node: ReturnType<typeof loadNode>;
  before(() => {
    node = loadNode({ uplinkIfindex: 1, tunnelIfindex: 2, vni: VNI, vxlanPort: VXLAN_PORT, nodeIp: NODE_IP6, clusterCIDR: undefined }, { ipv6: POD_CIDR6 }, [only6(pod6A), only6(pod6B)], [['fd00:10:244:2::/64', NODE3, true]]);
  });
  after(() => unload(node));
  const fromNode3 = (inner: Buffer, options: VxlanOptions = {}, outerSource = NODE3, outerDestination = NODE_IP6): Buffer => vxlanPacket(outerSource, outerDestination, inner, { port: VXLAN_PORT, vni: VNI, ...options });

  test('an IPv6 pod to a tunnelled subnet: wrapped in VXLAN over IPv6 to its node, no UDP checksum, hop limit down, redirected to the uplink', () => {
    const [packet, wrapped] = wrappedToNode3(node, 70, 'outer IPv6, UDP, VXLAN and inner Ethernet');
    const [ip6, udp, vxlan, inner] = [14, 54, 62, 70];
    assert.equal(wrapped.readUInt16BE(12), 0x86dd, 'outer IPv6');
    assert.deepEqual([wrapped[ip6] >> 4, wrapped.readUInt16BE(ip6 + 4), wrapped[ip6 + 6], wrapped[ip6 + 7]], [6, wrapped.length - 54, 17, 64], 'version, payload length, UDP, hop limit 64');
    assert.deepEqual([ipv6FromBytes(wrapped.subarray(ip6 + 8, ip6 + 24)), ipv6FromBytes(wrapped.subarray(ip6 + 24, ip6 + 40))], [NODE_IP6, NODE3]);
    assert.ok(wrapped.readUInt16BE(udp) >= 0xc000, 'source port from the flow, in 49152-65535');
    assert.deepEqual([wrapped.readUInt16BE(udp + 2), wrapped.readUInt16BE(udp + 4), wrapped.readUInt16BE(udp + 6)], [VXLAN_PORT, wrapped.length - 54, 0], 'UDP port, length, checksum 0');
    assert.deepEqual([wrapped.readUInt32BE(vxlan), wrapped.readUInt32BE(vxlan + 4)], [0x08000000, VNI << 8], 'VXLAN flags and VNI');
    assert.deepEqual([macOf(wrapped, inner), macOf(wrapped, inner + 6), wrapped.readUInt16BE(inner + 12)], ['02:76:00:00:00:03', '02:76:00:00:00:01', 0x86dd], 'inner Ethernet: the VXLAN devices, their MACs from the IPv6 addresses');
    assertWrappedAsSent6(wrapped.subarray(inner), packet);
  });

  test('VXLAN over IPv6 from the node owning the inner source, for a pod here: unwrapped, hop limit down, redirected into the pod', () => {
    const inner = remote6(pod6B.ip6);
    assertUnwrappedIntoPodB(runCounted(node, 'from_netdev', fromNode3(inner), ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV']), inner);
  });

  const declined: Array<[string, Buffer]> = [
    ['from a node that does not own the inner source', fromNode3(remote6(pod6B.ip6), {}, 'fd00:192:168:60::5')],
    ['to another node', fromNode3(remote6(pod6B.ip6), {}, NODE3, 'fd00:192:168:60::2')],
    ['a UDP checksum', fromNode3(remote6(pod6B.ip6), { udpChecksum: 0x1234 })],
    ['another VNI', fromNode3(remote6(pod6B.ip6), { vni: VNI + 1 })],
    ['another port', fromNode3(remote6(pod6B.ip6), { port: 4789 })],
    ['an inner destination that is no pod', fromNode3(remote6('fd00:10:244::99'))],
    ['an inner hop limit of 1', fromNode3(remote6(pod6B.ip6, { hopLimit: 1 }))],
    ['an inner extension header', fromNode3(remote6(pod6B.ip6, { nextHeader: 60 }))],
    // A rogue matching the end of node 3's address in IPv4, to this node's 0.0.0.0.
    ['an outer IPv4 header', vxlanPacket('0.0.0.3', '0.0.0.0', remote6(pod6B.ip6), { port: VXLAN_PORT, vni: VNI })],
  ];
  for (const [what, packet] of declined) {
    test(`VXLAN over IPv6 with ${what}: left whole to the stack and the VXLAN device`, () => {
      const result = runCounted(node, 'from_netdev', packet, ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV']);
      assert.equal(result.retval, TC_ACT_OK);
      assert.deepEqual(result.packet, packet, 'the packet is unchanged');
    });
  }

  const rows: Row[] = [
    { name: 'unwrapped from the network, an IPv6 source in a tunnelled subnet: dropped', program: 'from_netdev', packet: remote6(pod6B.ip6), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NOT_WRAPPED', 'TWILL_FROM_NETDEV'] },
    { name: "a pod's IPv6 datagram to a node's VXLAN port: dropped", program: 'from_pod', packet: fromPodA6(NODE3, { destinationPort: VXLAN_PORT }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_TUNNEL_FROM_POD', 'TWILL_FROM_POD'] },
    { name: 'to the tunnel, IPv6 for a tunnelled subnet: key set to its node, sent on', program: 'to_tunnel', packet: ipv6Frame({ source: 'fd00:10:244::', destination: 'fd00:10:244:2::7', nextHeader: 17, payload: Buffer.alloc(16) }), verdict: TC_ACT_OK, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_TO_TUNNEL'] },
  ];
  for (const row of rows) test(row.name, () => checkRow(row, runCounted(node, row.program, row.packet, row.counted)));
});

// On the VXLAN device of an IPv6-underlay node (the test-run device, ifindex 1), a frame
// without a tunnel key from a node is forged, whichever family it carries.
describe('frames on an IPv6-underlay VXLAN device without a node as their sender', needsRoot, () => {
  let node: ReturnType<typeof loadNode>;
  before(() => {
    node = loadNode({ uplinkIfindex: 3, tunnelIfindex: 1, vxlanPort: VXLAN_PORT, nodeIp: NODE_IP6, clusterCIDR: undefined }, { ipv6: POD_CIDR6 }, [], [['fd00:10:244:2::/64', NODE3_IP6, true]]);
  });
  after(() => unload(node));

  for (const [what, packet] of [['IPv6 from a tunnelled subnet', ipv6Frame({ source: 'fd00:10:244:2::7', destination: pod6B.ip6, nextHeader: 17, payload: Buffer.alloc(16) })], ['IPv4', ipv4Packet('10.244.2.7', '10.244.0.3')]] as const) {
    test(`${what}: dropped as forged`, () => {
      const result = runCounted(node, 'from_netdev', packet, ['TWILL_DROPPED_FORGED_TUNNEL', 'TWILL_FROM_NETDEV']);
      assert.equal(result.retval, TC_ACT_SHOT);
    });
  }
});
