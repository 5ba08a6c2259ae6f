// The agent's HTTP endpoints against pods that hold connections open: each address keeps
// no more than its cap while the probes and a scrape still answer, the node's own
// connections get in when remote ones hold the total, and a connection that sends
// nothing, sends its headers too slowly or idles after a response is closed in time.
// Loopback only: Linux routes all of 127/8 to lo, so 127.0.0.x and 127.0.1.x stand for
// pods and the node reaches itself from 127.0.0.1.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';

import pino from 'pino';

import { Health } from '../../agent/lib/health';
import { CHECK_INTERVAL_MS, HEADERS_TIMEOUT_MS, KEEP_ALIVE_MS, LOCAL_CONNECTIONS, PEER_CONNECTIONS, REFUSALS, TOTAL_CONNECTIONS, serveHttp, type Refusal } from '../../agent/lib/http-endpoints';
import { AgentMetrics } from '../../agent/lib/metrics';

const NODE = '127.0.0.1';
/** A Prometheus in a pod, on an address nobody floods. */
const SCRAPER = '127.0.0.9';
/** The kubelet's default probe timeout; on loopback an answer takes milliseconds. */
const ANSWER_MS = 1_000;
/** Node closes a timed-out connection at its next check; a second more for a busy machine. */
const LATE_MS = CHECK_INTERVAL_MS + 1_000;
/** Node 20 keeps an idle keep-alive connection a second past keepAliveTimeout. */
const KEEP_ALIVE_BUFFER_MS = 1_000;
/** Connections opened before waiting for the server to take them. */
const BATCH = 100;

interface Endpoints {
  server: http.Server;
  port: number;
  /** Connections the server has accepted, refused ones included. */
  accepted: () => number;
  refused: Record<Refusal, number>;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Polls until `condition` holds or `ms` pass; says which. */
async function eventually(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!condition() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return condition();
}

/** The endpoints on an ephemeral port, every refusal counted, closed when the test ends. */
async function serve(t: TestContext, host = NODE): Promise<Endpoints> {
  const health = new Health();
  health.ready('datapath', () => undefined);
  const refused = Object.fromEntries(REFUSALS.map((cap) => [cap, 0])) as Record<Refusal, number>;
  const server = serveHttp(0, new AgentMetrics(), health, pino({ level: 'silent' }), { host, onRefused: (cap) => (refused[cap] += 1) });
  t.after(() => {
    server.closeAllConnections();
    return within(new Promise<void>((resolve) => server.close(() => resolve())), ANSWER_MS, 'closing the server');
  });
  let accepted = 0;
  server.on('connection', () => (accepted += 1));
  await within(new Promise((resolve) => server.once('listening', resolve)), ANSWER_MS, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port, accepted: () => accepted, refused };
}

/**
 * Connections from `from` that send nothing, destroyed when the test ends; the server has
 * taken each on return. A batch waits for the server to take the last one: libuv accepts
 * one connection per turn of the event loop, and this process's own clients would
 * otherwise overflow the listen queue and wait a second for a SYN retry.
 */
async function openIdle(t: TestContext, { port, accepted }: Endpoints, from: string, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((socket) => socket.destroy()));
  while (sockets.length < count) {
    const batch = Math.min(BATCH, count - sockets.length);
    const taken = accepted() + batch;
    for (let i = 0; i < batch; i++) {
      const socket = net.connect({ host: NODE, port, localAddress: from });
      // The server resets the connections it refuses.
      socket.on('error', () => undefined);
      sockets.push(socket);
    }
    assert.ok(await eventually(() => accepted() >= taken, ANSWER_MS), `the server took ${accepted()} of ${taken} connections`);
  }
  return sockets;
}

const stillOpen = (sockets: net.Socket[]): number => sockets.filter((socket) => !socket.closed).length;

/** GETs `path` from `from` on a connection of its own: the status, and how long it took. */
function get(port: number, from: string, path: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: NODE, port, path, localAddress: from, agent: false, signal: AbortSignal.timeout(ANSWER_MS) }, (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0, ms: performance.now() - started }));
      })
      .on('error', (error) => reject(new Error(`GET ${path} from ${from}: ${error.message}`)));
  });
}

/** How long after `since` the server closed `socket`, and what it sent before. */
function closing(socket: net.Socket, since: number, ms: number): Promise<{ ms: number; received: string }> {
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const closed = new Promise<{ ms: number; received: string }>((resolve) => socket.once('close', () => resolve({ ms: performance.now() - since, received })));
  return within(closed, ms, 'waiting for the server to close the connection');
}

async function connected(t: TestContext, port: number): Promise<net.Socket> {
  const socket = net.connect({ host: NODE, port, localAddress: SCRAPER });
  t.after(() => socket.destroy());
  await within(new Promise((resolve) => socket.once('connect', resolve)), ANSWER_MS, 'connecting');
  return socket;
}

