// The targets Twill is held to, evaluated on one run's medians. They are reported,
// not asserted: a noisy machine must not fail a build, and a miss is a finding.
import { BANDWIDTH_GROUP, LIMITED_RATES, rateLabel } from './bandwidth';
import { CNI_BURST_GROUP, CNI_CHURN, burstMetric } from './cni-bursts';
import { CNI_BASELINE, CNI_BRIDGE, CNI_GROUP, CNI_TWILL } from './cni-latency';
import { NODE_SCALE_GROUP, NODE_SCALE_SUBJECT } from './node-scale';
import { IPV6_CROSS_NODE, IPV6_SAME_NODE, IPV6_SUBJECTS, IPV6_VXLAN, IPV6_VXLAN6 } from './ipv6-paths';
import { CROSS_NODE, SAME_NODE, SUBJECTS } from './pod-paths';
import { BESIDE_METRICS } from './beside';
import { PREVIOUS_BUILD, PREVIOUS_CROSS_NODE, PREVIOUS_SAME_NODE, THIS_BUILD } from './previous-build';
import { EMPTY, IPV6_ONE_RUN_SUBJECTS, IPV6_PROGRAM_SUBJECTS, NODE_MAP_GROUPS, ONE_RUN_GROUP, PROGRAM_GROUP, WRAPPING } from './program-cost';
import { lookup, type Result } from './results';

export interface TargetOutcome {
  target: string;
  /** The measured figure, as the target states it (a ratio, or a value). */
  measured?: number;
  unit: string;
  comparison: '≥' | '≤';
  limit: number;
  met?: boolean;
}

interface Target {
  target: string;
  unit: string;
  limit: number;
  atLeast?: boolean;
  measure: (results: Result[]) => number | undefined;
}

function ratio(group: string, subject: string, baseline: string, metric: string): (results: Result[]) => number | undefined {
  return (results) => {
    const value = lookup(results, group, subject, metric);
    const reference = lookup(results, group, baseline, metric);
    return value === undefined || reference === undefined ? undefined : value / reference;
  };
}

/** How much longer than starting a bare Node.js a twill plugin run takes: what the plugin itself adds. */
function aboveBareNode(metric: string): (results: Result[]) => number | undefined {
  return (results) => {
    const twill = lookup(results, CNI_GROUP, CNI_TWILL, metric);
    const node = lookup(results, CNI_GROUP, CNI_BASELINE, 'run p50');
    return twill === undefined || node === undefined ? undefined : twill - node;
  };
}

/** The largest distance from the rate of any goodput through a pod limited to `rate` (each path, direction and stream count). */
function worstGoodputMiss(rate: number): (results: Result[]) => number | undefined {
  return (results) => {
    const ratios = results.filter((r) => r.group === BANDWIDTH_GROUP && r.subject === `${rateLabel(rate)} limit`).map((r) => r.median);
    return ratios.length === 0 ? undefined : Math.max(...ratios.map((ratio) => Math.abs(ratio - 1)));
  };
}

const NS = 'ns per packet';
const fromPodPaths = ['from_pod: to a pod on this node', 'from_pod: to another node, native', 'from_pod: to the host stack'];

