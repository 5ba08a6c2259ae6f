// Attaching a counting program to a veth inside test namespaces, with TCX links and
// with the clsact fallback: traffic moves the counter, a replaced program takes over,
// and detaching leaves the hook as it was found.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';

import {
  BpfError,
  BpfObject,
  TcxLink,
  attachClsact,
  attachTcx,
  clsactFilters,
  detach,
  queryAttached,
  tcxAvailable,
  withNetns,
  type BpfMap,
  type BpfProgram,
} from '../../bpf/tsbpf';
import { mountTestBpffs, type TestBpffs } from '../helpers/bpffs';
import { needsRoot, testObjects } from '../helpers/kernel';
import { wiredPair, type TestNetns } from '../helpers/netns';

const PINGS = 3;

describe('tsbpf attach in namespaces', needsRoot, () => {
  let object: BpfObject;
  let first: BpfProgram;
  let second: BpfProgram;
  let counts: BpfMap;
  let bpffs: TestBpffs;
  let a: TestNetns;
  let b: TestNetns;
  let cleanupWire: () => void;
  let va: number;

  /** Packets counted by each program's slot: [count_first, count_second]. */
  const packets = (): [number, number] => {
    const slot = (n: number): number => Number((counts.lookup(Buffer.from([n, 0, 0, 0])) as Buffer).readBigUInt64LE(0));
    return [slot(0), slot(1)];
  };
  /** Pings a (192.168.77.1) from b: at least PINGS packets arrive on va's ingress. */
  const sendTraffic = (): void => {
    b.exec('ping', ['-c', String(PINGS), '-i', '0.05', '-W', '1', '192.168.77.1']);
  };
  const clsactPresent = (): boolean => a.exec('tc', ['qdisc', 'show', 'dev', 'va']).includes('clsact');

  before(() => {
    bpffs = mountTestBpffs();
    object = BpfObject.open(path.join(testObjects, 'counter.bpf.o')).load();
    first = object.program('count_first');
    second = object.program('count_second');
    counts = object.map('counts');
  });
  after(() => {
    for (const resource of [counts, second, first]) resource?.close();
    object?.close();
    bpffs?.cleanup();
  });
  beforeEach(() => {
    ({ a, b, cleanup: cleanupWire } = wiredPair('att'));
    va = a.ifindex('va');
    counts.update(Buffer.from([0, 0, 0, 0]), Buffer.alloc(16));
    counts.update(Buffer.from([1, 0, 0, 0]), Buffer.alloc(16));
  });
  afterEach(() => cleanupWire());

  test('TCX: traffic runs the attached program, a link update swaps it atomically, detach empties the hook', () => {
    const link = withNetns(a.path, () => attachTcx(first, va, 'ingress'));
    try {
      const hook = withNetns(a.path, () => queryAttached(va, 'ingress'));
      assert.deepEqual(hook.tcx.programIds, [first.info.id]);
      assert.deepEqual(hook.tcx.linkIds, [link.info().id]);
      assert.equal(link.info().ifindex, va);
      assert.equal(link.info().attachType, 46);

      sendTraffic();
      const [afterFirst, secondBefore] = packets();
      assert.ok(afterFirst >= PINGS, `count_first saw ${afterFirst} packets`);
      assert.equal(secondBefore, 0);

      link.update(second, first);
      assert.deepEqual(withNetns(a.path, () => queryAttached(va, 'ingress')).tcx.programIds, [second.info.id]);
      sendTraffic();
      const [firstAfterSwap, afterSecond] = packets();
      assert.ok(afterSecond >= PINGS, `count_second saw ${afterSecond} packets`);
      assert.ok(firstAfterSwap - afterFirst <= 1, 'count_first stopped running (an in-flight packet at most)');

      assert.throws(
        () => link.update(first, first),
        (error: unknown) => error instanceof BpfError && error.op === 'bpf_link_update' && error.errno === 'EPERM',
        'an update that expects the wrong current program is refused',
      );
    } finally {
      detach(link);
    }
    const hook = withNetns(a.path, () => queryAttached(va, 'ingress'));
    assert.deepEqual(hook.tcx.programIds, []);
    assert.deepEqual(hook.clsact, []);
    const [before] = packets();
    sendTraffic();
    assert.equal(packets()[0], before, 'nothing counts after detach');
  });

  test('TCX: a pinned link outlives its fd, reopens from the pin, and detaches through it', () => {
    const pin = path.join(bpffs.root, 'va_ingress');
    const link = withNetns(a.path, () => attachTcx(first, va, 'egress'));
    link.pin(pin);
    const id = link.info().id;
    link.close();
    assert.deepEqual(withNetns(a.path, () => queryAttached(va, 'egress')).tcx.linkIds, [id]);

    const reopened = TcxLink.openPinned(pin);
    assert.equal(reopened.info().id, id);
    detach(reopened);
    assert.deepEqual(withNetns(a.path, () => queryAttached(va, 'egress')).tcx.programIds, []);
    assert.equal(reopened.closed, true);
    assert.throws(() => TcxLink.openPinned(pin), (error: unknown) => error instanceof BpfError && error.errno === 'ENOENT');
  });

  test('tcxAvailable says this kernel has TCX, in any namespace', () => {
    assert.equal(withNetns(a.path, tcxAvailable), true);
  });

  test('clsact: a direct-action filter counts, tc replace swaps it, and detach removes the qdisc it created', () => {
    const filter = withNetns(a.path, () => attachClsact(first, va, 'ingress'));
    assert.equal(filter.ownsQdisc, true);
    assert.ok(clsactPresent());
    const [listed] = withNetns(a.path, () => clsactFilters(va, 'ingress'));
    assert.equal(listed.kind, 'bpf');
    assert.equal(listed.programId, first.info.id);
    assert.equal(listed.handle, filter.handle);
    assert.equal(listed.priority, filter.priority);

    sendTraffic();
    assert.ok(packets()[0] >= PINGS);

    const replaced = withNetns(a.path, () =>
      attachClsact(second, va, 'ingress', { handle: filter.handle, priority: filter.priority, replace: true }),
    );
    assert.equal(withNetns(a.path, () => clsactFilters(va, 'ingress')).length, 1);
    sendTraffic();
    assert.ok(packets()[1] >= PINGS);

    withNetns(a.path, () => detach({ ...replaced, ownsQdisc: filter.ownsQdisc }));
    assert.equal(clsactPresent(), false);
    assert.deepEqual(withNetns(a.path, () => queryAttached(va, 'ingress')).clsact, []);
  });

  test('clsact: a qdisc that existed before is left in place', () => {
    a.exec('tc', ['qdisc', 'add', 'dev', 'va', 'clsact']);
    const filter = withNetns(a.path, () => attachClsact(first, va, 'egress'));
    assert.equal(filter.ownsQdisc, false);
    withNetns(a.path, () => detach(filter));
    assert.ok(clsactPresent(), 'the pre-existing clsact qdisc survives');
    assert.deepEqual(withNetns(a.path, () => clsactFilters(va, 'egress')), []);
  });

  test('clsact: a qdisc we created is kept while another filter still uses it', () => {
    const ours = withNetns(a.path, () => attachClsact(first, va, 'ingress'));
    const someoneElses = withNetns(a.path, () => attachClsact(second, va, 'egress'));
    assert.equal(ours.ownsQdisc, true);
    assert.equal(someoneElses.ownsQdisc, false);
    withNetns(a.path, () => detach(ours));
    assert.ok(clsactPresent(), 'the other filter keeps the qdisc alive');
    assert.equal(withNetns(a.path, () => clsactFilters(va, 'egress'))[0]?.programId, second.info.id);
  });
});
