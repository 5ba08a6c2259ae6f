// Traffic between test namespaces: ping, and a TCP echo made of two node one-liners.
import { spawn, type ChildProcess } from 'node:child_process';

import type { TestNetns } from './netns';

/** Pings `address` from `ns`; returns how many replies came back. */
export function ping(ns: TestNetns, address: string, count = 3, source?: string): number {
  try {
    const out = ns.exec('ping', ['-c', String(count), '-i', '0.05', '-W', '1', ...(source ? ['-I', source] : []), address]);
    return Number(/(\d+) received/.exec(out)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const ECHO_SERVER = `require('net').createServer((s) => s.pipe(s)).listen(Number(process.argv[1]), '0.0.0.0', () => console.log('listening'))`;
const ECHO_CLIENT = `const s = require('net').connect(Number(process.argv[2]), process.argv[1], () => s.end('twill-echo'));
let got = ''; s.on('data', (d) => (got += d)); s.on('close', () => { process.stdout.write(got); });
setTimeout(() => process.exit(2), 5000).unref();`;

/** A TCP echo server in `ns`; stop() ends it by PID. */
export async function startEchoServer(ns: TestNetns, port: number): Promise<{ stop: () => void }> {
  const server: ChildProcess = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', ECHO_SERVER, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = (): void => {
    server.kill('SIGKILL');
  };
  process.on('exit', stop);
  await new Promise<void>((resolve, reject) => {
    server.stdout?.once('data', () => resolve());
    server.once('exit', () => reject(new Error('echo server exited')));
  });
  return { stop };
}

/** Connects from `ns` to address:port, sends a line, and returns what was echoed. */
export function tcpEcho(ns: TestNetns, address: string, port: number): string {
  return ns.exec(process.execPath, ['-e', ECHO_CLIENT, address, String(port)]);
}
