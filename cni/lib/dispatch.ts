// The CNI protocol around one request to the agent: which command, its checked
// arguments and config, the request, and what to print. Pure of process I/O (main.ts
// does that), so tests run the plugin in-process.
import type { AgentAnswer, PodCommand, PodRequest } from '../../agent/api/cni';
import { AgentLost, AgentUnreachable, askAgent } from './agent-client';
import { parseCmdArgs, parseCommand, type CmdArgs, type Command } from './args';
import { agentSocketOf, parseNetConf, requireVersionFor, type NetConf } from './config';
import { Code, CniError, asCniError } from './errors';
import { recordPendingRelease } from './pending-release';
import { emptyResult, formatResult, type Result } from './result';
import { SPEC_VERSION, versionInfo } from './versions';

export interface PluginOutput {
  /** JSON for stdout, if the command prints anything. */
  stdout?: string;
  exitCode: 0 | 1;
}

/** How long a refused command's report may take: it is only counted, and never worth a wait. */
const REFUSAL_REPORT_TIMEOUT_MS = 1000;

function requestFor(command: Exclude<Command, 'VERSION'>, args: CmdArgs, netConf: NetConf): PodRequest {
  const attachment = { containerID: args.containerID, ifname: args.ifname };
  switch (command) {
    case 'ADD':
      return { command, attachment, netns: args.netns, ...(netConf.mtu !== undefined ? { mtu: netConf.mtu } : {}), ...(netConf.limits ? { limits: netConf.limits } : {}) };
    case 'DEL':
      return { command, attachment, netns: args.netns };
    case 'CHECK':
      requireVersionFor('CHECK', netConf, '0.4.0');
      if (!netConf.prevResult) throw new CniError(Code.InvalidConfig, 'network config: prevResult is required for CHECK');
      return { command, attachment, netns: args.netns, addresses: netConf.prevResult.ips.map((ip) => ip.address) };
    case 'GC':
      requireVersionFor('GC', netConf, '1.1.0');
      if (!netConf.validAttachments) throw new CniError(Code.InvalidConfig, 'network config: cni.dev/valid-attachments is required for GC');
      return { command, validAttachments: netConf.validAttachments };
    case 'STATUS':
      requireVersionFor('STATUS', netConf, '1.1.0');
      return { command };
  }
}

/** Chained after another plugin, Twill extends its result rather than replacing it. */
function addResult(answer: Extract<AgentAnswer, { ok: true }>, args: CmdArgs, netConf: NetConf): Record<string, unknown> {
  const pod = answer.pod;
  if (!pod) throw new CniError(Code.Internal, 'the agent answered ADD without the pod\'s interfaces');
  const result: Result = netConf.prevResult ?? emptyResult();
  const first = result.interfaces.length;
  result.interfaces.push({ name: pod.hostVeth.name, mac: pod.hostVeth.mac }, { name: args.ifname, mac: pod.podInterface.mac, sandbox: args.netns });
  for (const { address, gateway } of pod.addresses) {
    result.ips.push({ address, gateway, interface: first + 1 });
    result.routes.push({ dst: address.includes(':') ? '::/0' : '0.0.0.0/0', gw: gateway });
  }
  return formatResult(result, netConf.cniVersion);
}

/**
 * The agent could not be asked, or went away mid-request. DEL still succeeds: it is
 * recorded for the agent's next start. An ADD the agent took and never answered is
 * recorded the same way, so that whatever part of it was done is undone.
 */
function withoutAgent(error: AgentUnreachable | AgentLost, request: PodRequest, netConf: NetConf): PluginOutput {
  if (request.command === 'DEL' || (request.command === 'ADD' && error instanceof AgentLost)) {
    recordPendingRelease(netConf.stateDir, request.attachment);
    if (request.command === 'DEL') return { exitCode: 0 };
  }
  if (request.command === 'STATUS') throw new CniError(Code.NotAvailable, error.message);
  throw new CniError(Code.TryAgainLater, error.message);
}

async function reportRefusal(stdin: Buffer, command: PodCommand, code: CniError['code']): Promise<void> {
  await askAgent(agentSocketOf(stdin), { command: 'REFUSED', refused: command, code }, REFUSAL_REPORT_TIMEOUT_MS).catch(() => undefined);
}

export async function dispatch(env: NodeJS.ProcessEnv, stdin: Buffer): Promise<PluginOutput> {
  let netConf: NetConf | undefined;
  let command: Command | undefined;
  let asked = false;
  try {
    command = parseCommand(env);
    if (command === 'VERSION') return { stdout: JSON.stringify(versionInfo()), exitCode: 0 };
    const args = parseCmdArgs(command, env);
    netConf = parseNetConf(stdin);
    const request = requestFor(command, args, netConf);
    let answer: AgentAnswer;
    try {
      asked = true;
      answer = await askAgent(netConf.agentSocket, request);
    } catch (error) {
      if (error instanceof AgentUnreachable || error instanceof AgentLost) return withoutAgent(error, request, netConf);
      throw error;
    }
    if (!answer.ok) throw new CniError(answer.code, answer.msg, answer.details);
    return command === 'ADD' ? { stdout: JSON.stringify(addResult(answer, args, netConf)), exitCode: 0 } : { exitCode: 0 };
  } catch (thrown) {
    const error = asCniError(thrown);
    if (!asked && command !== undefined && command !== 'VERSION') await reportRefusal(stdin, command, error.code);
    const body = { cniVersion: netConf?.cniVersion ?? SPEC_VERSION, code: error.code, msg: error.msg, ...(error.details ? { details: error.details } : {}) };
    return { stdout: JSON.stringify(body), exitCode: 1 };
  }
}
