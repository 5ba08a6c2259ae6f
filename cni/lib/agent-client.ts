// One request to the agent and its answer, over the agent's unix socket. Whether the
// agent was never reached or went away mid-request matters to the caller: in the
// first case it did nothing, in the second it may have done any part of the command.
import net from 'node:net';

import { MAX_MESSAGE_BYTES, type AgentAnswer, type PodRequest } from '../../agent/api/cni';

/** The agent could not be reached: nothing was done. */
export class AgentUnreachable extends Error {}
/** The agent took the request and gave no answer: any part of it may have been done. */
export class AgentLost extends Error {}

/** What the runtime waits for at most; a request is a few milliseconds, a burst of 128 a few seconds. */
export const ANSWER_TIMEOUT_MS = 60_000;

export function askAgent(socketPath: string, request: PodRequest, timeoutMs = ANSWER_TIMEOUT_MS): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    let connected = false;
    let received = '';
    const socket = net.createConnection(socketPath);
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => fail(new AgentLost(`the Twill agent took the request on ${socketPath} and did not answer within ${timeoutMs / 1000} s`)));
    socket.once('connect', () => {
      connected = true;
      socket.write(JSON.stringify(request) + '\n');
    });
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\n');
      if (end < 0) {
        if (received.length > MAX_MESSAGE_BYTES) fail(new AgentLost(`the Twill agent on ${socketPath} answered more than ${MAX_MESSAGE_BYTES} bytes`));
        return;
      }
      socket.destroy();
      try {
        resolve(JSON.parse(received.slice(0, end)) as AgentAnswer);
      } catch (error) {
        reject(new AgentLost(`the Twill agent on ${socketPath} answered something that is not JSON: ${(error as Error).message}`));
      }
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected) fail(new AgentUnreachable(`the Twill agent is not answering on ${socketPath} (${error.code ?? error.message}): is twill-agent running on this node?`));
      else fail(new AgentLost(`the Twill agent on ${socketPath} failed mid-request (${error.code ?? error.message})`));
    });
    socket.once('end', () => fail(new AgentLost(`the Twill agent on ${socketPath} closed the connection without answering`)));
  });
}
