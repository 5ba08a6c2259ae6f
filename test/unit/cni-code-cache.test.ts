// The built plugin's code cache: stored by a successful run, used by the next, and a
// damaged one rejected and replaced, the command answering as ever.
// VERSION needs no root and no node: it exercises the cache alone, and leaves no
// cache directory where no earlier command made one.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { CNI_PLUGIN } from '../helpers/processes';

const temporary = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-code-cache-'));
after(() => fs.rmSync(temporary, { recursive: true, force: true }));
// The plugin caches only into a directory an earlier run (its native addons) made.
const cacheDirectory = path.join(temporary, `twill-cni-${process.getuid?.() ?? 0}`);
fs.mkdirSync(cacheDirectory, { mode: 0o700 });

function version(tmpdir = temporary): unknown {
  const stdout = execFileSync(process.execPath, [CNI_PLUGIN], {
    env: { PATH: process.env.PATH, TMPDIR: tmpdir, CNI_COMMAND: 'VERSION' },
    input: JSON.stringify({ cniVersion: '1.0.0' }),
    encoding: 'utf8',
  });
  return JSON.parse(stdout);
}

function versionCache(): string {
  const files = fs.readdirSync(cacheDirectory).filter((name) => name.endsWith('-VERSION.v8cache'));
  assert.equal(files.length, 1, `one VERSION cache: ${files.join(', ')}`);
  return path.join(cacheDirectory, files[0]);
}

describe('plugin code cache', () => {
  test('a damaged cache is rejected and replaced; a sound one is kept', () => {
    const answer = version();
    assert.ok((answer as { supportedVersions?: string[] }).supportedVersions?.includes('1.0.0'));
    const file = versionCache();

    const damaged = fs.readFileSync(file);
    damaged[damaged.length >> 1] ^= 0x5a;
    fs.writeFileSync(file, damaged);
    assert.deepEqual(version(), answer);
    const replaced = fs.readFileSync(file);
    assert.ok(!replaced.equals(damaged), 'the damaged cache was used, not replaced');

    const modified = fs.statSync(file).mtimeMs;
    assert.deepEqual(version(), answer);
    assert.ok(fs.readFileSync(file).equals(replaced), 'a sound cache is used as it is');
    assert.equal(fs.statSync(file).mtimeMs, modified);
  });

  test('VERSION loads no native code, so it makes no cache directory', () => {
    const untouched = fs.mkdtempSync(path.join(temporary, 'fresh-'));
    version(untouched);
    assert.deepEqual(fs.readdirSync(untouched), []);
  });
});
