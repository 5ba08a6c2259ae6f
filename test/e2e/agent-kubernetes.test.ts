// The real agent in Kubernetes mode: NODE_NAME from the environment (the downward API),
// its pod CIDR and address from its own Node object, other nodes' subnets in the map and
// the routes within a second of a change, a broken watch that removes nothing, and logs
// (at debug level, broken watch included) that never carry the kubeconfig's token.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';

import { readNodeSettings } from '../../agent/lib/node-settings';
import { readRefusedNodes } from '../../agent/lib/refused-nodes';
import type { FakeNode } from '../helpers/fake-kube-api';
import { needsRoot } from '../helpers/kernel';
import { agentGet } from '../helpers/prometheus';
import { pinnedNodeSubnets } from '../../bpf/pinned-maps';
import { type TestNode, standaloneNode } from '../lab/node';
import { startAgent } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

const CHANGE_WITHIN_MS = 1000;
const TOKEN = 'twill-test-bearer-token-5b1f0c9e8d7a';

describe('agent with the Kubernetes node source', needsRoot, () => {
  let node: TestNode;
  let api: ChildProcessWithoutNullStreams;
  let replies: AsyncIterator<string>;
  let agentPid = 0;
  let agentLog = '';
  const send = async (command: object): Promise<void> => {
    api.stdin.write(JSON.stringify(command) + '\n');
    assert.equal((await replies.next()).value, 'ok');
  };
  const subnets = (): string[] => pinnedNodeSubnets(node.bpffsRoot);
  const routes = (): string => node.exec('ip', ['route', 'show', 'proto', '77']);
  const within = (what: string, predicate: () => boolean): Promise<number> => waitFor(what, predicate, CHANGE_WITHIN_MS, () => `; map ${subnets()} routes ${routes()}`);

  before(async () => {
    node = standaloneNode('k8s', '10.244.9.0/24');
    node.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'wire']);
    node.exec('ip', ['addr', 'add', '192.168.60.11/24', 'dev', 'eth0']);
    for (const device of ['eth0', 'wire']) node.exec('ip', ['link', 'set', device, 'up']);
    api = spawn('ip', ['netns', 'exec', node.ns, process.execPath, path.join(__dirname, '..', 'fixtures', 'kube-api-server.js')]);
    process.on('exit', () => api.kill('SIGKILL'));
    replies = readline.createInterface({ input: api.stdout })[Symbol.asyncIterator]();
    const { kubeconfig } = JSON.parse((await replies.next()).value as string) as { kubeconfig: string };
    const self: FakeNode = { name: node.ns, podCIDR: '10.244.9.0/24', internalIP: '192.168.60.11' };
    await send({ op: 'upsert', node: self });
    await send({ op: 'upsert', node: { name: 'other-1', podCIDR: '10.244.1.0/24', internalIP: '192.168.60.21' } });
    // A service account's credentials, as a real kubeconfig carries them.
    const withToken = path.join(node.stateDir, 'kubeconfig');
    const config = JSON.parse(fs.readFileSync(kubeconfig, 'utf8')) as { users: Array<{ user: Record<string, string> }> };
    config.users[0].user.token = TOKEN;
    fs.writeFileSync(withToken, JSON.stringify(config), { mode: 0o600 });
    const agent = await startAgent(node.ns, node.stateDir, ['--kubeconfig', withToken, '--uplink', 'eth0', '--cluster-cidr', '10.244.0.0/16', '--bpffs-root', node.bpffsRoot, '--log-level', 'debug'], { env: { NODE_NAME: node.ns } });
    agentPid = agent.pid ?? 0;
    agent.stdout?.on('data', (data: Buffer) => (agentLog += data.toString()));
    agent.stderr?.on('data', (data: Buffer) => (agentLog += data.toString()));
    process.on('exit', () => agent.kill('SIGKILL'));
  });
  after(async () => {
    if (agentPid) process.kill(agentPid, 'SIGKILL');
    if (api && api.exitCode === null) {
      // Closing stdin lets the server remove its files; killing is the fallback.
      const exited = new Promise((resolve) => api.once('exit', resolve));
      api.stdin.end();
      const fallback = setTimeout(() => api.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(fallback);
    }
    await node?.cleanup();
  });

  test('the node takes its pod CIDR from its own Node object and knows the others at start', () => {
    assert.equal(readNodeSettings(node.stateDir)?.podCIDR, '10.244.9.0/24');
    assert.equal(readNodeSettings(node.stateDir)?.nodeName, node.ns);
    assert.deepEqual(subnets(), ['10.244.1.0/24']);
    assert.match(routes(), /10\.244\.1\.0\/24 via 192\.168\.60\.21 dev eth0/);
  });

  test('a node added, changed and deleted reaches the map and the routes within a second', async (t) => {
    await send({ op: 'upsert', node: { name: 'other-2', podCIDR: '10.244.2.0/24', internalIP: '192.168.60.22' } });
    const added = await within('add', () => subnets().includes('10.244.2.0/24') && routes().includes('10.244.2.0/24 via 192.168.60.22'));
    await send({ op: 'upsert', node: { name: 'other-2', podCIDR: '10.244.2.0/24', internalIP: '192.168.60.23' } });
    const changed = await within('change', () => routes().includes('10.244.2.0/24 via 192.168.60.23'));
    await send({ op: 'remove', name: 'other-2' });
    const removed = await within('delete', () => !subnets().includes('10.244.2.0/24') && !routes().includes('10.244.2.0/24'));
    t.diagnostic(`added in ${added} ms, changed in ${changed} ms, removed in ${removed} ms`);
  });

  test('a broken watch keeps live entries and catches up on what changed meanwhile', async () => {
    await send({ op: 'break' });
    assert.deepEqual(subnets(), ['10.244.1.0/24'], 'nothing removed while the watch is down');
    await send({ op: 'upsert', node: { name: 'other-3', podCIDR: '10.244.3.0/24', internalIP: '192.168.60.24' } });
    await send({ op: 'compact' });
    await waitFor('other-3 after the watch resumed', () => subnets().includes('10.244.3.0/24'), 5000).catch(() => undefined);
    assert.deepEqual(subnets(), ['10.244.1.0/24', '10.244.3.0/24']);
  });

  const rogueClaims: Array<[string, FakeNode, string]> = [
    ['the Service range', { name: 'rogue', podCIDR: '10.96.0.0/12', internalIP: '192.168.60.50' }, 'outside_cluster'],
    ['a range wider than the cluster', { name: 'rogue', podCIDR: '10.0.0.0/8', internalIP: '192.168.60.50' }, 'outside_cluster'],
    ["half of this node's subnet", { name: 'rogue', podCIDR: '10.244.9.0/25', internalIP: '192.168.60.50' }, 'overlaps_this_node'],
    ["a pod's address as its own", { name: 'rogue', podCIDR: '10.244.8.0/24', internalIP: '10.244.1.5' }, 'address'],
    ['loopback as its own address', { name: 'rogue', podCIDR: '10.244.8.0/24', internalIP: '127.0.0.1' }, 'address'],
    ["this node's address", { name: 'rogue', podCIDR: '10.244.8.0/24', internalIP: '192.168.60.11' }, 'address'],
  ];
  for (const [what, rogue, reason] of rogueClaims) {
    test(`a Node claiming ${what} is refused (${reason}); the real routes stay`, async () => {
      const [before, routesBefore] = [subnets(), routes()];
      await send({ op: 'upsert', node: rogue });
      await within(`rogue refused as ${reason}`, () => JSON.stringify((readRefusedNodes(node.stateDir) ?? []).map((n) => [n.name, n.reason])) === JSON.stringify([['rogue', reason]]));
      assert.deepEqual(subnets(), before);
      assert.equal(routes(), routesBefore);
      await send({ op: 'remove', name: 'rogue' });
      await within('rogue gone', () => (readRefusedNodes(node.stateDir) ?? []).length === 0);
    });
  }

  test('claims are judged by creation time: rogue claims refused, the older of two rivals holds until it leaves', async () => {
    const refused = (): string => JSON.stringify((readRefusedNodes(node.stateDir) ?? []).map((n) => [n.name, n.reason]).sort());
    const before = subnets();
    await send({ op: 'upsert', node: { name: 'rogue-default', podCIDR: '0.0.0.0/0', internalIP: '192.168.60.50' } });
    await send({ op: 'upsert', node: { name: 'rogue-copy', podCIDR: '10.244.1.0/24', internalIP: '192.168.60.51' } });
    // The newer rival is seen first; creation time, not arrival, decides.
    await send({ op: 'upsert', node: { name: 'rival-new', podCIDR: '10.244.7.0/24', internalIP: '192.168.60.57', created: '2026-06-02T00:00:00Z' } });
    await send({ op: 'upsert', node: { name: 'rival-old', podCIDR: '10.244.7.0/25', internalIP: '192.168.60.58', created: '2026-06-01T00:00:00Z' } });
    const expected = JSON.stringify([['rival-new', 'overlaps_node'], ['rogue-copy', 'overlaps_node'], ['rogue-default', 'outside_cluster']]);
    await within('the rogues and the newer rival refused', () => refused() === expected && routes().includes('10.244.7.0/25 via 192.168.60.58'));
    assert.deepEqual(subnets(), [...before, '10.244.7.0/25'].sort());
    assert.doesNotMatch(routes(), /default|192\.168\.60\.5[017]/, 'no route via a refused node');
    assert.match(routes(), /10\.244\.1\.0\/24 via 192\.168\.60\.21/, 'other-1 keeps its subnet');

    await send({ op: 'remove', name: 'rival-old' });
    await within('the newer rival admitted once the older left', () => routes().includes('10.244.7.0/24 via 192.168.60.57') && !refused().includes('rival-new'));
    for (const name of ['rival-new', 'rogue-copy', 'rogue-default']) await send({ op: 'remove', name });
    await within('back to the real nodes', () => JSON.stringify(subnets()) === JSON.stringify(before) && refused() === '[]');
  });

  test('an API server that goes down: /readyz says the list is stale, the retries pick up what changed meanwhile', async () => {
    await send({ op: 'down' });
    await waitFor('readyz to fail', () => agentGet(node.ns, '/readyz').status === 503, 10_000);
    assert.match(agentGet(node.ns, '/readyz').body, /node source: node list or watch failing for \d+ s \(.*\); the last good list is in force/);
    await send({ op: 'upsert', node: { name: 'other-4', podCIDR: '10.244.4.0/24', internalIP: '192.168.60.25' } });
    await send({ op: 'up' });
    // Retries back off to at most 30 s; the first few come within seconds.
    await waitFor('other-4 after the API server came back', () => subnets().includes('10.244.4.0/24'), 20_000);
    await waitFor('readyz to pass', () => agentGet(node.ns, '/readyz').status === 200, 5_000);
    await send({ op: 'remove', name: 'other-4' });
    await within('other-4 removed', () => !subnets().includes('10.244.4.0/24'));
  });

  test('the logs carry no credentials, the broken watch included', () => {
    assert.match(agentLog, /node list or watch failed, retrying in \d+ ms/, 'the broken watch was logged');
    assert.ok(!agentLog.includes(TOKEN), 'the bearer token appears in the agent log');
    assert.doesNotMatch(agentLog, /authorization|bearer/i);
  });
});
