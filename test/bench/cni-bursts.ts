// CNI under load: what a node's runtime waits for when many pods start or stop at once,
// and how many pod lifetimes two nodes turn over when pods come and go all the time.
//   burst  N ADDs started together on one node, each pod in a fresh namespace of its own
//          (made beforehand, untimed), timed from the first spawn until the last plugin
//          has exited; then the N DELs alike. The ADDs must hand out N distinct
//          addresses, and after the DELs the node must hold no veth and no address.
//   churn  for S seconds, K ADD→DEL cycles kept in flight over the two nodes of a
//          2-node lab (half on each), each worker reusing its own pod namespace (DEL
//          leaves it empty) with a fresh container ID per cycle; cycles per second.
// The subjects are cni-latency.ts's, called as it calls them: bridge + host-local with
// a bridge, a pod subnet and a host-local dir per node, and twill against each node's
// agent. Every call must succeed. They take turns burst by burst and churn by churn,
// so a noisy moment hits each alike.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { isIpv4 } from '../../bpf/addresses';
import { inNetns, run } from '../helpers/kernel';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import type { PodSpec } from '../helpers/processes';
import { labDown, labUp, type Lab } from '../lab/cluster';
import { CNI_BRIDGE, callPlugin, comparedPlugins, type Command, type NodePlugin } from './cni-latency';
import type { Observation, Suite } from './suite';

export const CNI_BURST_GROUP = 'CNI bursts';
export const CNI_CHURN = 'churn';
/** Churn spreads over this many nodes; a burst stays on the first. */
const NODES = 2;

/** Named by its size, so that a target set for 128 pods does not judge a smaller burst. */
export function burstMetric(command: Command, pods: number): string {
  return `${command} burst of ${pods}`;
}

export interface BurstOptions {
  /** Pods in one burst, all on one node. */
  pods: number;
  churnSeconds: number;
  /** Cycles in flight during churn, over both nodes. */
  inFlight: number;
}

/** Waits for every call (so none still runs when the caller tears down), then fails with the first failure. */
async function allSucceeded<T>(calls: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(calls);
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failures.length > 0) throw new Error(`${failures.length} of ${calls.length} failed; the first: ${(failures[0].reason as Error).message}`);
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** One `ip` for all of them: made and removed every repetition, they should not stretch the run. */
function batchNetns(verb: 'add' | 'delete', names: string[]): void {
  if (names.length === 0) return;
  execFileSync('ip', ['-force', '-batch', '-'], { input: names.map((name) => `netns ${verb} ${name}`).join('\n'), stdio: ['pipe', 'ignore', 'pipe'], timeout: 60_000 });
}

function newPod(netns: string, podName: string): PodSpec {
  return { containerID: crypto.randomBytes(32).toString('hex'), netns: `/run/netns/${netns}`, podName };
}

/** What a subject still holds on its node once every pod is deleted: host veths and address records. */
function leftovers(plugin: NodePlugin): string[] {
  const links = inNetns(plugin.node, 'ip', ['-o', 'link', 'show']).split('\n');
  const config = plugin.config as { type: string; name: string; bridge?: string; stateDir?: string; ipam?: { dataDir: string } };
  const records = (directory: string): string[] => (fs.existsSync(directory) ? fs.readdirSync(directory).filter(isIpv4).map((ip) => `address record ${ip}`) : []);
  if (config.type === 'bridge') {
    // host-local keeps one file per address under <dataDir>/<network name>.
    const ports = links.filter((line) => line.includes(` master ${config.bridge} `)).map((line) => `veth on ${config.bridge}: ${line.split(':')[1].trim()}`);
    return [...ports, ...records(path.join(config.ipam?.dataDir ?? '', config.name))];
  }
  const veths = links.map((line) => / (tw[0-9a-f]{11})@/.exec(line)?.[1]).filter((name): name is string => !!name);
  return [...veths.map((name) => `veth ${name}`), ...records(path.join(config.stateDir ?? '', 'ipam'))];
}

function assertClean(plugin: NodePlugin, after: string): void {
  const left = leftovers(plugin);
  assert.deepEqual(left, [], `${plugin.name} left on ${plugin.node} after ${after}: ${left.join(', ')}`);
}

