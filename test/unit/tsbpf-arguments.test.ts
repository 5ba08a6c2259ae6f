// The binding's argument validation (TypeError before C++) and its error mapping
// (BpfError { op, errno }). Runs without root: nothing here reaches the BPF syscall
// with valid arguments.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';

import { BpfError, BpfMap, BpfObject, BpfProgram, NetnsNotFound, TcxLink, attachClsact, attachTcx, encodeRodata, withNetns } from '../../bpf/tsbpf';
import { testObjects } from '../helpers/kernel';

describe('tsbpf argument validation', () => {
  test('rejects a path that is not a string before reaching C++', () => {
    assert.throws(() => BpfObject.open(42 as unknown as string), TypeError);
    assert.throws(() => BpfObject.open(''), TypeError);
    assert.throws(() => BpfMap.openPinned(undefined as unknown as string), TypeError);
  });

  test('rejects bad attach arguments as TypeError naming the argument', () => {
    const fakeProgram = { fd: 0 } as BpfProgram;
    for (const attach of [attachTcx, attachClsact]) {
      assert.throws(() => attach(fakeProgram, 0, 'ingress'), /ifindex must be at least 1/);
      assert.throws(() => attach(fakeProgram, 1.5, 'ingress'), /ifindex must be an integer/);
      assert.throws(() => attach(fakeProgram, 1, 'sideways' as 'ingress'), /direction must be one of ingress, egress/);
    }
  });

  test('withNetns needs a target and a function', () => {
    assert.throws(() => withNetns('', () => 1), TypeError);
    assert.throws(() => withNetns(-1, () => 1), TypeError);
    assert.throws(() => withNetns('/proc/self/ns/net', 'nope' as unknown as () => number), TypeError);
  });

  test('setMaxEntries wants a map of the object and at least one entry', () => {
    const object = BpfObject.open(path.join(testObjects, 'counter.bpf.o'));
    try {
      assert.throws(() => object.setMaxEntries('table', 0), /maxEntries must be at least 1/);
      assert.throws(() => object.setMaxEntries('table', 1.5), /maxEntries must be an integer/);
      assert.throws(() => object.setMaxEntries('no_such_map', 8), /the object has no map no_such_map/);
    } finally {
      object.close();
    }
  });

  test('encodeRodata writes little-endian integers of the declared size and refuses what does not fit', () => {
    assert.deepEqual(encodeRodata('v', 0x01020304, 4), Buffer.from([4, 3, 2, 1]));
    assert.deepEqual(encodeRodata('v', -1, 2), Buffer.from([0xff, 0xff]));
    assert.deepEqual(encodeRodata('v', true, 1), Buffer.from([1]));
    assert.deepEqual(encodeRodata('v', 1n << 40n, 8), Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]));
    assert.throws(() => encodeRodata('v', 256, 1), /v does not fit in 1 bytes/);
    assert.throws(() => encodeRodata('v', 1.5, 4), /v must be an integer/);
  });
});

describe('tsbpf error mapping', () => {
  test('a missing object file is a BpfError with the libbpf call and errno name', () => {
    const missing = path.join(testObjects, 'does-not-exist.bpf.o');
    assert.throws(
      () => BpfObject.open(missing),
      (error: unknown) => error instanceof BpfError && error.op === 'bpf_object__open_file' && error.errno === 'ENOENT' && error.errnoNumber === 2,
    );
  });

  test('a file that is not ELF is refused by libbpf, not crashed on', () => {
    assert.throws(() => BpfObject.open(__filename), (error: unknown) => error instanceof BpfError && error.op === 'bpf_object__open_file');
  });

  test('opening a missing pin is ENOENT from bpf_obj_get', () => {
    for (const open of [BpfMap.openPinned, BpfProgram.openPinned, TcxLink.openPinned]) {
      assert.throws(
        () => open('/sys/fs/bpf/twill-test-no-such-pin'),
        (error: unknown) => error instanceof BpfError && error.op === 'bpf_obj_get' && (error.errno === 'ENOENT' || error.errno === 'EPERM'),
      );
    }
  });

  test('a missing network namespace is NetnsNotFound; a file that is not one is EINVAL from setns', () => {
    assert.throws(() => withNetns('/run/netns/twill-no-such-namespace', () => 1), NetnsNotFound);
    assert.throws(
      () => withNetns(__filename, () => 1),
      (error: unknown) => error instanceof BpfError && error.op === 'setns' && (error.errno === 'EINVAL' || error.errno === 'EPERM'),
    );
  });

  test('the message carries op, errno and detail', () => {
    const error = new BpfError('bpf_map_update_elem', 'E2BIG', 7, 'map is full');
    assert.equal(error.message, 'bpf_map_update_elem: E2BIG (map is full)');
    assert.ok(error instanceof Error);
  });
});
