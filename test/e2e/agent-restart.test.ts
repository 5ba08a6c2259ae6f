// The agent can stop, be killed and restart without disturbing pods: the datapath stays
// pinned and attached while it is down, and a restart re-adopts maps (entries and
// counters kept) and moves pod links onto the newly loaded programs, and removes the
// endpoint entries of pods whose veth is gone, or that sit in another address's slot,
// while keeping the live ones. An upgrade that adds datapath reasons resizes the pinned
// counters map and keeps its counts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { COUNTER_SLOT_COUNT, packetsFor } from '../../bpf/counters';
import { COUNTER_SLOTS, FAMILIES, LAYOUTS, slotKey } from '../../bpf/layouts';

import { pinPaths } from '../../bpf/datapath';
import { encodeEndpoint, endpointKey, occupiedSlots, writeEndpoint } from '../../bpf/endpoints';
import { BpfMap, BpfObject, BpfProgram, attachClsact, clsactFilters, detach, queryAttached, withNetns } from '../../bpf/tsbpf';
import { hostVethName } from '../../agent/lib/pods/naming';
import { hookOn, hooksIn } from '../helpers/hooks';
import { needsRoot, testObjects } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';
import { type TestNode, newContainerID, standaloneNode } from '../lab/node';
import { TEST_ATTACH } from '../helpers/processes';
import { pinnedCounters, pinnedRemoteSubnets, withPinnedMap } from '../../bpf/pinned-maps';
import { nodeSubnet6Key } from '../../bpf/node-subnets';
import { ipv6ToBytes } from '../../bpf/addresses';
import { ping } from '../helpers/traffic';

