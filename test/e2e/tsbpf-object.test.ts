// Loading an object, .rodata configuration, map operations and pins, against the real kernel.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BpfError, BpfMap, BpfObject, BpfProgram } from '../../bpf/tsbpf';
import { mountTestBpffs, type TestBpffs } from '../helpers/bpffs';
import { needsRoot, repoRoot, testObjects } from '../helpers/kernel';

const COUNTER_OBJECT = path.join(testObjects, 'counter.bpf.o');
const TC_ACT_SHOT = 2;
const u32 = (n: number): Buffer => Buffer.from(new Uint32Array([n]).buffer);
const counterValue = (packets: number, bytes: number): Buffer => {
  const value = Buffer.alloc(16);
  value.writeBigUInt64LE(BigInt(packets), 0);
  value.writeBigUInt64LE(BigInt(bytes), 8);
  return value;
};
const isBpfError = (op: string, errno: string) => (error: unknown) =>
  error instanceof BpfError && error.op === op && error.errno === errno;

describe('tsbpf objects and maps', needsRoot, () => {
  let object: BpfObject;
  let table: BpfMap;
  let bpffs: TestBpffs;

  before(() => {
    bpffs = mountTestBpffs();
    object = BpfObject.open(COUNTER_OBJECT);
  });
  after(() => {
    table?.close();
    object?.close();
    bpffs?.cleanup();
  });

  test('lists programs, maps and .rodata variables', () => {
    assert.deepEqual(object.programNames(), ['count_first', 'count_second']);
    assert.deepEqual(object.mapNames().sort(), ['counts', 'per_cpu', 'table']);
    assert.deepEqual(object.rodataVariables(), [{ name: 'verdict', size: 4 }]);
  });

  test('a .rodata variable and a map size set before load take effect', () => {
    object.setRodata('verdict', TC_ACT_SHOT).setMaxEntries('per_cpu', 4).load();
    const program = object.program('count_first');
    const perCpu = object.map('per_cpu');
    try {
      assert.equal(program.testRun(Buffer.alloc(64)).retval, TC_ACT_SHOT);
      assert.equal(perCpu.info.maxEntries, 4);
    } finally {
      program.close();
      perCpu.close();
    }
    assert.throws(() => object.setRodata('verdict', 0), /already loaded/);
    assert.throws(() => object.setMaxEntries('per_cpu', 8), /already loaded/);
    table = object.map('table');
  });

  test('map info comes from the kernel', () => {
    assert.equal(table.info.type, 1 /* BPF_MAP_TYPE_HASH */);
    assert.equal(table.info.keySize, 4);
    assert.equal(table.info.valueSize, 16);
    assert.equal(table.info.maxEntries, 64);
    assert.equal(table.info.name, 'table');
    assert.ok(table.info.id > 0);
  });

  test('update, lookup and delete, with the update modes and their errnos', () => {
    table.update(u32(1), counterValue(5, 500));
    assert.deepEqual(table.lookup(u32(1)), counterValue(5, 500));
    assert.equal(table.lookup(u32(2)), undefined);
    assert.throws(() => table.update(u32(1), counterValue(6, 600), 'noexist'), isBpfError('bpf_map_update_elem', 'EEXIST'));
    assert.throws(() => table.update(u32(2), counterValue(6, 600), 'exist'), isBpfError('bpf_map_update_elem', 'ENOENT'));
    table.update(u32(1), counterValue(7, 700), 'exist');
    assert.deepEqual(table.lookup(u32(1)), counterValue(7, 700));
    assert.equal(table.delete(u32(1)), true);
    assert.equal(table.delete(u32(1)), false);
    assert.throws(() => table.lookup(Buffer.alloc(3)), /key must be 4 bytes/);
  });

  test('batch update, lookup and delete, and keys() agree', () => {
    const entries: Array<[Buffer, Buffer]> = Array.from({ length: 40 }, (_, i) => [u32(100 + i), counterValue(i, i * 10)]);
    assert.equal(table.updateBatch(entries), 40);
    const read = new Map(table.lookupBatch().map(([key, value]) => [key.readUInt32LE(), value]));
    assert.equal(read.size, 40);
    for (const [key, value] of entries) assert.deepEqual(read.get(key.readUInt32LE()), value);
    assert.equal(table.deleteBatch(entries.slice(0, 25).map(([key]) => key)), 25);
    const left = table.keys().map((key) => key.readUInt32LE()).sort((a, b) => a - b);
    assert.deepEqual(left, Array.from({ length: 15 }, (_, i) => 125 + i));
    assert.throws(() => table.deleteBatch([u32(100)]), isBpfError('bpf_map_delete_batch', 'ENOENT'));
  });

  test('a full hash map answers E2BIG', () => {
    for (const key of table.keys()) table.delete(key);
    table.updateBatch(Array.from({ length: 64 }, (_, i): [Buffer, Buffer] => [u32(i), counterValue(i, i)]));
    assert.throws(() => table.update(u32(1000), counterValue(1, 1)), isBpfError('bpf_map_update_elem', 'E2BIG'));
  });

  test('per-CPU maps take one padded value per possible CPU', () => {
    const perCpu = object.map('per_cpu');
    try {
      assert.ok(perCpu.cpuSlots >= 1);
      assert.equal(perCpu.valueLength, 8 * perCpu.cpuSlots);
      const value = Buffer.alloc(perCpu.valueLength);
      value.writeBigUInt64LE(42n, perCpu.valueLength - 8);
      perCpu.update(u32(0), value);
      const slots = perCpu.perCpuValues(perCpu.lookup(u32(0)) as Buffer);
      assert.equal(slots.at(-1)?.readBigUInt64LE(), 42n);
    } finally {
      perCpu.close();
    }
  });

  test('a pinned map is opened and written by a second process, and unpin removes the pin', () => {
    const pin = path.join(bpffs.root, 'table');
    table.update(u32(7), counterValue(70, 7000), 'any');
    table.pin(pin);
    const child = `
      const { BpfMap } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'bpf', 'tsbpf'))});
      const map = BpfMap.openPinned(process.argv[1]);
      const key = Buffer.from(new Uint32Array([7]).buffer);
      const value = map.lookup(key);
      value.writeBigUInt64LE(71n, 0);
      map.update(key, value, 'exist');
      process.stdout.write(String(map.info.id));
      map.close();`;
    const childSawId = execFileSync(process.execPath, ['-e', child, pin], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(Number(childSawId), table.info.id);
    assert.equal(table.lookup(u32(7))?.readBigUInt64LE(0), 71n);
    table.unpin();
    assert.equal(fs.existsSync(pin), false);
  });

  test('a pinned program reopens; a pin of another kind is refused with EINVAL', () => {
    const program = object.program('count_second');
    const programPin = path.join(bpffs.root, 'count_second');
    const mapPin = path.join(bpffs.root, 'table_again');
    try {
      program.pin(programPin);
      table.pin(mapPin);
      const reopened = BpfProgram.openPinned(programPin);
      assert.equal(reopened.info.id, program.info.id);
      assert.equal(reopened.info.name, 'count_second');
      reopened.close();
      assert.throws(() => BpfProgram.openPinned(mapPin), isBpfError('bpf_obj_get', 'EINVAL'));
      assert.throws(() => BpfMap.openPinned(programPin), isBpfError('bpf_obj_get', 'EINVAL'));
    } finally {
      program.unpin();
      table.unpin();
      program.close();
    }
  });

  test('a closed map refuses calls with EBADF instead of touching a reused fd', () => {
    const map = object.map('counts');
    map.close();
    assert.throws(() => map.lookup(u32(0)), isBpfError('fd', 'EBADF'));
    map.close();
  });
});
