// Pod-to-pod traffic on every topology: on one node (the limit, the bridge plugin,
// Twill) and across two nodes (the wire, Flannel host-gw and vxlan styles, Twill
// native and vxlan). Twill's paths are checked against its counters after each run,
// so a number never comes from traffic that went around the eBPF datapath.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { familyOf, type IpFamily } from '../../bpf/addresses';
import { counterLabel } from '../../bpf/counters';
import type { DirectionName, FamilyName, ReasonName } from '../../bpf/layouts';
import { labDown, labUp, type Lab, type LabMode } from '../lab/cluster';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import { directVeth, flannelNodes, type Topology } from './peers';
import type { Observation, Suite } from './suite';
import { MEASURE_UNITS, measureTraffic, startServers, type Host, type TrafficMeasures } from './traffic';

export const SAME_NODE = 'pod to pod, same node';
export const CROSS_NODE = 'pod to pod, across nodes';
export const SUBJECTS = {
  veth: 'limit: one veth between the pods',
  bridge: 'bridge + host-local (Flannel on a node)',
  twill: 'Twill',
  wire: 'limit: node to node on the wire',
  hostGw: 'Flannel host-gw style',
  flannelVxlan: 'Flannel vxlan style',
  twillNative: 'Twill native',
  twillVxlan: 'Twill vxlan',
};

/** A counter of a Twill node that must move by at least one packet per round trip measured. */
interface DatapathEvidence {
  /** The twill CLI of the build the node runs: each build reads its own counters' layout. */
  cli: string;
  bpffsRoot: string;
  reason: ReasonName;
  direction: DirectionName;
  /** IPv4 unless said. */
  family?: FamilyName;
}

export interface PodPath {
  group: string;
  subject: string;
  from: Host;
  to: Host;
  evidence: DatapathEvidence[];
}

/** Where a path's figures go in the report. */
export interface PathLabel {
  group: string;
  subject: string;
}

