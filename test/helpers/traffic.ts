// Traffic between test namespaces: ping, and TCP made of two node one-liners.
import { spawn } from 'node:child_process';

import { atExit } from './exit';
import { inNetns } from './kernel';

/** Pings `address` from the namespace `ns`; returns how many replies came back. */
export function ping(ns: string, address: string, count = 3, source?: string): number {
  try {
    const out = inNetns(ns, 'ping', ['-c', String(count), '-i', '0.05', '-W', '1', ...(source ? ['-I', source] : []), address]);
    return Number(/(\d+) received/.exec(out)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

// An echo server, or (given a name) one that answers "<name> saw <peer address>" once
// the client has sent everything, so a test can see whether anything NATed the client.
const SERVER = `const [port, name] = [Number(process.argv[1]), process.argv[2]];
require('net').createServer((s) => (name ? s.resume().on('end', () => s.end(name + ' saw ' + s.remoteAddress)) : s.pipe(s)))
  .listen(port, '0.0.0.0', () => console.log('listening'));`;
const CLIENT = `const s = require('net').connect(Number(process.argv[2]), process.argv[1], () => s.end('twill-echo'));
let got = ''; s.on('data', (d) => (got += d)); s.on('close', () => process.stdout.write(got));
s.on('error', (e) => process.stdout.write('error ' + e.code));
setTimeout(() => process.exit(2), 5000).unref();`;

/** A TCP server in `ns` (an echo server, or a "<name> saw <peer>" one); stop() ends it by PID. */
export async function startTcpServer(ns: string, port: number, name?: string): Promise<{ stop: () => void }> {
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, String(port), ...(name ? [name] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = (): void => void server.kill('SIGKILL');
  const forget = atExit(kill);
  const stop = (): void => {
    forget();
    kill();
  };
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('exit', () => reject(new Error(`TCP server in ${ns} exited`)));
  });
  return { stop };
}

/** Connects from `ns` to address:port, sends "twill-echo", and returns all it got back. */
export function tcpExchange(ns: string, address: string, port: number): string {
  return inNetns(ns, process.execPath, ['-e', CLIENT, address, String(port)]);
}
