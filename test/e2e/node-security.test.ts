// What Twill leaves open on a node: the agent runs with exactly the chart's capabilities
// and fails without any one of them; its state, runtime and pin directories end up
// root-only even when they existed with looser modes; and a pod that sends from an
// address not its own is dropped and counted on every path (same node, to another node
// natively and through VXLAN), with nothing arriving at the destination.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { packetsFor } from '../../bpf/counters';
import { pinnedCounters } from '../../bpf/pinned-maps';
import { parseManifests, renderChart } from '../chart/render';
import { needsRoot, run } from '../helpers/kernel';
import { TEST_NETNS_PREFIX, TestNetns } from '../helpers/netns';
import { newContainerID, standaloneNode } from '../lab/node';
import { agentGet } from '../helpers/prometheus';
import { ping } from '../helpers/traffic';
import { labDown, labUp, type Lab } from '../lab/cluster';

/** The capabilities the chart grants the agent container, from a rendered DaemonSet. */
function chartCapabilities(): string[] {
  const daemonSet = parseManifests(renderChart()).find((m) => m.object.kind === 'DaemonSet')?.object as unknown as {
    spec: { template: { spec: { containers: Array<{ name: string; securityContext: { capabilities: { add: string[]; drop: string[] } } }> } } };
  };
  const agent = daemonSet.spec.template.spec.containers.find((c) => c.name === 'agent');
  assert.deepEqual(agent?.securityContext.capabilities.drop, ['ALL']);
  return agent?.securityContext.capabilities.add ?? [];
}

/** Every path under `root` with its permission bits. */
function modes(root: string): Array<{ path: string; mode: number; directory: boolean }> {
  const found: Array<{ path: string; mode: number; directory: boolean }> = [];
  const walk = (at: string): void => {
    const stat = fs.lstatSync(at);
    found.push({ path: at, mode: stat.mode & 0o777, directory: stat.isDirectory() });
    if (stat.isDirectory()) for (const name of fs.readdirSync(at)) walk(path.join(at, name));
  };
  walk(root);
  return found;
}

