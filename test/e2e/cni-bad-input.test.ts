// Bad input through the built plugin on a live node (a pod already running): every row
// of the shared table, plus what only a kernel can tell (a netns path that does not
// exist or is no netns, an interface name the pod already uses), is answered with the
// spec's code and a message naming the field, and leaves the node exactly as it was:
// IPAM records, endpoint entries, link pins, veths, routes, and the target namespace.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { needsRoot } from '../helpers/kernel';
import { BAD_INPUTS, applyBadInput, type BadInput } from '../helpers/bad-inputs';
import { TestNetns } from '../helpers/netns';
import { type TestNode, newContainerID, standaloneNode } from '../lab/node';
import { podState } from '../helpers/node-state';
import { pluginEnv, pluginOutcome, spawnPlugin } from '../helpers/processes';

describe('bad input on a live node', needsRoot, () => {
  let node: TestNode;
  let live: TestNetns;
  let target: TestNetns;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-badinput-'));
  const kernelRows: BadInput[] = [];

  before(async () => {
    node = standaloneNode('bad');
    await node.startAgent();
    live = new TestNetns('badlive');
    await node.add({ containerID: newContainerID(), netns: live.path });
    target = new TestNetns('badtgt');
    const notANetns = path.join(scratch, 'file');
    fs.writeFileSync(notANetns, '');
    kernelRows.push(
      { name: 'CNI_NETNS that does not exist', env: { CNI_NETNS: '/run/netns/twt-no-such-namespace' }, code: 4, msg: /CNI_NETNS \/run\/netns\/twt-no-such-namespace does not exist/ },
      { name: 'CNI_NETNS a regular file', env: { CNI_NETNS: notANetns }, code: 4, msg: /CNI_NETNS is not a network namespace/ },
      { name: 'CNI_NETNS a directory', env: { CNI_NETNS: scratch }, code: 4, msg: /CNI_NETNS is not a network namespace/ },
      { name: 'CNI_IFNAME the pod already has (lo)', env: { CNI_IFNAME: 'lo' }, code: 4, msg: /CNI_IFNAME lo already exists in CNI_NETNS/ },
    );
  });
  after(async () => {
    live?.delete();
    target?.delete();
    await node?.cleanup();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('every bad input gets its code and a message naming the field, and changes nothing', async () => {
    const rows = [...BAD_INPUTS, ...kernelRows];
    assert.ok(rows.length >= 40, `${rows.length} rows`);
    const snapshot = () => ({ node: podState(node), target: target.exec('ip', ['-o', 'link', 'show']) });
    const before = snapshot();
    const wrong: string[] = [];
    for (const row of rows) {
      const { env, stdin } = applyBadInput(row, pluginEnv('ADD', { containerID: newContainerID(), netns: target.path }), node.netConf());
      const run = await pluginOutcome(spawnPlugin(node.ns, env, stdin));
      const answer = run.output as { code?: number; msg?: string } | undefined;
      if (run.exitCode !== 1 || answer?.code !== row.code || !row.msg.test(answer?.msg ?? '')) {
        wrong.push(`${row.name}: exit ${run.exitCode}, ${JSON.stringify(answer)} (want code ${row.code}, ${row.msg})`);
      }
      assert.deepEqual(snapshot(), before, `${row.name} changed the node`);
    }
    assert.deepEqual(wrong, []);
  });
});
