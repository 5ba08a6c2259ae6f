// A test node, the one fixture every e2e test, the benchmarks and `npm run lab` make
// nodes with: a network namespace, a state dir, a bpffs root, the real twill-agent
// running inside the namespace, and the built twill-cni called the way containerd calls
// it; cleanup() takes all of it away, and an exit hook does if a test died first.
//
// A standalone node (standaloneNode) has its own bpffs mount and temporary state dir and
// no uplink: its agent takes --pod-cidr. A lab node (lab/cluster.ts) shares the lab's
// bpffs mount and directory, and is wired to the other nodes. A lab outlives the process
// that brought it up (`npm run lab`), so a node's fields are plain data the lab saves
// and `lab down` reads back, and a detached node registers no exit hook.
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { mountTestBpffs, type TestBpffs } from '../helpers/bpffs';
import { atExit } from '../helpers/exit';
import { inNetns, repoRoot } from '../helpers/kernel';
import { addNamespace, deleteNamespace, ifindexIn, testNetnsName } from '../helpers/netns';
import { addedIp, agentSocketIn, executablesOf, runPlugin, startAgent, type AgentOptions, type PluginRun, type PodSpec } from '../helpers/processes';

export type { PluginRun, PodSpec } from '../helpers/processes';

export function newContainerID(): string {
  return crypto.randomBytes(32).toString('hex');
}

export interface NodeSpec {
  /** The node's name, as the agent and its node source know it. */
  name: string;
  /** The namespace, created here. */
  ns: string;
  /** Its pod CIDR, or one per family separated by a comma, as --pod-cidr takes them. */
  podCIDR: string;
  /** Its address towards the other nodes, or one per family likewise (none for a standalone node). */
  ip?: string;
  stateDir: string;
  bpffsRoot: string;
  /** The agent outlives this process (the lab command): no exit hook. */
  detached?: boolean;
  /** The built tree whose agent and plugin the node runs (default: this checkout). */
  buildRoot?: string;
  /** Flags every start of this node's agent gets before the caller's. */
  agentFlags?: string[];
}

export class TestNode {
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
  readonly podCIDR: string;
  readonly stateDir: string;
  readonly bpffsRoot: string;
  /** The running agent's PID, 0 when none: what `lab down` stops. */
  agentPid = 0;
  readonly #spec: NodeSpec;
  #agent: ChildProcess | undefined;
  #ownBpffs: TestBpffs | undefined;
  readonly #forgetAtExit: () => void;

  constructor(spec: NodeSpec, ownBpffs?: TestBpffs) {
    this.#spec = spec;
    this.#ownBpffs = ownBpffs;
    this.name = spec.name;
    this.ns = spec.ns;
    this.ip = spec.ip ?? '';
    this.podCIDR = spec.podCIDR;
    this.stateDir = spec.stateDir;
    this.bpffsRoot = spec.bpffsRoot;
    this.#forgetAtExit = spec.detached ? () => undefined : atExit(() => this.remove());
    fs.mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    addNamespace(this.ns);
  }

  /** The namespace's path, as a runtime passes CNI_NETNS. */
  get netnsPath(): string {
    return `/run/netns/${this.ns}`;
  }

  /** Runs a command inside the node's namespace. */
  exec(command: string, args: string[]): string {
    return inNetns(this.ns, command, args);
  }

  ifindex(device: string): number {
    return ifindexIn(this.ns, device);
  }

  /** The agent, plugin and CLI this node runs. */
  get executables(): ReturnType<typeof executablesOf> {
    return executablesOf(this.#spec.buildRoot ?? repoRoot);
  }

  /** Starts (or restarts) twill-agent in the namespace and waits until it has published the node. */
  async startAgent(flags: string[] = [], options: AgentOptions = {}): Promise<void> {
    const args = ['--node-name', this.name, '--bpffs-root', this.bpffsRoot, ...(this.#spec.agentFlags ?? []), ...flags];
    this.#agent = await startAgent(this.ns, this.stateDir, args, { detached: this.#spec.detached ?? false, agent: this.executables.agent, ...options });
    this.agentPid = this.#agent.pid ?? 0;
  }

  /** Stops the agent by PID with `signal` and waits for it to exit. */
  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const agent = this.#agent;
    this.#agent = undefined;
    this.agentPid = 0;
    if (!agent || agent.exitCode !== null || agent.signalCode !== null) return;
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill(signal);
    await exited;
  }

  /** The network config containerd passes on stdin for Twill's conflist entry. */
  netConf(extra: Record<string, unknown> = {}, cniVersion = '1.0.0'): Record<string, unknown> {
    return { cniVersion, name: 'twill', type: 'twill-cni', agentSocket: agentSocketIn(this.stateDir), stateDir: this.stateDir, ...extra };
  }

  /** Runs the built plugin inside the node namespace with containerd's environment. */
  plugin(command: string, pod: PodSpec | undefined, config: Record<string, unknown> = this.netConf()): Promise<PluginRun> {
    return runPlugin(this.ns, command, pod, config, this.executables.plugin);
  }

  /** ADD that must succeed; returns the result and the pod's IP. */
  async add(pod: PodSpec, config?: Record<string, unknown>): Promise<{ result: Record<string, unknown>; ip: string }> {
    const run = await this.plugin('ADD', pod, config);
    return { result: run.output as Record<string, unknown>, ip: addedIp(run) };
  }

  /** Stops the agent and removes the namespace, the state dir and a bpffs mount of its own. */
  async cleanup(): Promise<void> {
    await this.stopAgent('SIGKILL');
    this.remove();
  }

  /** cleanup() for a synchronous tear-down or an exit hook: the agent is stopped by PID. */
  remove(): void {
    this.#forgetAtExit();
    stopByPid(this.agentPid);
    this.agentPid = 0;
    deleteNamespace(this.ns);
    this.#ownBpffs?.cleanup();
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}

const STOP_TIMEOUT_MS = 5000;

function processGone(pid: number): boolean {
  try {
    // A killed child stays a zombie (state Z) until this process reaps it.
    return /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * Stops an agent by PID with SIGKILL, if one runs (`lab down` holds no process handle),
 * and waits (bounded) until it has let go of its pins and namespace, which go next.
 */
export function stopByPid(pid: number): void {
  if (!pid || processGone(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // Gone in between.
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (!processGone(pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
}

/**
 * A node on its own: its own bpffs mount and temporary state dir, 192.168.50.1/32 on
 * its loopback as its address, and an agent that takes --pod-cidr, or `agentFlags`
 * (flags a start adds come after them).
 */
export function standaloneNode(tag: string, podCIDR = '10.244.0.0/24', options: { name?: string; agentFlags?: string[] } = {}): TestNode {
  const bpffs = mountTestBpffs();
  const ns = testNetnsName(tag);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-state-'));
  const node = new TestNode({ name: options.name ?? ns, ns, podCIDR, stateDir, bpffsRoot: path.join(bpffs.root, 'twill'), agentFlags: options.agentFlags ?? ['--pod-cidr', podCIDR] }, bpffs);
  node.exec('ip', ['addr', 'add', '192.168.50.1/32', 'dev', 'lo']);
  return node;
}
