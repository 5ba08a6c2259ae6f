// CNI latency: how long a container runtime waits for one plugin process. Every subject
// runs exactly as containerd runs a plugin, `ip netns exec <node> <plugin>` with CNI_*
// in the environment and the config on stdin, timed from spawn to exit:
//   node -e 0            the floor any Node.js plugin pays before doing anything
//   bridge + host-local  the reference plugins (Debian's containernetworking-plugins)
//   twill                the built twill-cni against a running twill-agent
// Subjects take turns operation by operation, so a noisy moment hits each alike.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { run } from '../helpers/kernel';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import { CNI_PLUGIN, pluginEnv, pluginOutcome, type PluginRun, type PodSpec } from '../helpers/processes';
import { labDown, labUp, type Lab } from '../lab/cluster';
import type { TestNode } from '../lab/node';
import { REFERENCE_PLUGINS, flannelBridgeConfig } from './peers';
import type { Observation, Suite } from './suite';

export const CNI_GROUP = 'CNI';
export const CNI_BASELINE = 'node -e 0';
export const CNI_BRIDGE = 'bridge + host-local';
export const CNI_TWILL = 'twill';
/** A hung plugin fails the benchmark rather than stalling it. */
const RUN_TIMEOUT_MS = 30_000;
/** The bridge's pods take node subnets of this, apart from the lab's cluster CIDR. */
const BRIDGE_CLUSTER_CIDR = '10.245.0.0/16';

export type Command = 'ADD' | 'DEL';

/** The nearest-rank percentile: a value that was actually measured. */
function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)];
}

/** Runs `argv` inside `netns` the way a runtime runs a plugin; resolves with its answer and its wall time from spawn to exit. */
async function timedRun(netns: string, argv: string[], env: NodeJS.ProcessEnv, stdin: string): Promise<{ run: PluginRun; ms: number }> {
  const started = process.hrtime.bigint();
  const child = spawn('ip', ['netns', 'exec', netns, ...argv], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS });
  // A process that could not start never exits; its exit code (-1) fails the caller's check.
  const exited = new Promise<bigint>((resolve) => {
    for (const event of ['exit', 'error']) child.once(event, () => resolve(process.hrtime.bigint()));
  });
  child.stdin.end(stdin);
  const outcome = await pluginOutcome(child);
  return { run: outcome, ms: Number((await exited) - started) / 1e6 };
}

/** A plugin that answered anything but success, or an ADD without an address, ends the benchmark. */
function assertSucceeded(subject: string, command: Command, run: PluginRun): void {
  assert.equal(run.exitCode, 0, `${subject} ${command} failed (${run.exitCode}): ${JSON.stringify(run.output)} ${run.stderr}`);
  if (command === 'ADD') {
    const ips = (run.output as { ips?: Array<{ address?: string }> } | undefined)?.ips;
    assert.match(ips?.[0]?.address ?? '', /^\d+\.\d+\.\d+\.\d+\/\d+$/, `${subject} ADD returned no address: ${JSON.stringify(run.output)}`);
  }
}

/** One plugin as one node's runtime calls it. */
export interface NodePlugin {
  name: string;
  /** The node namespace it runs in. */
  node: string;
  argv: string[];
  config: Record<string, unknown>;
  cniPath: string;
}

/** The subjects on a lab node: bridge + host-local as Flannel configures it for `bridgeSubnet`, keeping its addresses under `hostLocalDir`, and twill. */
export function comparedPlugins(node: TestNode, bridgeSubnet: string, hostLocalDir: string): NodePlugin[] {
  return [
    { name: CNI_BRIDGE, node: node.ns, argv: [path.join(REFERENCE_PLUGINS, 'bridge')], config: flannelBridgeConfig(bridgeSubnet, BRIDGE_CLUSTER_CIDR, 1500, hostLocalDir), cniPath: REFERENCE_PLUGINS },
    { name: CNI_TWILL, node: node.ns, argv: [CNI_PLUGIN], config: node.netConf(), cniPath: '/opt/cni/bin' },
  ];
}

