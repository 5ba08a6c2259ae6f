// The agent as the one owner of the node's pod network, through what takes it away:
// the agent SIGKILLed with ADDs and DELs in flight, a node reboot (agent, pod
// namespaces, veths and pins gone at once, the state dir kept), and a node wired by the
// release before the agent owned IPAM. After each, the agent's start leaves every pod
// either fully wired or entirely gone, no address held twice or by a pod that is gone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import { pinPaths } from '../../bpf/datapath';
import { hostVethName } from '../../agent/lib/pods/naming';
import { needsRoot } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';
import { type PluginRun, type PodSpec, type TestNode, newContainerID, standaloneNode } from '../lab/node';
import { podCounts, podState } from '../helpers/node-state';
import { addedIp } from '../helpers/processes';
import { ping } from '../helpers/traffic';

const EMPTY = { veths: 0, routes: 0, podHooks: 0, endpoints: 0, addresses: 0 };
const IN_FLIGHT = 32;

describe('the agent owns the pod network', needsRoot, () => {
  let node: TestNode;
  let namespaces: TestNetns[] = [];
  const newPod = (tag: string): PodSpec => {
    const ns = new TestNetns(tag);
    namespaces.push(ns);
    return { containerID: newContainerID(), netns: ns.path };
  };
  /** The attachment's IPAM record, by the address file naming it. */
  const recordOf = (pod: PodSpec): string | undefined =>
    Object.entries(podState(node).ipam).find(([, content]) => content.startsWith(`${pod.containerID}\n`))?.[0];
  const vethOf = (pod: PodSpec): string => hostVethName({ containerID: pod.containerID, ifname: 'eth0' });
  const check = (pod: PodSpec, result: unknown): Promise<PluginRun> => node.plugin('CHECK', pod, node.netConf({ prevResult: result }));

  before(async () => {
    node = standaloneNode('own', '10.244.0.0/24');
    await node.startAgent();
  });
  afterEach(async () => {
    // Each test starts from an empty node.
    const gc = await node.plugin('GC', undefined, node.netConf({ 'cni.dev/valid-attachments': [] }, '1.1.0'));
    assert.equal(gc.exitCode, 0, JSON.stringify(gc.output));
    namespaces.forEach((ns) => ns.delete());
    namespaces = [];
  });
  after(async () => {
    await node?.cleanup();
  });

  test(`the agent SIGKILLed amid ${IN_FLIGHT} ADDs and DELs: each ADD is fully wired or left nothing, each DEL is completed`, async (t) => {
    const existing = Array.from({ length: IN_FLIGHT / 2 }, () => newPod('kd'));
    for (const pod of existing) await node.add(pod);
    const fresh = Array.from({ length: IN_FLIGHT / 2 }, () => newPod('ka'));

    const adds = fresh.map((pod) => node.plugin('ADD', pod));
    const dels = existing.map((pod) => node.plugin('DEL', pod));
    // The agent dies once a quarter of the ADDs are answered: the others are in flight.
    let answered = 0;
    await new Promise<void>((resolve) => {
      for (const add of adds) void add.then(() => ++answered === fresh.length / 4 && resolve());
    });
    await node.stopAgent('SIGKILL');
    const added = await Promise.all(adds);
    const deleted = await Promise.all(dels);
    await node.startAgent();

    assert.deepEqual(deleted.map((run) => run.exitCode), existing.map(() => 0), 'every DEL succeeds, answered or recorded');
    for (const pod of existing) {
      assert.equal(recordOf(pod), undefined, `${pod.containerID}: address freed`);
      assert.ok(!node.exec('ip', ['-o', 'link', 'show']).includes(vethOf(pod)), `${pod.containerID}: veth removed`);
    }
    let wired = 0;
    for (const [i, run] of added.entries()) {
      const pod = fresh[i];
      if (run.exitCode === 0) {
        wired++;
        assert.equal(recordOf(pod), addedIp(run), 'its address is recorded');
        const checked = await check(pod, run.output);
        assert.equal(checked.exitCode, 0, `a successful ADD is fully wired: ${JSON.stringify(checked.output)}`);
      } else {
        assert.equal((run.output as { code: number }).code, 11, `a failed ADD asks the runtime to retry: ${JSON.stringify(run.output)}`);
        assert.equal(recordOf(pod), undefined, 'a failed ADD holds no address');
        assert.ok(!node.exec('ip', ['-o', 'link', 'show']).includes(vethOf(pod)), 'a failed ADD left no veth');
        assert.ok(!fs.existsSync(pinPaths(node.bpffsRoot).link('from_pod', vethOf(pod))), 'a failed ADD left no link pin');
      }
    }
    assert.deepEqual(podCounts(node), { veths: wired, routes: wired, podHooks: wired, endpoints: wired, addresses: wired }, 'nothing held but the wired pods');
    assert.deepEqual(fs.readdirSync(path.join(node.stateDir, 'pending-release')), [], 'every recorded release is done');
    t.diagnostic(`${wired} of ${fresh.length} ADDs finished before the kill, ${deleted.length} DELs answered or recorded`);
  });

  test('a node reboot (agent, pod namespaces, veths and pins gone; state dir kept) frees every address at the next start', async () => {
    const pods = Array.from({ length: 5 }, () => newPod('rb'));
    const before = new Set<string>();
    for (const pod of pods) before.add((await node.add(pod)).ip);
    assert.equal(podCounts(node).addresses, 5);

    await node.stopAgent('SIGKILL');
    namespaces.forEach((ns) => ns.delete());
    namespaces = [];
    fs.rmSync(node.bpffsRoot, { recursive: true, force: true });
    await node.startAgent();

    assert.deepEqual(podCounts(node), EMPTY, 'no address is held by a vanished pod');
    const after = [];
    for (let i = 0; i < 5; i++) after.push((await node.add(newPod('rb2'))).ip);
    assert.equal(new Set(after).size, 5);
    assert.equal(podCounts(node).addresses, 5, 'new pods get addresses; none leaked');
  });

  test('a node wired by the previous release is adopted: addresses kept, traffic flows, CHECK and DEL work', async () => {
    const [first, second] = [newPod('up'), newPod('up')];
    const a = await node.add(first);
    const b = await node.add(second);
    await node.stopAgent('SIGTERM');
    // What the previous release leaves beyond today's formats: the lock its plugin
    // processes took, the cursor it kept on disk, and node settings naming a report socket.
    const ipam = path.join(node.stateDir, 'ipam');
    fs.writeFileSync(path.join(ipam, 'lock'), '');
    fs.writeFileSync(path.join(ipam, 'last_reserved_ip'), b.ip);
    fs.writeFileSync(path.join(node.stateDir, 'node.json'), JSON.stringify({ nodeName: node.ns, podCIDR: node.podCIDR, bpffsRoot: node.bpffsRoot, mtu: 1500, reportSocket: path.join(node.stateDir, 'run', 'cni-report.sock') }));
    const held = podState(node);
    await node.startAgent();

    assert.deepEqual(podState(node), { ...held, ipam: Object.fromEntries(Object.entries(held.ipam).filter(([name]) => /^\d/.test(name))) }, 'every pod keeps its address, veth, route, pin and entry');
    assert.equal(ping(path.basename(first.netns), b.ip, 2), 2, 'traffic flows between adopted pods');
    for (const [pod, added] of [[first, a], [second, b]] as const) assert.equal((await check(pod, added.result)).exitCode, 0);
    const third = await node.add(newPod('up'));
    assert.ok(![a.ip, b.ip].includes(third.ip));
    assert.equal(third.ip, '10.244.0.' + (Number(b.ip.split('.')[3]) + 1), 'allocation goes on after the cursor the previous release kept');
    assert.equal((await node.plugin('DEL', first)).exitCode, 0);
    assert.equal(recordOf(first), undefined);
  });
});
