// The test command: runs every *.test.js under dist/test with the node test runner,
// then checks that no test left a namespace or bpffs mount behind (failing if so).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { TEST_BPFFS_PREFIX } from './helpers/bpffs';
import { TEST_NETNS_PREFIX } from './helpers/netns';

function testFiles(directory: string): string[] {
  return fs
    .readdirSync(directory, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(directory, entry.name);
      if (entry.isDirectory()) return testFiles(full);
      return entry.name.endsWith('.test.js') ? [full] : [];
    })
    .sort();
}

function leftovers(): string[] {
  const isRoot = process.getuid?.() === 0;
  const namespaces = isRoot
    ? execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
        .split('\n')
        .map((line) => line.split(' ')[0])
        .filter((name) => name.startsWith(TEST_NETNS_PREFIX))
    : [];
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mountPoint) => path.basename(mountPoint).startsWith(TEST_BPFFS_PREFIX));
  return [...namespaces.map((n) => `network namespace ${n}`), ...mounts.map((m) => `bpffs mount ${m}`)];
}

const files = testFiles(__dirname);
const result = spawnSync(process.execPath, ['--test', ...process.argv.slice(2), ...files], { stdio: 'inherit' });
const leaked = leftovers();
if (leaked.length > 0) {
  console.error(`\ntests left behind:\n  ${leaked.join('\n  ')}`);
  process.exitCode = 1;
} else {
  process.exitCode = result.status ?? 1;
}
