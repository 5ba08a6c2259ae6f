// The agent's HTTP endpoints on --metrics-port: /metrics for Prometheus, /healthz and
// /readyz for the kubelet's probes (200 or 503, with one line per failed check).
import http from 'node:http';

import type { Logger } from 'pino';

import type { Health, Verdict } from './health';
import type { AgentMetrics } from './metrics';

function answerProbe(response: http.ServerResponse, verdict: Verdict): void {
  const lines = verdict.ok ? ['ok'] : Object.entries(verdict.problems).map(([name, problem]) => `${name}: ${problem}`);
  response.writeHead(verdict.ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' }).end(lines.join('\n') + '\n');
}

export function serveHttp(port: number, metrics: AgentMetrics, health: Health, log: Logger): http.Server {
  const server = http.createServer((request, response) => {
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
  server.on('error', (error) => log.error(`metrics and health endpoints on port ${port} are unavailable: ${error.message}`));
  server.listen(port);
  return server;
}
