// Traffic between test namespaces: ping, TCP made of two node one-liners, and a UDP
// listener that records what reaches it.
import { spawn } from 'node:child_process';

import { atExit } from './exit';
import { inNetns } from './kernel';
import { waitFor } from './wait';

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
const SERVER = `const [port, address, name] = [Number(process.argv[1]), process.argv[2], process.argv[3]];
require('net').createServer((s) => (name ? s.resume().on('end', () => s.end(name + ' saw ' + s.remoteAddress)) : s.pipe(s)))
  .listen(port, address, () => console.log('listening'));`;
const CLIENT = `const s = require('net').connect(Number(process.argv[2]), process.argv[1], () => s.end('twill-echo'));
let got = ''; s.on('data', (d) => (got += d)); s.on('close', () => process.stdout.write(got));
s.on('error', (e) => process.stdout.write('error ' + e.code));
setTimeout(() => process.exit(2), 5000).unref();`;

/** A TCP server in `ns` on `address` (an echo server, or a "<name> saw <peer>" one); stop() ends it by PID. */
export async function startTcpServer(ns: string, port: number, name?: string, address = '0.0.0.0'): Promise<{ stop: () => void }> {
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, String(port), address, ...(name ? [name] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
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

// Sends `size` bytes to an echo server and prints how many came back, when the server
// closes or after 15 s: a bulk transfer both ways over one connection.
const BULK_CLIENT = `const [address, port, size] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let got = 0; const done = () => { process.stdout.write(String(got)); process.exit(0); };
const s = require('net').connect(port, address, () => s.end(Buffer.alloc(size, 7)));
s.on('data', (d) => (got += d.length)); s.on('close', done); s.on('error', done);
setTimeout(done, 15000).unref();`;

/** Sends `size` bytes from `ns` to an echo server at address:port; returns how many bytes it echoed back. */
export function tcpEchoBulk(ns: string, address: string, port: number, size: number): number {
  return Number(inNetns(ns, process.execPath, ['-e', BULK_CLIENT, address, String(port), String(size)], 30_000));
}

/** Connects from `ns` to address:port, sends "twill-echo", and returns all it got back. */
export function tcpExchange(ns: string, address: string, port: number): string {
  return inNetns(ns, process.execPath, ['-e', CLIENT, address, String(port)]);
}

// Prints each datagram it gets as hex, one a line, after "ready"; IPv6 for an IPv6 address.
const UDP_LISTENER = `const socket = require('dgram').createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');
socket.on('message', (message) => process.stdout.write(message.toString('hex') + '\\n'));
socket.bind(Number(process.argv[2]), process.argv[1], () => process.stdout.write('ready\\n'));`;
const LISTENER_READY_MS = 5_000;

export interface UdpListener {
  /** The payloads received so far, in order. */
  received(): Buffer[];
  /**
   * What arrived since the last call, before `marker`, which the caller sent after
   * whatever it asks about: once the marker is in, all of that is in too. Waits for the
   * marker, bounded.
   */
  takeUntil(marker: Buffer): Promise<Buffer[]>;
  /** Ends the listener by PID. */
  stop(): void;
}

/** A UDP listener on address:port inside `ns`, ready when this resolves. */
export async function startUdpListener(ns: string, address: string, port: number): Promise<UdpListener> {
  const listener = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', UDP_LISTENER, address, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = (): void => void listener.kill('SIGKILL');
  const forget = atExit(kill);
  const stop = (): void => {
    forget();
    kill();
  };
  let output = '';
  listener.stdout.on('data', (data: Buffer) => (output += data.toString()));
  try {
    await waitFor(`a UDP listener on ${address}:${port} in ${ns}`, () => output.startsWith('ready\n') || listener.exitCode !== null, LISTENER_READY_MS);
    if (listener.exitCode !== null) throw new Error(`the UDP listener on ${address}:${port} in ${ns} exited`);
  } catch (error) {
    stop();
    throw error;
  }
  const received = (): Buffer[] =>
    output
      .split('\n')
      .slice(1, -1)
      .map((line) => Buffer.from(line, 'hex'));
  let taken = 0;
  const takeUntil = async (marker: Buffer): Promise<Buffer[]> => {
    let at = -1;
    await waitFor(`the marker at ${address}:${port} in ${ns}`, () => (at = received().findIndex((payload, i) => i >= taken && payload.equals(marker))) >= 0, LISTENER_READY_MS);
    const before = received().slice(taken, at);
    taken = at + 1;
    return before;
  };
  return { received, takeUntil, stop };
}

const UDP_SENDER = `const socket = require('dgram').createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');
socket.send(Buffer.from(process.argv[3], 'hex'), Number(process.argv[2]), process.argv[1], (error) => process.exit(error ? 1 : 0));`;

/** Sends one UDP datagram from an ordinary socket in `ns`, as any process there may. */
export function sendUdp(ns: string, address: string, port: number, payload: Buffer): void {
  inNetns(ns, process.execPath, ['-e', UDP_SENDER, address, String(port), payload.toString('hex')]);
}

export interface Iperf3Options {
  /** Parallel TCP streams (-P). */
  streams?: number;
  /** The server sends and the client receives (-R). */
  reverse?: boolean;
  /** UDP at this many bits per second instead of TCP. */
  udpRate?: number;
  /** Seconds measured, after one second left out (TCP's start, a limit's first burst). */
  seconds?: number;
}

/** Bits per second the receiving side got in an iperf3 run from `clientNs` to a one-shot server in `serverNs` at `serverIp`. */
export async function iperf3Goodput(clientNs: string, serverNs: string, serverIp: string, options: Iperf3Options = {}): Promise<number> {
  const { streams = 1, reverse = false, udpRate, seconds = 3 } = options;
  const port = '5299';
  const server = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '-p', port], { stdio: 'ignore' });
  const kill = (): void => void server.kill('SIGKILL');
  const forget = atExit(kill);
  try {
    await waitFor(`iperf3 server in ${serverNs}`, () => inNetns(serverNs, 'ss', ['-Hltn', `sport = :${port}`]).trim() !== '', 10_000);
    const args = ['-c', serverIp, '-p', port, '-J', '-t', String(seconds), '-O', '1', '-P', String(streams), ...(reverse ? ['-R'] : []), ...(udpRate ? ['-u', '-b', String(udpRate)] : [])];
    const report = JSON.parse(inNetns(clientNs, 'iperf3', args, (seconds + 20) * 1000)) as {
      end: { sum_received?: { bits_per_second: number }; sum?: { bits_per_second: number; lost_percent: number } };
    };
    // iperf3 3.12 reports UDP as what was sent and the share of it the server missed.
    const { sum_received: tcp, sum: udp } = report.end;
    const received = udpRate ? udp && udp.bits_per_second * (1 - udp.lost_percent / 100) : tcp?.bits_per_second;
    if (received === undefined) throw new Error(`iperf3 from ${clientNs} to ${serverIp} reported nothing received`);
    return received;
  } finally {
    forget();
    kill();
  }
}
