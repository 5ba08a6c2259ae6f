// The endpoints map: this node's pods, in an array with one slot per pod address of
// the node (slot = the address's offset in the node's pod CIDR of its family; a
// dual-stack pod holds the same offset in both), which the datapath indexes without a
// hash lookup. A slot whose ifindex is 0 holds no pod; array slots cannot be deleted,
// so removing a pod writes an empty value.
import { ENDPOINT_FLAGS, LAYOUTS, slotKey } from './layouts';
import { ipv4FromBytes, ipv4FromNumber, ipv4ToBytes, ipv4ToNumber, ipv6BytesFromBigInt, ipv6FromBigInt, ipv6FromBytes, ipv6ToBigInt, ipv6ToBytes, isIpv4, macFromBytes, macToBytes, parseIpPrefix, parseIpv4Prefix, type CidrsByFamily } from './addresses';
import type { BpfMap, BpfObject } from './tsbpf';

export interface Endpoint {
  /** The pod's IPv4 address, in a node with an IPv4 pod CIDR. */
  ip?: string;
  /** The pod's IPv6 address, in a node with an IPv6 pod CIDR. */
  ip6?: string;
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
const NO_IPV4 = Buffer.alloc(4);
const NO_IPV6 = Buffer.alloc(16);

/** The largest IPv4 pod CIDR a node may have: a /16 is 65,536 slots of 40 bytes (2.5 MiB). */
export const LARGEST_POD_PREFIX = 16;
/**
 * How many slots a node with only an IPv6 pod CIDR has: its first 4,096 addresses (a
 * /116's worth) go to pods. An IPv6 node CIDR is a /64 as a rule, which no array can
 * hold; a dual-stack node has as many slots as its IPv4 CIDR has addresses.
 */
export const IPV6_ONLY_SLOTS = 4096;

/** A node's pod CIDRs: one for each family its pods have addresses of (at least one). */
export type PodCidrs = CidrsByFamily;

/** The pod CIDRs as the endpoints map lays them out: slot 0's address in each, and how many slots there are. */
export interface PodSlots {
  size: number;
  ipv4?: number;
  ipv6?: bigint;
}

/** The CIDRs as an operator wrote them: 10.244.1.0/24 and fd00:10:244:1::/64. */
export const describeCidrs = (cidrs: PodCidrs): string => [cidrs.ipv4, cidrs.ipv6].filter(Boolean).join(' and ');

/** Why the endpoints map cannot take these pod CIDRs, or undefined when it can. */
export function podCidrProblem(cidrs: PodCidrs): string | undefined {
  if (!cidrs.ipv4 && !cidrs.ipv6) return 'no pod CIDR was given';
  if (cidrs.ipv4 && parseIpv4Prefix(cidrs.ipv4).prefixLength < LARGEST_POD_PREFIX) {
    return `pod CIDR ${cidrs.ipv4} is larger than /${LARGEST_POD_PREFIX}: the endpoints map holds a slot for every address of it and is capped at /${LARGEST_POD_PREFIX}`;
  }
  if (cidrs.ipv6) {
    const { family, prefixLength } = parseIpPrefix(cidrs.ipv6);
    if (family !== 'ipv6') return `IPv6 pod CIDR ${cidrs.ipv6} is not an IPv6 CIDR`;
    const wanted = cidrs.ipv4 ? 2 ** (32 - parseIpv4Prefix(cidrs.ipv4).prefixLength) : 4;
    if (2 ** (128 - prefixLength) < wanted) {
      return cidrs.ipv4
        ? `IPv6 pod CIDR ${cidrs.ipv6} has fewer addresses than IPv4 pod CIDR ${cidrs.ipv4}: a dual-stack pod holds the same offset in both`
        : `IPv6 pod CIDR ${cidrs.ipv6} is too small for pods: use /126 or larger`;
    }
  }
  return undefined;
}

/** Throws a RangeError for pod CIDRs the endpoints map cannot take (podCidrProblem). */
export function podSlots(cidrs: PodCidrs): PodSlots {
  const problem = podCidrProblem(cidrs);
  if (problem) throw new RangeError(problem);
  const slots: PodSlots = { size: 0 };
  if (cidrs.ipv4) {
    const { address, prefixLength } = parseIpv4Prefix(cidrs.ipv4);
    slots.size = 2 ** (32 - prefixLength);
    slots.ipv4 = ipv4ToNumber(address) - (ipv4ToNumber(address) % slots.size);
  }
  if (cidrs.ipv6) {
    const { address, prefixLength } = parseIpPrefix(cidrs.ipv6);
    const span = 1n << BigInt(128 - prefixLength);
    slots.ipv6 = ipv6ToBigInt(address) - (ipv6ToBigInt(address) % span);
    if (!cidrs.ipv4) slots.size = Number(span < BigInt(IPV6_ONLY_SLOTS) ? span : BigInt(IPV6_ONLY_SLOTS));
  }
  return slots;
}

/**
 * Gives the datapath object its pod CIDRs before load: the ranges endpoint_in indexes
 * (ipv4_pods, pod_cidr_first, ipv6_pods, pod_ipv6_first, pod_cidr_size) and the
 * endpoints and pod_limits maps sized to them.
 */
export function setPodCidrs(object: BpfObject, cidrs: PodCidrs): BpfObject {
  const { size, ipv4, ipv6 } = podSlots(cidrs);
  const network = Buffer.alloc(4);
  network.writeUInt32BE(ipv4 ?? 0);
  object.setRodata('ipv4_pods', ipv4 === undefined ? 0 : 1).setRodata('pod_cidr_first', network);
  object.setRodata('ipv6_pods', ipv6 === undefined ? 0 : 1).setRodata('pod_ipv6_first', ipv6BytesFromBigInt(ipv6 ?? 0n));
  return object.setRodata('pod_cidr_size', size).setMaxEntries('endpoints', size).setMaxEntries('pod_limits', size);
}

/** The slot of `ip` (either family), or undefined when the node's pod CIDR of its family lacks it. */
export function slotOf(cidrs: PodCidrs, ip: string): number | undefined {
  const { size, ipv4, ipv6 } = podSlots(cidrs);
  let slot: number | undefined;
  if (isIpv4(ip)) slot = ipv4 === undefined ? undefined : ipv4ToNumber(ip) - ipv4;
  else if (ipv6 !== undefined) {
    const offset = ipv6ToBigInt(ip) - ipv6;
    slot = offset >= 0n && offset < BigInt(size) ? Number(offset) : undefined;
  }
  return slot !== undefined && slot >= 0 && slot < size ? slot : undefined;
}

/**
 * A pod's addresses: those of every family at the slot of `ip`, IPv4 first, the
 * address a dual-stack pod is allocated by (its IPv4 one) giving the other. An address
 * without a slot (a pod CIDR changed under its pod) is the pod's only one.
 */
export function podAddresses(cidrs: PodCidrs, ip: string): string[] {
  const slot = slotOf(cidrs, ip);
  return slot === undefined ? [ip] : slotAddresses(podSlots(cidrs), slot);
}

/** The addresses of every family at `slot`, IPv4 first. */
export function slotAddresses({ ipv4, ipv6 }: PodSlots, slot: number): string[] {
  return [...(ipv4 === undefined ? [] : [ipv4FromNumber(ipv4 + slot)]), ...(ipv6 === undefined ? [] : [ipv6FromBigInt(ipv6 + BigInt(slot))])];
}

/** Whether `ip` has a slot: it is in the pod CIDR of its family, among the addresses pods get. */
export function inPodCidr(cidrs: PodCidrs, ip: string): boolean {
  return slotOf(cidrs, ip) !== undefined;
}

/** The key of the slot for `ip`; throws when the address has none. */
export function endpointKey(cidrs: PodCidrs, ip: string): Buffer {
  const slot = slotOf(cidrs, ip);
  if (slot === undefined) throw new RangeError(`${ip} is not in the pod CIDR ${describeCidrs(cidrs)}`);
  return slotKey(slot);
}

/** The key of the slot of a pod's addresses; throws when they have none, or not the same one. */
function podKey(cidrs: PodCidrs, { ip, ip6 }: Pick<Endpoint, 'ip' | 'ip6'>): Buffer {
  const keys = [ip, ip6].filter((address): address is string => address !== undefined).map((address) => endpointKey(cidrs, address));
  if (keys.length === 0) throw new RangeError('an endpoint needs an address');
  if (keys.length === 2 && !keys[0].equals(keys[1])) throw new RangeError(`${ip} and ${ip6} are not at the same offset of the pod CIDRs ${describeCidrs(cidrs)}`);
  return keys[0];
}

export function encodeEndpoint(endpoint: Endpoint): Buffer {
  const value = Buffer.alloc(VALUE.size);
  if (endpoint.ip) ipv4ToBytes(endpoint.ip).copy(value, VALUE.members.ip);
  if (endpoint.ip6) ipv6ToBytes(endpoint.ip6).copy(value, VALUE.members.ip6);
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
  const ip = value.subarray(VALUE.members.ip, VALUE.members.ip + 4);
  const ip6 = value.subarray(VALUE.members.ip6, VALUE.members.ip6 + 16);
  return {
    ...(ip.equals(NO_IPV4) ? {} : { ip: ipv4FromBytes(ip) }),
    ...(ip6.equals(NO_IPV6) ? {} : { ip6: ipv6FromBytes(ip6) }),
    ifindex,
    podMac: macFromBytes(value.subarray(VALUE.members.pod_mac, VALUE.members.pod_mac + 6)),
    hostMac: macFromBytes(value.subarray(VALUE.members.host_mac, VALUE.members.host_mac + 6)),
    ...Object.fromEntries(FLAGS.map(([name, bit]) => [name, (flags & bit) !== 0])),
  };
}

/** Puts the pod in the slot of its addresses. */
export function writeEndpoint(map: BpfMap, cidrs: PodCidrs, endpoint: Endpoint): void {
  map.update(podKey(cidrs, endpoint), encodeEndpoint(endpoint));
}

/** The pod in the slot of `ip` (either family), or undefined when the slot is empty, holds another address, or `ip` has none. */
export function readEndpoint(map: BpfMap, cidrs: PodCidrs, ip: string): Endpoint | undefined {
  if (!inPodCidr(cidrs, ip)) return undefined;
  const value = map.lookup(endpointKey(cidrs, ip));
  const endpoint = value && decodeEndpoint(value);
  return endpoint?.ip === ip || endpoint?.ip6 === ip ? endpoint : undefined;
}

/** Every occupied slot, in slot order (one batch read). */
export function occupiedSlots(map: BpfMap): EndpointSlot[] {
  return map.lookupBatch().flatMap(([key, value]) => {
    const endpoint = decodeEndpoint(value);
    return endpoint ? [{ key, endpoint }] : [];
  });
}

/** Whether a slot is the one of the addresses it holds: a map filled under other pod CIDRs has them elsewhere, or lacks a family. */
export function inOwnSlot(cidrs: PodCidrs, { key, endpoint }: EndpointSlot): boolean {
  const slot = key.readUInt32LE(0);
  return Boolean(cidrs.ipv4) === Boolean(endpoint.ip) && Boolean(cidrs.ipv6) === Boolean(endpoint.ip6) && [endpoint.ip, endpoint.ip6].every((ip) => ip === undefined || slotOf(cidrs, ip) === slot);
}

/** Empties a slot: the datapath then finds no pod at its address. */
export function clearSlot(map: BpfMap, key: Buffer): void {
  map.update(key, EMPTY);
}

/** Empties the slot of `ip` if it holds that address (an address outside the pod CIDRs has none). */
export function clearEndpoint(map: BpfMap, cidrs: PodCidrs, ip: string): void {
  if (readEndpoint(map, cidrs, ip)) clearSlot(map, endpointKey(cidrs, ip));
}
