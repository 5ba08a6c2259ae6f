// The datapath programs' verdicts as a table run through BPF_PROG_TEST_RUN: each row
// is a packet, the verdict expected, the counter that must move, and for redirects the
// MACs the packet must leave with.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { readCounters, type Counter } from '../../bpf/counters';
import { DATAPATH_OBJECT, PROGRAMS, type ProgramName } from '../../bpf/datapath';
import { setPodCidr, writeEndpoint, type Endpoint } from '../../bpf/endpoints';
import type { DirectionName, ReasonName } from '../../bpf/layouts';
import { BpfObject, type BpfMap, type BpfProgram } from '../../bpf/tsbpf';
import { needsRoot } from '../helpers/kernel';
import { encodeNodeSubnet, nodeSubnetKey, prefixLengthsOf, writePrefixLengths } from '../../bpf/node-subnets';
import { ipv4ToBytes } from '../../bpf/netlink';
import { ethernetFrame, ipv4ChecksumValid, ipv4Packet } from '../helpers/packets';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;
const TWILL_SUBNET_TUNNEL = 1;

// This node's pods are in 10.244.0.0/24. Under BPF_PROG_TEST_RUN the packet arrives on
// lo (ifindex 1): pod A "sits behind" it.
const POD_CIDR = '10.244.0.0/24';
const podA: Endpoint = { ip: '10.244.0.2', ifindex: 1, podMac: '02:00:0a:f4:00:02', hostMac: '02:aa:00:00:00:02' };
const podB: Endpoint = { ip: '10.244.0.3', ifindex: 4242, podMac: '02:00:0a:f4:00:03', hostMac: '02:aa:00:00:00:03' };

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
}

// This node is 192.168.60.1; node 2 is reached natively, node 3 through the tunnel;
// nodes 4 and 5 have nested subnets of two prefix lengths (tunnelled, so the MACs tell
// which node a packet went to).
const NODE_IP = '192.168.60.1';
const subnets: Array<[string, number, string, number]> = [
  ['10.244.1.0', 24, '192.168.60.2', 0],
  ['10.244.2.0', 24, '192.168.60.3', TWILL_SUBNET_TUNNEL],
  ['10.250.0.0', 16, '192.168.60.4', TWILL_SUBNET_TUNNEL],
  ['10.250.3.0', 24, '192.168.60.5', TWILL_SUBNET_TUNNEL],
];

