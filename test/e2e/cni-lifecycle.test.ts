// The plugin's verbs beyond a plain ADD, as a runtime drives them: STATUS before and
// after the agent, CHECK passing and then failing, DEL in every form containerd sends,
// GC against valid attachments, and results in each supported version.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { pinPaths } from '../../bpf/datapath';
import { readEndpoint } from '../../bpf/endpoints';
import { hostVethName } from '../../agent/lib/pods/naming';
import { needsRoot } from '../helpers/kernel';
import { withPinnedMap } from '../../bpf/pinned-maps';
import { TestNetns } from '../helpers/netns';
import { type PodSpec, type TestNode, newContainerID, standaloneNode } from '../lab/node';

describe('CNI verbs against a real node', needsRoot, () => {
  let node: TestNode;
  const namespaces: TestNetns[] = [];
  const newPod = (): PodSpec => {
    const ns = new TestNetns('life');
    namespaces.push(ns);
    return { containerID: newContainerID(), netns: ns.path };
  };
  const ipamFiles = (): string[] => {
    const directory = path.join(node.stateDir, 'ipam');
    return fs.existsSync(directory) ? fs.readdirSync(directory).filter((name) => /^\d+\.\d+\.\d+\.\d+$/.test(name)) : [];
  };
  const hostLinks = (): string => node.exec('ip', ['-o', 'link', 'show']);
  const hasEndpoint = (ip: string): boolean => withPinnedMap(node.bpffsRoot, 'endpoints', (endpoints) => readEndpoint(endpoints, { ipv4: node.podCIDR }, ip) !== undefined);
  /** Asserts that nothing of the pod is left: veth, host route, link pin, endpoint, address. */
  const assertGone = (pod: PodSpec, ip: string): void => {
    const veth = hostVethName({ containerID: pod.containerID, ifname: 'eth0' });
    assert.ok(!hostLinks().includes(veth), `veth ${veth} removed`);
    assert.ok(!node.exec('ip', ['route', 'show']).includes(ip), `route to ${ip} removed`);
    assert.ok(!fs.existsSync(pinPaths(node.bpffsRoot).link('from_pod', veth)), 'link pin removed');
    assert.equal(hasEndpoint(ip), false, 'endpoint entry removed');
    assert.ok(!ipamFiles().includes(ip), 'address freed');
  };

  before(() => {
    node = standaloneNode('life');
  });
  after(async () => {
    namespaces.forEach((ns) => ns.delete());
    await node?.cleanup();
  });

  test('STATUS says 50 and ADD 11 (kubelet retries), naming the socket, while no agent runs; both work once it does', async () => {
    const socket = String(node.netConf().agentSocket);
    const status = await node.plugin('STATUS', undefined, node.netConf({}, '1.1.0'));
    assert.equal(status.exitCode, 1);
    assert.equal(status.output?.code, 50);
    assert.match(String(status.output?.msg), new RegExp(`not answering on ${socket}`));
    const add = await node.plugin('ADD', newPod());
    assert.equal(add.output?.code, 11);
    assert.match(String(add.output?.msg), new RegExp(`not answering on ${socket}`));
    assert.deepEqual(ipamFiles(), [], 'a refused ADD holds no address');

    await node.startAgent();
    const ready = await node.plugin('STATUS', undefined, node.netConf({}, '1.1.0'));
    assert.equal(ready.exitCode, 0);
    assert.equal(ready.output, undefined, 'STATUS prints nothing on success');
  });

  test('VERSION answers with the supported versions, even with the dummy env podman sends', async () => {
    const run = await node.plugin('VERSION', { containerID: 'dummy', netns: 'dummy', ifname: 'dummy' }, { cniVersion: '1.1.0' });
    assert.equal(run.exitCode, 0);
    assert.deepEqual(run.output, { cniVersion: '1.1.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  test('CHECK passes on a fresh pod, then fails naming the host veth after it is deleted by hand', async () => {
    const pod = newPod();
    const { result, ip } = await node.add(pod);
    const check = await node.plugin('CHECK', pod, node.netConf({ prevResult: result }));
    assert.equal(check.exitCode, 0, JSON.stringify(check.output));

    const veth = hostVethName({ containerID: pod.containerID, ifname: 'eth0' });
    node.exec('ip', ['link', 'delete', veth]);
    const broken = await node.plugin('CHECK', pod, node.netConf({ prevResult: result }));
    assert.equal(broken.exitCode, 1);
    assert.equal(broken.output?.code, 100);
    assert.equal(broken.output?.msg, `host veth ${veth} is missing`);

    assert.equal((await node.plugin('DEL', pod, node.netConf({ prevResult: result }))).exitCode, 0);
    assertGone(pod, ip);
  });

  test('DEL removes every trace, and succeeds again, and with CNI_NETNS="" and no prevResult', async () => {
    const pod = newPod();
    const { result, ip } = await node.add(pod);
    assert.ok(hasEndpoint(ip));
    assert.equal((await node.plugin('DEL', pod, node.netConf({ prevResult: result }))).exitCode, 0);
    assertGone(pod, ip);
    assert.equal((await node.plugin('DEL', pod, node.netConf({ prevResult: result }))).exitCode, 0, 'second DEL');
    assert.equal((await node.plugin('DEL', { ...pod, netns: '' })).exitCode, 0, 'DEL on removal: no netns, no prevResult');
  });

  test('DEL after the pod namespace is gone frees the address and the entries', async () => {
    const ns = new TestNetns('gone');
    const pod = { containerID: newContainerID(), netns: ns.path };
    const { ip } = await node.add(pod);
    ns.delete();
    assert.equal((await node.plugin('DEL', { ...pod, netns: '' })).exitCode, 0);
    assertGone(pod, ip);
  });

  test('GC frees what is not in cni.dev/valid-attachments and keeps what is', async () => {
    const kept = newPod();
    const dropped = newPod();
    const keptIp = (await node.add(kept)).ip;
    const droppedIp = (await node.add(dropped)).ip;
    const run = await node.plugin('GC', undefined, node.netConf({ 'cni.dev/valid-attachments': [{ containerID: kept.containerID, ifname: 'eth0' }] }, '1.1.0'));
    assert.equal(run.exitCode, 0, JSON.stringify(run.output));
    assertGone(dropped, droppedIp);
    assert.ok(hasEndpoint(keptIp));
    assert.ok(ipamFiles().includes(keptIp));
    assert.equal((await node.plugin('DEL', kept)).exitCode, 0);
  });

  test('results follow the version asked for; CHECK and GC are refused for versions without them', async () => {
    for (const version of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const pod = newPod();
      const run = await node.plugin('ADD', pod, node.netConf({}, version));
      assert.equal(run.exitCode, 0);
      const result = run.output as { cniVersion: string; ips: Array<Record<string, unknown>>; interfaces: Array<Record<string, unknown>>; routes: unknown[] };
      assert.equal(result.cniVersion, version);
      assert.equal(result.ips[0].version, version.startsWith('0.') ? '4' : undefined, `${version}: ips[].version`);
      assert.equal(result.ips[0].gateway, '169.254.1.1');
      assert.equal(result.ips[0].interface, 1);
      assert.equal(result.interfaces[1].name, 'eth0');
      assert.equal(result.interfaces[1].sandbox, pod.netns);
      assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }]);
      assert.equal((await node.plugin('DEL', pod, node.netConf({}, version))).exitCode, 0);
    }
    const check = await node.plugin('CHECK', newPod(), node.netConf({ prevResult: { ips: [] } }, '0.3.1'));
    assert.equal(check.output?.code, 1);
    const gc = await node.plugin('GC', undefined, node.netConf({ 'cni.dev/valid-attachments': [] }, '1.0.0'));
    assert.equal(gc.output?.code, 1);
  });

  test('a prevResult from an earlier plugin in the chain is extended, not replaced', async () => {
    const pod = newPod();
    const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'other0' }], ips: [{ address: '10.99.0.2/24', interface: 0 }], routes: [], dns: { nameservers: ['10.96.0.10'] } };
    const { result } = await node.add(pod, node.netConf({ prevResult }));
    const chained = result as { interfaces: Array<{ name: string }>; ips: Array<{ address: string; interface: number }>; dns: unknown };
    assert.deepEqual(chained.interfaces.map((i) => i.name), ['other0', hostVethName({ containerID: pod.containerID, ifname: 'eth0' }), 'eth0']);
    assert.equal(chained.ips[1].interface, 2);
    assert.deepEqual(chained.dns, { nameservers: ['10.96.0.10'] });
    assert.equal((await node.plugin('DEL', pod)).exitCode, 0);
  });
});
