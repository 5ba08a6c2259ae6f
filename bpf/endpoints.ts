// The endpoints map: this node's pods, in an array with one slot per address of the
// node's pod CIDR (slot = the address's offset in it), which the datapath indexes
// without a hash lookup. A slot whose ifindex is 0 holds no pod; array slots cannot be
// deleted, so removing a pod writes an empty value.
import { ENDPOINT_FLAGS, LAYOUTS, slotKey } from './layouts';
import { ipv4FromBytes, ipv4ToBytes, ipv4ToNumber, macFromBytes, macToBytes, parseIpv4Prefix } from './addresses';
import type { BpfMap, BpfObject } from './tsbpf';

export interface Endpoint {
  ip: string;
  /** The host-side veth. */
  ifindex: number;
  podMac: string;
  hostMac: string;
  /** Has sent traffic into the host stack, so replies to it are checked against conntrack (the datapath sets it; a new pod starts without). */
  usesStack?: boolean;
  /** Sends under an egress limit (pod_limits), which from_pod checks. */
  egressLimited?: boolean;
  /** Receives under an ingress limit, checked where packets are delivered to it and by to_pod. */
  ingressLimited?: boolean;
}

const FLAGS = [
  ['usesStack', ENDPOINT_FLAGS.TWILL_ENDPOINT_USES_STACK],
  ['egressLimited', ENDPOINT_FLAGS.TWILL_ENDPOINT_EGRESS_LIMITED],
  ['ingressLimited', ENDPOINT_FLAGS.TWILL_ENDPOINT_INGRESS_LIMITED],
] as const;

/** An occupied slot: the pod, and the key to write its slot with. */
export interface EndpointSlot {
  key: Buffer;
  endpoint: Endpoint;
}

const VALUE = LAYOUTS.endpoint;
const EMPTY = Buffer.alloc(VALUE.size);

/** The largest pod CIDR a node may have: a /16 is 65,536 slots of 24 bytes (1.5 MiB). */
export const LARGEST_POD_PREFIX = 16;

/** A pod CIDR as the endpoints map indexes it: its network address and how many addresses it spans. */
export interface PodSlots {
  first: number;
  size: number;
}

/** Why the endpoints map cannot take this pod CIDR, or undefined when it can. */
export function podCidrProblem(podCIDR: string): string | undefined {
  if (parseIpv4Prefix(podCIDR).prefixLength >= LARGEST_POD_PREFIX) return undefined;
  return `pod CIDR ${podCIDR} is larger than /${LARGEST_POD_PREFIX}: the endpoints map holds a slot for every address of it and is capped at /${LARGEST_POD_PREFIX}`;
}

/** Throws a RangeError for a pod CIDR larger than /16. */
export function podSlots(podCIDR: string): PodSlots {
  const problem = podCidrProblem(podCIDR);
  if (problem) throw new RangeError(problem);
  const { address, prefixLength } = parseIpv4Prefix(podCIDR);
  const size = 2 ** (32 - prefixLength);
  const number = ipv4ToNumber(address);
  return { first: number - (number % size), size };
}

/**
 * Gives the datapath object its pod CIDR before load: the range endpoint_of indexes
 * (pod_cidr_first, pod_cidr_size) and the endpoints and pod_limits maps sized to it.
 */
export function setPodCidr(object: BpfObject, podCIDR: string): BpfObject {
  const { first, size } = podSlots(podCIDR);
  const network = Buffer.alloc(4);
  network.writeUInt32BE(first);
  return object.setRodata('pod_cidr_first', network).setRodata('pod_cidr_size', size).setMaxEntries('endpoints', size).setMaxEntries('pod_limits', size);
}

/** Whether `ip` has a slot: it is in the pod CIDR. */
export function inPodCidr(podCIDR: string, ip: string): boolean {
  const { first, size } = podSlots(podCIDR);
  const slot = ipv4ToNumber(ip) - first;
  return slot >= 0 && slot < size;
}

/** The key of the slot for `ip`; throws when the address is outside the pod CIDR. */
export function endpointKey(podCIDR: string, ip: string): Buffer {
  const { first, size } = podSlots(podCIDR);
  const slot = ipv4ToNumber(ip) - first;
  if (slot < 0 || slot >= size) throw new RangeError(`${ip} is not in the pod CIDR ${podCIDR}`);
  return slotKey(slot);
}

export function encodeEndpoint(endpoint: Endpoint): Buffer {
  const value = Buffer.alloc(VALUE.size);
  ipv4ToBytes(endpoint.ip).copy(value, VALUE.members.ip);
  value.writeUInt32LE(endpoint.ifindex, VALUE.members.ifindex);
  macToBytes(endpoint.podMac).copy(value, VALUE.members.pod_mac);
  macToBytes(endpoint.hostMac).copy(value, VALUE.members.host_mac);
  value.writeUInt32LE(FLAGS.reduce((flags, [name, bit]) => (endpoint[name] ? flags | bit : flags), 0), VALUE.members.flags);
  return value;
}

/** The pod a slot holds, or undefined for an empty slot. */
export function decodeEndpoint(value: Buffer): Endpoint | undefined {
  const ifindex = value.readUInt32LE(VALUE.members.ifindex);
  if (ifindex === 0) return undefined;
  const flags = value.readUInt32LE(VALUE.members.flags);
  return {
    ip: ipv4FromBytes(value.subarray(VALUE.members.ip, VALUE.members.ip + 4)),
    ifindex,
    podMac: macFromBytes(value.subarray(VALUE.members.pod_mac, VALUE.members.pod_mac + 6)),
    hostMac: macFromBytes(value.subarray(VALUE.members.host_mac, VALUE.members.host_mac + 6)),
    ...Object.fromEntries(FLAGS.map(([name, bit]) => [name, (flags & bit) !== 0])),
  };
}

/** Puts the pod in the slot of its address. */
export function writeEndpoint(map: BpfMap, podCIDR: string, endpoint: Endpoint): void {
  map.update(endpointKey(podCIDR, endpoint.ip), encodeEndpoint(endpoint));
}

/** The pod in the slot of `ip`, or undefined when the slot is empty, holds another address, or `ip` has none. */
export function readEndpoint(map: BpfMap, podCIDR: string, ip: string): Endpoint | undefined {
  if (!inPodCidr(podCIDR, ip)) return undefined;
  const value = map.lookup(endpointKey(podCIDR, ip));
  const endpoint = value && decodeEndpoint(value);
  return endpoint?.ip === ip ? endpoint : undefined;
}

/** Every occupied slot, in slot order (one batch read). */
export function occupiedSlots(map: BpfMap): EndpointSlot[] {
  return map.lookupBatch().flatMap(([key, value]) => {
    const endpoint = decodeEndpoint(value);
    return endpoint ? [{ key, endpoint }] : [];
  });
}

/** Whether a slot is the one of the address it holds: a map filled under another pod CIDR has them elsewhere. */
export function inOwnSlot(podCIDR: string, { key, endpoint }: EndpointSlot): boolean {
  return key.readUInt32LE(0) === ipv4ToNumber(endpoint.ip) - podSlots(podCIDR).first;
}

/** Empties a slot: the datapath then finds no pod at its address. */
export function clearSlot(map: BpfMap, key: Buffer): void {
  map.update(key, EMPTY);
}

/** Empties the slot of `ip` if it holds that address (an address outside the pod CIDR has none). */
export function clearEndpoint(map: BpfMap, podCIDR: string, ip: string): void {
  if (readEndpoint(map, podCIDR, ip)) clearSlot(map, endpointKey(podCIDR, ip));
}
