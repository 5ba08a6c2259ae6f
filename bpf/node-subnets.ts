// The node subnets map: another node's pod CIDR -> that node's address, and whether it
// is reached through the tunnel. Longest-prefix match on the destination.
import { LAYOUTS } from './layouts';
import { ipv4FromBytes, ipv4ToBytes, macFromBytes, parseIpv4Prefix } from './netlink';

export interface NodeSubnet {
  nodeIp: string;
  tunnel: boolean;
}

const KEY = LAYOUTS.node_subnet_key;
const VALUE = LAYOUTS.node_subnet;
const TWILL_SUBNET_TUNNEL = 1;

/** The LPM key of a.b.c.d/len: the prefix length, then the address in network order. */
export function nodeSubnetKey(cidr: string): Buffer {
  const { address, prefixLength } = parseIpv4Prefix(cidr);
  const key = Buffer.alloc(KEY.size);
  key.writeUInt32LE(prefixLength, KEY.members.prefixlen);
  ipv4ToBytes(address).copy(key, KEY.members.addr);
  return key;
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
