// The CNI protocol layer run in-process (no root, no kernel): environment checks,
// config decoding and version negotiation, each answered with the spec's code and a
// message naming the field at fault.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { dispatch } from '../../cni/lib/dispatch';
import { parseResult } from '../../cni/lib/result';

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const CONFIG = { cniVersion: '1.0.0', name: 'twill', type: 'twill-cni', stateDir: '/nonexistent/twill-state' };

async function run(env: Record<string, string | undefined>, config: unknown): Promise<{ code?: number; msg?: string; exitCode: number }> {
  const stdin = Buffer.isBuffer(config) ? config : Buffer.from(typeof config === 'string' ? config : JSON.stringify(config));
  const output = await dispatch(env, stdin);
  return { exitCode: output.exitCode, ...(output.stdout ? (JSON.parse(output.stdout) as { code?: number; msg?: string }) : {}) };
}

const rows: Array<{ name: string; env?: Record<string, string | undefined>; config?: unknown; code: number; msg: RegExp }> = [
  { name: 'no CNI_COMMAND', env: { ...ENV, CNI_COMMAND: undefined }, code: 4, msg: /CNI_COMMAND is not set/ },
  { name: 'unknown CNI_COMMAND', env: { ...ENV, CNI_COMMAND: 'UPDATE' }, code: 4, msg: /CNI_COMMAND "UPDATE"/ },
  { name: 'ADD without CNI_NETNS', env: { ...ENV, CNI_NETNS: undefined }, code: 4, msg: /missing for ADD: CNI_NETNS/ },
  { name: 'ADD without CNI_CONTAINERID and CNI_IFNAME', env: { ...ENV, CNI_CONTAINERID: undefined, CNI_IFNAME: undefined }, code: 4, msg: /CNI_CONTAINERID, CNI_IFNAME/ },
  { name: 'container ID with a slash', env: { ...ENV, CNI_CONTAINERID: 'a/b' }, code: 4, msg: /CNI_CONTAINERID "a\/b"/ },
  { name: 'interface name too long', env: { ...ENV, CNI_IFNAME: 'eth0123456789012' }, code: 4, msg: /CNI_IFNAME "eth0123456789012" is not a valid interface name/ },
  { name: 'relative netns path', env: { ...ENV, CNI_NETNS: 'netns/x' }, code: 4, msg: /CNI_NETNS "netns\/x" must be an absolute path/ },
  { name: 'CNI_ARGS pair without =', env: { ...ENV, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME' }, code: 4, msg: /CNI_ARGS: "K8S_POD_NAME" is not KEY=VALUE/ },
  { name: 'unknown CNI_ARGS without IgnoreUnknown', env: { ...ENV, CNI_ARGS: 'FOO=bar' }, code: 2, msg: /unknown argument FOO/ },
  { name: 'stdin not JSON', config: '{"cniVersion": ', code: 6, msg: /not JSON/ },
  { name: 'stdin a JSON array', config: [], code: 6, msg: /must be a JSON object/ },
  { name: 'stdin over 1 MiB', config: Buffer.alloc((1 << 20) + 1, 0x20), code: 6, msg: /more than the 1048576 allowed/ },
  { name: 'cniVersion missing', config: { ...CONFIG, cniVersion: undefined }, code: 7, msg: /cniVersion is required/ },
  { name: 'cniVersion unsupported', config: { ...CONFIG, cniVersion: '0.2.0' }, code: 1, msg: /cniVersion "0.2.0" is not supported/ },
  { name: 'name missing', config: { ...CONFIG, name: undefined }, code: 7, msg: /network config: name is required/ },
  { name: 'type a number', config: { ...CONFIG, type: 3 }, code: 7, msg: /type is required and must be a string/ },
  { name: 'mtu too small', config: { ...CONFIG, mtu: 100 }, code: 7, msg: /mtu must be an integer from 576/ },
  { name: 'bpffsRoot relative', config: { ...CONFIG, bpffsRoot: 'sys/fs/bpf' }, code: 7, msg: /bpffsRoot must be an absolute path/ },
  { name: 'an ipam section', config: { ...CONFIG, ipam: { type: 'host-local' } }, code: 2, msg: /ipam is not supported/ },
  { name: 'prevResult.ips not a list', config: { ...CONFIG, prevResult: { ips: 'x' } }, code: 7, msg: /prevResult.ips must be a list/ },
  { name: 'prevResult address missing', config: { ...CONFIG, prevResult: { ips: [{ gateway: '1.2.3.4' }] } }, code: 7, msg: /prevResult.ips\[0\].address must be a string/ },
  { name: 'runtimeConfig not an object', config: { ...CONFIG, runtimeConfig: 'x' }, code: 7, msg: /runtimeConfig must be an object/ },
  { name: 'ADD before the agent set up the node', config: CONFIG, code: 50, msg: /agent has not set up this node/ },
  { name: 'CHECK on a 0.3.1 config', env: { ...ENV, CNI_COMMAND: 'CHECK' }, config: { ...CONFIG, cniVersion: '0.3.1' }, code: 1, msg: /CHECK needs cniVersion 0.4.0/ },
  { name: 'CHECK without prevResult', env: { ...ENV, CNI_COMMAND: 'CHECK' }, config: CONFIG, code: 7, msg: /prevResult is required for CHECK/ },
  { name: 'GC without valid attachments', env: { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, config: { ...CONFIG, cniVersion: '1.1.0' }, code: 7, msg: /cni.dev\/valid-attachments is required/ },
  { name: 'STATUS on a 1.0.0 config', env: { CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' }, config: CONFIG, code: 1, msg: /STATUS needs cniVersion 1.1.0/ },
];

describe('CNI protocol errors', () => {
  for (const row of rows) {
    test(`${row.name}: code ${row.code}`, async () => {
      const answer = await run(row.env ?? ENV, row.config ?? CONFIG);
      assert.equal(answer.exitCode, 1);
      assert.equal(answer.code, row.code, answer.msg);
      assert.match(answer.msg ?? '', row.msg);
    });
  }

  test('runtimeConfig keys in any case are accepted (containerd capitalises portMappings fields)', async () => {
    const answer = await run(ENV, { ...CONFIG, runtimeConfig: { portMappings: [{ HostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
    assert.equal(answer.code, 50, 'gets past config parsing to the node check');
  });

  test('VERSION needs no other variables and ignores stdin', async () => {
    const output = await dispatch({ CNI_COMMAND: 'VERSION' }, Buffer.alloc(0));
    assert.deepEqual(JSON.parse(output.stdout as string), { cniVersion: '1.1.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  test('DEL of an unknown attachment with no state at all succeeds', async () => {
    const answer = await run({ ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, { ...CONFIG, bpffsRoot: '/nonexistent/bpffs' });
    assert.equal(answer.exitCode, 0, answer.msg);
  });

  test('parseResult reads results of 0.3.1 and 1.0.0 alike', () => {
    const old = parseResult({ cniVersion: '0.3.1', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ version: '4', address: '10.0.0.2/32', interface: 0 }] });
    assert.deepEqual(old.ips, [{ address: '10.0.0.2/32', interface: 0 }]);
    assert.deepEqual(old.routes, []);
  });
});