const TARGETS: Target[] = [
  { target: 'same node: TCP, 1 stream vs the limit', unit: '×', limit: 0.97, atLeast: true, measure: ratio(SAME_NODE, SUBJECTS.twill, SUBJECTS.veth, 'TCP, 1 stream') },
  { target: 'same node: round trip vs the limit', unit: '×', limit: 1.05, measure: ratio(SAME_NODE, SUBJECTS.twill, SUBJECTS.veth, 'round trip, average') },
  { target: 'across nodes, native: round trip vs the wire', unit: '×', limit: 1.15, measure: ratio(CROSS_NODE, SUBJECTS.twillNative, SUBJECTS.wire, 'round trip, average') },
  { target: 'across nodes, native: TCP, 1 stream vs the wire', unit: '×', limit: 0.95, atLeast: true, measure: ratio(CROSS_NODE, SUBJECTS.twillNative, SUBJECTS.wire, 'TCP, 1 stream') },
  { target: 'vxlan: round trip vs Flannel vxlan style', unit: '×', limit: 0.8, measure: ratio(CROSS_NODE, SUBJECTS.twillVxlan, SUBJECTS.flannelVxlan, 'round trip, average') },
  { target: `IPv6 same node: ${BESIDE_METRICS.roundTrip} vs the IPv6 limit`, unit: '×', limit: 1.05, measure: ratio(IPV6_SAME_NODE, IPV6_SUBJECTS.twill, IPV6_SUBJECTS.veth, BESIDE_METRICS.roundTrip) },
  { target: `IPv6 same node: ${BESIDE_METRICS.tcp} vs the IPv6 limit`, unit: '×', limit: 0.95, atLeast: true, measure: ratio(IPV6_SAME_NODE, IPV6_SUBJECTS.twill, IPV6_SUBJECTS.veth, BESIDE_METRICS.tcp) },
  { target: `IPv6 across nodes, native: ${BESIDE_METRICS.roundTrip} vs the IPv6 wire`, unit: '×', limit: 1.15, measure: ratio(IPV6_CROSS_NODE, IPV6_SUBJECTS.twillNative, IPV6_SUBJECTS.wire, BESIDE_METRICS.roundTrip) },
  { target: `IPv6 across nodes, vxlan: ${BESIDE_METRICS.roundTrip} vs Flannel vxlan style`, unit: '×', limit: 0.8, measure: ratio(IPV6_VXLAN, IPV6_SUBJECTS.twillVxlan, IPV6_SUBJECTS.flannelVxlan, BESIDE_METRICS.roundTrip) },
  { target: `IPv6 across nodes, vxlan over IPv6: ${BESIDE_METRICS.roundTrip} vs Flannel vxlan style`, unit: '×', limit: 0.8, measure: ratio(IPV6_VXLAN6, IPV6_SUBJECTS.twillVxlan6, IPV6_SUBJECTS.flannelVxlan6, BESIDE_METRICS.roundTrip) },
  ...[PREVIOUS_SAME_NODE, PREVIOUS_CROSS_NODE].flatMap((group): Target[] => [
    { target: `${group}: ${BESIDE_METRICS.tcp}`, unit: '×', limit: 0.97, atLeast: true, measure: ratio(group, THIS_BUILD, PREVIOUS_BUILD, BESIDE_METRICS.tcp) },
    { target: `${group}: ${BESIDE_METRICS.roundTrip}`, unit: '×', limit: 1.03, measure: ratio(group, THIS_BUILD, PREVIOUS_BUILD, BESIDE_METRICS.roundTrip) },
  ]),
  ...[...fromPodPaths, ...IPV6_PROGRAM_SUBJECTS].map((subject): Target => ({ target: `${subject} vs an empty program`, unit: '×', limit: 2.5, measure: ratio(PROGRAM_GROUP, subject, EMPTY, NS) })),
  ...[WRAPPING, ...IPV6_ONE_RUN_SUBJECTS].map((subject): Target => ({ target: `${subject} vs an empty program, one run per call`, unit: '×', limit: 2.5, measure: ratio(ONE_RUN_GROUP, subject, EMPTY, NS) })),
  ...Object.values(NODE_MAP_GROUPS).map((group): Target => ({ target: `${group}: 5,000 vs 10`, unit: '×', limit: 1.1, measure: ratio(group, '5,000 node subnets', '10 node subnets', NS) })),
  { target: 'CNI ADD p50 above a bare `node -e 0`', unit: ' ms', limit: 10, measure: aboveBareNode('ADD p50') },
  { target: 'CNI DEL p50 above a bare `node -e 0`', unit: ' ms', limit: 10, measure: aboveBareNode('DEL p50') },
  { target: 'CNI ADD burst of 128 vs bridge', unit: '×', limit: 1.5, measure: ratio(CNI_BURST_GROUP, CNI_TWILL, CNI_BRIDGE, burstMetric('ADD', 128)) },
  { target: 'CNI DEL burst of 128 vs bridge', unit: '×', limit: 1.5, measure: ratio(CNI_BURST_GROUP, CNI_TWILL, CNI_BRIDGE, burstMetric('DEL', 128)) },
  { target: 'CNI churn vs bridge', unit: '×', limit: 0.5, atLeast: true, measure: ratio(CNI_BURST_GROUP, CNI_TWILL, CNI_BRIDGE, CNI_CHURN) },
  ...LIMITED_RATES.map((rate): Target => ({ target: `TCP goodput through a ${rateLabel(rate)} limit, furthest from the rate (×1 and ×4, same node and across, both ways)`, unit: '', limit: 0.1, measure: worstGoodputMiss(rate) })),
  { target: 'node sync of 5,000 nodes', unit: ' s', limit: 2, measure: (results) => lookup(results, NODE_SCALE_GROUP, NODE_SCALE_SUBJECT, 'sync time') },
  { target: 'agent RSS at 5,000 nodes and 110 pods', unit: ' MiB', limit: 150, measure: (results) => lookup(results, NODE_SCALE_GROUP, NODE_SCALE_SUBJECT, 'RSS') },
];

export function evaluateTargets(results: Result[]): TargetOutcome[] {
  return TARGETS.map(({ target, unit, limit, atLeast, measure }) => {
    const measured = measure(results);
    const comparison = atLeast ? '≥' : '≤';
    if (measured === undefined) return { target, unit, comparison, limit };
    return { target, measured, unit, comparison, limit, met: atLeast ? measured >= limit : measured <= limit };
  });
}
