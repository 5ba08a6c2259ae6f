// Concurrency and churn: a burst of 128 parallel ADDs, then of 128 parallel DELs, three
// times over (a Job starting and ending its pods on one node): every call succeeds, no
// address is shared, nothing is left. Then 1,000 ADD/DEL
// cycles on two nodes, 16 in flight, leave nothing behind (no veth, route, link pin,
// endpoint entry or address). Reports ADD and DEL latency of the built plugin, process
// start included.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { needsRoot } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';
import { type PodSpec, type TestNode, newContainerID, standaloneNode } from '../lab/node';
import { addedIp } from '../helpers/processes';
import { podCounts } from '../helpers/node-state';

const BURST = 128;
const BURSTS = 3;
const CYCLES = 1000;
const CYCLE_WORKERS = 16;
/** Measured ~100 s on 2 cores; the bound keeps a hang from eating CI's time. */
const CYCLE_BUDGET_MS = 480_000;

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

const EMPTY = { veths: 0, routes: 0, podHooks: 0, endpoints: 0, addresses: 0 };

describe('CNI under concurrency and churn', needsRoot, () => {
  const nodes: TestNode[] = [];
  const namespaces: TestNetns[] = [];

  before(async () => {
    for (const [tag, podCIDR] of [['scla', '10.244.0.0/24'], ['sclb', '10.244.1.0/24']]) {
      const node = standaloneNode(tag, podCIDR);
      nodes.push(node);
      await node.startAgent();
    }
  });
  after(async () => {
    namespaces.forEach((ns) => ns.delete());
    for (const node of nodes) await node.cleanup();
  });

  test(`${BURSTS} bursts of ${BURST} parallel ADDs, then ${BURST} parallel DELs: all succeed, distinct addresses, nothing left`, async (t) => {
    const node = nodes[0];
    const pods: PodSpec[] = Array.from({ length: BURST }, () => {
      const ns = new TestNetns('par');
      namespaces.push(ns);
      return { containerID: '', netns: ns.path };
    });
    const seconds: string[] = [];
    for (let burst = 1; burst <= BURSTS; burst++) {
      for (const pod of pods) pod.containerID = newContainerID();
      let started = performance.now();
      const added = await Promise.all(pods.map((pod) => node.plugin('ADD', pod)));
      const addSeconds = (performance.now() - started) / 1000;
      const failedAdds = added.filter((run) => run.exitCode !== 0).map((run) => JSON.stringify(run.output));
      assert.deepEqual(failedAdds, [], `burst ${burst}: every ADD succeeds`);
      const ips = added.map(addedIp);
      assert.equal(new Set(ips).size, BURST, `burst ${burst}: distinct addresses: ${ips.join(' ')}`);
      assert.deepEqual(podCounts(node), { veths: BURST, routes: BURST, podHooks: BURST, endpoints: BURST, addresses: BURST });
      started = performance.now();
      const deleted = await Promise.all(pods.map((pod) => node.plugin('DEL', pod)));
      const delSeconds = (performance.now() - started) / 1000;
      assert.deepEqual(deleted.filter((run) => run.exitCode !== 0).map((run) => JSON.stringify(run.output)), [], `burst ${burst}: every DEL succeeds`);
      assert.deepEqual(podCounts(node), EMPTY, `burst ${burst}: nothing left`);
      seconds.push(`ADD ${addSeconds.toFixed(1)} s, DEL ${delSeconds.toFixed(1)} s`);
    }
    t.diagnostic(`bursts of ${BURST}: ${seconds.join('; ')}`);
  });

  test(`${CYCLES} ADD/DEL cycles on two nodes, ${CYCLE_WORKERS} in flight, leave nothing behind`, async (t) => {
    const started = Date.now();
    const addMs: number[] = [];
    const delMs: number[] = [];
    let next = 0;
    // Half the workers on each node; each reuses one pod namespace.
    const worker = async (node: TestNode): Promise<void> => {
      const ns = new TestNetns('cyc');
      namespaces.push(ns);
      while (next < CYCLES && Date.now() - started < CYCLE_BUDGET_MS) {
        next++;
        const pod = { containerID: newContainerID(), netns: ns.path };
        let begin = performance.now();
        await node.add(pod);
        addMs.push(performance.now() - begin);
        begin = performance.now();
        const run = await node.plugin('DEL', pod);
        delMs.push(performance.now() - begin);
        assert.equal(run.exitCode, 0, JSON.stringify(run.output));
      }
    };
    await Promise.all(Array.from({ length: CYCLE_WORKERS }, (_, i) => worker(nodes[i % nodes.length])));
    assert.equal(addMs.length, CYCLES, `all ${CYCLES} cycles ran within ${CYCLE_BUDGET_MS} ms`);
    for (const node of nodes) assert.deepEqual(podCounts(node), EMPTY, node.ns);
    for (const ns of namespaces.slice(-CYCLE_WORKERS)) assert.ok(!ns.exec('ip', ['-o', 'link', 'show']).includes('eth0'), 'pod eth0 removed');
    t.diagnostic(`ADD ms p50 ${percentile(addMs, 0.5).toFixed(1)} p99 ${percentile(addMs, 0.99).toFixed(1)}; DEL ms p50 ${percentile(delMs, 0.5).toFixed(1)} p99 ${percentile(delMs, 0.99).toFixed(1)} (${CYCLE_WORKERS} in flight on 2 cores, incl. ip netns exec and node start-up; ${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  });
});
