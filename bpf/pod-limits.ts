// The pod_limits map: each pod's bandwidth limits, in the slots of the endpoints map
// (the pod's address's offset in the pod CIDR). Each direction is a token bucket that
// the datapath keeps as a clock (see struct rate_limit); the agent writes the rate, the
// burst as time at the rate, and a zero clock, which the datapath's first packet sets.
import type { PodLimits, RateLimit } from '../agent/api/cni';
import { endpointKey, inPodCidr, type PodCidrs } from './endpoints';
import { LAYOUTS } from './layouts';
import type { BpfMap } from './tsbpf';

const VALUE = LAYOUTS.pod_limits;
const LIMIT = LAYOUTS.rate_limit;
const EMPTY = Buffer.alloc(VALUE.size);

/**
 * The bucket's depth, as time at the rate: the burst asked for, within these bounds.
 * Measured with iperf3 through a 100 Mbit/s limit (BENCHMARKS.md): TCP keeps 11% of
 * the rate through a 20 ms bucket and 50% through 100 ms, because every loss burst
 * idles it for a retransmission timeout (200 ms at least) whose tokens a shallower
 * bucket throws away; through 300 ms and more it keeps the rate. The ceiling holds the
 * unlimited burst off: containerd asks 2^32 - 1 bits for every pod, which at 10 Mbit/s
 * would let 512 MB through before the limit began.
 */
export const BURST_NS = { floor: 300e6, ceiling: 500e6 } as const;
const NS_PER_SECOND = 1e9;

/** What the datapath keeps of one direction: the burst as time at the rate. */
export interface DatapathRateLimit extends RateLimit {
  burstNs: number;
}

export function datapathRateLimit(limit: RateLimit): DatapathRateLimit {
  const burstNs = (limit.burst * NS_PER_SECOND) / limit.rate;
  return { ...limit, burstNs: Math.round(Math.min(Math.max(burstNs, BURST_NS.floor), BURST_NS.ceiling)) };
}

function encodeLimit(value: Buffer, offset: number, limit: RateLimit | undefined): void {
  if (!limit) return;
  const { rate, burstNs } = datapathRateLimit(limit);
  value.writeBigUInt64LE(BigInt(rate), offset + LIMIT.members.rate);
  value.writeBigUInt64LE(BigInt(burstNs), offset + LIMIT.members.burst_ns);
}

export function encodePodLimits(limits: PodLimits): Buffer {
  const value = Buffer.alloc(VALUE.size);
  encodeLimit(value, VALUE.members.egress, limits.egress);
  encodeLimit(value, VALUE.members.ingress, limits.ingress);
  return value;
}

/** One direction as the map holds it (the burst back in bits, rounded), or undefined when unlimited. */
function decodeLimit(value: Buffer, offset: number): DatapathRateLimit | undefined {
  const rate = Number(value.readBigUInt64LE(offset + LIMIT.members.rate));
  if (rate === 0) return undefined;
  const burstNs = Number(value.readBigUInt64LE(offset + LIMIT.members.burst_ns));
  return { rate, burst: Math.round((burstNs * rate) / NS_PER_SECOND), burstNs };
}

/** A pod's limits as the datapath holds them. */
export interface PodLimitsHeld {
  ingress?: DatapathRateLimit;
  egress?: DatapathRateLimit;
}

export function decodePodLimits(value: Buffer): PodLimitsHeld {
  const egress = decodeLimit(value, VALUE.members.egress);
  const ingress = decodeLimit(value, VALUE.members.ingress);
  return { ...(ingress ? { ingress } : {}), ...(egress ? { egress } : {}) };
}

/** Sets the limits of the pod at `ip`; its clocks start afresh. */
export function writePodLimits(map: BpfMap, cidrs: PodCidrs, ip: string, limits: PodLimits): void {
  map.update(endpointKey(cidrs, ip), encodePodLimits(limits));
}

/** Whether the map holds exactly `limits` for `ip` (rates, and bursts and horizons as this build derives them). */
export function holdsPodLimits(map: BpfMap, cidrs: PodCidrs, ip: string, limits: PodLimits): boolean {
  if (!inPodCidr(cidrs, ip)) return !limits.ingress && !limits.egress;
  const value = map.lookup(endpointKey(cidrs, ip));
  const expected = encodePodLimits(limits);
  if (!value) return false;
  // The clocks are the datapath's, and the lock reads as zero: compare the rest.
  const settings = (buffer: Buffer, offset: number) => buffer.subarray(offset, offset + LIMIT.members.next_ns);
  return [VALUE.members.egress, VALUE.members.ingress].every((offset) => settings(value, offset).equals(settings(expected, offset)));
}

/** Clears the limits in the slot of `ip` (an address outside the pod CIDR has none). */
export function clearPodLimits(map: BpfMap, cidrs: PodCidrs, ip: string): void {
  if (inPodCidr(cidrs, ip)) map.update(endpointKey(cidrs, ip), EMPTY);
}

/** Every slot holding a limit, by key, for the start-up's sweep of slots no pod holds. */
export function limitedSlots(map: BpfMap): Buffer[] {
  return map.lookupBatch().flatMap(([key, value]) => (decodeLimit(value, VALUE.members.egress) || decodeLimit(value, VALUE.members.ingress) ? [key] : []));
}

/** Empties a slot by key. */
export function clearLimitsSlot(map: BpfMap, key: Buffer): void {
  map.update(key, EMPTY);
}
