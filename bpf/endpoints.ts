// The endpoints map: a pod on this node, by IPv4 address.
import { ipv4FromBytes, ipv4ToBytes, macFromBytes, macToBytes } from './netlink';
import { LAYOUTS } from './layouts';

export interface Endpoint {
  ip: string;
  /** The host-side veth. */
  ifindex: number;
  podMac: string;
  hostMac: string;
  /** Has sent traffic into the host stack, so replies to it are checked against conntrack (set by the datapath). */
  usesStack?: boolean;
}

/** TWILL_ENDPOINT_USES_STACK in twill_types.h. */
const USES_STACK = 1;

const KEY = LAYOUTS.endpoint_key;
const VALUE = LAYOUTS.endpoint;

export function endpointKey(ip: string): Buffer {
  const key = Buffer.alloc(KEY.size);
  ipv4ToBytes(ip).copy(key, KEY.members.ip);
  return key;
}

export function endpointIp(key: Buffer): string {
  return ipv4FromBytes(key.subarray(KEY.members.ip, KEY.members.ip + 4));
}

export function encodeEndpoint(endpoint: Endpoint): Buffer {
  const value = Buffer.alloc(VALUE.size);
  value.writeUInt32LE(endpoint.ifindex, VALUE.members.ifindex);
  macToBytes(endpoint.podMac).copy(value, VALUE.members.pod_mac);
  macToBytes(endpoint.hostMac).copy(value, VALUE.members.host_mac);
  value.writeUInt32LE(0, VALUE.members.flags);
  return value;
}

export function decodeEndpoint(key: Buffer, value: Buffer): Endpoint {
  return {
    ip: endpointIp(key),
    ifindex: value.readUInt32LE(VALUE.members.ifindex),
    podMac: macFromBytes(value.subarray(VALUE.members.pod_mac, VALUE.members.pod_mac + 6)),
    hostMac: macFromBytes(value.subarray(VALUE.members.host_mac, VALUE.members.host_mac + 6)),
    usesStack: (value.readUInt32LE(VALUE.members.flags) & USES_STACK) !== 0,
  };
}
