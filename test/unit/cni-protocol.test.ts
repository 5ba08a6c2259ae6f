// The CNI protocol layer run in-process (no root, no kernel): environment checks,
// config decoding and version negotiation, each answered with the spec's code and a
// message naming the field at fault (the table is shared with the kernel test
// bad-input, which runs it through the built plugin against a live node).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { dispatch } from '../../cni/lib/dispatch';
import { parseResult } from '../../cni/lib/result';
import { BAD_INPUTS, applyBadInput } from '../helpers/bad-inputs';

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
// No agent listens on this socket: every command that needs one finds none.
const STATE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-protocol-'));
after(() => fs.rmSync(STATE_DIR, { recursive: true, force: true }));
const CONFIG = { cniVersion: '1.0.0', name: 'twill', type: 'twill-cni', stateDir: STATE_DIR, agentSocket: path.join(STATE_DIR, 'cni.sock') };

async function run(env: Record<string, string | undefined>, config: unknown): Promise<{ code?: number; msg?: string; exitCode: number }> {
  const stdin = Buffer.isBuffer(config) ? config : Buffer.from(typeof config === 'string' ? config : JSON.stringify(config));
  const output = await dispatch(env, stdin);
  return { exitCode: output.exitCode, ...(output.stdout ? (JSON.parse(output.stdout) as { code?: number; msg?: string }) : {}) };
}

describe('CNI protocol errors', () => {
  for (const row of BAD_INPUTS) {
    test(`${row.name}: code ${row.code}`, async () => {
      const { env, stdin } = applyBadInput(row, ENV, CONFIG);
      const answer = await run(env, stdin);
      assert.equal(answer.exitCode, 1);
      assert.equal(answer.code, row.code, answer.msg);
      assert.match(answer.msg ?? '', row.msg);
    });
  }

  test('ADD with no agent: code 11 (kubelet retries), naming the socket', async () => {
    const answer = await run(ENV, CONFIG);
    assert.equal(answer.code, 11);
    assert.match(answer.msg ?? '', new RegExp(`not answering on ${CONFIG.agentSocket} \\(ENOENT\\)`));
  });

  test('runtimeConfig keys in any case are accepted (containerd capitalises portMappings fields)', async () => {
    const answer = await run(ENV, { ...CONFIG, runtimeConfig: { portMappings: [{ HostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
    assert.equal(answer.code, 11, 'gets past config parsing to the request');
  });

  test('VERSION needs no other variables and ignores stdin', async () => {
    const output = await dispatch({ CNI_COMMAND: 'VERSION' }, Buffer.alloc(0));
    assert.deepEqual(JSON.parse(output.stdout as string), { cniVersion: '1.1.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  test('DEL with no agent succeeds and leaves the attachment for the agent to free', async () => {
    const answer = await run({ ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, CONFIG);
    assert.equal(answer.exitCode, 0, answer.msg);
    const directory = path.join(STATE_DIR, 'pending-release');
    const records = fs.readdirSync(directory).map((name) => JSON.parse(fs.readFileSync(path.join(directory, name), 'utf8')) as unknown);
    assert.deepEqual(records, [{ containerID: ENV.CNI_CONTAINERID, ifname: ENV.CNI_IFNAME }]);
  });

  test('STATUS with no agent: code 50', async () => {
    const answer = await run({ CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' }, { ...CONFIG, cniVersion: '1.1.0' });
    assert.equal(answer.code, 50);
  });

  test('parseResult reads results of 0.3.1 and 1.0.0 alike', () => {
    const old = parseResult({ cniVersion: '0.3.1', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ version: '4', address: '10.0.0.2/32', interface: 0 }] });
    assert.deepEqual(old.ips, [{ address: '10.0.0.2/32', interface: 0 }]);
    assert.deepEqual(old.routes, []);
  });
});
