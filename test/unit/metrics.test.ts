// The agent's metrics before anything has happened: every closed label set is exported
// at 0 from the start (each drop reason under each hook, each CNI command with each
// result), so a panel or an alert on something that has not happened yet reads 0, not
// "No data".
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { POD_COMMANDS, RESULT_OF_CODE } from '../../agent/api/cni';
import { AgentMetrics } from '../../agent/lib/metrics';
import { counterLabel } from '../../bpf/counters';
import { DIRECTIONS, REASONS, type DirectionName, type ReasonName } from '../../bpf/layouts';

async function seriesOf(metrics: AgentMetrics, name: string): Promise<Array<{ labels: Partial<Record<string, string | number>>; value: number }>> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  assert.ok(metric, `${name} is registered`);
  return metric.values;
}

const key = (labels: Partial<Record<string, string | number>>, names: string[]): string => names.map((name) => labels[name]).join('/');

test('a fresh agent exports every reason of each family under every hook, bytes and packets, at 0', async () => {
  const metrics = new AgentMetrics();
  const expected = (Object.keys(REASONS) as ReasonName[]).flatMap((reason) => ['ipv4', 'ipv6'].flatMap((family) => (Object.keys(DIRECTIONS) as DirectionName[]).map((direction) => `${counterLabel(reason)}/${family}/${counterLabel(direction)}`)));
  assert.ok(expected.includes('dropped_by_limit/ipv6/to_pod'));
  for (const name of ['twill_datapath_packets_total', 'twill_datapath_bytes_total']) {
    const series = await seriesOf(metrics, name);
    assert.deepEqual(series.map((s) => key(s.labels, ['reason', 'family', 'direction'])).sort(), [...expected].sort(), name);
    assert.ok(series.every((s) => s.value === 0), `${name}: all 0`);
  }
});

test('a fresh agent exports every CNI command with every result, map occupancy and readiness, at 0', async () => {
  const metrics = new AgentMetrics();
  const results = ['success', ...RESULT_OF_CODE.values()];
  assert.ok(results.includes('invalid_config') && results.includes('try_again_later'));
  const operations = await seriesOf(metrics, 'twill_cni_operations_total');
  assert.deepEqual(operations.map((s) => key(s.labels, ['command', 'result'])).sort(), POD_COMMANDS.flatMap((command) => results.map((result) => `${command}/${result}`)).sort());
  assert.ok(operations.every((s) => s.value === 0));
  assert.deepEqual((await seriesOf(metrics, 'twill_bpf_map_entries')).map((s) => [s.labels.map, s.value]), [['endpoints', 0], ['node_subnets', 0], ['node_subnets6', 0]]);
  assert.deepEqual((await seriesOf(metrics, 'twill_bpf_map_capacity')).length, 0, 'no capacity before the datapath is loaded');
  assert.deepEqual((await seriesOf(metrics, 'twill_agent_ready')).map((s) => s.value), [0]);
  metrics.watchReadiness(() => true);
  assert.deepEqual((await seriesOf(metrics, 'twill_agent_ready')).map((s) => s.value), [1]);
});
