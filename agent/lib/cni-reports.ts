// The agent's end of the plugin's reports (cni/lib/report.ts): a root-only unix socket
// that turns each report into the CNI metrics. Anything malformed is dropped unread;
// a report can never take the agent down or grow a label without bound.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import type { Logger } from 'pino';

import { ensurePrivateDirectory } from '../../bpf/private-dir';
import { MAX_REPORT_BYTES, parseReport } from '../../cni/lib/report';
import type { AgentMetrics } from './metrics';

export const REPORT_SOCKET_NAME = 'cni-report.sock';

/** Listens on `runDir`/cni-report.sock; resolves with the server and the socket's path. */
export async function receiveCniReports(runDir: string, metrics: AgentMetrics, log: Logger): Promise<{ server: net.Server; socketPath: string }> {
  ensurePrivateDirectory(runDir);
  const socketPath = path.join(runDir, REPORT_SOCKET_NAME);
  fs.rmSync(socketPath, { force: true }); // left by an earlier run; nobody listens on it
  const server = net.createServer((connection) => {
    let received = '';
    connection.setEncoding('utf8');
    connection.setTimeout(1000, () => connection.destroy());
    connection.on('data', (chunk: string) => {
      received += chunk;
      if (received.length > MAX_REPORT_BYTES) connection.destroy();
    });
    connection.on('end', () => {
      const report = parseReport(received.trim());
      if (!report) return log.debug({ received: received.slice(0, 80) }, 'ignored a malformed CNI report');
      metrics.cniOperations.inc({ command: report.command, result: report.result });
      metrics.cniDuration.observe({ command: report.command }, report.seconds);
    });
    connection.on('error', () => undefined);
  });
  // Created 0600 from the start: the umask applies to the socket file bind() makes.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(umask);
  }
  server.on('error', (error) => log.warn(`CNI report socket ${socketPath}: ${error.message}`));
  return { server, socketPath };
}