/** Calls `plugin` for `pod` as a runtime does; anything but success ends the benchmark. */
export async function callPlugin(plugin: NodePlugin, command: Command, pod: PodSpec): Promise<{ run: PluginRun; ms: number }> {
  const env = { ...pluginEnv(command, pod), CNI_PATH: plugin.cniPath };
  const timed = await timedRun(plugin.node, plugin.argv, env, JSON.stringify(plugin.config));
  assertSucceeded(plugin.name, command, timed.run);
  return timed;
}

interface PluginSubject {
  plugin: NodePlugin;
  /** The pod namespace this subject's pods live in, reused: DEL leaves it empty. */
  podNetns: string;
}

export function cniLatencySuite(options: { operations: number }): Suite {
  const prefix = `${TEST_NETNS_PREFIX}${process.pid}-bench-`;
  let lab: Lab | undefined;
  let subjects: PluginSubject[] = [];

  function node(): TestNode {
    assert.ok(lab, 'setUp has not run');
    return lab.nodes[0];
  }

  /** A pod namespace, listed among the lab's pods so that labDown deletes it. */
  function addPodNamespace(tag: string): string {
    const ns = `${prefix}${tag}`;
    lab?.pods.push({ name: tag, ns, node: node().name, ip: '', ips: [], containerID: '' });
    run('ip', ['netns', 'add', ns]);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** One ADD and DEL of a fresh pod; the times in ms. */
  async function addAndDelete(subject: PluginSubject): Promise<{ add: number; del: number }> {
    const pod: PodSpec = { containerID: crypto.randomBytes(32).toString('hex'), netns: `/run/netns/${subject.podNetns}`, podName: 'bench' };
    const add = (await callPlugin(subject.plugin, 'ADD', pod)).ms;
    const del = (await callPlugin(subject.plugin, 'DEL', pod)).ms;
    return { add, del };
  }

  /** node -e 0 with the plugins' environment: nothing of this process's NODE_* (NODE_EXTRA_CA_CERTS alone costs Node ~35 ms). */
  async function baselineRun(): Promise<number> {
    const { run: outcome, ms } = await timedRun(node().ns, [process.execPath, '-e', '0'], pluginEnv('ADD', undefined), '');
    assert.equal(outcome.exitCode, 0, `node -e 0 failed: ${outcome.stderr}`);
    return ms;
  }

  return {
    name: 'cni-latency',
    baselines: { [CNI_GROUP]: CNI_BASELINE },

    async setUp() {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bench-cni-'));
      lab = await labUp({ nodes: 1, podsPerNode: 0, mode: 'native', prefix, directory });

      const [bridge, twill] = comparedPlugins(node(), '10.245.0.0/24', path.join(directory, 'host-local'));
      subjects = [
        { plugin: bridge, podNetns: addPodNamespace('bridge-pod') },
        { plugin: twill, podNetns: addPodNamespace('twill-pod') },
      ];
      // A node has run its plugins before: the bridge exists, twill has its native and compiled code cached.
      await baselineRun();
      for (const subject of subjects) await addAndDelete(subject);
    },

    async measure() {
      const baseline: number[] = [];
      const times = new Map(subjects.map((subject) => [subject.plugin.name, { add: [] as number[], del: [] as number[] }]));
      for (let i = 0; i < options.operations; i++) {
        baseline.push(await baselineRun());
        for (const subject of subjects) {
          const { add, del } = await addAndDelete(subject);
          times.get(subject.plugin.name)?.add.push(add);
          times.get(subject.plugin.name)?.del.push(del);
        }
      }
      const observation = (subject: string, metric: string, value: number): Observation => ({ group: CNI_GROUP, subject, metric, unit: 'ms', value });
      return [
        observation(CNI_BASELINE, 'run p50', percentile(baseline, 0.5)),
        observation(CNI_BASELINE, 'run p99', percentile(baseline, 0.99)),
        ...[...times].flatMap(([subject, { add, del }]) => [
          observation(subject, 'ADD p50', percentile(add, 0.5)),
          observation(subject, 'ADD p99', percentile(add, 0.99)),
          observation(subject, 'DEL p50', percentile(del, 0.5)),
          observation(subject, 'DEL p99', percentile(del, 0.99)),
        ]),
      ];
    },

    tearDown() {
      if (lab) labDown(lab);
      lab = undefined;
      subjects = [];
    },
  };
}
