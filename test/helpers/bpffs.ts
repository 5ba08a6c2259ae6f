// A private bpffs instance for one test file, so pins never land in /sys/fs/bpf and
// unmounting removes every pin at once, also after a failed test.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { atExit } from './exit';

export const TEST_BPFFS_PREFIX = 'twill-bpffs-';

export interface TestBpffs {
  root: string;
  cleanup: () => void;
}

export function mountTestBpffs(): TestBpffs {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), TEST_BPFFS_PREFIX));
  execFileSync('mount', ['-t', 'bpf', 'bpffs', root], { stdio: 'ignore' });
  let mounted = true;
  const cleanup = (): void => {
    if (!mounted) return;
    mounted = false;
    forget();
    execFileSync('umount', [root], { stdio: 'ignore' });
    fs.rmdirSync(root);
  };
  const forget = atExit(cleanup);
  return { root, cleanup };
}
