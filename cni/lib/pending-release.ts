// A DEL the agent could not take, left for it: the runtime gets its success at once
// (it retries DEL otherwise, forever, and a pod's teardown waits on it), and the agent
// frees the attachment at its next start, before it serves any other request.
import fs from 'node:fs';
import path from 'node:path';

import { PENDING_RELEASES_DIRECTORY, type Attachment } from '../../agent/api/cni';

/** Writes the record whole under a name of its own (temporary file, then rename), root-only. */
export function recordPendingRelease(stateDir: string, attachment: Attachment): string {
  const directory = path.join(stateDir, PENDING_RELEASES_DIRECTORY);
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  const file = path.join(directory, `${Date.now()}-${process.pid}.json`);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ containerID: attachment.containerID, ifname: attachment.ifname }) + '\n', { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
  return file;
}