describe('HTTP endpoints under a flood of idle connections', () => {
  test('each flooding address holds its cap, and the probes and a scrape still answer', async (t) => {
    const endpoints = await serve(t);
    const { server, port, refused } = endpoints;
    const flooders = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
    const perFlooder = 300;
    const flood = new Map<string, net.Socket[]>();
    for (const from of flooders) flood.set(from, await openIdle(t, endpoints, from, perFlooder));

    const held = () => Object.fromEntries([...flood].map(([from, sockets]) => [from, stillOpen(sockets)]));
    await eventually(() => Object.values(held()).every((open) => open === PEER_CONNECTIONS), ANSWER_MS);
    assert.deepEqual(held(), Object.fromEntries(flooders.map((from) => [from, PEER_CONNECTIONS])));
    const serverHolds = await new Promise<number>((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
    assert.equal(serverHolds, flooders.length * PEER_CONNECTIONS);
    assert.deepEqual(refused, { address: flooders.length * (perFlooder - PEER_CONNECTIONS), total: 0 });

    for (const from of [NODE, SCRAPER]) {
      for (const path of ['/readyz', '/metrics']) {
        const { status, ms } = await get(port, from, path);
        t.diagnostic(`GET ${path} from ${from} under the flood: ${status} in ${ms.toFixed(1)} ms`);
        assert.equal(status, 200, `GET ${path} from ${from}`);
      }
    }
  });

  test('when remote addresses hold the total, the node still gets in and another pod does not', async (t) => {
    const endpoints = await serve(t);
    const { port, refused } = endpoints;
    const pods = Array.from({ length: TOTAL_CONNECTIONS / PEER_CONNECTIONS + 2 }, (_, i) => `127.0.1.${i + 1}`);
    const sockets: net.Socket[] = [];
    for (const pod of pods) sockets.push(...(await openIdle(t, endpoints, pod, PEER_CONNECTIONS)));
    await eventually(() => stillOpen(sockets) === TOTAL_CONNECTIONS, ANSWER_MS);
    assert.equal(stillOpen(sockets), TOTAL_CONNECTIONS);

    const { status, ms } = await get(port, NODE, '/readyz');
    t.diagnostic(`GET /readyz from ${NODE} with the total held: ${status} in ${ms.toFixed(1)} ms`);
    assert.equal(status, 200);
    await assert.rejects(get(port, SCRAPER, '/metrics'), /socket hang up|ECONNRESET/);
    assert.deepEqual(refused, { address: 0, total: sockets.length - TOTAL_CONNECTIONS + 1 });
  });

  test('the node has a cap of its own, through an IPv4-mapped listener too', async (t) => {
    const endpoints = await serve(t, `::ffff:${NODE}`);
    const sockets = await openIdle(t, endpoints, NODE, LOCAL_CONNECTIONS + 4);
    await eventually(() => stillOpen(sockets) === LOCAL_CONNECTIONS, ANSWER_MS);
    assert.equal(stillOpen(sockets), LOCAL_CONNECTIONS);
    assert.deepEqual(endpoints.refused, { address: 4, total: 0 });
  });
});

describe('HTTP endpoint timeouts', { concurrency: true }, () => {
  test('a connection that never sends a byte is closed within the header timeout', async (t) => {
    const { port } = await serve(t);
    const socket = await connected(t, port);
    const { ms, received } = await closing(socket, performance.now(), HEADERS_TIMEOUT_MS + LATE_MS);
    t.diagnostic(`silent connection closed after ${ms.toFixed(0)} ms`);
    assert.match(received, /^HTTP\/1\.1 408 /);
  });

  test('a request whose headers never end is closed within the header timeout', async (t) => {
    const { port } = await serve(t);
    const socket = await connected(t, port);
    socket.write('GET /readyz HTTP/1.1\r\n');
    const { ms, received } = await closing(socket, performance.now(), HEADERS_TIMEOUT_MS + LATE_MS);
    t.diagnostic(`slow-headers connection closed after ${ms.toFixed(0)} ms`);
    assert.match(received, /^HTTP\/1\.1 408 /);
  });

  test('a keep-alive connection idle after its response is closed within the keep-alive timeout', async (t) => {
    const { port } = await serve(t);
    const socket = await connected(t, port);
    socket.write('GET /readyz HTTP/1.1\r\nHost: agent\r\n\r\n');
    await within(new Promise((resolve) => socket.once('data', resolve)), ANSWER_MS, 'the response');
    const { ms, received } = await closing(socket, performance.now(), KEEP_ALIVE_MS + KEEP_ALIVE_BUFFER_MS + LATE_MS);
    t.diagnostic(`idle keep-alive connection closed ${ms.toFixed(0)} ms after its response`);
    assert.equal(received, '', 'nothing more after the response');
  });
});