describe('node lockdown', needsRoot, () => {
  test("the agent runs and wires pods with the chart's capabilities and no fewer, in vxlan mode (the most it does)", async () => {
    const capabilities = chartCapabilities();
    assert.ok(capabilities.length > 0, `chart grants ${capabilities}`);
    const node = standaloneNode('caps');
    const pods: TestNetns[] = [];
    try {
      node.exec('ip', ['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1']);
      node.exec('ip', ['addr', 'add', '192.168.77.1/24', 'dev', 'up0']);
      for (const device of ['up0', 'up1']) node.exec('ip', ['link', 'set', device, 'up']);
      const flags = ['--mode', 'vxlan', '--node-ip', '192.168.77.1', '--cluster-cidr', '10.244.0.0/16'];

      // Without any one of them, the agent either does not start or cannot wire a pod.
      for (const missing of capabilities) {
        let started = true;
        try {
          await node.startAgent(flags, { capabilities: capabilities.filter((c) => c !== missing) });
        } catch (error) {
          assert.match((error as Error).message, /did not become ready[\s\S]*(EPERM|EACCES|Operation not permitted|Permission denied)/, `without ${missing}`);
          started = false;
        }
        if (!started) continue;
        const ns = new TestNetns('cpx');
        pods.push(ns);
        const refused = await node.plugin('ADD', { containerID: newContainerID(), netns: ns.path });
        assert.equal(refused.exitCode, 1, `without ${missing} the agent must not wire a pod`);
        assert.match(JSON.stringify(refused.output), /EPERM|EACCES|CAP_/, `without ${missing}: ${JSON.stringify(refused.output)}`);
        await node.stopAgent();
      }

      await node.startAgent(flags, { capabilities });
      assert.deepEqual(agentGet(node.ns, '/readyz'), { status: 200, body: 'ok\n' });
      const ips: string[] = [];
      for (const tag of ['cpa', 'cpb']) {
        const ns = new TestNetns(tag);
        pods.push(ns);
        ips.push((await node.add({ containerID: newContainerID(), netns: ns.path })).ip);
      }
      assert.equal(ping(pods[0].name, ips[1], 2), 2, 'pods talk through a datapath loaded with these capabilities only');
    } finally {
      pods.forEach((ns) => ns.delete());
      await node.cleanup();
    }
  });

  test('state, runtime and pin directories are root-only, also when they existed with mode 0755', async () => {
    const node = standaloneNode('perm');
    const pod = new TestNetns('perm');
    try {
      // What a hostPath of type DirectoryOrCreate looks like when the kubelet made it.
      for (const directory of [node.stateDir, path.join(node.stateDir, 'run'), node.bpffsRoot]) {
        fs.mkdirSync(directory, { recursive: true });
        fs.chmodSync(directory, 0o755);
      }
      await node.startAgent();
      await node.add({ containerID: newContainerID(), netns: pod.path });
      const entries = [...modes(node.stateDir), ...modes(node.bpffsRoot)];
      assert.ok(entries.some((e) => e.path.endsWith('cni.sock')) && entries.some((e) => e.path.includes('/ipam/')), 'the socket and IPAM records were looked at');
      for (const entry of entries) {
        assert.equal(entry.mode & 0o077, 0, `${entry.path} is ${entry.mode.toString(8)}: group or others have access`);
        if (entry.directory) assert.equal(entry.mode, 0o700, entry.path);
      }
      const socket = entries.find((e) => e.path.endsWith('cni.sock'));
      assert.equal(socket?.mode, 0o600);
    } finally {
      pod.delete();
      await node.cleanup();
    }
  });

  for (const mode of ['native', 'vxlan'] as const) {
    describe(`spoofed sources, ${mode} mode`, () => {
      let lab: Lab;
      before(async () => {
        lab = await labUp({ nodes: 2, podsPerNode: 2, mode, prefix: `${TEST_NETNS_PREFIX}${process.pid}-s${mode[0]}`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-lab-')) });
        process.on('exit', () => labDown(lab));
      });
      after(() => lab && labDown(lab));

      test('dropped and counted at the sending pod, on the node and towards another node', () => {
        const [node1, node2] = lab.nodes;
        const pod = (name: string) => lab.pods.find((p) => p.name === name) as Lab['pods'][number];
        const sender = pod('node1-pod1');
        const counted = (node: typeof node1, reason: 'TWILL_DROPPED_SPOOFED' | 'TWILL_DELIVERED_LOCAL', direction: 'TWILL_FROM_POD' | 'TWILL_FROM_NETDEV') =>
          packetsFor(pinnedCounters(node.bpffsRoot), reason, direction);
        // An unused address of the sender's own node, and another pod's address on node2.
        const spoofs = ['10.244.1.77', pod('node2-pod2').ip];
        for (const spoofed of spoofs) run('ip', ['-n', sender.ns, 'addr', 'add', `${spoofed}/32`, 'dev', 'eth0']);

        for (const target of [pod('node1-pod2'), pod('node2-pod1')]) {
          for (const spoofed of spoofs) {
            const droppedBefore = counted(node1, 'TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD');
            const arrivedBefore = counted(node2, 'TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV');
            assert.equal(ping(sender.ns, target.ip, 3, spoofed), 0, `no reply to ${spoofed} from ${target.name}`);
            assert.equal(counted(node1, 'TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD') - droppedBefore, 3n, `3 packets from ${spoofed} to ${target.name} dropped`);
            assert.equal(counted(node2, 'TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV') - arrivedBefore, 0n, 'nothing reached node2');
          }
        }
        assert.equal(ping(sender.ns, pod('node2-pod1').ip, 2), 2, 'its own address still works');
      });
    });
  }
});
