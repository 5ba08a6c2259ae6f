// Running Twill's executables inside a node namespace exactly as a node would: the
// agent as a long-lived process, the plugin with containerd's environment and stdin.
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { repoRoot } from './kernel';

/** The executables of a built tree: this checkout's, or an earlier revision's the benchmark built to compare with. */
export function executablesOf(buildRoot: string): { agent: string; plugin: string; cli: string } {
  return { agent: path.join(buildRoot, 'dist', 'agent', 'main.js'), plugin: path.join(buildRoot, 'dist', 'twill-cni'), cli: path.join(buildRoot, 'dist', 'agent', 'cli.js') };
}

export const { plugin: CNI_PLUGIN, agent: AGENT } = executablesOf(repoRoot);
/**
 * How every test agent attaches its programs (--attach), unless a test says: the test
 * command runs the e2e suites once as the kernel allows (no flag: auto, TCX here) and
 * once more with TWILL_TEST_ATTACH=tc, as on a kernel before 6.6. No flag is passed
 * unless set, so a build from before --attach (the benchmark's previous one) still runs.
 */
export const TEST_ATTACH = process.env.TWILL_TEST_ATTACH;
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

/** Where startAgent's agent takes the plugin's requests: under its state dir, so agents never share one. */
export function agentSocketIn(stateDir: string): string {
  return path.join(stateDir, 'run', 'cni.sock');
}

export interface AgentOptions {
  /** The agent outlives the test process (the lab command). */
  detached?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Only these capabilities (setpriv's bounding set), as a container would grant them. */
  capabilities?: string[];
  /** Another build's agent (default: this checkout's). */
  agent?: string;
}

/** Starts twill-agent in `netns` and resolves once it has published node.json in `stateDir`. */
export async function startAgent(netns: string, stateDir: string, args: string[], options: AgentOptions = {}): Promise<ChildProcess> {
  fs.rmSync(path.join(stateDir, 'node.json'), { force: true });
  const limited = options.capabilities ? ['setpriv', '--bounding-set', ['-all', ...options.capabilities.map((c) => `+${c.toLowerCase()}`)].join(','), '--inh-caps', '-all', '--'] : [];
  const attach = TEST_ATTACH && !args.includes('--attach') ? ['--attach', TEST_ATTACH] : [];
  const agent = spawn('ip', ['netns', 'exec', netns, ...limited, process.execPath, options.agent ?? AGENT, '--state-dir', stateDir, '--run-dir', path.dirname(agentSocketIn(stateDir)), ...attach, ...args], {
    stdio: options.detached ? 'ignore' : ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
    env: { ...process.env, ...options.env },
  });
  let log = '';
  agent.stdout?.on('data', (data: Buffer) => (log += data.toString()));
  agent.stderr?.on('data', (data: Buffer) => (log += data.toString()));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!fs.existsSync(path.join(stateDir, 'node.json'))) {
    if (agent.exitCode !== null || Date.now() > deadline) {
      agent.kill('SIGKILL');
      throw new Error(`twill-agent in ${netns} did not become ready:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (options.detached) agent.unref();
  return agent;
}

/** containerd's environment for `command` on `pod`. */
export function pluginEnv(command: string, pod: PodSpec | undefined): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin' };
  if (pod) {
    env.CNI_CONTAINERID = pod.containerID;
    env.CNI_NETNS = pod.netns;
    env.CNI_IFNAME = pod.ifname ?? 'eth0';
    env.CNI_ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.podName ?? 'pod'};K8S_POD_INFRA_CONTAINER_ID=${pod.containerID}`;
  }
  return env;
}

/** Starts the built plugin inside `netns`, as a runtime does, and hands back the process (to kill it mid-way). */
export function spawnPlugin(netns: string, env: Record<string, string>, stdin: Buffer, plugin = CNI_PLUGIN): ChildProcessWithoutNullStreams {
  const child = spawn('ip', ['netns', 'exec', netns, plugin], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: PLUGIN_TIMEOUT_MS });
  child.stdin.end(stdin);
  return child;
}

/** Waits for a plugin process and reads its answer. */
export async function pluginOutcome(child: ChildProcessWithoutNullStreams): Promise<PluginRun> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  const exitCode = await new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
  stdout = stdout.trim();
  return { exitCode, stderr, ...(stdout ? { output: JSON.parse(stdout) as Record<string, unknown> } : {}) };
}

/** Runs the built plugin (this checkout's unless another is given) inside `netns` with containerd's environment and `config` on stdin. */
export function runPlugin(netns: string, command: string, pod: PodSpec | undefined, config: Record<string, unknown>, plugin = CNI_PLUGIN): Promise<PluginRun> {
  return pluginOutcome(spawnPlugin(netns, pluginEnv(command, pod), Buffer.from(JSON.stringify(config)), plugin));
}

/** The pod's address from a successful ADD, or an error saying why it failed. */
export function addedIp(run: PluginRun): string {
  if (run.exitCode !== 0) throw new Error(`ADD failed (${run.exitCode}): ${JSON.stringify(run.output)} ${run.stderr}`);
  return (run.output as { ips: Array<{ address: string }> }).ips[0].address.split('/')[0];
}
