// Concurrency and churn: 64 parallel ADDs never share an address, and 1,000 ADD/DEL
// cycles on two nodes, 16 in flight, leave nothing behind (no veth, route, link pin,
// endpoint entry or address). Reports ADD and DEL latency of the built plugin, process
// start included.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { needsRoot } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';
import { TestNode, newContainerID, type PodSpec } from '../helpers/node';
import { podCounts } from '../helpers/node-state';

const PARALLEL_ADDS = 64;
const CYCLES = 1000;
const CYCLE_WORKERS = 16;
/** Measured ~100 s on 2 cores; the bound keeps a hang from eating CI's time. */
const CYCLE_BUDGET_MS = 480_000;

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

const EMPTY = { veths: 0, routes: 0, linkPins: 0, endpoints: 0, addresses: 0 };

describe('CNI under concurrency and churn', needsRoot, () => {
  const nodes: TestNode[] = [];
  const namespaces: TestNetns[] = [];

  before(async () => {
    for (const [tag, podCIDR] of [['scla', '10.244.0.0/24'], ['sclb', '10.244.1.0/24']]) {
      const node = new TestNode(tag, podCIDR);
      nodes.push(node);
      await node.startAgent();
    }
  });
  after(async () => {
    namespaces.forEach((ns) => ns.delete());
    for (const node of nodes) await node.cleanup();
  });

  test(`${PARALLEL_ADDS} parallel ADDs get ${PARALLEL_ADDS} distinct addresses`, async () => {
    const node = nodes[0];
    const pods: PodSpec[] = Array.from({ length: PARALLEL_ADDS }, () => {
      const ns = new TestNetns('par');
      namespaces.push(ns);
      return { containerID: newContainerID(), netns: ns.path };
    });
    const ips = (await Promise.all(pods.map((pod) => node.add(pod)))).map((added) => added.ip);
    assert.equal(new Set(ips).size, PARALLEL_ADDS, `distinct: ${ips.join(' ')}`);
    assert.deepEqual(podCounts(node), { veths: PARALLEL_ADDS, routes: PARALLEL_ADDS, linkPins: PARALLEL_ADDS, endpoints: PARALLEL_ADDS, addresses: PARALLEL_ADDS });
    const deleted = await Promise.all(pods.map((pod) => node.plugin('DEL', pod)));
    assert.ok(deleted.every((run) => run.exitCode === 0));
    assert.deepEqual(podCounts(node), EMPTY);
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
    for (const node of nodes) assert.deepEqual(podCounts(node), EMPTY, node.ns.name);
    for (const ns of namespaces.slice(-CYCLE_WORKERS)) assert.ok(!ns.exec('ip', ['-o', 'link', 'show']).includes('eth0'), 'pod eth0 removed');
    t.diagnostic(`ADD ms p50 ${percentile(addMs, 0.5).toFixed(1)} p99 ${percentile(addMs, 0.99).toFixed(1)}; DEL ms p50 ${percentile(delMs, 0.5).toFixed(1)} p99 ${percentile(delMs, 0.99).toFixed(1)} (${CYCLE_WORKERS} in flight on 2 cores, incl. ip netns exec and node start-up; ${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  });
});