const rows: Row[] = [
  { name: 'pod to local pod: MACs rewritten, redirected into the peer', program: 'from_pod', packet: ipv4Packet(podA.ip, podB.ip), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD'], macs: [podB.podMac, podB.hostMac] },
  { name: 'pod to an address that is no pod: passed to the stack', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.96.0.10'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  { name: 'pod to a free address of the pod CIDR (an empty slot): passed to the stack', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.0.99'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'] },
  { name: 'source that is no endpoint: dropped as spoofed', program: 'from_pod', packet: ipv4Packet('10.244.0.99', podB.ip), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: 'source outside the pod CIDR: dropped as spoofed', program: 'from_pod', packet: ipv4Packet('10.245.0.2', podB.ip), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: "another pod's address from this veth: dropped as spoofed", program: 'from_pod', packet: ipv4Packet(podB.ip, podA.ip), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD'] },
  { name: 'ARP: passed as not IPv4', program: 'from_pod', packet: ethernetFrame(0x0806, Buffer.alloc(28)), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_IPV4', 'TWILL_FROM_POD'] },
  { name: 'IPv6: passed as not IPv4', program: 'from_pod', packet: ethernetFrame(0x86dd, Buffer.alloc(40)), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_IPV4', 'TWILL_FROM_POD'] },
  // The kernel refuses to test-run a frame shorter than an IPv4 header, so truncation
  // here is a header whose IHL claims more bytes than the frame has.
  { name: 'IPv4 header longer than the packet: dropped as malformed', program: 'from_pod', packet: ipv4Packet(podA.ip, podB.ip, { payloadLength: 0, headerWords: 15 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'IPv4 header length below 20 bytes: dropped as malformed', program: 'from_pod', packet: ipv4Packet(podA.ip, podB.ip, { headerWords: 4 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD'] },
  { name: 'pod to a native node subnet: TTL down, redirected to the uplink neighbour', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.1.7'), verdict: TC_ACT_REDIRECT, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD'], ttl: 63 },
  { name: 'pod to a tunnelled node subnet: TTL down, tunnel MACs, redirected to the VXLAN device', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.2.7'), verdict: TC_ACT_REDIRECT, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD'], macs: ['02:76:c0:a8:3c:03', '02:76:c0:a8:3c:01'], ttl: 63 },
  { name: 'a destination in two nested node subnets: the longer prefix wins', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.250.3.7'), verdict: TC_ACT_REDIRECT, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD'], macs: ['02:76:c0:a8:3c:05', '02:76:c0:a8:3c:01'], ttl: 63 },
  { name: 'a destination only in the shorter of two nested subnets: the shorter one', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.250.9.7'), verdict: TC_ACT_REDIRECT, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD'], macs: ['02:76:c0:a8:3c:04', '02:76:c0:a8:3c:01'], ttl: 63 },
  { name: 'pod to a remote pod with TTL 1: passed so the stack answers time exceeded', program: 'from_pod', packet: ipv4Packet(podA.ip, '10.244.1.7', { ttl: 1 }), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_TTL_EXCEEDED', 'TWILL_FROM_POD'] },
  { name: 'from the network to a local pod: TTL down, redirected into the peer', program: 'from_netdev', packet: ipv4Packet('10.244.1.9', podB.ip), verdict: TC_ACT_REDIRECT, counted: ['TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV'], macs: [podB.podMac, podB.hostMac], ttl: 63 },
  { name: 'to the tunnel for a tunnelled node subnet: key set, sent on', program: 'to_tunnel', packet: ipv4Packet('192.168.60.1', '10.244.2.7'), verdict: TC_ACT_OK, counted: ['TWILL_FORWARDED_REMOTE', 'TWILL_TO_TUNNEL'] },
  { name: 'to the tunnel, not IPv4: counted as such and left to the device', program: 'to_tunnel', packet: ethernetFrame(0x86dd, Buffer.alloc(40)), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_IPV4', 'TWILL_TO_TUNNEL'] },
  { name: 'to the tunnel for no node subnet: dropped', program: 'to_tunnel', packet: ipv4Packet('192.168.60.1', '10.96.0.10'), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_NO_TUNNEL', 'TWILL_TO_TUNNEL'] },
  { name: 'from a host (not a pod) to a local pod: through the stack so conntrack sees both ways', program: 'from_netdev', packet: ipv4Packet('192.168.60.2', podB.ip), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_FROM_HOST', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network to a free address of the pod CIDR: passed', program: 'from_netdev', packet: ipv4Packet('10.244.1.9', '10.244.0.99'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network to the node itself: passed', program: 'from_netdev', packet: ipv4Packet('192.168.60.2', '192.168.60.1'), verdict: TC_ACT_OK, counted: ['TWILL_PASSED_NOT_POD', 'TWILL_FROM_NETDEV'] },
  { name: 'from the network, IPv4 header longer than the packet: dropped as malformed', program: 'from_netdev', packet: ipv4Packet('192.168.60.2', podB.ip, { payloadLength: 0, headerWords: 15 }), verdict: TC_ACT_SHOT, counted: ['TWILL_DROPPED_MALFORMED', 'TWILL_FROM_NETDEV'] },
];

const macOf = (packet: Buffer, offset: number): string => Array.from(packet.subarray(offset, offset + 6), (b) => b.toString(16).padStart(2, '0')).join(':');

describe('datapath verdicts under BPF_PROG_TEST_RUN', needsRoot, () => {
  let object: BpfObject;
  let endpoints: BpfMap;
  let counters: BpfMap;
  let nodeSubnets: BpfMap;
  const programs = new Map<ProgramName, BpfProgram>();

  before(() => {
    object = setPodCidr(BpfObject.open(DATAPATH_OBJECT), POD_CIDR).setRodata('node_ip', ipv4ToBytes(NODE_IP)).load();
    endpoints = object.map('endpoints');
    counters = object.map('counters');
    nodeSubnets = object.map('node_subnets');
    for (const pod of [podA, podB]) writeEndpoint(endpoints, POD_CIDR, pod);
    for (const [address, prefixLength, nodeIp, flags] of subnets) nodeSubnets.update(nodeSubnetKey(`${address}/${prefixLength}`), encodeNodeSubnet({ nodeIp, tunnel: flags === TWILL_SUBNET_TUNNEL }));
    const lengths = object.map('node_subnet_lengths');
    writePrefixLengths(lengths, prefixLengthsOf(subnets.map(([address, prefixLength]) => `${address}/${prefixLength}`)));
    lengths.close();
    for (const name of PROGRAMS) programs.set(name, object.program(name));
  });
  after(() => {
    programs.forEach((program) => program.close());
    endpoints?.close();
    counters?.close();
    nodeSubnets?.close();
    object?.close();
  });

  const snapshot = (): Map<string, bigint> => new Map(readCounters(counters).map((c: Counter) => [`${c.reason}/${c.direction}`, c.packets]));

  for (const row of rows) {
    test(row.name, () => {
      const before = snapshot();
      const result = (programs.get(row.program) as BpfProgram).testRun(row.packet);
      assert.equal(result.retval, row.verdict, 'verdict');
      const after = snapshot();
      const moved = [...after].filter(([key, packets]) => packets !== (before.get(key) ?? 0n));
      assert.deepEqual(moved, [[row.counted.join('/'), (before.get(row.counted.join('/')) ?? 0n) + 1n]], 'exactly one counter moved, by one');
      if (row.macs) assert.deepEqual([macOf(result.packet, 0), macOf(result.packet, 6)], row.macs, 'Ethernet destination, source');
      if (row.ttl !== undefined) {
        assert.equal(result.packet[14 + 8], row.ttl, 'TTL');
        assert.ok(ipv4ChecksumValid(result.packet), 'the IPv4 checksum follows the TTL');
      }
      if (!row.macs && row.ttl === undefined) assert.deepEqual(result.packet, row.packet, 'the packet is unchanged');
    });
  }
});
