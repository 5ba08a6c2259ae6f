// The node subnets map: another node's pod CIDR -> that node's address, and whether it
// is reached through the tunnel; the prefix lengths in use, which the datapath tries
// longest first (see struct node_subnet_lengths); and what is derived from it:
// node_slots, the same entries of this node's prefix length in an array over the
// cluster CIDR, and node_addresses, the set of the nodes' addresses. IPv6 pod subnets
// have maps of their own (node_subnets6 -> the node's IPv6 address, their lengths, and
// node_slots6 over the IPv6 cluster CIDR).
import { LAYOUTS, PREFIX_LENGTHS_MAX, SUBNET_FLAGS, TUNNEL_MAC, slotKey } from './layouts';
import { familyOf, ipToBigInt, ipToBytes, ipv4FromBytes, ipv4ToBytes, ipv4ToNumber, ipv6BytesFromBigInt, ipv6FromBytes, ipv6ToBigInt, ipv6ToBytes, macFromBytes, parseIpPrefix, parseIpv4Prefix, type CidrsByFamily, type IpFamily } from './addresses';
import type { BpfMap, BpfObject } from './tsbpf';

export interface NodeSubnet {
  nodeIp: string;
  tunnel: boolean;
}

const KEY = LAYOUTS.node_subnet_key;
const VALUE = LAYOUTS.node_subnet;

const LENGTHS = LAYOUTS.node_subnet_lengths;

const prefixMask = (prefixLength: number): number => (prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0);

/** The key of a.b.c.d/len: the prefix length, then the network address (host bits cleared, as the datapath masks) in network order. */
export function nodeSubnetKey(cidr: string): Buffer {
  const { address, prefixLength } = parseIpv4Prefix(cidr);
  const key = Buffer.alloc(KEY.size);
  key.writeUInt32LE(prefixLength, KEY.members.prefixlen);
  key.writeUInt32BE((ipv4ToNumber(address) & prefixMask(prefixLength)) >>> 0, KEY.members.addr);
  return key;
}

const KEY6 = LAYOUTS.node_subnet6_key;
const VALUE6 = LAYOUTS.node_subnet6;

/** The key of an IPv6 prefix in node_subnets6, host bits cleared as the datapath masks them. */
export function nodeSubnet6Key(cidr: string): Buffer {
  const { address, prefixLength, family } = parseIpPrefix(cidr);
  if (family !== 'ipv6') throw new TypeError(`${cidr} is not an IPv6 prefix`);
  const host = (1n << BigInt(128 - prefixLength)) - 1n;
  const network = ipv6ToBigInt(address) & ~host;
  const key = Buffer.alloc(KEY6.size);
  key.writeUInt32LE(prefixLength, KEY6.members.prefixlen);
  ipv6BytesFromBigInt(network).copy(key, KEY6.members.addr);
  return key;
}

export function nodeSubnet6Cidr(key: Buffer): string {
  return `${ipv6FromBytes(key.subarray(KEY6.members.addr, KEY6.members.addr + 16))}/${key.readUInt32LE(KEY6.members.prefixlen)}`;
}

/** The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
const IPV4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** A node's address in 16 bytes, as node_subnet6 and node_addresses hold it: IPv6 as it is, IPv4 mapped. */
function nodeAddressBytes(nodeIp: string): Buffer {
  return familyOf(nodeIp) === 'ipv6' ? ipv6ToBytes(nodeIp) : Buffer.concat([IPV4_MAPPED_PREFIX, ipv4ToBytes(nodeIp)]);
}

function nodeAddressFromBytes(bytes: Buffer): string {
  return bytes.subarray(0, 12).equals(IPV4_MAPPED_PREFIX) ? ipv4FromBytes(bytes.subarray(12)) : ipv6FromBytes(bytes);
}

/**
 * Another node's IPv6 pod subnet: reached natively through the uplink's neighbour for
 * the node's IPv6 address, or tunnelled in VXLAN to its underlay address (IPv6, or
 * IPv4 held mapped).
 */
