// BPF_PROG_TEST_RUN: verdict, output packet, mean time per run, and its side effects.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BpfError, BpfObject, type BpfMap, type BpfProgram } from '../../bpf/tsbpf';
import { needsRoot, testObjects } from '../helpers/kernel';

describe('tsbpf test runs', needsRoot, () => {
  let object: BpfObject;
  let program: BpfProgram;
  let counts: BpfMap;

  before(() => {
    object = BpfObject.open(path.join(testObjects, 'counter.bpf.o')).load();
    program = object.program('count_first');
    counts = object.map('counts');
  });
  after(() => {
    counts?.close();
    program?.close();
    object?.close();
  });

  test('repeats the program and reports its verdict and mean ns per run', () => {
    const packet = Buffer.alloc(64, 0xab);
    const result = program.testRun(packet, { repeat: 1000 });
    assert.equal(result.retval, 0);
    assert.deepEqual(result.packet, packet);
    assert.ok(result.durationNs > 0, `durationNs ${result.durationNs}`);
    assert.ok(result.durationNs < 100_000, `durationNs ${result.durationNs}`);
    const counter = counts.lookup(Buffer.alloc(4)) as Buffer;
    assert.equal(counter.readBigUInt64LE(0), 1000n);
    assert.equal(counter.readBigUInt64LE(8), 64_000n);
  });

  test('a packet shorter than an Ethernet header is refused by the kernel', () => {
    assert.throws(
      () => program.testRun(Buffer.alloc(8)),
      (error: unknown) => error instanceof BpfError && error.op === 'bpf_prog_test_run_opts' && error.errno === 'EINVAL',
    );
  });

  test('repeat must be at least 1', () => {
    assert.throws(() => program.testRun(Buffer.alloc(64), { repeat: 0 }), /repeat must be at least 1/);
  });
});
