// The node subnets map: another node's pod CIDR -> that node's address, and whether it
// is reached through the tunnel; and the prefix lengths in use, which the datapath
// tries longest first (see struct node_subnet_lengths).
import { LAYOUTS, PREFIX_LENGTHS_MAX, slotKey } from './layouts';
import { ipv4FromBytes, ipv4ToBytes, ipv4ToNumber, macFromBytes, parseIpv4Prefix } from './netlink';
import type { BpfMap } from './tsbpf';

export interface NodeSubnet {
  nodeIp: string;
  tunnel: boolean;
}

const KEY = LAYOUTS.node_subnet_key;
const VALUE = LAYOUTS.node_subnet;
const TWILL_SUBNET_TUNNEL = 1;

const LENGTHS = LAYOUTS.node_subnet_lengths;

/** The key of a.b.c.d/len: the prefix length, then the network address (host bits cleared, as the datapath masks) in network order. */
export function nodeSubnetKey(cidr: string): Buffer {
  const { address, prefixLength } = parseIpv4Prefix(cidr);
  const key = Buffer.alloc(KEY.size);
  key.writeUInt32LE(prefixLength, KEY.members.prefixlen);
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  key.writeUInt32BE((ipv4ToNumber(address) & mask) >>> 0, KEY.members.addr);
  return key;
}

/** The distinct prefix lengths of `cidrs`, longest first: the order the datapath tries them in. */
export function prefixLengthsOf(cidrs: Iterable<string>): number[] {
  const lengths = new Set([...cidrs].map((cidr) => parseIpv4Prefix(cidr).prefixLength));
  return [...lengths].sort((a, b) => b - a);
}

/** Writes the node_subnet_lengths entry; more lengths than the datapath tries is an error naming them. */
export function writePrefixLengths(map: BpfMap, lengths: number[]): void {
  if (lengths.length > PREFIX_LENGTHS_MAX) {
    throw new RangeError(`node pod subnets use ${lengths.length} different prefix lengths (/${lengths.join(', /')}); the datapath handles at most ${PREFIX_LENGTHS_MAX}`);
  }
  const value = Buffer.alloc(LENGTHS.size);
  value.writeUInt32LE(lengths.length, LENGTHS.members.count);
  Buffer.from(lengths).copy(value, LENGTHS.members.lengths);
  map.update(slotKey(0), value);
}

export function nodeSubnetCidr(key: Buffer): string {
  return `${ipv4FromBytes(key.subarray(KEY.members.addr, KEY.members.addr + 4))}/${key.readUInt32LE(KEY.members.prefixlen)}`;
}

export function encodeNodeSubnet(subnet: NodeSubnet): Buffer {
  const value = Buffer.alloc(VALUE.size);
  ipv4ToBytes(subnet.nodeIp).copy(value, VALUE.members.node_ip);
  value.writeUInt32LE(subnet.tunnel ? TWILL_SUBNET_TUNNEL : 0, VALUE.members.flags);
  return value;
}

export function decodeNodeSubnet(value: Buffer): NodeSubnet {
  return {
    nodeIp: ipv4FromBytes(value.subarray(VALUE.members.node_ip, VALUE.members.node_ip + 4)),
    tunnel: (value.readUInt32LE(VALUE.members.flags) & TWILL_SUBNET_TUNNEL) !== 0,
  };
}

/** The MAC Twill gives a node's VXLAN device, 02:76 + its address; the C side computes the same. */
export function tunnelMac(nodeIp: string): string {
  return macFromBytes(Buffer.concat([Buffer.from([0x02, 0x76]), ipv4ToBytes(nodeIp)]));
}
