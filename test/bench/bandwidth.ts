// Pod bandwidth limits: TCP goodput through a pod limited to 10 Mbit/s, 100 Mbit/s and
// 1 Gbit/s each way (as containerd passes the annotations), to and from a pod on the
// same node and one on another node, one stream and four, as a share of the rate.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { iperf3Goodput } from '../helpers/traffic';
import { addPod, labDown, labUp, type Lab, type LabPod } from '../lab/cluster';
import type { Observation, Suite } from './suite';

export const BANDWIDTH_GROUP = 'bandwidth limits';
export const LIMITED_RATES = [10e6, 100e6, 1e9];
export const GOODPUT_UNIT = '× the rate';

export const rateLabel = (rate: number): string => (rate >= 1e9 ? `${rate / 1e9} Gbit/s` : `${rate / 1e6} Mbit/s`);

export function bandwidthSuite(options: { seconds: number }): Suite {
  let lab: Lab | undefined;
  const limited = new Map<number, LabPod>();
  let sameNode: LabPod;
  let otherNode: LabPod;
  return {
    name: BANDWIDTH_GROUP,
    baselines: {},
    async setUp() {
      lab = await labUp({ nodes: 2, podsPerNode: 0, mode: 'native', prefix: 'twb-bw-', directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bench-bw-')) });
      for (const rate of LIMITED_RATES) {
        const bandwidth = { IngressRate: rate, IngressBurst: 4_294_967_295, EgressRate: rate, EgressBurst: 4_294_967_295 };
        limited.set(rate, await addPod(lab, lab.nodes[0], `limited-${rate / 1e6}m`, { bandwidth }));
      }
      sameNode = await addPod(lab, lab.nodes[0], 'same');
      otherNode = await addPod(lab, lab.nodes[1], 'other');
    },
    async measure() {
      const observations: Observation[] = [];
      for (const [rate, pod] of limited) {
        for (const [where, peer] of [['same node', sameNode], ['another node', otherNode]] as const) {
          for (const streams of [1, 4]) {
            const sends = await iperf3Goodput(pod.ns, peer.ns, peer.ip, { streams, seconds: options.seconds });
            const receives = await iperf3Goodput(peer.ns, pod.ns, pod.ip, { streams, seconds: options.seconds });
            for (const [direction, goodput] of [['sends', sends], ['receives', receives]] as const) {
              observations.push({ group: BANDWIDTH_GROUP, subject: `${rateLabel(rate)} limit`, metric: `${direction}, ${where}, TCP×${streams}`, unit: GOODPUT_UNIT, value: goodput / rate });
            }
          }
        }
      }
      return observations;
    },
    tearDown() {
      if (lab) labDown(lab);
      lab = undefined;
    },
  };
}
