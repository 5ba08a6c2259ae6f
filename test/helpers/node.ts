// A test node: a namespace with its own bpffs root and state dir, the real twill-agent
// running inside it, and the built twill-cni called the way containerd calls it.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { mountTestBpffs, type TestBpffs } from './bpffs';
import { repoRoot } from './kernel';
import { TestNetns } from './netns';

export const CNI_PLUGIN = path.join(repoRoot, 'dist', 'twill-cni');
const AGENT = path.join(repoRoot, 'dist', 'agent', 'main.js');
const READY_TIMEOUT_MS = 15_000;
const PLUGIN_TIMEOUT_MS = 30_000;

export interface PluginRun {
  exitCode: number;
  /** Parsed stdout: the result, or the error {code, msg}. */
  output?: Record<string, unknown>;
  stderr: string;
}

export interface PodSpec {
  containerID: string;
  netns: string;
  ifname?: string;
  podName?: string;
}

export function newContainerID(): string {
  return crypto.randomBytes(32).toString('hex');
}

export class TestNode {
  readonly ns: TestNetns;
  readonly bpffs: TestBpffs;
  readonly stateDir: string;
  readonly bpffsRoot: string;
  readonly podCIDR: string;
  #agent: ChildProcess | undefined;

  constructor(tag: string, podCIDR = '10.244.0.0/24') {
    this.ns = new TestNetns(tag);
    this.bpffs = mountTestBpffs();
    this.bpffsRoot = path.join(this.bpffs.root, 'twill');
    this.stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-state-'));
    this.podCIDR = podCIDR;
    this.ns.exec('ip', ['addr', 'add', '192.168.50.1/32', 'dev', 'lo']);
    process.on('exit', () => this.#agent?.kill('SIGKILL'));
  }

  /** Starts twill-agent in the node namespace and waits until it has published the node. */
  async startAgent(extraFlags: string[] = []): Promise<void> {
    fs.rmSync(path.join(this.stateDir, 'node.json'), { force: true });
    const agent = spawn('ip', ['netns', 'exec', this.ns.name, process.execPath, AGENT, '--node-name', this.ns.name, '--pod-cidr', this.podCIDR, '--bpffs-root', this.bpffsRoot, '--state-dir', this.stateDir, ...extraFlags], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    agent.stdout?.on('data', (data: Buffer) => (log += data.toString()));
    agent.stderr?.on('data', (data: Buffer) => (log += data.toString()));
    this.#agent = agent;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!fs.existsSync(path.join(this.stateDir, 'node.json'))) {
      if (agent.exitCode !== null || Date.now() > deadline) throw new Error(`twill-agent did not become ready:\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Stops the agent by PID with `signal` and waits for it to exit. */
  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const agent = this.#agent;
    if (!agent || agent.exitCode !== null) return;
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill(signal);
    await exited;
    this.#agent = undefined;
  }

  /** The network config containerd passes on stdin for Twill's conflist entry. */
  netConf(extra: Record<string, unknown> = {}, cniVersion = '1.0.0'): Record<string, unknown> {
    return { cniVersion, name: 'twill', type: 'twill-cni', bpffsRoot: this.bpffsRoot, stateDir: this.stateDir, ...extra };
  }

  /** Runs the built plugin inside the node namespace with containerd's environment. */
  async plugin(command: string, pod: PodSpec | undefined, config: Record<string, unknown> = this.netConf()): Promise<PluginRun> {
    // TMPDIR keeps the plugin's native-code cache inside this node's state, removed with it.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TMPDIR: this.stateDir, CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin' };
    if (pod) {
      env.CNI_CONTAINERID = pod.containerID;
      env.CNI_NETNS = pod.netns;
      env.CNI_IFNAME = pod.ifname ?? 'eth0';
      env.CNI_ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.podName ?? 'pod'};K8S_POD_INFRA_CONTAINER_ID=${pod.containerID}`;
    }
    const child = spawn('ip', ['netns', 'exec', this.ns.name, CNI_PLUGIN], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: PLUGIN_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.stdin.end(JSON.stringify(config));
    const exitCode = await new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
    stdout = stdout.trim();
    return { exitCode, stderr, ...(stdout ? { output: JSON.parse(stdout) as Record<string, unknown> } : {}) };
  }

  /** ADD that must succeed; returns the result and the pod's IP. */
  async add(pod: PodSpec, config?: Record<string, unknown>): Promise<{ result: Record<string, unknown>; ip: string }> {
    const run = await this.plugin('ADD', pod, config);
    if (run.exitCode !== 0) throw new Error(`ADD failed (${run.exitCode}): ${JSON.stringify(run.output)} ${run.stderr}`);
    const result = run.output as { ips: Array<{ address: string }> };
    return { result: run.output as Record<string, unknown>, ip: result.ips[0].address.split('/')[0] };
  }

  async cleanup(): Promise<void> {
    await this.stopAgent('SIGKILL');
    this.ns.delete();
    this.bpffs.cleanup();
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}