export function encodeNodeSubnet6(subnet: NodeSubnet): Buffer {
  const value = Buffer.alloc(VALUE6.size);
  nodeAddressBytes(subnet.nodeIp).copy(value, VALUE6.members.node_ip6);
  value.writeUInt32LE(subnet.tunnel ? SUBNET_FLAGS.TWILL_SUBNET_TUNNEL : 0, VALUE6.members.flags);
  return value;
}

export function decodeNodeSubnet6(value: Buffer): NodeSubnet {
  return {
    nodeIp: nodeAddressFromBytes(value.subarray(VALUE6.members.node_ip6, VALUE6.members.node_ip6 + 16)),
    tunnel: (value.readUInt32LE(VALUE6.members.flags) & SUBNET_FLAGS.TWILL_SUBNET_TUNNEL) !== 0,
  };
}

/** Where node_slots (node_slots6 for IPv6) keeps the node subnets of one prefix length inside the cluster CIDR. */
export interface NodeSlotLayout {
  family: IpFamily;
  /** The cluster CIDR's network address, as a number. */
  first: bigint;
  /** The prefix length of the subnets it holds: this node's pod CIDR's. */
  prefixLength: number;
  /** How many subnets of that length the cluster CIDR holds: the array's size. */
  count: number;
}

/** The layout of each family the cluster CIDR has, where it has one. */
export type NodeSlotLayouts = Partial<Record<IpFamily, NodeSlotLayout>>;

/** 2^16 slots of 8 (IPv6: 16) bytes at most: a /8 cluster CIDR cut into /24 node subnets, a /48 into /64s. */
const NODE_SLOTS_MAX_BITS = 16;
/** node_slot6_of compares the first 64 bits of an address: IPv6 node subnets longer than /64 are left to the hash. */
const IPV6_SLOTTED_MAX_LENGTH = 64;
const WIDTH: Record<IpFamily, number> = { ipv4: 32, ipv6: 128 };

/** The layout for `clusterCIDR` cut into subnets of `nodePrefixLength`; none without a cluster CIDR, or when it would take more than 2^16 slots. */
export function nodeSlotLayout(clusterCIDR: string | undefined, nodePrefixLength: number): NodeSlotLayout | undefined {
  if (clusterCIDR === undefined) return undefined;
  const { address, prefixLength, family } = parseIpPrefix(clusterCIDR);
  const bits = nodePrefixLength - prefixLength;
  if (bits < 0 || bits > NODE_SLOTS_MAX_BITS || (family === 'ipv6' && nodePrefixLength > IPV6_SLOTTED_MAX_LENGTH)) return undefined;
  const host = (1n << BigInt(WIDTH[family] - prefixLength)) - 1n;
  return { family, first: ipToBigInt(address) & ~host, prefixLength: nodePrefixLength, count: 2 ** bits };
}

/** The node slot layout of each family of this node's pod CIDRs, over the cluster CIDR of that family. */
export function nodeSlotLayouts(podCIDRs: CidrsByFamily, clusterCIDRs: CidrsByFamily): NodeSlotLayouts {
  const layouts: NodeSlotLayouts = {};
  for (const family of ['ipv4', 'ipv6'] as const) {
    const podCIDR = podCIDRs[family];
    const layout = podCIDR && nodeSlotLayout(clusterCIDRs[family], parseIpPrefix(podCIDR).prefixLength);
    if (layout) layouts[family] = layout;
  }
  return layouts;
}

function slotOfPrefix(layout: NodeSlotLayout, { address, prefixLength, family }: ReturnType<typeof parseIpPrefix>): number | undefined {
  if (family !== layout.family || prefixLength !== layout.prefixLength) return undefined;
  const offset = ipToBigInt(address) - layout.first;
  const slot = offset < 0n ? -1 : Number(offset >> BigInt(WIDTH[family] - prefixLength));
  return slot >= 0 && slot < layout.count ? slot : undefined;
}

/** The slot of `cidr` in its family's node_slots, or undefined when it has another prefix length or lies outside the cluster CIDR. */
export function nodeSlotOf(layout: NodeSlotLayout | undefined, cidr: string): number | undefined {
  return layout && slotOfPrefix(layout, parseIpPrefix(cidr));
}

