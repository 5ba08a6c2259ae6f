// twill-cni: Twill's CNI plugin (spec 1.1.0; configs 0.3.1 to 1.1.0). The only file
// that touches the process: it reads CNI_* and stdin, and writes stdout and the exit
// code. Logs never go to stdout: the runtime parses it.
//
// The plugin is a thin client: the agent does the work (see agent/api/cni.ts).
//
//   lib/dispatch.ts         command, arguments, config, the request, output
//   lib/args.ts             CNI_* environment        lib/config.ts   stdin network config
//   lib/agent-client.ts     one request over the agent's unix socket
//   lib/pending-release.ts  a DEL left for an agent that is down
//   lib/result.ts           CNI results of every version
import fs from 'node:fs';

import { MAX_STDIN_BYTES } from './lib/config';
import { dispatch } from './lib/dispatch';

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * A runtime's pipes are blocking; should one be non-blocking and not ready (EAGAIN),
 * the plugin waits a millisecond for the runtime rather than spinning on it.
 */
function waitForPipe(): void {
  Atomics.wait(PAUSE, 0, 0, 1);
}

/** Reads stdin up to one byte past the limit, so an oversized config is refused, not buffered. */
function readStdin(): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.alloc(64 * 1024);
  for (;;) {
    let read: number;
    try {
      read = fs.readSync(0, chunk, 0, chunk.length, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        waitForPipe();
        continue;
      }
      if (code === 'EOF' || code === 'EBADF') break;
      throw error;
    }
    if (read === 0) break;
    chunks.push(Buffer.from(chunk.subarray(0, read)));
    total += read;
    if (total > MAX_STDIN_BYTES) break;
  }
  return Buffer.concat(chunks);
}

/**
 * Writes the answer with fs.writeSync: process.stdout would load Node's stream machinery
 * for one line (~2 ms, measured).
 */
function writeStdout(text: string): void {
  const bytes = Buffer.from(text);
  for (let written = 0; written < bytes.length; ) {
    try {
      written += fs.writeSync(1, bytes, written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      waitForPipe();
    }
  }
}

dispatch(process.env, readStdin()).then(({ stdout, exitCode }) => {
  process.exitCode = exitCode;
  try {
    if (stdout !== undefined) writeStdout(stdout + '\n');
  } catch {
    // The runtime has closed its end and gets no answer.
    process.exitCode = 1;
  }
});
