// The Kubernetes node source, driven by the real @kubernetes/client-node informer
// against an in-process API server: nodes added, changed and removed are reported;
// bookmarks change nothing; a broken watch resumes, 410 Gone relists, and neither ever
// reports a live node as gone; an API server down at start-up is waited for. Every
// event and error reaches the observer the agent's metrics hang on.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import pino from 'pino';

import type { ClusterNode, NodeSourceEvent, NodeSourceObserver } from '../../agent/lib/cluster-nodes';
import { KubernetesNodeSource, toClusterNode } from '../../agent/lib/kubernetes-source';
import { FakeKubeApi } from '../helpers/fake-kube-api';
import { waitFor } from '../helpers/wait';

const WAIT_MS = 5000;

/** Counts what a source reports, as the agent's metrics do. */
function countingObserver(): NodeSourceObserver & { events: Record<NodeSourceEvent, number>; errors: number } {
  const events = { add: 0, update: 0, delete: 0, list: 0, reload: 0 };
  return {
    events,
    errors: 0,
    event(event) {
      events[event]++;
    },
    error() {
      this.errors++;
    },
  };
}

describe('Kubernetes node source', () => {
  let api: FakeKubeApi;
  let source: KubernetesNodeSource;
  let latest: ClusterNode[] = [];
  const reports: ClusterNode[][] = [];
  const observed = countingObserver();
  const byName = (): Record<string, ClusterNode> => Object.fromEntries(latest.map((n) => [n.name, n]));
  const until = (what: string, predicate: () => boolean): Promise<number> => waitFor(what, predicate, WAIT_MS, () => `; last report: ${JSON.stringify(latest)}`);

  before(async () => {
    api = new FakeKubeApi();
    await api.listen();
    api.upsert({ name: 'node-1', podCIDR: '10.244.1.0/24', internalIP: '192.168.60.1' });
    api.upsert({ name: 'node-2', podCIDR: '10.244.2.0/24', internalIP: '192.168.60.2' });
    source = new KubernetesNodeSource(api.kubeconfig(), pino({ level: 'silent' }), observed);
    latest = await source.start((nodes) => {
      latest = nodes;
      reports.push(nodes);
    });
  });
  after(async () => {
    source?.stop();
    await api?.close();
  });

  test('the first list gives every node with its pod CIDR and InternalIP', () => {
    assert.deepEqual(byName(), {
      'node-1': { name: 'node-1', podCIDR: '10.244.1.0/24', internalIP: '192.168.60.1' },
      'node-2': { name: 'node-2', podCIDR: '10.244.2.0/24', internalIP: '192.168.60.2' },
    });
    assert.deepEqual(observed.events, { add: 2, update: 0, delete: 0, list: 1, reload: 0 });
    assert.equal(observed.errors, 0);
  });

  test('added, changed and removed nodes are reported from the watch', async () => {
    const started = Date.now();
    const before = { ...observed.events };
    api.upsert({ name: 'node-3', podCIDR: '10.244.3.0/24', internalIP: '192.168.60.3' });
    await until('node-3', () => byName()['node-3'] !== undefined);
    api.upsert({ name: 'node-2', podCIDR: '10.244.2.0/24', internalIP: '192.168.60.22' });
    await until('node-2 moved', () => byName()['node-2']?.internalIP === '192.168.60.22');
    api.remove('node-3');
    await until('node-3 gone', () => byName()['node-3'] === undefined);
    assert.ok(Date.now() - started < 1000, 'each change within a second');
    assert.deepEqual(observed.events, { ...before, add: before.add + 1, update: before.update + 1, delete: before.delete + 1 });
  });

  test('a node without a pod CIDR yet is reported without one', async () => {
    api.upsert({ name: 'node-4', internalIP: '192.168.60.4' });
    await until('node-4', () => byName()['node-4'] !== undefined);
    assert.equal(byName()['node-4'].podCIDR, undefined);
    api.remove('node-4');
    await until('node-4 gone', () => byName()['node-4'] === undefined);
  });

  test('a bookmark changes nothing', async () => {
    const before = reports.length;
    api.bookmark();
    api.upsert({ name: 'node-5', podCIDR: '10.244.5.0/24', internalIP: '192.168.60.5' });
    await until('node-5', () => byName()['node-5'] !== undefined);
    assert.equal(reports.length, before + 1, 'only the real change was reported');
  });

  test('a broken watch resumes from its resourceVersion; 410 Gone relists; live nodes are never reported gone', async () => {
    const watchesBefore = api.watches;
    const reportsBefore = reports.length;
    const errorsBefore = observed.errors;
    api.breakWatches();
    api.upsert({ name: 'node-6', podCIDR: '10.244.6.0/24', internalIP: '192.168.60.6' });
    await until('node-6 after the broken watch', () => byName()['node-6'] !== undefined);
    assert.ok(api.watches > watchesBefore, 'watched again');
    assert.ok(observed.errors > errorsBefore, 'the broken watch was counted as an error');
    const listEventsBeforeGone = observed.events.list;

    // A change made while the watch is down, then compacted away: resuming is 410 Gone.
    const listsBeforeGone = api.lists;
    api.breakWatches();
    api.remove('node-6');
    api.compact();
    await until('node-6 removed after 410', () => byName()['node-6'] === undefined);
    assert.ok(api.lists > listsBeforeGone, 'relisted after 410 Gone');
    assert.ok(observed.events.list > listEventsBeforeGone, 'the relist was counted');
    for (const report of reports.slice(reportsBefore)) {
      const names = report.map((n) => n.name);
      for (const live of ['node-1', 'node-2', 'node-5']) assert.ok(names.includes(live), `${live} stayed in every report`);
    }
  });

  test('start() waits for a first successful list rather than report an empty cluster', async () => {
    const down = new FakeKubeApi();
    await down.listen();
    const kubeconfig = down.kubeconfig();
    await down.stopServing();
    const downObserved = countingObserver();
    const waiting = new KubernetesNodeSource(kubeconfig, pino({ level: 'silent' }), downObserved);
    try {
      const outcome = await Promise.race([waiting.start(() => undefined).then(() => 'resolved'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 1500))]);
      assert.equal(outcome, 'still waiting');
      assert.ok(downObserved.errors >= 1, 'the failed list was counted as an error');
      assert.equal(downObserved.events.list, 0);
    } finally {
      waiting.stop();
      await down.close();
    }
  });

  test('a dual-stack Node gives one pod CIDR and one InternalIP of each family, in the order it lists them', () => {
    const node = {
      metadata: { name: 'dual' },
      spec: { podCIDR: 'fd00:10:244:7::/64', podCIDRs: ['fd00:10:244:7::/64', '10.244.7.0/24'] },
      status: {
        addresses: [
          { type: 'Hostname', address: 'dual' },
          { type: 'ExternalIP', address: '203.0.113.7' },
          { type: 'InternalIP', address: '192.168.60.7' },
          { type: 'InternalIP', address: '192.168.61.7' },
          { type: 'InternalIP', address: 'fd00:192:168:60::7' },
        ],
      },
    };
    assert.deepEqual(toClusterNode(node), { name: 'dual', podCIDR: 'fd00:10:244:7::/64,10.244.7.0/24', internalIP: '192.168.60.7,fd00:192:168:60::7' });
    // A Node written before podCIDRs existed, and one not yet given a range.
    assert.deepEqual(toClusterNode({ metadata: { name: 'old' }, spec: { podCIDR: '10.244.8.0/24' } }), { name: 'old', podCIDR: '10.244.8.0/24' });
    assert.deepEqual(toClusterNode({ metadata: { name: 'new' }, spec: {} }), { name: 'new' });
  });
});