/** Compiles the layouts into the datapath (.rodata) and sizes node_slots and node_slots6 for them; before load. */
export function setNodeSlotLayouts(object: BpfObject, layouts: NodeSlotLayouts): BpfObject {
  const { ipv4, ipv6 } = layouts;
  const first = Buffer.alloc(4);
  first.writeUInt32BE(Number(ipv4?.first ?? 0n));
  const first6 = Buffer.alloc(8);
  first6.writeBigUInt64BE((ipv6?.first ?? 0n) >> 64n);
  return object
    .setRodata('cluster_first', first)
    .setRodata('node_slot_count', ipv4?.count ?? 0)
    .setRodata('node_slot_prefixlen', ipv4?.prefixLength ?? 32)
    .setMaxEntries('node_slots', ipv4?.count ?? 1)
    .setRodata('cluster6_first', first6)
    .setRodata('node_slot6_count', ipv6?.count ?? 0)
    .setRodata('node_slot6_prefixlen', ipv6?.prefixLength ?? IPV6_SLOTTED_MAX_LENGTH)
    .setMaxEntries('node_slots6', ipv6?.count ?? 1);
}

/** Puts `subnet` in the slot of `cidr`, or empties it; subnets without a slot are left to the hash alone. */
export function writeNodeSlot(map: BpfMap, layout: NodeSlotLayout | undefined, cidr: string, subnet: NodeSubnet | undefined): void {
  const slot = nodeSlotOf(layout, cidr);
  if (layout && slot !== undefined) map.update(slotKey(slot), subnet ? NODE_SUBNET_CODECS[layout.family].encode(subnet) : Buffer.alloc(map.valueLength));
}

/**
 * Writes the node_subnet_lengths (or, for IPv6 subnets, node_subnet_lengths6) entry for
 * a map holding `cidrs`: their distinct prefix lengths, longest first, and the length
 * node_slots (node_slots6) answers for when every one of them with that length has a
 * slot. More lengths than the datapath tries is an error naming them.
 */
export function writePrefixLengths(map: BpfMap, cidrs: Iterable<string>, layout?: NodeSlotLayout): void {
  // Parsed once each: a sync of 5,000 nodes passes every subnet, twice over.
  const prefixes = [...new Set(cidrs)].map(parseIpPrefix);
  const lengths = [...new Set(prefixes.map((prefix) => prefix.prefixLength))].sort((a, b) => b - a);
  if (lengths.length > PREFIX_LENGTHS_MAX) {
    throw new RangeError(`node pod subnets use ${lengths.length} different prefix lengths (/${lengths.join(', /')}); the datapath handles at most ${PREFIX_LENGTHS_MAX}`);
  }
  const slotted = layout && prefixes.every((prefix) => prefix.prefixLength !== layout.prefixLength || slotOfPrefix(layout, prefix) !== undefined);
  const value = Buffer.alloc(LENGTHS.size);
  value.writeUInt32LE(lengths.length, LENGTHS.members.count);
  Buffer.from(lengths).copy(value, LENGTHS.members.lengths);
  value.writeUInt32LE(slotted ? layout.prefixLength : 0, LENGTHS.members.slotted_length);
  map.update(slotKey(0), value);
}

/** How one family's node-subnet map spells its keys and values. */
export interface NodeSubnetCodec {
  key(cidr: string): Buffer;
  cidr(key: Buffer): string;
  encode(subnet: NodeSubnet): Buffer;
  decode(value: Buffer): NodeSubnet;
}

export const NODE_SUBNET_CODECS: Record<IpFamily, NodeSubnetCodec> = {
  ipv4: { key: nodeSubnetKey, cidr: nodeSubnetCidr, encode: encodeNodeSubnet, decode: decodeNodeSubnet },
  ipv6: { key: nodeSubnet6Key, cidr: nodeSubnet6Cidr, encode: encodeNodeSubnet6, decode: decodeNodeSubnet6 },
};

/** The maps node_subnets and node_subnets6 are the sources of, and those two themselves. */
export interface NodeSubnetMaps {
  nodeSubnets: BpfMap;
  nodeSubnetLengths: BpfMap;
  nodeSlots: BpfMap;
  nodeAddresses: BpfMap;
  nodeSubnets6: BpfMap;
  nodeSubnetLengths6: BpfMap;
  nodeSlots6: BpfMap;
}

