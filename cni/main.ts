// twill-cni: Twill's CNI plugin (spec 1.1.0; configs 0.3.1 to 1.1.0). The only file
// that touches the process: it reads CNI_* and stdin, and writes stdout and the exit
// code. Logs never go to stdout: the runtime parses it.
//
//   launcher.ts         the executable: runs all of this from V8's code cache
//   lib/dispatch.ts     command, arguments, config, output
//   lib/args.ts         CNI_* environment        lib/config.ts   stdin network config
//   lib/add.ts del.ts check.ts status.ts gc.ts  the commands
//   lib/ipam.ts         addresses from the node's pod CIDR
//   lib/pod-network.ts  veth, addresses, routes, program, endpoint entry
import fs from 'node:fs';

import { readNodeSettings } from '../bpf/node-settings';
import { MAX_STDIN_BYTES } from './lib/config';
import { dispatch, type PluginOutput } from './lib/dispatch';
import { sendReport } from './lib/report';

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

/** Tells the agent how the command went, once the runtime has its answer; see report.ts. */
function reportToAgent(report: NonNullable<PluginOutput['report']>): void {
  const { stateDir, ...outcome } = report;
  let socket: string | undefined;
  try {
    socket = readNodeSettings(stateDir)?.reportSocket;
  } catch {
    return; // unreadable settings: the command itself has already said so, if it matters
  }
  // process.uptime(), as performance.now() would load perf_hooks (~3 ms, measured).
  if (typeof socket === 'string' && socket !== '') sendReport(socket, { ...outcome, seconds: process.uptime() });
}

dispatch(process.env, readStdin()).then(({ stdout, exitCode, report }) => {
  process.exitCode = exitCode;
  try {
    if (stdout !== undefined) writeStdout(stdout + '\n');
  } catch {
    // The runtime has closed its end and gets no answer; the agent still hears how it went.
    process.exitCode = 1;
  }
  if (report) reportToAgent(report);
});
