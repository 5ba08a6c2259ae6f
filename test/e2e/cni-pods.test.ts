// Three pods on one node, created by the built twill-cni with containerd's environment:
// they reach each other through bpf_redirect_peer (the counters prove it), the node
// reaches them and they reach the node, and a spoofed source is dropped and counted.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { packetsFor, readCounters } from '../../bpf/counters';
import { pinPaths } from '../../bpf/datapath';
import { BpfMap } from '../../bpf/tsbpf';
import { needsRoot } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';
import { type TestNode, newContainerID, standaloneNode } from '../lab/node';
import { ping, startTcpServer, tcpExchange } from '../helpers/traffic';

interface Pod {
  ns: TestNetns;
  ip: string;
}

describe('same-node pods through the eBPF datapath', needsRoot, () => {
  let node: TestNode;
  let counters: BpfMap;
  const pods: Pod[] = [];
  const counted = () => readCounters(counters);

  before(async () => {
    node = standaloneNode('pods');
    await node.startAgent();
    counters = BpfMap.openPinned(pinPaths(node.bpffsRoot).map('counters'));
    for (const name of ['a', 'b', 'c']) {
      const ns = new TestNetns(`pod${name}`);
      const { ip } = await node.add({ containerID: newContainerID(), netns: ns.path, podName: `pod-${name}` });
      pods.push({ ns, ip });
    }
  });
  after(async () => {
    counters?.close();
    pods.forEach((pod) => pod.ns.delete());
    await node?.cleanup();
  });

  test('each pod got its own address from the pod CIDR', async () => {
    const ips = pods.map((pod) => pod.ip);
    assert.equal(new Set(ips).size, 3);
    for (const ip of ips) assert.match(ip, /^10\.244\.0\.\d+$/);
  });

  test('pods ping each other, redirected between veths and never passed to the host stack', async () => {
    const before = counted();
    for (const [from, to] of [[0, 1], [1, 2], [2, 0]]) {
      assert.equal(ping(pods[from].ns.name, pods[to].ip, 3), 3, `pod ${from} -> pod ${to}`);
    }
    const after = counted();
    const delivered = packetsFor(after, 'TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD') - packetsFor(before, 'TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD');
    assert.ok(delivered >= 18n, `9 requests and 9 replies redirected, counted ${delivered}`);
    assert.equal(packetsFor(after, 'TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'), packetsFor(before, 'TWILL_PASSED_NOT_POD', 'TWILL_FROM_POD'), 'no pod-to-pod packet went to the host stack');
  });

  test('pods talk TCP to each other', async () => {
    const server = await startTcpServer(pods[1].ns.name, 8080);
    try {
      assert.equal(tcpExchange(pods[0].ns.name, pods[1].ip, 8080), 'twill-echo');
      assert.equal(tcpExchange(pods[2].ns.name, pods[1].ip, 8080), 'twill-echo');
    } finally {
      server.stop();
    }
  });

  test('the node reaches every pod, and every pod reaches the node', async () => {
    for (const pod of pods) {
      assert.equal(ping(node.ns, pod.ip, 2), 2, `node -> ${pod.ip}`);
      assert.equal(ping(pod.ns.name, '192.168.50.1', 2), 2, `${pod.ip} -> node`);
    }
  });

  test('a pod sending from an address that is not its own is dropped and counted', async () => {
    const spoofed = '10.244.0.250';
    pods[0].ns.exec('ip', ['addr', 'add', `${spoofed}/32`, 'dev', 'eth0']);
    const before = packetsFor(counted(), 'TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD');
    assert.equal(ping(pods[0].ns.name, pods[1].ip, 3, spoofed), 0, 'no reply to a spoofed source');
    const dropped = packetsFor(counted(), 'TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD') - before;
    assert.ok(dropped >= 3n, `3 spoofed packets dropped, counted ${dropped}`);
    assert.equal(ping(pods[0].ns.name, pods[1].ip, 1), 1, 'its own address still works');
  });
});
