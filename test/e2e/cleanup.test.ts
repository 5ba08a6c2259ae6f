// A test that fails half-way still leaves no namespace or bpffs mount behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { needsRoot, run } from '../helpers/kernel';

describe('test clean-up', needsRoot, () => {
  test('a test process that throws mid-way removes its namespace and bpffs mount', () => {
    const child = spawnSync(process.execPath, [path.join(__dirname, '..', 'fixtures', 'dies-mid-test.js')], { encoding: 'utf8', timeout: 30_000 });
    assert.notEqual(child.status, 0, 'the fixture fails');
    const made = JSON.parse(child.stdout.split('\n')[0]) as { netns: string; bpffs: string };
    assert.equal(run('ip', ['netns', 'list']).includes(made.netns), false, `${made.netns} was removed`);
    assert.equal(fs.existsSync(made.bpffs), false, `${made.bpffs} was unmounted and removed`);
    assert.equal(fs.readFileSync('/proc/self/mounts', 'utf8').includes(made.bpffs), false);
  });
});
