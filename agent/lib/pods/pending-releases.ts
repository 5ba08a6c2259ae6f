// The agent's side of the DELs the plugin could not hand it (cni/lib/pending-release.ts):
// each record names an attachment to free; it is removed once that is done.
import fs from 'node:fs';
import path from 'node:path';

import { PENDING_RELEASES_DIRECTORY, type Attachment } from '../../api/cni';

export interface PendingRelease {
  file: string;
  /** Undefined for a record no one can read: it is removed, and the start-up reconcile frees whatever it named. */
  attachment?: Attachment;
}

function parseRecord(text: string): Attachment | undefined {
  try {
    const { containerID, ifname } = JSON.parse(text) as Record<string, unknown>;
    return typeof containerID === 'string' && typeof ifname === 'string' && containerID !== '' && ifname !== '' ? { containerID, ifname } : undefined;
  } catch {
    return undefined;
  }
}

/** The records waiting, oldest first; temporary files of a plugin killed mid-write are not records. */
export function pendingReleases(stateDir: string): PendingRelease[] {
  const directory = path.join(stateDir, PENDING_RELEASES_DIRECTORY);
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => {
      const file = path.join(directory, name);
      return { file, attachment: parseRecord(fs.readFileSync(file, 'utf8')) };
    });
}

export function donePendingRelease(release: PendingRelease): void {
  fs.rmSync(release.file, { force: true });
}
