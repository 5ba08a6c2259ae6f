// The netlink layer builds a pod-like namespace the way the CNI plugin will: a veth
// whose peer is born inside the pod, a /32, an onlink default route via 169.254.1.1
// and a permanent neighbour for it; then traffic crosses it both ways.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { NetlinkError, Rtnl, type Link } from '../../agent/netlink';
import { NetnsNotFound } from '../../bpf/tsbpf';
import { needsRoot } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';

const POD_IP = '10.244.0.5';
const NODE_IP = '192.168.50.1';
const GATEWAY = '169.254.1.1';
const POD_MAC = '02:00:0a:f4:00:05';

describe('netlink: a pod-like namespace', needsRoot, () => {
  let nodeNs: TestNetns;
  let podNs: TestNetns;
  let node: Rtnl;
  let pod: Rtnl;
  let hostVeth: Link;
  let podEth0: Link;

  before(() => {
    nodeNs = new TestNetns('nlnode');
    podNs = new TestNetns('nlpod');
    nodeNs.exec('ip', ['addr', 'add', `${NODE_IP}/32`, 'dev', 'lo']);
    node = Rtnl.open(nodeNs.path);
    pod = Rtnl.open(podNs.path);
  });
  after(() => {
    node?.close();
    pod?.close();
    nodeNs?.delete();
    podNs?.delete();
  });

  test('sockets act in the namespace they were opened in', async () => {
    assert.deepEqual((await node.links()).map((link) => link.name), ['lo']);
    assert.deepEqual(await pod.addresses(), ['127.0.0.1/8']);
  });

  test('creates a veth whose peer is born inside the pod with its name, MAC and MTU', async () => {
    hostVeth = await node.createVeth({ name: 'twtest0', mtu: 1450, peer: { name: 'eth0', mac: POD_MAC, mtu: 1450, netns: podNs.path } });
    assert.equal(hostVeth.kind, 'veth');
    assert.equal(hostVeth.mtu, 1450);
    podEth0 = (await pod.link('eth0')) as Link;
    assert.equal(podEth0.mac, POD_MAC);
    assert.equal(podEth0.mtu, 1450);
    assert.equal(await node.link('eth0'), undefined, 'the peer is not in the node namespace');
  });

  test('configures address, onlink default route, permanent neighbour and host route', async () => {
    await pod.setUp(podEth0.index);
    await node.setUp(hostVeth.index);
    await pod.addAddress(podEth0.index, `${POD_IP}/32`);
    await pod.addRoute({ destination: 'default', ifindex: podEth0.index, gateway: GATEWAY, onlink: true });
    await pod.addPermanentNeighbour(podEth0.index, GATEWAY, hostVeth.mac);
    await node.addRoute({ destination: `${POD_IP}/32`, ifindex: hostVeth.index });

    assert.ok((await pod.addresses(podEth0.index)).includes(`${POD_IP}/32`));
    assert.deepEqual(await pod.routes(), [{ destination: 'default', type: 'unicast', ifindex: podEth0.index, gateway: GATEWAY, protocol: 3 }]);
    assert.deepEqual(await pod.neighbours(podEth0.index), [{ ifindex: podEth0.index, ip: GATEWAY, mac: hostVeth.mac, permanent: true }]);
    assert.ok(podNs.exec('ip', ['route', 'show', 'default']).includes('onlink'));
    assert.ok((await node.routes()).some((route) => route.destination === `${POD_IP}/32` && route.ifindex === hostVeth.index));
    assert.equal((await pod.link('eth0'))?.up, true);
  });

  test('an unreachable route needs no device, is listed with its type, and answers "no route to host"', async () => {
    await node.addRoute({ destination: '10.250.0.0/24', type: 'unreachable', protocol: 77 });
    assert.deepEqual((await node.routes()).filter((route) => route.destination === '10.250.0.0/24'), [{ destination: '10.250.0.0/24', type: 'unreachable', protocol: 77 }]);
    assert.throws(() => nodeNs.exec('ip', ['route', 'get', '10.250.0.9']), /No route to host/);
    assert.equal(await node.deleteRoute({ destination: '10.250.0.0/24', type: 'unreachable', protocol: 77 }), true);
    assert.deepEqual((await node.routes()).filter((route) => route.destination === '10.250.0.0/24'), []);
  });

  test('node and pod reach each other across it', () => {
    nodeNs.exec('ping', ['-c', '2', '-i', '0.1', '-W', '1', POD_IP]);
    podNs.exec('ping', ['-c', '2', '-i', '0.1', '-W', '1', NODE_IP]);
  });

  test('kernel refusals surface as NetlinkError with the errno name', async () => {
    await assert.rejects(
      node.createVeth({ name: 'twtest0', peer: { name: 'eth1', netns: podNs.path } }),
      (error: unknown) => error instanceof NetlinkError && error.errno === 'EEXIST' && error.op.includes('twtest0'),
    );
    await assert.rejects(pod.addAddress(9999, '10.9.9.9/32'), (error: unknown) => error instanceof NetlinkError && error.errno === 'ENODEV');
    await assert.rejects(pod.addRoute({ destination: 'default', ifindex: podEth0.index, gateway: GATEWAY, onlink: true }), (error: unknown) => error instanceof NetlinkError && error.errno === 'EEXIST');
    assert.throws(() => Rtnl.open('/run/netns/twill-no-such-namespace'), NetnsNotFound);
    await assert.rejects(node.link('name/with/slash'), TypeError);
  });

  test('deletes report whether there was anything to delete', async () => {
    assert.equal(await pod.deleteNeighbour(podEth0.index, GATEWAY), true);
    assert.equal(await pod.deleteNeighbour(podEth0.index, GATEWAY), false);
    assert.equal(await node.deleteRoute({ destination: `${POD_IP}/32`, ifindex: hostVeth.index }), true);
    assert.equal(await node.deleteRoute({ destination: `${POD_IP}/32`, ifindex: hostVeth.index }), false);
    assert.equal(await pod.deleteAddress(podEth0.index, `${POD_IP}/32`), true);
    assert.equal(await pod.deleteAddress(podEth0.index, `${POD_IP}/32`), false);
    assert.equal(await node.deleteLink(hostVeth.index), true);
    assert.equal(await pod.link('eth0'), undefined, 'deleting the host end removes the pod end');
    assert.equal(await node.deleteLink(hostVeth.index), false);
  });
});