/** A two-node lab with two pods a node; `tag` keeps its namespaces apart from the other labs of the run. */
export function twillLab(mode: LabMode, tag: string = mode[0], buildRoot?: string): Promise<Lab> {
  return labUp({ nodes: 2, podsPerNode: 2, mode, prefix: `${TEST_NETNS_PREFIX}${process.pid}-b${tag}`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bench-lab-')), buildRoot });
}

/** node1-pod1 to node2-pod1 (`cross`) and to node1-pod2 (`same`) of a Twill lab, at their addresses of `ipFamily` (their first by default), with the counters that prove each. */
export function twillPaths(lab: Lab, cross: PathLabel, same?: PathLabel, ipFamily: IpFamily = lab.options.ipFamily === 'ipv6' ? 'ipv6' : 'ipv4'): PodPath[] {
  const [node1, node2] = lab.nodes;
  const { cli } = node1.executables;
  const family: FamilyName = ipFamily === 'ipv6' ? 'TWILL_IPV6' : 'TWILL_IPV4';
  const pod = (name: string): Host => {
    const found = lab.pods.find((p) => p.name === name);
    const ip = found?.ips.find((address) => familyOf(address) === ipFamily);
    if (!found || !ip) throw new Error(`the lab has no pod ${name} with an ${ipFamily} address`);
    return { ns: found.ns, ip };
  };
  const crossPath: PodPath = {
    ...cross,
    from: pod('node1-pod1'),
    to: pod('node2-pod1'),
    evidence: [
      { cli, bpffsRoot: node1.bpffsRoot, reason: 'TWILL_FORWARDED_REMOTE', direction: 'TWILL_FROM_POD', family },
      { cli, bpffsRoot: node2.bpffsRoot, reason: 'TWILL_DELIVERED_LOCAL', direction: 'TWILL_FROM_NETDEV', family },
    ],
  };
  if (!same) return [crossPath];
  const samePath: PodPath = { ...same, from: pod('node1-pod1'), to: pod('node1-pod2'), evidence: [{ cli, bpffsRoot: node1.bpffsRoot, reason: 'TWILL_DELIVERED_LOCAL', direction: 'TWILL_FROM_POD', family }] };
  return [samePath, crossPath];
}

function packets(evidence: DatapathEvidence): bigint {
  const rows = JSON.parse(execFileSync(process.execPath, [evidence.cli, 'counters', '--json', '--bpffs-root', evidence.bpffsRoot], { encoding: 'utf8' })) as Array<{ reason: string; family?: string; direction: string; packets: number }>;
  // Builds before the family counted IPv4 alone, and print no family.
  const family = counterLabel(evidence.family ?? 'TWILL_IPV4');
  const row = rows.find((r) => r.reason === counterLabel(evidence.reason) && r.direction === counterLabel(evidence.direction) && (r.family ?? 'ipv4') === family);
  return BigInt(row?.packets ?? 0);
}

/**
 * Runs `measure` on `paths` and refuses its figures when a path's counters moved by
 * fewer packets than the round trips `roundTrips` says it made on that path: those
 * figures came from traffic that went around the eBPF datapath.
 */
export async function throughDatapath<T>(paths: PodPath[], measure: () => T | Promise<T>, roundTrips: (figures: T, pathIndex: number) => number): Promise<T> {
  const before = paths.map((podPath) => podPath.evidence.map(packets));
  const figures = await measure();
  paths.forEach((podPath, i) => {
    const expected = BigInt(Math.floor(roundTrips(figures, i)));
    podPath.evidence.forEach((evidence, j) => {
      const moved = packets(evidence) - before[i][j];
      if (moved < expected) throw new Error(`${podPath.subject}: ${evidence.reason}/${evidence.direction} moved by ${moved} packets, fewer than the ${expected} round trips measured: the traffic did not take the eBPF datapath`);
    });
  });
  return figures;
}

/** Every traffic measure of one path, checked against its counters. */
async function measurePath(podPath: PodPath, seconds: number): Promise<Observation[]> {
  // sockperf alone makes tens of thousands of round trips, in half the measure's time at least.
  const measures = await throughDatapath([podPath], () => measureTraffic(podPath.from, podPath.to, seconds), (figures) => (seconds * 0.5e6) / figures['round trip, average']);
  return (Object.keys(measures) as Array<keyof TrafficMeasures>).map((metric) => ({ group: podPath.group, subject: podPath.subject, metric, unit: MEASURE_UNITS[metric], value: measures[metric] }));
}

export function podPathsSuite(options: { seconds: number }): Suite {
  const topologies: Topology[] = [];
  const labs: Lab[] = [];
  const servers: Array<{ stop: () => void }> = [];
  let paths: PodPath[] = [];
  let repetition = 0;

  return {
    name: 'pod paths',
    baselines: { [SAME_NODE]: SUBJECTS.veth, [CROSS_NODE]: SUBJECTS.wire },
    async setUp() {
      const veth = directVeth();
      topologies.push(veth);
      const hostGw = flannelNodes('host-gw');
      topologies.push(hostGw);
      const flannelVxlan = flannelNodes('vxlan');
      topologies.push(flannelVxlan);
      labs.push(await twillLab('native'));
      labs.push(await twillLab('vxlan'));
      const [native, vxlan] = labs;
      paths = [
        { group: SAME_NODE, subject: SUBJECTS.veth, from: veth.hosts.client, to: veth.hosts.server, evidence: [] },
        { group: SAME_NODE, subject: SUBJECTS.bridge, from: hostGw.hosts.pod1, to: hostGw.hosts.pod2, evidence: [] },
        { group: CROSS_NODE, subject: SUBJECTS.wire, from: hostGw.hosts.node1, to: hostGw.hosts.node2, evidence: [] },
        { group: CROSS_NODE, subject: SUBJECTS.hostGw, from: hostGw.hosts.pod1, to: hostGw.hosts.remote, evidence: [] },
        { group: CROSS_NODE, subject: SUBJECTS.flannelVxlan, from: flannelVxlan.hosts.pod1, to: flannelVxlan.hosts.remote, evidence: [] },
        ...twillPaths(native, { group: CROSS_NODE, subject: SUBJECTS.twillNative }, { group: SAME_NODE, subject: SUBJECTS.twill }),
        ...twillPaths(vxlan, { group: CROSS_NODE, subject: SUBJECTS.twillVxlan }),
      ];
      const serverHosts = new Map(paths.map((p) => [p.to.ns, p.to]));
      for (const host of serverHosts.values()) servers.push(await startServers(host));
    },
    async measure() {
      // Each repetition starts one path later, so no path always runs first or last.
      const order = paths.map((_, i) => paths[(i + repetition) % paths.length]);
      repetition++;
      const observations: Observation[] = [];
      for (const podPath of order) observations.push(...(await measurePath(podPath, options.seconds)));
      return observations;
    },
    tearDown() {
      servers.splice(0).forEach((server) => server.stop());
      labs.splice(0).forEach(labDown);
      topologies.splice(0).forEach((topology) => topology.tearDown());
    },
  };
}
