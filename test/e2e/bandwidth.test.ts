// Pod bandwidth limits as containerd passes them (runtimeConfig.bandwidth, capitalised,
// with its 2^32 - 1 bit burst), held on every path in both directions: to and from a
// pod on the same node, a pod on another node (natively and over VXLAN), the node
// itself, and a host outside the cluster. Goodput is asserted in a generous band (these
// VMs are noisy); BENCHMARKS.md has the measured ratios. Then: an unlimited pod keeps
// its speed, UDP is held too, drops are counted, limits survive an agent restart, CHECK
// sees them, and DEL removes every trace of them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { packetsFor } from '../../bpf/counters';
import { pinPaths } from '../../bpf/datapath';
import { pinnedCounters, pinnedEndpoints } from '../../bpf/pinned-maps';
import { hostVethName } from '../../agent/lib/pods/naming';
import { hookOn, hooksIn } from '../helpers/hooks';
import { needsRoot } from '../helpers/kernel';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import { runPlugin } from '../helpers/processes';
import { iperf3Goodput, type Iperf3Options } from '../helpers/traffic';
import { addPod, labDown, labUp, type Lab, type LabMode, type LabPod } from '../lab/cluster';

const RATE = 50_000_000;
/** What containerd sends for a pod annotated kubernetes.io/ingress-bandwidth and egress-bandwidth: 50M. */
const CONTAINERD_BANDWIDTH = { IngressRate: RATE, IngressBurst: 4_294_967_295, EgressRate: RATE, EgressBurst: 4_294_967_295 };
/** Goodput as a share of the rate: iperf3 counts payload (a limit counts every byte on the wire), and these VMs are noisy. */
const BAND = { low: 0.7, high: 1.15 };

async function withinLimit(what: string, client: string, server: string, serverIp: string, options: Iperf3Options = {}): Promise<void> {
  const ratio = (await iperf3Goodput(client, server, serverIp, options)) / RATE;
  assert.ok(ratio >= BAND.low && ratio <= BAND.high, `${what}: ${ratio.toFixed(3)} of the rate, outside ${BAND.low}..${BAND.high}`);
}

