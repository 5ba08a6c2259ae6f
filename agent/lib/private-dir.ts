// Twill's state, runtime and pin directories are root's alone.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Creates `directory` and its missing parents with mode 0700, and tightens it to 0700
 * when it already existed looser: a hostPath the kubelet created is 0755.
 */
export function ensurePrivateDirectory(directory: string): void {
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  fs.chmodSync(directory, 0o700);
}

/** Writes `value` as JSON to `file` in a private directory, atomically (a reader never sees half a file) and root-only. */
export function writePrivateJson(file: string, value: unknown): void {
  ensurePrivateDirectory(path.dirname(file));
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(temporary, file);
}

/** What writePrivateJson wrote to `file`, or undefined when there is no such file yet. */
export function readPrivateJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
