// Faults around a pod's wiring: DEL succeeds whatever is already gone, the agent
// included; an ADD that fails at any step (range exhausted, the link pin refused, the
// pod's namespace deleted under it) leaves the node as it found it; a plugin killed
// with SIGKILL part-way leaves only what GC and the agent's start-up reconcile remove.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { pinPaths } from '../../bpf/datapath';
import { hostVethName } from '../../agent/lib/pods/naming';
import { needsRoot } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';
import { type PodSpec, type TestNode, newContainerID, standaloneNode } from '../lab/node';
import { podState } from '../helpers/node-state';
import { TEST_ATTACH, pluginEnv, spawnPlugin } from '../helpers/processes';

/** A /29: six pod addresses, so exhausting it is quick. */
const POD_CIDR = '10.244.0.0/29';
const RANGE_SIZE = 6;

describe('CNI faults', needsRoot, () => {
  let node: TestNode;
  const namespaces: TestNetns[] = [];
  const newPod = (tag: string): PodSpec => {
    const ns = new TestNetns(tag);
    namespaces.push(ns);
    return { containerID: newContainerID(), netns: ns.path };
  };
  const nothingHeld = () => ({ veths: [], routes: [], podHooks: [], endpoints: [], ipam: {} });
  /** The IPAM bookkeeping files stay once used; only what pods hold must be gone. */
  const held = () => {
    const state = podState(node);
    return { ...state, ipam: Object.fromEntries(Object.entries(state.ipam).filter(([name]) => /^\d/.test(name))) };
  };

  before(async () => {
    node = standaloneNode('flt', POD_CIDR);
    await node.startAgent();
  });
  after(async () => {
    namespaces.forEach((ns) => ns.delete());
    await node?.cleanup();
  });

  test('an exhausted pod CIDR is refused naming the range and its size, and changes nothing', async () => {
    const pods = Array.from({ length: RANGE_SIZE }, () => newPod('exh'));
    for (const pod of pods) await node.add(pod);
    const before = podState(node);
    const refused = await node.plugin('ADD', newPod('exh'));
    assert.equal(refused.exitCode, 1);
    assert.deepEqual(refused.output, { cniVersion: '1.0.0', code: 11, msg: `pod CIDR ${POD_CIDR} is exhausted: all ${RANGE_SIZE} pod addresses are allocated` });
    assert.deepEqual(podState(node), before);
    for (const pod of pods) assert.equal((await node.plugin('DEL', pod)).exitCode, 0);
    assert.deepEqual(held(), nothingHeld());
  });

  // The failure is injected through the TCX link's pin path; clsact filters have none.
  test('a refused link pin, the last step of the wiring, undoes the ADD: veth, route, address and all', { skip: TEST_ATTACH === 'tc' && 'with --attach tc a hook has no pin to refuse' }, async () => {
    // The pin path taken by a directory: pinning the pod's link fails.
    const pod = newPod('pin');
    const pinPath = pinPaths(node.bpffsRoot).link('from_pod', hostVethName({ containerID: pod.containerID, ifname: 'eth0' }));
    fs.mkdirSync(pinPath);
    try {
      const failed = await node.plugin('ADD', pod);
      assert.equal(failed.exitCode, 1, JSON.stringify(failed.output));
      assert.equal((failed.output as { code: number }).code, 5, 'an I/O failure');
    } finally {
      fs.rmdirSync(pinPath);
    }
    assert.deepEqual(held(), nothingHeld());
  });

  test('the pod namespace deleted while ADD runs: a failed ADD leaves nothing, a finished one is undone by DEL', async (t) => {
    const outcomes = { failed: 0, succeeded: 0 };
    for (let delayMs = 0; delayMs <= 240; delayMs += 20) {
      const ns = new TestNetns('gone');
      const pod = { containerID: newContainerID(), netns: ns.path };
      const running = node.plugin('ADD', pod);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      ns.delete();
      const run = await running;
      if (run.exitCode === 0) {
        outcomes.succeeded++;
        assert.equal((await node.plugin('DEL', pod)).exitCode, 0, "the runtime's DEL after the pod is gone");
      } else {
        outcomes.failed++;
      }
      assert.deepEqual(held(), nothingHeld(), `namespace deleted after ${delayMs} ms (ADD ${run.exitCode === 0 ? 'succeeded' : 'failed'})`);
    }
    t.diagnostic(`ADD failed ${outcomes.failed} times, finished ${outcomes.succeeded} times`);
  });

  test('ADD killed with SIGKILL part-way: GC and the agent restart remove whatever it left', async (t) => {
    const leftovers: string[] = [];
    for (let delayMs = 40; delayMs <= 200; delayMs += 20) {
      const pod = newPod('kill');
      const child = spawnPlugin(node.ns, pluginEnv('ADD', pod), Buffer.from(JSON.stringify(node.netConf())));
      const exited = new Promise((resolve) => child.once('close', resolve));
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill('SIGKILL');
      await exited;
      const state = held();
      if (JSON.stringify(state) !== JSON.stringify(nothingHeld())) leftovers.push(`${delayMs} ms`);
    }
    // The runtime lists no attachment, so GC frees everything; the agent's restart drops
    // entries whose veth is gone.
    const gc = await node.plugin('GC', undefined, node.netConf({ 'cni.dev/valid-attachments': [] }, '1.1.0'));
    assert.equal(gc.exitCode, 0, JSON.stringify(gc.output));
    await node.stopAgent('SIGTERM');
    await node.startAgent();
    assert.deepEqual(held(), nothingHeld());
    t.diagnostic(`killed ADDs left something behind at ${leftovers.join(', ') || 'no delay'} before GC`);
  });

  test('DEL succeeds with the veth gone, with the agent down, with the address already freed, and twice', async () => {
    const vethGone = newPod('dv');
    await node.add(vethGone);
    node.exec('ip', ['link', 'delete', hostVethName({ containerID: vethGone.containerID, ifname: 'eth0' })]);
    assert.equal((await node.plugin('DEL', vethGone)).exitCode, 0);
    assert.deepEqual(held(), nothingHeld());

    // With the agent down, DEL is recorded for it and the agent's next start completes it.
    const agentDown = newPod('da');
    await node.add(agentDown);
    await node.stopAgent('SIGKILL');
    try {
      assert.equal((await node.plugin('DEL', agentDown)).exitCode, 0);
      assert.equal(fs.readdirSync(`${node.stateDir}/pending-release`).length, 1, 'one DEL recorded for the agent');
    } finally {
      await node.startAgent();
    }
    assert.deepEqual(held(), nothingHeld());
    assert.deepEqual(fs.readdirSync(`${node.stateDir}/pending-release`), [], 'the record is done with');

    const freed = newPod('df');
    const { ip } = await node.add(freed);
    fs.rmSync(`${node.stateDir}/ipam/${ip}`);
    for (const attempt of ['first', 'second']) {
      const run = await node.plugin('DEL', freed);
      assert.equal(run.exitCode, 0, `${attempt}: ${JSON.stringify(run.output)}`);
    }
    assert.deepEqual(held(), nothingHeld());
  });
});