/** The node-subnet maps of a loaded datapath object; the caller closes them. */
export function nodeSubnetMapsOf(object: BpfObject): NodeSubnetMaps {
  return {
    nodeSubnets: object.map('node_subnets'),
    nodeSubnetLengths: object.map('node_subnet_lengths'),
    nodeSlots: object.map('node_slots'),
    nodeAddresses: object.map('node_addresses'),
    nodeSubnets6: object.map('node_subnets6'),
    nodeSubnetLengths6: object.map('node_subnet_lengths6'),
    nodeSlots6: object.map('node_slots6'),
  };
}

/**
 * Fills a fresh node_slots, node_slots6 and node_addresses from node_subnets and
 * node_subnets6, and points each family's prefix lengths at them: what a load does
 * before any program runs.
 */
export function rebuildFromNodeSubnets(maps: NodeSubnetMaps, layouts: NodeSlotLayouts): void {
  const families = [
    { family: 'ipv4', subnets: maps.nodeSubnets, lengths: maps.nodeSubnetLengths, slots: maps.nodeSlots },
    { family: 'ipv6', subnets: maps.nodeSubnets6, lengths: maps.nodeSubnetLengths6, slots: maps.nodeSlots6 },
  ] as const;
  for (const { family, subnets, lengths, slots } of families) {
    const codec = NODE_SUBNET_CODECS[family];
    const cidrs = subnets.lookupBatch().map(([key, value]) => {
      const cidr = codec.cidr(key);
      const subnet = codec.decode(value);
      writeNodeSlot(slots, layouts[family], cidr, subnet);
      if (isVxlanSender(family, subnet)) addNodeAddress(maps.nodeAddresses, subnet.nodeIp);
      return cidr;
    });
    writePrefixLengths(lengths, cidrs, layouts[family]);
  }
}

/**
 * Whether VXLAN is accepted from the node a subnet of `family` is routed to: the node
 * of every tunnelled subnet (its underlay address) and of every IPv4 one.
 */
export const isVxlanSender = (family: IpFamily, subnet: NodeSubnet): boolean => subnet.tunnel || family === 'ipv4';

const NODE_ADDRESS_PRESENT = Buffer.from([1, 0, 0, 0]);

/** Lets VXLAN from `nodeIp` in (node_addresses is a set: the value is always 1). */
export function addNodeAddress(map: BpfMap, nodeIp: string): void {
  map.update(nodeAddressBytes(nodeIp), NODE_ADDRESS_PRESENT);
}

export function removeNodeAddress(map: BpfMap, nodeIp: string): void {
  map.delete(nodeAddressBytes(nodeIp));
}

export function nodeSubnetCidr(key: Buffer): string {
  return `${ipv4FromBytes(key.subarray(KEY.members.addr, KEY.members.addr + 4))}/${key.readUInt32LE(KEY.members.prefixlen)}`;
}

export function encodeNodeSubnet(subnet: NodeSubnet): Buffer {
  const value = Buffer.alloc(VALUE.size);
  ipv4ToBytes(subnet.nodeIp).copy(value, VALUE.members.node_ip);
  value.writeUInt32LE(subnet.tunnel ? SUBNET_FLAGS.TWILL_SUBNET_TUNNEL : 0, VALUE.members.flags);
  return value;
}

export function decodeNodeSubnet(value: Buffer): NodeSubnet {
  return {
    nodeIp: ipv4FromBytes(value.subarray(VALUE.members.node_ip, VALUE.members.node_ip + 4)),
    tunnel: (value.readUInt32LE(VALUE.members.flags) & SUBNET_FLAGS.TWILL_SUBNET_TUNNEL) !== 0,
  };
}

/** The MAC Twill gives a node's VXLAN device: enum twill_tunnel_mac's two bytes, then the last four of its underlay address (tunnel_mac in the C). */
export function tunnelMac(nodeIp: string): string {
  return macFromBytes(Buffer.concat([Buffer.from([TUNNEL_MAC.TWILL_TUNNEL_MAC_FIRST, TUNNEL_MAC.TWILL_TUNNEL_MAC_SECOND]), ipToBytes(nodeIp).subarray(-4)]));
}
