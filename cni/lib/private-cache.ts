// Where the bundled twill-cni keeps what it derives from its own executable: the native
// addons and V8's compiled code. Whatever is loaded from there runs as this user (root,
// on a node), so it is one directory per user that no one else can write, and every
// file in it is written whole under a name no one else can have chosen.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function cacheDirectory(uid: number): string {
  return path.join(os.tmpdir(), `twill-cni-${uid}`);
}

/** A real directory (not a link to one) owned by `uid` and closed to group and others. */
function isPrivate(stat: fs.Stats, uid: number): boolean {
  return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0;
}

/** The cache directory, created 0700 when missing; throws when someone else could write it. */
export function privateCacheDirectory(): string {
  const uid = process.getuid?.() ?? 0;
  const directory = cacheDirectory(uid);
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  if (!isPrivate(fs.lstatSync(directory), uid)) {
    throw new Error(`${directory} must be a directory owned by uid ${uid} with mode 0700 to hold the plugin's native code`);
  }
  return directory;
}

/**
 * The cache directory if an earlier run made it and it is still private; undefined
 * otherwise. For what the plugin can do without (compiled code): it never creates the
 * directory, so a command that needs no native code leaves the node as it found it.
 */
export function existingPrivateCacheDirectory(): string | undefined {
  const uid = process.getuid?.() ?? 0;
  const directory = cacheDirectory(uid);
  try {
    return isPrivate(fs.lstatSync(directory), uid) ? directory : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `file` whole or not at all: a concurrent plugin run never reads half of it. */
export function writeAtomically(file: string, data: Uint8Array, mode: number): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, data, { mode });
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}
