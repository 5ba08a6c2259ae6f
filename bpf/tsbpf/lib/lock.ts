// An exclusive lock on a file, shared by processes (concurrent CNI ADDs). flock is
// released by the kernel when the holder exits, even on kill -9.
import fs from 'node:fs';

import { BpfError } from './errors';
import { native } from './native';
import { requirePositive, requireString } from './validate';

const RETRY_MS = 2;

/**
 * Runs `fn` holding the lock on `path` (created 0600 if absent). Waits at most
 * `timeoutMs`, then throws BpfError { op: 'flock', errno: 'ETIMEDOUT' }.
 */
export async function withFileLock<T>(path: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  requireString('path', path);
  requirePositive('timeoutMs', timeoutMs);
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    const deadline = Date.now() + timeoutMs;
    while (!native.tryLock(fd)) {
      if (Date.now() >= deadline) throw new BpfError('flock', 'ETIMEDOUT', 110, `${path} held for over ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
    return await fn();
  } finally {
    fs.closeSync(fd);
  }
}
