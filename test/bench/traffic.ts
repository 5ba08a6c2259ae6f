// The traffic measures between two network namespaces: TCP throughput (iperf3, one
// and four streams), request/response round trips (sockperf ping-pong, 64-byte TCP
// messages) and connection rate (connection-rate.c). And two that set two paths side
// by side at the same moments: round trips on each in turn (paired-round-trips.c) and
// one TCP stream on each at once. Servers run for the whole benchmark; every measure
// is one short client run.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { atExit } from '../helpers/exit';
import { inNetns } from '../helpers/kernel';

/** Built by `npm run build:test-tools` from test/bench/connection-rate.c. */
export const CONNECTION_RATE = path.join(__dirname, 'connection-rate');
/** Built by `npm run build:test-tools` from test/bench/paired-round-trips.c. */
const PAIRED_ROUND_TRIPS = path.join(__dirname, 'paired-round-trips');

const PORTS = { iperf3: 5201, sockperf: 11111, connectionRate: 12865, pairedRoundTrips: 12866 };
const READY_TIMEOUT_MS = 10_000;

// Clients and servers run on fixed CPUs, the same on every topology. Left to the
// scheduler, whether a wake-up crosses CPUs (an IPI: tens of µs in a VM) would decide
// a round trip more than the path under test does, so the round-trip and connection
// servers share the client's CPU, and the path's own cost is what is timed. TCP
// streams get a CPU each side, as two busy pods would.
const CLIENT_CPU = '0';
const STREAM_SERVER_CPU = String(os.cpus().length > 1 ? 1 : 0);

export interface Host {
  /** Its network namespace. */
  ns: string;
  ip: string;
}

export interface TrafficMeasures {
  'TCP, 1 stream': number;
  'TCP, 4 streams': number;
  'round trip, average': number;
  'round trip, p99': number;
  'connection rate': number;
}

export const MEASURE_UNITS: Record<keyof TrafficMeasures, string> = {
  'TCP, 1 stream': 'Gbit/s',
  'TCP, 4 streams': 'Gbit/s',
  'round trip, average': 'µs',
  'round trip, p99': 'µs',
  'connection rate': 'conn/s',
};

function listening(ns: string, port: number): boolean {
  return inNetns(ns, 'ss', ['-Hltn', `sport = :${port}`]).trim() !== '';
}

export type ServerKind = keyof typeof PORTS;

/**
 * The servers of `kinds` on `host` (all four unless named: the side-by-side measures
 * need only iperf3 and the paired round trips, which also speak IPv6); stop() ends them by PID.
 */
