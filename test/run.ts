// The test command: runs every *.test.js under dist/test with the node test runner,
// then, as root, the e2e suites once more with every agent attaching by clsact filters
// (--attach tc), as on a kernel before 6.6 where TCX is missing. Then it fails if any
// test left something behind: a test namespace, a bpffs mount, a
// device in this namespace, a pin in /sys/fs/bpf or a twill* temp entry that was not
// there before.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
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

/** Entries of a directory, or none when it cannot be read. */
function entries(directory: string): Set<string> {
  try {
    return new Set(fs.readdirSync(directory));
  } catch {
    return new Set();
  }
}

function added(before: Set<string>, after: Set<string>): string[] {
  return [...after].filter((name) => !before.has(name));
}

function temporaryEntries(): Set<string> {
  return new Set([...entries(os.tmpdir())].filter((name) => name.startsWith('twill')));
}

function leftovers(devicesBefore: Set<string>, pinsBefore: Set<string>, temporaryBefore: Set<string>): string[] {
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
  return [
    ...namespaces.map((n) => `network namespace ${n}`),
    ...mounts.map((m) => `bpffs mount ${m}`),
    ...added(devicesBefore, entries('/sys/class/net')).map((d) => `device ${d} in the test runner's namespace`),
    ...added(pinsBefore, entries('/sys/fs/bpf')).map((p) => `pin /sys/fs/bpf/${p}`),
    ...added(temporaryBefore, temporaryEntries()).map((t) => `temporary ${path.join(os.tmpdir(), t)}`),
  ];
}

const files = testFiles(__dirname);
const devicesBefore = entries('/sys/class/net');
const pinsBefore = entries('/sys/fs/bpf');
const temporaryBefore = temporaryEntries();
const runTests = (testFiles: string[], env: NodeJS.ProcessEnv = {}): number =>
  spawnSync(process.execPath, ['--test', ...process.argv.slice(2), ...testFiles], { stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;
let status = runTests(files);
const e2eFiles = files.filter((file) => file.startsWith(path.join(__dirname, 'e2e') + path.sep));
if (process.getuid?.() === 0 && e2eFiles.length > 0) {
  console.log('\ne2e again, every agent attaching with --attach tc (clsact filters):');
  status = Math.max(status, runTests(e2eFiles, { TWILL_TEST_ATTACH: 'tc' }));
}
const leaked = leftovers(devicesBefore, pinsBefore, temporaryBefore);
if (leaked.length > 0) {
  console.error(`\ntests left behind:\n  ${leaked.join('\n  ')}`);
  process.exitCode = 1;
} else {
  process.exitCode = status;
}
