// Twill's state, runtime and pin directories are root's alone.
import fs from 'node:fs';

/**
 * Creates `directory` and its missing parents with mode 0700, and tightens it to 0700
 * when it already existed looser: a hostPath the kubelet created is 0755.
 */
export function ensurePrivateDirectory(directory: string): void {
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  fs.chmodSync(directory, 0o700);
}