export async function startServers(host: Host, kinds: readonly ServerKind[] = ['iperf3', 'sockperf', 'connectionRate', 'pairedRoundTrips']): Promise<{ stop: () => void }> {
  const every: Record<ServerKind, [number, string, string, string[]]> = {
    iperf3: [PORTS.iperf3, STREAM_SERVER_CPU, 'iperf3', ['-s', '-B', host.ip, '-p', String(PORTS.iperf3)]],
    sockperf: [PORTS.sockperf, CLIENT_CPU, 'sockperf', ['server', '--tcp', '-i', host.ip, '-p', String(PORTS.sockperf)]],
    connectionRate: [PORTS.connectionRate, CLIENT_CPU, CONNECTION_RATE, ['server', host.ip, String(PORTS.connectionRate)]],
    pairedRoundTrips: [PORTS.pairedRoundTrips, CLIENT_CPU, PAIRED_ROUND_TRIPS, ['server', host.ip, String(PORTS.pairedRoundTrips)]],
  };
  const commands = kinds.map((kind) => every[kind]);
  const servers: ChildProcess[] = [];
  const kill = (): void => servers.forEach((server) => server.kill('SIGKILL'));
  const forget = atExit(kill);
  const stop = (): void => {
    forget();
    kill();
  };
  try {
    for (const [port, cpu, command, args] of commands) {
      const server = spawn('ip', ['netns', 'exec', host.ns, 'taskset', '-c', cpu, command, ...args], { stdio: 'ignore' });
      servers.push(server);
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (!listening(host.ns, port)) {
        if (server.exitCode !== null || Date.now() > deadline) throw new Error(`${command} did not start listening on ${host.ip}:${port} in ${host.ns}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  } catch (error) {
    stop();
    throw error;
  }
  return { stop };
}

function client(ns: string, command: string, args: string[], seconds: number): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'taskset', '-c', CLIENT_CPU, command, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: (seconds + 20) * 1000 });
}

const iperf3Args = (server: string, streams: number, seconds: number): string[] => ['-c', server, '-p', String(PORTS.iperf3), '-t', String(seconds), '-P', String(streams), '-J'];
const receivedGbits = (report: string): number => (JSON.parse(report) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;

function tcpGbits(ns: string, server: string, streams: number, seconds: number): number {
  return receivedGbits(client(ns, 'iperf3', iperf3Args(server, streams, seconds), seconds));
}

function roundTrips(ns: string, server: string, seconds: number): { average: number; p99: number } {
  const out = client(ns, 'sockperf', ['ping-pong', '--tcp', '-i', server, '-p', String(PORTS.sockperf), '-m', '64', '-t', String(seconds), '--full-rtt'], seconds);
  const average = /avg-rtt=\s*([\d.]+)/.exec(out);
  const p99 = /percentile 99\.000 =\s*([\d.]+)/.exec(out);
  if (!average || !p99) throw new Error(`sockperf printed no round-trip statistics:\n${out}`);
  return { average: Number(average[1]), p99: Number(p99[1]) };
}

function connectionRate(ns: string, server: string, seconds: number): number {
  return Number(client(ns, CONNECTION_RATE, ['client', server, String(PORTS.connectionRate), String(seconds)], seconds).trim());
}

/** Every measure from `from` to the servers on `to`, each running for `seconds`. */
export function measureTraffic(from: Host, to: Host, seconds: number): TrafficMeasures {
  const rtt = roundTrips(from.ns, to.ip, seconds);
  return {
    'TCP, 1 stream': tcpGbits(from.ns, to.ip, 1, seconds),
    'TCP, 4 streams': tcpGbits(from.ns, to.ip, 4, seconds),
    'round trip, average': rtt.average,
    'round trip, p99': rtt.p99,
    'connection rate': connectionRate(from.ns, to.ip, seconds),
  };
}

/** A path as the side-by-side measures take it: from a client's namespace to a server. */
export type HostPair = [from: Host, to: Host];

export interface RoundTripsInTurn {
  average: number;
  p50: number;
  count: number;
}

/**
 * Round trips on two paths, one message on each in turn, for `seconds`: both are timed
 * under the same moments, so their ratio holds to a few tenths of a percent on a
 * machine whose speed moves by a quarter from one run to the next.
 */
export function roundTripsInTurn(a: HostPair, b: HostPair, seconds: number): [RoundTripsInTurn, RoundTripsInTurn] {
  const netnsPath = (host: Host): string => `/run/netns/${host.ns}`;
  const args = ['-c', CLIENT_CPU, PAIRED_ROUND_TRIPS, 'client', netnsPath(a[0]), a[1].ip, netnsPath(b[0]), b[1].ip, String(PORTS.pairedRoundTrips), String(seconds)];
  const out = JSON.parse(execFileSync('taskset', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: (seconds + 20) * 1000 })) as { a: RoundTripsInTurn; b: RoundTripsInTurn };
  return [out.a, out.b];
}

/**
 * One TCP stream on each path at the same time, the clients sharing one CPU and the
 * servers another: each stream gets what its path's cost per byte leaves it, under the
 * same moments of the machine.
 */
export async function tcpSideBySide(paths: HostPair[], seconds: number): Promise<number[]> {
  const run = promisify(execFile);
  const reports = await Promise.all(
    paths.map(([from, to]) => run('ip', ['netns', 'exec', from.ns, 'taskset', '-c', CLIENT_CPU, 'iperf3', ...iperf3Args(to.ip, 1, seconds)], { encoding: 'utf8', timeout: (seconds + 20) * 1000 })),
  );
  return reports.map(({ stdout }) => receivedGbits(stdout));
}
