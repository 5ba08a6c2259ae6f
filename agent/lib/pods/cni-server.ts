// The agent's end of the plugin's requests: a root-only unix socket, one request line
// and one answer line per connection. Each command is counted by result with the time
// the agent took over it. Anything malformed is answered with an error and changes
// nothing; a request can never take the agent down or grow a label without bound.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import type { Logger } from 'pino';

import { Code, MAX_MESSAGE_BYTES, POD_COMMANDS, RESULT_OF_CODE, type AgentAnswer, type Attachment, type PodRequest } from '../../api/cni';
import type { AgentMetrics } from '../metrics';
import { ensurePrivateDirectory } from '../private-dir';

/** What takes requests: the pod network once it is ready (requests wait until then). */
export type RequestHandler = (request: PodRequest) => Promise<AgentAnswer>;

function isAttachment(value: unknown): value is Attachment {
  const attachment = value as Attachment;
  return typeof attachment?.containerID === 'string' && attachment.containerID !== '' && typeof attachment.ifname === 'string' && attachment.ifname !== '';
}

/** The request a line holds, or why it is not one. */
function parseRequest(line: string): PodRequest | string {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  const command = raw?.command;
  switch (command) {
    case 'ADD':
    case 'DEL':
    case 'CHECK':
      if (!isAttachment(raw.attachment)) return `${command} needs an attachment {containerID, ifname}`;
      if (typeof raw.netns !== 'string' || (command !== 'DEL' && !raw.netns.startsWith('/'))) return `${command} needs a netns path`;
      if (command === 'ADD' && raw.mtu !== undefined && !Number.isInteger(raw.mtu)) return 'ADD mtu must be an integer';
      if (command === 'CHECK' && (!Array.isArray(raw.addresses) || !raw.addresses.every((a) => typeof a === 'string'))) return 'CHECK needs the addresses of prevResult';
      return raw as unknown as PodRequest;
    case 'GC':
      if (!Array.isArray(raw.validAttachments) || !raw.validAttachments.every(isAttachment)) return 'GC needs validAttachments';
      return raw as unknown as PodRequest;
    case 'STATUS':
      return { command };
    case 'REFUSED':
      if (!(POD_COMMANDS as readonly unknown[]).includes(raw.refused) || !RESULT_OF_CODE.has(raw.code as number)) return 'REFUSED needs a command and a CNI code';
      return raw as unknown as PodRequest;
    default:
      return `unknown command ${JSON.stringify(command)}`;
  }
}

/** A client gets this long to send its request line; the answer may take as long as the work does. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface CniServer {
  server: net.Server;
  socketPath: string;
}

/** Listens on `socketPath` (created 0600 in a 0700 directory); resolves once it accepts connections. */
export async function serveCni(socketPath: string, handle: RequestHandler, metrics: AgentMetrics, log: Logger): Promise<CniServer> {
  ensurePrivateDirectory(path.dirname(socketPath));
  fs.rmSync(socketPath, { force: true }); // left by an earlier run; nobody listens on it
  const count = (command: string, answer: AgentAnswer, seconds?: number): void => {
    metrics.cniOperations.inc({ command, result: answer.ok ? 'success' : (RESULT_OF_CODE.get(answer.code) as string) });
    if (seconds !== undefined) metrics.cniDuration.observe({ command }, seconds);
  };
  const server = net.createServer((connection) => {
    let received = '';
    connection.setEncoding('utf8');
    connection.on('error', () => undefined);
    connection.setTimeout(REQUEST_TIMEOUT_MS, () => connection.destroy());
    connection.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\n');
      if (end < 0) {
        if (received.length > MAX_MESSAGE_BYTES) connection.destroy();
        return;
      }
      connection.removeAllListeners('data');
      connection.setTimeout(0);
      const request = parseRequest(received.slice(0, end));
      if (typeof request === 'string') {
        log.debug({ problem: request }, 'refused a malformed CNI request');
        connection.end(JSON.stringify({ ok: false, code: Code.DecodeFailure, msg: `request to the agent: ${request}` }) + '\n');
        return;
      }
      const started = performance.now();
      // A handler that throws is a bug; the plugin still gets an answer naming it.
      const answered = handle(request).catch((error: unknown): AgentAnswer => ({ ok: false, code: Code.Internal, msg: `the agent failed: ${(error as Error).message}` }));
      void answered.then((answer) => {
        if (request.command === 'REFUSED') count(request.refused, { ok: false, code: request.code, msg: '' });
        else count(request.command, answer, (performance.now() - started) / 1000);
        connection.end(JSON.stringify(answer) + '\n');
      });
    });
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
  server.on('error', (error) => log.warn(`CNI socket ${socketPath}: ${error.message}`));
  return { server, socketPath };
}
