// Two paths measured at the same moments rather than one after the other: round trips
// on both in turn, message by message, and one TCP stream on each at once. Measured
// one after the other, the same path moved by up to a quarter between runs on these
// VMs; side by side, a ratio holds to a few tenths of a percent. Used for this build
// beside an earlier one, and for IPv6 paths beside their limit.
import { throughDatapath, type PodPath } from './pod-paths';
import type { Observation } from './suite';
import { roundTripsInTurn, tcpSideBySide, type HostPair } from './traffic';

export const BESIDE_METRICS = { roundTrip: 'round trip, average (in turn)', roundTripP50: 'round trip, p50 (in turn)', tcp: 'TCP, 1 stream (both at once)' };

// A stream of a few Gbit/s takes far more than a thousand packets a second through the
// programs; fewer means it went around them.
const STREAM_PACKETS_PER_SECOND = 1000;

const hostsOf = (podPath: PodPath): HostPair => [podPath.from, podPath.to];

/** Both paths of `pair` side by side, each checked against its counters; `swap` names the second first, so neither always leads. */
export async function measureBeside(pair: [PodPath, PodPath], seconds: number, swap: boolean): Promise<Observation[]> {
  const [a, b] = swap ? [pair[1], pair[0]] : pair;
  const trips = await throughDatapath([a, b], () => roundTripsInTurn(hostsOf(a), hostsOf(b), seconds), (figures, i) => figures[i].count);
  const streams = await throughDatapath([a, b], () => tcpSideBySide([a, b].map(hostsOf), seconds), () => seconds * STREAM_PACKETS_PER_SECOND);
  return [a, b].flatMap(({ group, subject }, i) => [
    { group, subject, metric: BESIDE_METRICS.roundTrip, unit: 'µs', value: trips[i].average },
    { group, subject, metric: BESIDE_METRICS.roundTripP50, unit: 'µs', value: trips[i].p50 },
    { group, subject, metric: BESIDE_METRICS.tcp, unit: 'Gbit/s', value: streams[i] },
  ]);
}
