// Pod-to-pod traffic on every topology: on one node (the limit, the bridge plugin,
// Twill) and across two nodes (the wire, Flannel host-gw and vxlan styles, Twill
// native and vxlan). Twill's paths are checked against its counters after each run,
// so a number never comes from traffic that went around the eBPF datapath.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { packetsFor } from '../../bpf/counters';
import type { DirectionName, ReasonName } from '../../bpf/layouts';
import { pinnedCounters } from '../../bpf/pinned-maps';
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
  bpffsRoot: string;
  reason: ReasonName;
  direction: DirectionName;
}

interface PodPath {
  group: string;
  subject: string;
  from: Host;
  to: Host;
  evidence: DatapathEvidence[];
}

function twillLab(mode: LabMode): Promise<Lab> {
  return labUp({ nodes: 2, podsPerNode: 2, mode, prefix: `${TEST_NETNS_PREFIX}${process.pid}-b${mode[0]}`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bench-lab-')) });
}

/** node1-pod1 to node1-pod2 and node1-pod1 to node2-pod1 of a Twill lab, with the counters that prove each. */
function twillPaths(lab: Lab, crossSubject: string, sameNodeSubject?: string): PodPath[] {
  const [node1, node2] = lab.nodes;
  const pod = (name: string): Host => {
    const found = lab.pods.find((p) => p.name === name);
    if (!found) throw new Error(`the lab has no pod ${name}`);
    return { ns: found.ns, ip: found.ip };
  };
  const cross: PodPath = {
    group: CROSS_NODE,
    subject: crossSubject,
    from: pod('node1-pod1'),
    to: pod('node2-pod1'),
    evidence: [
      { bpffsRoot: node1.bpffsRoot, reason: 'TWILL_FORWARDED_REMOTE', direction: 'TWILL_FROM_POD' },
      { bpffsRoot: node2.bpffsRoot, reason: 'TWILL_DELIVERED_LOCAL', direction: 'TWILL_FROM_NETDEV' },
    ],
  };
  if (!sameNodeSubject) return [cross];
  const same: PodPath = { group: SAME_NODE, subject: sameNodeSubject, from: pod('node1-pod1'), to: pod('node1-pod2'), evidence: [{ bpffsRoot: node1.bpffsRoot, reason: 'TWILL_DELIVERED_LOCAL', direction: 'TWILL_FROM_POD' }] };
  return [same, cross];
}

const packets = (evidence: DatapathEvidence): bigint => packetsFor(pinnedCounters(evidence.bpffsRoot), evidence.reason, evidence.direction);

function measurePath(podPath: PodPath, seconds: number): Observation[] {
  const before = podPath.evidence.map(packets);
  const measures = measureTraffic(podPath.from, podPath.to, seconds);
  // sockperf alone makes tens of thousands of round trips; a path that moved fewer
  // packets through the programs than that went around them.
  const roundTrips = BigInt(Math.floor((seconds * 0.5e6) / measures['round trip, average']));
  podPath.evidence.forEach((evidence, i) => {
    const moved = packets(evidence) - before[i];
    if (moved < roundTrips) throw new Error(`${podPath.subject}: ${evidence.reason}/${evidence.direction} moved by ${moved} packets, fewer than the ${roundTrips} round trips measured: the traffic did not take the eBPF datapath`);
  });
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
        ...twillPaths(native, SUBJECTS.twillNative, SUBJECTS.twill),
        ...twillPaths(vxlan, SUBJECTS.twillVxlan),
      ];
      const serverHosts = new Map(paths.map((p) => [p.to.ns, p.to]));
      for (const host of serverHosts.values()) servers.push(await startServers(host));
    },
    async measure() {
      // Each repetition starts one path later, so no path always runs first or last.
      const order = paths.map((_, i) => paths[(i + repetition) % paths.length]);
      repetition++;
      return order.flatMap((podPath) => measurePath(podPath, options.seconds));
    },
    tearDown() {
      servers.splice(0).forEach((server) => server.stop());
      labs.splice(0).forEach(labDown);
      topologies.splice(0).forEach((topology) => topology.tearDown());
    },
  };
}