describe('agent restarts', needsRoot, () => {
  let node: TestNode;
  const pods: Array<{ ns: TestNetns; ip: string; containerID: string }> = [];
  const mapId = (): number => withPinnedMap(node.bpffsRoot, 'endpoints', (map) => map.info.id);
  const podsTalk = (): boolean => ping(pods[0].ns.name, pods[1].ip, 2) === 2 && ping(pods[1].ns.name, pods[0].ip, 2) === 2;

  before(async () => {
    node = standaloneNode('restart');
    await node.startAgent();
    for (const tag of ['ra', 'rb']) {
      const ns = new TestNetns(tag);
      const containerID = newContainerID();
      pods.push({ ns, containerID, ip: (await node.add({ containerID, netns: ns.path })).ip });
    }
  });
  after(async () => {
    pods.forEach((pod) => pod.ns.delete());
    await node?.cleanup();
  });

  test('SIGTERM leaves the datapath in place: pods keep talking with the agent down', async () => {
    assert.ok(podsTalk());
    await node.stopAgent('SIGTERM');
    assert.ok(podsTalk(), 'traffic flows with the agent stopped');
  });

  test('a restart re-adopts the pinned maps and moves pod links onto the new programs', async () => {
    const before = mapId();
    const fromPodBefore = BpfProgram.openPinned(pinPaths(node.bpffsRoot).program('from_pod'));
    const oldProgramId = fromPodBefore.info.id;
    fromPodBefore.close();

    await node.startAgent();
    assert.equal(mapId(), before, 'the same endpoints map, not a new one');
    const fromPod = BpfProgram.openPinned(pinPaths(node.bpffsRoot).program('from_pod'));
    const newProgramId = fromPod.info.id;
    fromPod.close();
    assert.notEqual(newProgramId, oldProgramId, 'a freshly loaded program');
    for (const pod of pods) {
      const hook = hookOn(node.ns, node.bpffsRoot, 'from_pod', hostVethName({ containerID: pod.containerID, ifname: 'eth0' }));
      assert.equal(hook?.programId, newProgramId, 'the pod\'s hook runs the new program');
      assert.equal(hook?.mode, TEST_ATTACH === 'tc' ? 'tc' : 'tcx');
    }
    assert.ok(podsTalk(), 'traffic flows after the restart');
  });

  test('kill -9 of the agent changes nothing for pods; the next start adopts again', async () => {
    await node.stopAgent('SIGKILL');
    assert.ok(podsTalk());
    const before = mapId();
    await node.startAgent();
    assert.equal(mapId(), before);
    assert.ok(podsTalk());
  });

  test('an agent started with the other --attach takes every hook over, and back, leaving another tool\'s filter alone', async () => {
    const veths = pods.map((pod) => hostVethName({ containerID: pod.containerID, ifname: 'eth0' })).sort();
    // Another tool's filter on a pod's veth, at its own handle: it must stay as it is.
    const object = BpfObject.open(path.join(testObjects, 'counter.bpf.o')).load();
    const foreign = object.program('count_first');
    const theirs = withNetns(node.netnsPath, () => attachClsact(foreign, node.ifindex(veths[0]), 'egress', { handle: 7, priority: 2 }));
    try {
      const mode = TEST_ATTACH === 'tc' ? 'tc' : 'tcx';
      const other = mode === 'tc' ? 'tcx' : 'tc';
      for (const next of [other, mode]) {
        await node.stopAgent();
        await node.startAgent(['--attach', next]);
        const fromPod = BpfProgram.openPinned(pinPaths(node.bpffsRoot).program('from_pod'));
        const current = fromPod.info.id;
        fromPod.close();
        const hooks = hooksIn(node.ns, node.bpffsRoot).sort((a, b) => a.device.localeCompare(b.device));
        assert.deepEqual(hooks.map((h) => [h.device, h.program, h.mode, h.programId]), veths.map((v) => [v, 'from_pod', next, current]), `${next}: every pod hook, this way only`);
        // The kernel's own view: nothing of the other way left on the hooks.
        for (const veth of veths) {
          const { tcx, clsact } = withNetns(node.netnsPath, () => queryAttached(node.ifindex(veth), 'ingress'));
          assert.deepEqual([tcx.programIds, clsact.map((f) => f.programId)], next === 'tc' ? [[], [current]] : [[current], []], `${next}: ${veth} ingress`);
        }
        assert.deepEqual(withNetns(node.netnsPath, () => clsactFilters(node.ifindex(veths[0]), 'egress')).map((f) => [f.handle, f.priority, f.programId]), [[7, 2, foreign.info.id]], 'the other tool\'s filter is untouched');
        assert.ok(podsTalk(), `${next}: traffic flows`);
      }
    } finally {
      withNetns(node.netnsPath, () => detach(theirs));
      foreign.close();
      object.close();
    }
  });

  test('an upgrade over a counters map pinned before its shape was fixed (3 directions a reason) loads, and keeps the counts', async () => {
    assert.ok(podsTalk());
    await node.stopAgent('SIGTERM');
    const pin = pinPaths(node.bpffsRoot).map('counters');
    const counted = (): bigint => packetsFor(pinnedCounters(node.bpffsRoot), 'TWILL_DELIVERED_LOCAL', 'TWILL_FROM_POD');
    const before = counted();
    assert.ok(before > 0n);
    // What a build with 21 reasons and 3 directions pinned: a slot per reason × 3 + direction, holding the same counts.
    const older = `${pin}_older`;
    execFileSync('bpftool', ['map', 'create', older, 'type', 'percpu_array', 'key', '4', 'value', '16', 'entries', String(21 * 3), 'name', 'counters']);
    withPinnedMap(node.bpffsRoot, 'counters', (current) => {
      const replacement = BpfMap.openPinned(older);
      try {
        for (const [key, value] of current.lookupBatch()) {
          const slot = key.readUInt32LE(0);
          const { TWILL_FAMILY_SLOTS, TWILL_DIRECTION_SLOTS } = COUNTER_SLOTS;
          const [reason, family, direction] = [Math.floor(slot / (TWILL_FAMILY_SLOTS * TWILL_DIRECTION_SLOTS)), Math.floor(slot / TWILL_DIRECTION_SLOTS) % TWILL_FAMILY_SLOTS, slot % TWILL_DIRECTION_SLOTS];
          if (reason < 21 && family === FAMILIES.TWILL_IPV4 && direction < 3) replacement.update(slotKey(reason * 3 + direction), value);
        }
      } finally {
        replacement.close();
      }
    });
    fs.renameSync(older, pin);

    await node.startAgent();
    assert.equal(withPinnedMap(node.bpffsRoot, 'counters', (map) => map.info.maxEntries), COUNTER_SLOT_COUNT, 'resized to the fixed shape');
    assert.ok(counted() >= before, `counts carried over: ${counted()} after ${before}`);
    assert.ok(podsTalk());
  });

  test('an upgrade over an endpoints map pinned before IPv6 (24-byte values) loads, and keeps every pod', async () => {
    await node.stopAgent('SIGTERM');
    const pin = pinPaths(node.bpffsRoot).map('endpoints');
    const endpoints = () => withPinnedMap(node.bpffsRoot, 'endpoints', (map) => occupiedSlots(map));
    const live = endpoints();
    assert.ok(live.length > 0);
    const older = `${pin}_older`;
    const slots = withPinnedMap(node.bpffsRoot, 'endpoints', (map) => map.info.maxEntries);
    execFileSync('bpftool', ['map', 'create', older, 'type', 'array', 'key', '4', 'value', '24', 'entries', String(slots), 'name', 'endpoints']);
    const replacement = BpfMap.openPinned(older);
    try {
      for (const { key, endpoint } of live) replacement.update(key, encodeEndpoint(endpoint).subarray(0, 24));
    } finally {
      replacement.close();
    }
    fs.renameSync(older, pin);

    await node.startAgent();
    assert.equal(withPinnedMap(node.bpffsRoot, 'endpoints', (map) => map.valueLength), LAYOUTS.endpoint.size, 'grown to this build\'s values');
    assert.deepEqual(endpoints(), live, 'every pod in its slot, as before');
    assert.ok(podsTalk());
  });

  test('an upgrade over a node_subnets6 map pinned before IPv6 went into the tunnel (16-byte values) loads, and keeps every subnet', async () => {
    await node.stopAgent('SIGTERM');
    const pin = pinPaths(node.bpffsRoot).map('node_subnets6');
    const older = `${pin}_older`;
    execFileSync('bpftool', ['map', 'create', older, 'type', 'hash', 'key', String(LAYOUTS.node_subnet6_key.size), 'value', '16', 'entries', '16384', 'name', 'node_subnets6']);
    const replacement = BpfMap.openPinned(older);
    try {
      replacement.update(nodeSubnet6Key('fd00:10:250::/64'), ipv6ToBytes('fd00:60::2'));
    } finally {
      replacement.close();
    }
    fs.renameSync(older, pin);

    await node.startAgent();
    assert.equal(withPinnedMap(node.bpffsRoot, 'node_subnets6', (map) => map.valueLength), LAYOUTS.node_subnet6.size, "grown to this build's values");
    assert.deepEqual(pinnedRemoteSubnets(node.bpffsRoot).filter((subnet) => subnet.cidr.includes(':')), [{ cidr: 'fd00:10:250::/64', nodeIp: 'fd00:60::2', tunnel: false }], 'the subnet carried over, natively routed');
    withPinnedMap(node.bpffsRoot, 'node_subnets6', (map) => map.delete(nodeSubnet6Key('fd00:10:250::/64')));
    assert.ok(podsTalk());
  });

  test('a restart removes endpoint entries whose veth is gone or whose slot is not their address, and only those', async () => {
    await node.stopAgent('SIGTERM');
    const endpoints = () => withPinnedMap(node.bpffsRoot, 'endpoints', (map) => occupiedSlots(map).map((slot) => slot.endpoint));
    const live = endpoints();
    const vanished = { ip: '10.244.0.250', ifindex: 999_999, podMac: '02:74:0a:f4:00:fa', hostMac: '02:00:00:00:00:01' };
    // An entry left on a live veth's ifindex by an earlier pod: the MAC gives it away.
    const reused = { ip: '10.244.0.251', ifindex: live[0].ifindex, podMac: '02:74:0a:f4:00:fb', hostMac: '02:00:00:00:00:02' };
    // A live pod's entry in the slot of another address (a map filled under another pod CIDR).
    const misplaced = { ...live[0], ip: '10.245.0.252' };
    withPinnedMap(node.bpffsRoot, 'endpoints', (map) => {
      for (const stale of [vanished, reused]) writeEndpoint(map, { ipv4: node.podCIDR }, stale);
      map.update(endpointKey({ ipv4: node.podCIDR }, '10.244.0.252'), encodeEndpoint(misplaced));
    });

    await node.startAgent();
    const after = endpoints();
    const byIp = (list: typeof live) => [...list].sort((a, b) => (a.ip ?? '').localeCompare(b.ip ?? ''));
    assert.deepEqual(byIp(after), byIp(live), 'the stale entries are gone, the live ones untouched');
    assert.ok(podsTalk());
  });
});
