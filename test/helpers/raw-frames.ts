// Forged traffic on a real wire: hand-built Ethernet frames sent from inside a test
// namespace, as a pod with CAP_NET_RAW could send them, by the raw-frames tool.
import path from 'node:path';

import { inNetns } from './kernel';

/**
 * Built by `npm run build:test-tools` from test/helpers/raw-frames.c; not next to this
 * module, where require('./raw-frames') would load the executable instead of raw-frames.js.
 */
const RAW_FRAMES = path.join(__dirname, '..', 'bin', 'raw-frames');
const SEND_TIMEOUT_MS = 5_000;

/** Sends each frame once, verbatim, out of `ifname` in namespace `ns`; throws with the tool's error when one was not sent. */
export function sendFrames(ns: string, ifname: string, frames: Buffer[]): void {
  inNetns(ns, RAW_FRAMES, [ifname, ...frames.map((frame) => frame.toString('hex'))], SEND_TIMEOUT_MS);
}
