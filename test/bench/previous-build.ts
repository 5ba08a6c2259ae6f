// This build against an earlier one (`--previous REV`) in the same run: two native labs,
// one running each build's agent and plugin, and the same unlimited pod paths through
// each (same node, across nodes), measured side by side (beside.ts). Which build is
// named first alternates between repetitions.
import { labDown, type Lab } from '../lab/cluster';
import { measureBeside } from './beside';
import { twillLab, twillPaths, type PodPath } from './pod-paths';
import { buildRevision, type RevisionBuild } from './revision-build';
import type { Observation, Suite } from './suite';
import { startServers } from './traffic';

export const PREVIOUS_SAME_NODE = 'unlimited pods, same node: this build beside a previous one';
export const PREVIOUS_CROSS_NODE = 'unlimited pods, across nodes (native): this build beside a previous one';
export const THIS_BUILD = 'this build';
export const PREVIOUS_BUILD = 'previous build';
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
      for (const podPath of [...current, ...previous]) servers.push(await startServers(podPath.to, ['iperf3', 'pairedRoundTrips']));
    },
    async measure() {
      const previousFirst = repetition++ % 2 === 1;
      const observations: Observation[] = [];
      for (const pair of pairs) observations.push(...(await measureBeside(pair, options.seconds, previousFirst)));
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
