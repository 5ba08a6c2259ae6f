// The plugin's reports to the agent: delivered and counted when the agent listens,
// and never an error or a wait worth the name when it does not, is gone, or is wedged.
// Malformed reports are ignored, so labels stay within the known commands and results.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import pino from 'pino';

import { receiveCniReports } from '../../agent/lib/cni-reports';
import { AgentMetrics } from '../../agent/lib/metrics';
import { dispatch } from '../../cni/lib/dispatch';
import { Code } from '../../cni/lib/errors';
import { parseReport, resultOf, sendReport } from '../../cni/lib/report';

const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-report-'));
after(() => fs.rmSync(directory, { recursive: true, force: true }));

// The plugin never waits for the agent: a report is a few system calls.
const AT_ONCE_MS = 20;

function timed(action: () => void): number {
  const started = performance.now();
  action();
  return performance.now() - started;
}

/** The value of one sample in the agent's exposition, or undefined. */
async function sample(metrics: AgentMetrics, line: string): Promise<number | undefined> {
  const found = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.split(' ').at(-1));
}

describe('plugin reports to the agent', () => {
  test('result names come from the CNI code table', () => {
    assert.equal(resultOf(undefined), 'success');
    assert.equal(resultOf(Code.TryAgainLater), 'try_again_later');
    assert.equal(resultOf(Code.InvalidConfig), 'invalid_config');
    assert.equal(resultOf(Code.Internal), 'internal');
  });

  test('the plugin reports every command but VERSION, to the agent of the stateDir its config names', async () => {
    const config = (extra: Record<string, unknown>) => Buffer.from(JSON.stringify({ cniVersion: '1.1.0', name: 'twill', type: 'twill', stateDir: '/srv/twill', ...extra }));
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c0ffee', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
    assert.equal((await dispatch({ CNI_COMMAND: 'VERSION' }, Buffer.from(''))).report, undefined);
    assert.equal((await dispatch({ CNI_COMMAND: 'FROB' }, config({}))).report, undefined, 'an unknown command is no label');
    assert.deepEqual((await dispatch(env, config({ mtu: 1 }))).report, { stateDir: '/srv/twill', command: 'ADD', result: 'invalid_config' }, 'a config that fails validation still names its agent');
    assert.deepEqual((await dispatch(env, Buffer.from('{'))).report, { stateDir: '/var/lib/twill', command: 'ADD', result: 'decode_failure' });
    assert.deepEqual((await dispatch({ ...env, CNI_COMMAND: 'DEL', CNI_IFNAME: 'bad/name' }, config({}))).report, { stateDir: '/srv/twill', command: 'DEL', result: 'invalid_environment' });
  });

  test('only well-formed reports of known commands and results are accepted', () => {
    assert.deepEqual(parseReport('{"command":"ADD","result":"success","seconds":0.12}'), { command: 'ADD', result: 'success', seconds: 0.12 });
    assert.deepEqual(parseReport('{"command":"GC","result":"io_failure","seconds":1}'), { command: 'GC', result: 'io_failure', seconds: 1 });
    for (const bad of [
      '',
      'not json',
      'null',
      '[]',
      '{"command":"VERSION","result":"success","seconds":0.1}',
      '{"command":"add","result":"success","seconds":0.1}',
      '{"command":"ADD","result":"whatever-i-like","seconds":0.1}',
      '{"command":"ADD","result":"success","seconds":-1}',
      '{"command":"ADD","result":"success","seconds":"0.1"}',
      '{"command":"ADD","result":"success"}',
    ]) {
      assert.equal(parseReport(bad), undefined, bad);
    }
  });

  test('no agent socket, or a stale one nobody listens on: the report gives up at once', async () => {
    const missing = path.join(directory, 'missing.sock');
    assert.ok(timed(() => sendReport(missing, { command: 'ADD', result: 'success', seconds: 0.1 })) < AT_ONCE_MS);
    const stale = path.join(directory, 'stale.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(stale, resolve));
    // Closing the server leaves no listener; recreate a socket file without one.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.writeFileSync(stale, '');
    assert.ok(timed(() => sendReport(stale, { command: 'DEL', result: 'success', seconds: 0.1 })) < AT_ONCE_MS);
  });

  test('an agent that accepts but never reads does not hold the plugin', async () => {
    const wedged = path.join(directory, 'wedged.sock');
    const connections: net.Socket[] = [];
    const server = net.createServer({ pauseOnConnect: true }, (connection) => connections.push(connection));
    await new Promise<void>((resolve) => server.listen(wedged, resolve));
    try {
      const elapsed = timed(() => sendReport(wedged, { command: 'ADD', result: 'success', seconds: 0.1 }));
      assert.ok(elapsed < AT_ONCE_MS, `took ${elapsed.toFixed(1)} ms`);
    } finally {
      connections.forEach((c) => c.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('the agent counts what the plugin reports, by command and result, with its latency', async () => {
    const metrics = new AgentMetrics();
    const { server, socketPath } = await receiveCniReports(path.join(directory, 'run'), metrics, pino({ level: 'silent' }));
    try {
      assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600, 'root-only socket');
      sendReport(socketPath, { command: 'ADD', result: 'success', seconds: 0.12 });
      sendReport(socketPath, { command: 'ADD', result: 'success', seconds: 0.18 });
      sendReport(socketPath, { command: 'ADD', result: 'try_again_later', seconds: 0.3 });
      sendReport(socketPath, { command: 'DEL', result: 'success', seconds: 0.11 });
      // Junk on the socket is dropped without a trace in the metrics.
      await new Promise<void>((resolve) => {
        const junk = net.createConnection(socketPath, () => junk.end('{"command":"ADD","result":"evil","seconds":1}\n', resolve));
      });
      // The agent counts a report when its connection ends, just after the plugin is done.
      const deadline = Date.now() + 2000;
      while ((await sample(metrics, 'twill_cni_operation_duration_seconds_count{command="DEL"}')) !== 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(await sample(metrics, 'twill_cni_operations_total{command="ADD",result="success"}'), 2);
      assert.equal(await sample(metrics, 'twill_cni_operations_total{command="ADD",result="try_again_later"}'), 1);
      assert.equal(await sample(metrics, 'twill_cni_operations_total{command="DEL",result="success"}'), 1);
      assert.equal(await sample(metrics, 'twill_cni_operations_total{command="ADD",result="evil"}'), undefined);
      assert.equal(await sample(metrics, 'twill_cni_operation_duration_seconds_count{command="ADD"}'), 3);
      assert.equal(await sample(metrics, 'twill_cni_operation_duration_seconds_bucket{le="0.15",command="ADD"}'), 1);
      assert.ok(Math.abs(((await sample(metrics, 'twill_cni_operation_duration_seconds_sum{command="ADD"}')) ?? 0) - 0.6) < 1e-9);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
