// withNetns: work runs inside the target namespace and the caller's namespace is
// restored afterwards, also when the work throws.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { NetnsNotFound, withNetns } from '../../bpf/tsbpf';
import { needsRoot } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';

const currentNetns = (): string => fs.readlinkSync('/proc/thread-self/ns/net');

describe('withNetns', needsRoot, () => {
  let target: TestNetns;
  let targetInode: string;
  const home = currentNetns();

  before(() => {
    target = new TestNetns('nsw');
    targetInode = `net:[${fs.statSync(target.path).ino}]`;
  });
  after(() => target?.delete());

  test('runs inside the namespace given by path or fd and returns the result', () => {
    assert.equal(withNetns(target.path, currentNetns), targetInode);
    const fd = fs.openSync(target.path, 'r');
    try {
      assert.equal(withNetns(fd, currentNetns), targetInode);
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(currentNetns(), home);
  });

  test('restores the caller namespace when the callback throws, and rethrows', () => {
    assert.throws(
      () =>
        withNetns(target.path, () => {
          throw new RangeError('inside');
        }),
      RangeError,
    );
    assert.equal(currentNetns(), home);
  });

  test('nests: the inner call restores to the outer namespace', () => {
    const other = new TestNetns('nsw2');
    try {
      const [inner, outer] = withNetns(target.path, () => [withNetns(other.path, currentNetns), currentNetns()]);
      assert.equal(inner, `net:[${fs.statSync(other.path).ino}]`);
      assert.equal(outer, targetInode);
      assert.equal(currentNetns(), home);
    } finally {
      other.delete();
    }
  });

  test('refuses an async callback, after restoring', () => {
    assert.throws(() => withNetns(target.path, async () => 1), /must be synchronous/);
    assert.equal(currentNetns(), home);
  });

  test('a namespace that is gone is NetnsNotFound', () => {
    const gone = new TestNetns('gone');
    const path = gone.path;
    gone.delete();
    assert.throws(() => withNetns(path, () => 1), (error: unknown) => error instanceof NetnsNotFound && error.path === path);
  });
});