function labFor(mode: LabMode): { lab: () => Lab; limited: () => LabPod; sameNode: () => LabPod; otherNode: () => LabPod } {
  let lab: Lab;
  const pods: Record<string, LabPod> = {};
  before(async () => {
    lab = await labUp({ nodes: 2, podsPerNode: 0, mode, outside: mode === 'native', prefix: `${TEST_NETNS_PREFIX}bw${mode[0]}-`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bw-')) });
    pods.limited = await addPod(lab, lab.nodes[0], 'limited', { bandwidth: CONTAINERD_BANDWIDTH });
    pods.sameNode = await addPod(lab, lab.nodes[0], 'same');
    pods.otherNode = await addPod(lab, lab.nodes[1], 'other');
  });
  after(() => lab && labDown(lab));
  return { lab: () => lab, limited: () => pods.limited, sameNode: () => pods.sameNode, otherNode: () => pods.otherNode };
}

describe('pod bandwidth limits, native routing', needsRoot, () => {
  const { lab, limited, sameNode, otherNode } = labFor('native');

  test('what the pod sends is held to its egress limit on every path', async () => {
    const [node1] = lab().nodes;
    await withinLimit('to a pod on the same node', limited().ns, sameNode().ns, sameNode().ip);
    await withinLimit('to a pod on another node', limited().ns, otherNode().ns, otherNode().ip);
    await withinLimit('to another node, 4 streams', limited().ns, otherNode().ns, otherNode().ip, { streams: 4 });
    await withinLimit('to its own node', limited().ns, node1.ns, node1.ip);
    const outside = lab().outside as { ns: string; ip: string };
    await withinLimit('to a host outside the cluster (masqueraded)', limited().ns, outside.ns, outside.ip);
  });

  test('what the pod receives is held to its ingress limit on every path', async () => {
    const [node1] = lab().nodes;
    await withinLimit('from a pod on the same node', sameNode().ns, limited().ns, limited().ip);
    await withinLimit('from a pod on another node', otherNode().ns, limited().ns, limited().ip);
    await withinLimit('from another node, 4 streams', otherNode().ns, limited().ns, limited().ip, { streams: 4 });
    await withinLimit('from its own node (routed by the host stack)', node1.ns, limited().ns, limited().ip);
    const outside = lab().outside as { ns: string; ip: string };
    await withinLimit('from a host outside the cluster (the replies of its own connection)', limited().ns, outside.ns, outside.ip, { reverse: true });
  });

  test('UDP is held to the limit, and what a limit drops is counted as dropped_by_limit', async () => {
    const ratio = (await iperf3Goodput(limited().ns, otherNode().ns, otherNode().ip, { udpRate: 4 * RATE })) / RATE;
    assert.ok(ratio <= BAND.high, `UDP sent at 4 times the rate arrived at ${ratio.toFixed(3)} of it`);
    const counters = pinnedCounters(lab().nodes[0].bpffsRoot);
    assert.ok(packetsFor(counters, 'TWILL_DROPPED_BY_LIMIT', 'TWILL_FROM_POD') > 0n, 'egress drops counted in from_pod');
    assert.ok(packetsFor(counters, 'TWILL_DROPPED_BY_LIMIT', 'TWILL_FROM_NETDEV') > 0n, 'ingress drops from the network counted in from_netdev');
    assert.ok(packetsFor(counters, 'TWILL_DROPPED_BY_LIMIT', 'TWILL_TO_POD') > 0n, 'ingress drops from the host stack counted in to_pod');
  });

  test('a pod without limits keeps its speed', async () => {
    const ratio = (await iperf3Goodput(sameNode().ns, otherNode().ns, otherNode().ip)) / RATE;
    assert.ok(ratio > 4, `an unlimited pod moved only ${ratio.toFixed(2)} times the limit`);
  });

  test('the limits are in the endpoints map for operators, and survive an agent restart', async () => {
    const node1 = lab().nodes[0];
    const entry = () => pinnedEndpoints(node1.bpffsRoot).find((e) => e.ip === limited().ip);
    assert.deepEqual([entry()?.limits.ingress?.rate, entry()?.limits.egress?.rate, entry()?.egressLimited, entry()?.ingressLimited], [RATE, RATE, true, true]);
    assert.ok(execFileSync(process.execPath, [path.join(__dirname, '../../agent/cli.js'), 'endpoints', '--bpffs-root', node1.bpffsRoot], { encoding: 'utf8' }).includes('50Mbit/s (burst 500 ms)'));
    process.kill(node1.agentPid, 'SIGTERM');
    await node1.startAgent();
    assert.equal(entry()?.limits.ingress?.rate, RATE);
    await withinLimit('to another node after the restart', limited().ns, otherNode().ns, otherNode().ip);
    await withinLimit('from another node after the restart', otherNode().ns, limited().ns, limited().ip);
    const check = await runPlugin(node1.ns, 'CHECK', { containerID: limited().containerID, netns: `/run/netns/${limited().ns}` }, { ...node1.netConf(), prevResult: { cniVersion: '1.0.0', ips: [{ address: `${limited().ip}/32` }] } });
    assert.equal(check.exitCode, 0, JSON.stringify(check.output));
  });

  test('DEL removes the limits with the pod: map slot, to_pod link, IPAM record', async () => {
    const node1 = lab().nodes[0];
    const pod = limited();
    const veth = hostVethName({ containerID: pod.containerID, ifname: 'eth0' });
    assert.ok(hookOn(node1.ns, node1.bpffsRoot, 'to_pod', veth));
    const del = await runPlugin(node1.ns, 'DEL', { containerID: pod.containerID, netns: `/run/netns/${pod.ns}` }, node1.netConf());
    assert.equal(del.exitCode, 0);
    assert.equal(pinnedEndpoints(node1.bpffsRoot).find((e) => e.ip === pod.ip), undefined);
    assert.ok(!fs.existsSync(pinPaths(node1.bpffsRoot).link('to_pod', veth)), 'to_pod link pin removed');
    assert.equal(hooksIn(node1.ns, node1.bpffsRoot).filter((hook) => hook.device === veth).length, 0, 'no hook left on the veth');
    assert.ok(!fs.existsSync(path.join(node1.stateDir, 'ipam', pod.ip)), 'IPAM record removed');
    // The slot is free: a pod that takes the address later starts without limits.
    const next = await addPod(lab(), node1, 'after');
    assert.deepEqual(pinnedEndpoints(node1.bpffsRoot).find((e) => e.ip === next.ip)?.limits, {});
  });
});

describe('pod bandwidth limits, vxlan', needsRoot, () => {
  const { limited, otherNode } = labFor('vxlan');

  test('held both ways across nodes, wrapped and unwrapped by the datapath', async () => {
    await withinLimit('to a pod on another node', limited().ns, otherNode().ns, otherNode().ip);
    await withinLimit('from a pod on another node', otherNode().ns, limited().ns, limited().ip);
  });
});
