// An iperf3 flow between pods on two nodes (IPv4 natively and in vxlan mode, and IPv6
// natively) goes on while both agents are killed with SIGKILL, restarted, stopped with
// SIGTERM and started again: no reset, no stall of a second or more. Each start loads the programs afresh and moves every pinned link onto
// them with bpf_link_update, which is exactly how a new build is rolled out, so the
// second start is an upgrade under traffic (checked: new program IDs on the links).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { type Counter } from '../../bpf/counters';
import { pinPaths } from '../../bpf/datapath';
import { pinnedCounters } from '../../bpf/pinned-maps';
import { hostVethName } from '../../agent/lib/pods/naming';
import { BpfProgram } from '../../bpf/tsbpf';
import { hookOn } from '../helpers/hooks';
import { inNetns, needsRoot } from '../helpers/kernel';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import { labDown, labUp, type Lab, type LabIpFamily, type LabMode } from '../lab/cluster';
import type { TestNode } from '../lab/node';

const FLOW_SECONDS = 8;
const INTERVAL_SECONDS = 0.1;
/** The longest the flow may carry nothing. */
const MAX_STALL_SECONDS = 1;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function killAgent(node: TestNode, signal: NodeJS.Signals): void {
  process.kill(node.agentPid, signal);
  node.agentPid = 0;
}

/** Bytes node's from_pod sent to other nodes, of either family: every frame the program forwarded. */
function forwardedBytes(node: TestNode): bigint {
  return pinnedCounters(node.bpffsRoot)
    .filter((c: Counter) => c.reason === 'TWILL_FORWARDED_REMOTE' && c.direction === 'TWILL_FROM_POD')
    .reduce((sum, c) => sum + c.bytes, 0n);
}

function programId(node: TestNode): number {
  const program = BpfProgram.openPinned(pinPaths(node.bpffsRoot).program('from_pod'));
  try {
    return program.info.id;
  } finally {
    program.close();
  }
}

interface Interval {
  start: number;
  end: number;
  bytes: number;
}

/** The longest run of consecutive intervals that carried no bytes, in seconds. */
function longestStall(intervals: Interval[]): number {
  let longest = 0;
  let since: number | undefined;
  for (const interval of intervals) {
    if (interval.bytes === 0) {
      since ??= interval.start;
      longest = Math.max(longest, interval.end - since);
    } else {
      since = undefined;
    }
  }
  return longest;
}

const LABS: Array<[LabMode, LabIpFamily]> = [['native', 'ipv4'], ['vxlan', 'ipv4'], ['native', 'ipv6']];

for (const [mode, ipFamily] of LABS) {
  describe(`agents restarted under an iperf3 flow, ${mode} mode, ${ipFamily}`, needsRoot, () => {
    let lab: Lab;

    before(async () => {
      lab = await labUp({ nodes: 2, podsPerNode: 1, mode, ipFamily, prefix: `${TEST_NETNS_PREFIX}${process.pid}-r${mode[0]}${ipFamily.at(-1)}`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-lab-')) });
      process.on('exit', () => labDown(lab));
    });
    after(() => lab && labDown(lab));

    test('SIGKILL, restart, SIGTERM, upgrade: the flow never resets or stalls for a second', async (t) => {
      const [client, server] = lab.pods;
      const daemon = spawn('ip', ['netns', 'exec', server.ns, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
      try {
        await sleep(300);
        const flow = new Promise<{ code: number | null; out: string }>((resolve) => {
          const iperf = spawn('ip', ['netns', 'exec', client.ns, 'iperf3', '-c', server.ip, '-t', String(FLOW_SECONDS), '-i', String(INTERVAL_SECONDS), '-J'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: (FLOW_SECONDS + 20) * 1000 });
          let out = '';
          iperf.stdout.on('data', (data: Buffer) => (out += data.toString()));
          iperf.once('close', (code) => resolve({ code, out }));
        });
        const before = lab.nodes.map(programId);
        const forwardedBefore = forwardedBytes(lab.nodes[0]);

        await sleep(1000);
        lab.nodes.forEach((node) => killAgent(node, 'SIGKILL'));
        await sleep(500);
        for (const node of lab.nodes) await node.startAgent();
        await sleep(1000);
        lab.nodes.forEach((node) => killAgent(node, 'SIGTERM'));
        await sleep(500);
        for (const node of lab.nodes) await node.startAgent();
        const upgraded = lab.nodes.map(programId);

        const { code, out } = await flow;
        assert.equal(code, 0, `iperf3 failed: ${out.slice(-500)}`);
        const report = JSON.parse(out) as { intervals: Array<{ sum: { start: number; end: number; bytes: number } }>; end: { sum_sent: { bytes: number }; sum_received: { bytes: number } } };
        const intervals = report.intervals.map((i) => i.sum);
        assert.ok(intervals.at(-1)!.end >= FLOW_SECONDS - INTERVAL_SECONDS, 'the flow ran to its end');
        const stall = longestStall(intervals);
        const slowest = Math.min(...intervals.map((i) => i.bytes));
        t.diagnostic(`longest stall ${stall.toFixed(2)} s, slowest ${INTERVAL_SECONDS} s interval ${(slowest * 8 / INTERVAL_SECONDS / 1e9).toFixed(2)} Gbit/s, mean ${(report.end.sum_received.bytes * 8 / FLOW_SECONDS / 1e9).toFixed(2)} Gbit/s`);
        assert.ok(stall < MAX_STALL_SECONDS, `stalled for ${stall.toFixed(2)} s`);

        // Had from_pod been detached for a moment, the host stack would have routed the
        // flow instead (no stall to see): the program counted every payload byte.
        const forwarded = forwardedBytes(lab.nodes[0]) - forwardedBefore;
        assert.ok(forwarded >= BigInt(report.end.sum_sent.bytes), `from_pod forwarded ${forwarded} bytes of frames for ${report.end.sum_sent.bytes} bytes of payload`);

        // Every start loaded new programs, and the pod's link runs the last of them.
        lab.nodes.forEach((node, i) => assert.notEqual(upgraded[i], before[i], `${node.name} runs a freshly loaded from_pod`));
        assert.equal(hookOn(lab.nodes[0].ns, lab.nodes[0].bpffsRoot, 'from_pod', hostVethName({ containerID: client.containerID, ifname: 'eth0' }))?.programId, upgraded[0]);
        assert.ok(inNetns(client.ns, 'ping', ['-c', '1', '-W', '1', server.ip]).includes('1 received'));
      } finally {
        daemon.kill('SIGKILL');
      }
    });
  });
}