export function cniBurstSuite(options: BurstOptions): Suite {
  const prefix = `${TEST_NETNS_PREFIX}${process.pid}-bench-bursts-`;
  let lab: Lab | undefined;
  /** Per node, the subjects in the order they take turns: bridge first, then twill. */
  let plugins: NodePlugin[][] = [];
  /** Churn workers: a pod namespace each, spread over the nodes. */
  let workers: Array<{ node: number; netns: string }> = [];
  /** Burst namespaces not yet removed: tearDown removes them after a failed burst. */
  const burstNamespaces = new Set<string>();
  let bursts = 0;

  function subjects(): string[] {
    return plugins[0].map((plugin) => plugin.name);
  }

  /** Seconds from the first spawn until every call has exited. */
  async function timedBurst<T>(calls: () => Array<Promise<T>>): Promise<{ seconds: number; results: T[] }> {
    const started = process.hrtime.bigint();
    const results = await allSucceeded(calls());
    return { seconds: Number(process.hrtime.bigint() - started) / 1e9, results };
  }

  async function burst(plugin: NodePlugin): Promise<{ add: number; del: number }> {
    const names = Array.from({ length: options.pods }, (_, i) => `${prefix}b${bursts}-${i}`);
    bursts++;
    names.forEach((name) => burstNamespaces.add(name));
    batchNetns('add', names);
    // As a runtime leaves a sandbox before it calls the network plugin.
    for (const name of names) run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    const pods = names.map((name, i) => newPod(name, `burst-${i}`));

    const add = await timedBurst(() => pods.map((pod) => callPlugin(plugin, 'ADD', pod)));
    const addresses = add.results.map(({ run: outcome }) => (outcome.output as { ips: Array<{ address: string }> }).ips[0].address);
    assert.equal(new Set(addresses).size, options.pods, `${plugin.name} handed ${options.pods} pods only ${new Set(addresses).size} distinct addresses`);
    const del = await timedBurst(() => pods.map((pod) => callPlugin(plugin, 'DEL', pod)));
    assertClean(plugin, `a DEL burst of ${options.pods}`);

    batchNetns('delete', names);
    names.forEach((name) => burstNamespaces.delete(name));
    return { add: add.seconds, del: del.seconds };
  }

  /** ADD→DEL cycles per second of subject `index`, `inFlight` at a time until the time is up. */
  async function churn(index: number): Promise<number> {
    const deadline = Date.now() + options.churnSeconds * 1000;
    let cycles = 0;
    // A failed worker stops the others at their next cycle rather than after the whole time.
    let failed = false;
    const started = process.hrtime.bigint();
    await allSucceeded(
      workers.map(async ({ node, netns }) => {
        const plugin = plugins[node][index];
        try {
          while (!failed && Date.now() < deadline) {
            const pod = newPod(netns, 'churn');
            await callPlugin(plugin, 'ADD', pod);
            await callPlugin(plugin, 'DEL', pod);
            cycles++;
          }
        } catch (error) {
          failed = true;
          throw error;
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    for (const perNode of plugins) assertClean(perNode[index], `${options.churnSeconds} s of churn`);
    return cycles / seconds;
  }

  return {
    name: 'cni-bursts',
    baselines: { [CNI_BURST_GROUP]: CNI_BRIDGE },

    async setUp() {
      assert.ok(options.inFlight % NODES === 0, `inFlight ${options.inFlight}: must spread evenly over ${NODES} nodes`);
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bench-bursts-'));
      lab = await labUp({ nodes: NODES, podsPerNode: 0, mode: 'native', prefix, directory });
      const nodes = lab.nodes;
      // Each node its own bridge (cni0 in its namespace), pod subnet and host-local dir, as Flannel gives them.
      plugins = nodes.map((node, i) => comparedPlugins(node, `10.245.${i + 1}.0/24`, path.join(directory, `host-local-${node.name}`)));
      workers = Array.from({ length: options.inFlight }, (_, i) => {
        const node = i % NODES;
        const name = `churn${i}`;
        const netns = `${prefix}${name}`;
        // Listed among the lab's pods, so that labDown deletes it.
        lab?.pods.push({ name, ns: netns, node: nodes[node].name, ip: '', ips: [], containerID: '' });
        run('ip', ['netns', 'add', netns]);
        run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
        return { node, netns };
      });
      // A node has run its plugins before: the bridge exists, twill has its native and compiled code cached.
      for (const { node, netns } of workers.slice(0, NODES)) {
        for (const plugin of plugins[node]) {
          const pod = newPod(netns, 'warm-up');
          await callPlugin(plugin, 'ADD', pod);
          await callPlugin(plugin, 'DEL', pod);
        }
      }
    },

    async measure() {
      const observations: Observation[] = [];
      const observation = (subject: string, metric: string, unit: string, value: number): Observation => ({ group: CNI_BURST_GROUP, subject, metric, unit, value });
      for (const [index, subject] of subjects().entries()) {
        const { add, del } = await burst(plugins[0][index]);
        observations.push(observation(subject, burstMetric('ADD', options.pods), 's', add), observation(subject, burstMetric('DEL', options.pods), 's', del));
      }
      for (const [index, subject] of subjects().entries()) {
        observations.push(observation(subject, CNI_CHURN, 'ADD→DEL cycles/s', await churn(index)));
      }
      return observations;
    },

    tearDown() {
      try {
        batchNetns('delete', [...burstNamespaces]);
      } catch {
        // Some were gone already; -force went on to the others.
      }
      burstNamespaces.clear();
      if (lab) labDown(lab);
      lab = undefined;
      plugins = [];
      workers = [];
    },
  };
}
