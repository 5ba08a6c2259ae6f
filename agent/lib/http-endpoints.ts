// The agent's HTTP endpoints on --metrics-port: /metrics for Prometheus, /healthz and
// /readyz for the kubelet's probes (200 or 503, with one line per failed check).
//
// The agent runs on the host network, so every pod on the node can reach this port, and
// a pod that holds connections open must not starve the agent of file descriptors or
// keep the probes from answering. So:
//   - a connection must send its request promptly and may idle only briefly, and
//   - each remote address holds a few connections at most, all remote addresses
//     together a few hundred; a connection over either cap is reset as it is accepted.
// Connections from the node itself (source address = the address they reached: the
// kubelet's probes, host-network processes) never count against the total, so pods
// that fill it still cannot fail the probes. A pod cannot pose as the node: the answer
// to a forged source address goes to the node, so the handshake never completes.
//
// serveHttp(port, metrics, health, log, options?): options.host is the address to
// listen on (all of the node's when absent); options.onRefused is called once per
// refused connection with the cap it hit (one of REFUSALS), for the caller to count.
import http from 'node:http';
import net from 'node:net';

import type { Logger } from 'pino';

import type { Health, Verdict } from './health';
import type { AgentMetrics } from './metrics';

// Every client is on the node or in the cluster (round trips of milliseconds) and sends
// a GET of a few hundred bytes at once, so these leave seconds of slack.

/**
 * From accept, or from a later request's first byte, to the end of the request's headers.
 * Node 20 starts this clock at accept, so it also closes (with a 408) a connection that
 * never sends a byte.
 */
export const HEADERS_TIMEOUT_MS = 5_000;
/** The same, to the end of the whole request; only refused methods (405) carry a body. */
const REQUEST_TIMEOUT_MS = 10_000;
/**
 * How often Node looks for connections past the two timeouts above; it is how late a
 * connection may be closed. Node's default of 30 s would let a silent one live 35 s.
 */
export const CHECK_INTERVAL_MS = 1_000;
/**
 * Idle between a response and the next request. The kubelet does not keep probe
 * connections and Prometheus scrapes every 15 s or more, so keeping one longer would
 * serve nobody; Node 20 adds a second to this so a client's reuse does not race it.
 */
export const KEEP_ALIVE_MS = 5_000;
/**
 * No byte either way on a connection for this long closes it: the timeouts above end
 * when a request is in, so this is what ends a client that stops reading its response.
 */
const IDLE_TIMEOUT_MS = 10_000;

/**
 * Connections one remote address may hold: a Prometheus holds one, and an operator's
 * curl or a second scraper behind the same address a few more.
 */
export const PEER_CONNECTIONS = 8;
/**
 * Connections all remote addresses may hold together: far more than scrapers need, and
 * below even a 1024 open-file limit with room left for the agent's own descriptors (BPF
 * objects, netlink, the API server watch, the CNI report socket). A pod can only reach
 * it with many addresses (64 pods); the node's own connections still get in then.
 */
export const TOTAL_CONNECTIONS = 512;
/**
 * Connections one of the node's own addresses may hold. The kubelet shares the node's
 * address with every host-network process (a node-local scraper, an operator's shell),
 * which a pod-sized cap would let crowd out the probes; those processes are trusted
 * with the node anyway, so this cap only stops one that leaks connections from taking
 * unbounded descriptors.
 */
export const LOCAL_CONNECTIONS = 64;

/**
 * Handshaken connections the kernel queues for the agent to accept. A pod that reconnects
 * as fast as it is reset keeps this queue busy, and libuv accepts one connection per
 * turn of the event loop; when the queue is full the kernel drops the kubelet's SYN too,
 * and its retry a second later fails a probe with the default 1 s timeout. Under 6,000
 * clients reconnecting at once, Node's default of 511 overflowed thousands of times a
 * second and probes took over a second; 4096 (Linux's default net.core.somaxconn, which
 * caps it) seldom overflowed and probes answered within half a second. Queued
 * connections hold kernel memory only, not the agent's descriptors.
 */
const LISTEN_BACKLOG = 4096;

/** The cap a refused connection hit: its address's, or the total of remote addresses. */
export const REFUSALS = ['address', 'total'] as const;
export type Refusal = (typeof REFUSALS)[number];

export interface HttpOptions {
  /** The address to listen on; all of the node's when absent. */
  host?: string;
  /** Called once for each connection reset at accept. */
  onRefused?: (cap: Refusal) => void;
}

const IPV4_MAPPED = '::ffff:';

/** A dual-stack listener sees an IPv4 peer as ::ffff:a.b.c.d; the caps count it by a.b.c.d. */
function unmapped(address: string): string {
  const ipv4 = address.slice(IPV4_MAPPED.length);
  return address.startsWith(IPV4_MAPPED) && net.isIPv4(ipv4) ? ipv4 : address;
}

/** Resets each accepted connection that would take its address, or all remote ones, over the cap. */
function limitConnections(server: http.Server, onRefused: (cap: Refusal) => void): void {
  const held = new Map<string, number>();
  let remoteHeld = 0;
  server.on('connection', (socket: net.Socket) => {
    // An address is missing when the peer reset the connection before it was accepted.
    if (socket.remoteAddress === undefined || socket.localAddress === undefined) {
      socket.destroy();
      return;
    }
    const peer = unmapped(socket.remoteAddress);
    const fromNode = peer === unmapped(socket.localAddress);
    const count = held.get(peer) ?? 0;
    const refusal: Refusal | undefined =
      count >= (fromNode ? LOCAL_CONNECTIONS : PEER_CONNECTIONS) ? 'address' : !fromNode && remoteHeld >= TOTAL_CONNECTIONS ? 'total' : undefined;
    if (refusal) {
      // A reset frees the descriptor now and leaves no TIME_WAIT behind on the node.
      socket.resetAndDestroy();
      onRefused(refusal);
      return;
    }
    held.set(peer, count + 1);
    if (!fromNode) remoteHeld += 1;
    socket.once('close', () => {
      const left = (held.get(peer) ?? 1) - 1;
      if (left === 0) held.delete(peer);
      else held.set(peer, left);
      if (!fromNode) remoteHeld -= 1;
    });
  });
}

function answerProbe(response: http.ServerResponse, verdict: Verdict): void {
  const lines = verdict.ok ? ['ok'] : Object.entries(verdict.problems).map(([name, problem]) => `${name}: ${problem}`);
  response.writeHead(verdict.ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' }).end(lines.join('\n') + '\n');
}

export function serveHttp(port: number, metrics: AgentMetrics, health: Health, log: Logger, options: HttpOptions = {}): http.Server {
  const timeouts = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: CHECK_INTERVAL_MS, keepAliveTimeout: KEEP_ALIVE_MS };
  const server = http.createServer(timeouts, (request, response) => {
    const route = new URL(request.url ?? '/', 'http://agent').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (route === '/metrics') {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: Error) => {
          log.error(`metrics collection failed: ${error.message}`);
          response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${error.message}\n`);
        },
      );
    } else if (route === '/healthz') {
      answerProbe(response, health.liveness());
    } else if (route === '/readyz') {
      answerProbe(response, health.readiness());
    } else {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
  // With no 'timeout' listener, Node destroys a socket idle this long.
  server.setTimeout(IDLE_TIMEOUT_MS);
  limitConnections(server, options.onRefused ?? (() => undefined));
  server.on('error', (error) => log.error(`metrics and health endpoints on port ${port} are unavailable: ${error.message}`));
  server.listen({ port, host: options.host, backlog: LISTEN_BACKLOG });
  return server;
}
