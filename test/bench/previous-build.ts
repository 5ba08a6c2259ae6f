// This build against an earlier one (`--previous REV`) in the same run: two native labs,
// one running each build's agent and plugin, and the same unlimited pod paths through
// each (same node, across nodes). Measured one after the other, the same path moved by
// up to a quarter between runs on these VMs, so the two builds are measured at the same
// moments instead: round trips on both paths in turn, message by message, and one TCP
// stream on each at once. Which build is named first alternates between repetitions.
import { labDown, type Lab } from '../lab/cluster';
import { throughDatapath, twillLab, twillPaths, type PodPath } from './pod-paths';
import { buildRevision, type RevisionBuild } from './revision-build';
import type { Observation, Suite } from './suite';
import { roundTripsInTurn, startServers, tcpSideBySide, type HostPair } from './traffic';

export const PREVIOUS_SAME_NODE = 'unlimited pods, same node: this build beside a previous one';
export const PREVIOUS_CROSS_NODE = 'unlimited pods, across nodes (native): this build beside a previous one';
export const THIS_BUILD = 'this build';
export const PREVIOUS_BUILD = 'previous build';
export const BESIDE_METRICS = { roundTrip: 'round trip, average (in turn)', roundTripP50: 'round trip, p50 (in turn)', tcp: 'TCP, 1 stream (both at once)' };

// A stream of a few Gbit/s takes far more than a thousand packets a second through the
// programs; fewer means it went around them.
const STREAM_PACKETS_PER_SECOND = 1000;

const hostsOf = (podPath: PodPath): HostPair => [podPath.from, podPath.to];

/** `commit` as resolveRevision gives it. */
export function previousBuildSuite(options: { commit: string; seconds: number; log: (line: string) => void }): Suite {
  let build: RevisionBuild | undefined;
  const labs: Lab[] = [];
  const servers: Array<{ stop: () => void }> = [];
  /** Per group, this build's path and the previous build's. */
  let pairs: Array<[PodPath, PodPath]> = [];
  let repetition = 0;

  const pathsThrough = (lab: Lab, subject: string): PodPath[] => twillPaths(lab, { group: PREVIOUS_CROSS_NODE, subject }, { group: PREVIOUS_SAME_NODE, subject });

  return {
    name: 'previous build',
    baselines: { [PREVIOUS_SAME_NODE]: PREVIOUS_BUILD, [PREVIOUS_CROSS_NODE]: PREVIOUS_BUILD },
    async setUp() {
      build = buildRevision(options.commit, options.log);
      labs.push(await twillLab('native', 'this'));
      labs.push(await twillLab('native', 'prev', build.root));
      const current = pathsThrough(labs[0], THIS_BUILD);
      const previous = pathsThrough(labs[1], PREVIOUS_BUILD);
      pairs = current.map((podPath, i) => [podPath, previous[i]]);
      for (const podPath of [...current, ...previous]) servers.push(await startServers(podPath.to));
    },
    async measure() {
      const previousFirst = repetition++ % 2 === 1;
      const observations: Observation[] = [];
      for (const pair of pairs) {
        const [a, b] = previousFirst ? [pair[1], pair[0]] : pair;
        const trips = await throughDatapath([a, b], () => roundTripsInTurn(hostsOf(a), hostsOf(b), options.seconds), (figures, i) => figures[i].count);
        const streams = await throughDatapath([a, b], () => tcpSideBySide([a, b].map(hostsOf), options.seconds), () => options.seconds * STREAM_PACKETS_PER_SECOND);
        [a, b].forEach(({ group, subject }, i) => {
          observations.push(
            { group, subject, metric: BESIDE_METRICS.roundTrip, unit: 'µs', value: trips[i].average },
            { group, subject, metric: BESIDE_METRICS.roundTripP50, unit: 'µs', value: trips[i].p50 },
            { group, subject, metric: BESIDE_METRICS.tcp, unit: 'Gbit/s', value: streams[i] },
          );
        });
      }
      return observations;
    },
    tearDown() {
      servers.splice(0).forEach((server) => server.stop());
      labs.splice(0).forEach(labDown);
      build?.remove();
      build = undefined;
    },
  };
}
