// A test node: a namespace with its own bpffs root and state dir, the real twill-agent
// running inside it, and the built twill-cni called the way containerd calls it.
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { mountTestBpffs, type TestBpffs } from './bpffs';
import { atExit } from './exit';
import { TestNetns } from './netns';
import { addedIp, agentSocketIn, runPlugin, startAgent, type AgentOptions, type PluginRun, type PodSpec } from './processes';

export type { PluginRun, PodSpec } from './processes';

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
  readonly #forgetAgentAtExit: () => void;

  constructor(tag: string, podCIDR = '10.244.0.0/24') {
    this.ns = new TestNetns(tag);
    this.bpffs = mountTestBpffs();
    this.bpffsRoot = path.join(this.bpffs.root, 'twill');
    this.stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-state-'));
    this.podCIDR = podCIDR;
    this.ns.exec('ip', ['addr', 'add', '192.168.50.1/32', 'dev', 'lo']);
    this.#forgetAgentAtExit = atExit(() => this.#agent?.kill('SIGKILL'));
  }

  /** Starts twill-agent in the node namespace and waits until it has published the node. */
  async startAgent(extraFlags: string[] = [], options: AgentOptions = {}): Promise<void> {
    this.#agent = await startAgent(this.ns.name, this.stateDir, ['--node-name', this.ns.name, '--pod-cidr', this.podCIDR, '--bpffs-root', this.bpffsRoot, ...extraFlags], options);
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
    return { cniVersion, name: 'twill', type: 'twill-cni', agentSocket: agentSocketIn(this.stateDir), stateDir: this.stateDir, ...extra };
  }

  /** Runs the built plugin inside the node namespace with containerd's environment. */
  plugin(command: string, pod: PodSpec | undefined, config: Record<string, unknown> = this.netConf()): Promise<PluginRun> {
    return runPlugin(this.ns.name, command, pod, config);
  }

  /** ADD that must succeed; returns the result and the pod's IP. */
  async add(pod: PodSpec, config?: Record<string, unknown>): Promise<{ result: Record<string, unknown>; ip: string }> {
    const run = await this.plugin('ADD', pod, config);
    return { result: run.output as Record<string, unknown>, ip: addedIp(run) };
  }

  async cleanup(): Promise<void> {
    await this.stopAgent('SIGKILL');
    this.#forgetAgentAtExit();
    this.ns.delete();
    this.bpffs.cleanup();
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}
