// The plugin and the agent over their real socket, both in-process (no root, no
// kernel): dispatch() talks to serveCni() with a stub handler in place of the pod
// network, so what crosses the socket is exactly what the two sides would exchange on
// a node: the request the handler sees, the result or error the runtime is printed,
// what is left for the agent when it is down or goes away mid-request, and what the
// agent counts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import pino from 'pino';

import { PENDING_RELEASES_DIRECTORY, POD_COMMANDS, type AgentAnswer, type PodInterfaces, type PodRequest } from '../../agent/api/cni';
import { AgentMetrics } from '../../agent/lib/metrics';
import { serveCni } from '../../agent/lib/pods/cni-server';
import { dispatch } from '../../cni/lib/dispatch';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

const ATTACHMENT = { containerID: 'pod-a-1', ifname: 'eth0' };
const NETNS = '/run/netns/pod-a';
const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: ATTACHMENT.containerID, CNI_NETNS: NETNS, CNI_IFNAME: ATTACHMENT.ifname, CNI_PATH: '/opt/cni/bin' };
const POD: PodInterfaces = { addresses: [{ address: '10.244.1.5/32', gateway: '10.244.1.1' }], hostVeth: { name: 'twl1a2b3c', mac: '02:00:00:00:00:01' }, podInterface: { name: 'eth0', mac: '02:00:00:00:00:02' } };

/** A directory of its own per test: the agent's run directory and state directory both. */
function freshDir(): string {
  return fs.mkdtempSync(path.join(ROOT, 'case-'));
}

function configFor(dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'twill', type: 'twill-cni', agentSocket: path.join(dir, 'run', 'cni.sock'), stateDir: dir, ...extra };
}

async function run(env: Record<string, string>, config: unknown): Promise<{ exitCode: number; printed?: Record<string, unknown> }> {
  const output = await dispatch(env, Buffer.from(JSON.stringify(config)));
  return { exitCode: output.exitCode, ...(output.stdout ? { printed: JSON.parse(output.stdout) as Record<string, unknown> } : {}) };
}

/** The records a plugin left for the agent's next start; none when it never wrote the directory. */
function pendingReleases(stateDir: string): unknown[] {
  const directory = path.join(stateDir, PENDING_RELEASES_DIRECTORY);
  if (!fs.existsSync(directory)) return [];
  return fs.readdirSync(directory).map((name) => JSON.parse(fs.readFileSync(path.join(directory, name), 'utf8')) as unknown);
}

interface StubAgent {
  socketPath: string;
  requests: PodRequest[];
  metrics: AgentMetrics;
  close(): Promise<void>;
}

/** The agent's real socket server; the stub answers in place of the pod network and keeps what it was asked. */
async function startAgent(dir: string, answer: (request: PodRequest) => AgentAnswer = () => ({ ok: true })): Promise<StubAgent> {
  const requests: PodRequest[] = [];
  const metrics = new AgentMetrics();
  const socketPath = path.join(dir, 'run', 'cni.sock');
  const handler = async (request: PodRequest): Promise<AgentAnswer> => {
    requests.push(request);
    return answer(request);
  };
  const { server } = await serveCni(socketPath, handler, metrics, pino({ level: 'silent' }));
  return { socketPath, requests, metrics, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** One sample of the agent's /metrics text with exactly these labels, undefined when there is none. */
async function sample(metrics: AgentMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  for (const line of (await metrics.registry.metrics()).split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key, value]);
    if (JSON.stringify(found.sort()) === wanted) return Number(match[3]);
  }
  return undefined;
}

/** One raw line to a socket and the answer line back, as a plugin of another build might send it. */
function exchange(socketPath: string, line: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = net.createConnection(socketPath, () => socket.write(line + '\n'));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('end', () => resolve(JSON.parse(received) as Record<string, unknown>));
  });
}

describe('plugin and agent over the CNI socket', () => {
  for (const cniVersion of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    test(`ADD ${cniVersion}: the agent gets the attachment, netns and mtu; the runtime gets the pod's interfaces in its version`, async () => {
      const dir = freshDir();
      const agent = await startAgent(dir, () => ({ ok: true, pod: POD }));
      try {
        const { exitCode, printed } = await run(ENV, configFor(dir, { cniVersion, mtu: 1400 }));
        assert.equal(exitCode, 0, JSON.stringify(printed));
        assert.deepEqual(agent.requests, [{ command: 'ADD', attachment: ATTACHMENT, netns: NETNS, mtu: 1400 }]);
        // 0.3.x and 0.4.0 tag each address with its IP version; 1.0.0 dropped the field.
        const ip = { address: '10.244.1.5/32', gateway: '10.244.1.1', interface: 1 };
        assert.deepEqual(printed, {
          cniVersion,
          interfaces: [{ name: POD.hostVeth.name, mac: POD.hostVeth.mac }, { name: 'eth0', mac: POD.podInterface.mac, sandbox: NETNS }],
          ips: [['0.3.1', '0.4.0'].includes(cniVersion) ? { version: '4', ...ip } : ip],
          routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }],
          dns: {},
        });
      } finally {
        await agent.close();
      }
    });

    test(`ADD ${cniVersion} of a dual-stack pod: both addresses on eth0, a default route for each family`, async () => {
      const dir = freshDir();
      const dual: PodInterfaces = { ...POD, addresses: [...POD.addresses, { address: 'fd00:10:244:1::5/128', gateway: 'fe80::1' }] };
      const agent = await startAgent(dir, () => ({ ok: true, pod: dual }));
      try {
        const { exitCode, printed } = await run(ENV, configFor(dir, { cniVersion }));
        assert.equal(exitCode, 0, JSON.stringify(printed));
        const old = ['0.3.1', '0.4.0'].includes(cniVersion);
        assert.deepEqual(printed?.ips, [
          { ...(old ? { version: '4' } : {}), address: '10.244.1.5/32', gateway: '10.244.1.1', interface: 1 },
          { ...(old ? { version: '6' } : {}), address: 'fd00:10:244:1::5/128', gateway: 'fe80::1', interface: 1 },
        ]);
        assert.deepEqual(printed?.routes, [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }, { dst: '::/0', gw: 'fe80::1' }]);
      } finally {
        await agent.close();
      }
    });
  }

  test('ADD without mtu sends none (the agent applies the node\'s), and a prevResult from an earlier plugin is extended, not replaced', async () => {
    const dir = freshDir();
    const agent = await startAgent(dir, () => ({ ok: true, pod: POD }));
    const prevResult = {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'lo', sandbox: NETNS }],
      ips: [{ version: '4', address: '192.168.7.2/24', interface: 0 }],
      routes: [{ dst: '192.168.0.0/16' }],
      dns: { nameservers: ['10.96.0.10'] },
    };
    try {
      const { exitCode, printed } = await run(ENV, configFor(dir, { cniVersion: '0.4.0', prevResult }));
      assert.equal(exitCode, 0, JSON.stringify(printed));
      assert.deepEqual(agent.requests, [{ command: 'ADD', attachment: ATTACHMENT, netns: NETNS }]);
      assert.deepEqual(printed, {
        cniVersion: '0.4.0',
        interfaces: [...prevResult.interfaces, { name: POD.hostVeth.name, mac: POD.hostVeth.mac }, { name: 'eth0', mac: POD.podInterface.mac, sandbox: NETNS }],
        // Our address points past the earlier plugin's interfaces, at the pod's eth0.
        ips: [...prevResult.ips, { version: '4', address: '10.244.1.5/32', gateway: '10.244.1.1', interface: 2 }],
        routes: [...prevResult.routes, { dst: '0.0.0.0/0', gw: '10.244.1.1' }],
        dns: prevResult.dns,
      });
    } finally {
      await agent.close();
    }
  });

  test('an error answer is printed as the agent gave it (code, msg, details), exit 1', async () => {
    const dir = freshDir();
    const agent = await startAgent(dir, (request) =>
      request.command === 'ADD' ? { ok: false, code: 11, msg: 'pod CIDR 10.244.1.0/24 is full', details: '254 of 254 addresses in use' } : { ok: false, code: 101, msg: 'unexpected failure: boom' },
    );
    try {
      assert.deepEqual(await run(ENV, configFor(dir)), { exitCode: 1, printed: { cniVersion: '1.0.0', code: 11, msg: 'pod CIDR 10.244.1.0/24 is full', details: '254 of 254 addresses in use' } });
      // No details from the agent: none printed (not an empty string).
      assert.deepEqual(await run({ ...ENV, CNI_COMMAND: 'DEL' }, configFor(dir)), { exitCode: 1, printed: { cniVersion: '1.0.0', code: 101, msg: 'unexpected failure: boom' } });
    } finally {
      await agent.close();
    }
  });

  test('CHECK sends the prevResult\'s addresses, GC the valid attachments; STATUS\'s code 50 passes through', async () => {
    const dir = freshDir();
    const agent = await startAgent(dir, (request) => (request.command === 'STATUS' ? { ok: false, code: 50, msg: 'the pod network is not ready' } : { ok: true }));
    try {
      const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: NETNS }], ips: [{ address: '10.244.1.5/32', interface: 0 }, { address: '10.244.9.9/32' }] };
      assert.deepEqual(await run({ ...ENV, CNI_COMMAND: 'CHECK' }, configFor(dir, { prevResult })), { exitCode: 0 });
      const validAttachments = [ATTACHMENT, { containerID: 'pod-b-2', ifname: 'net1' }];
      assert.deepEqual(await run({ CNI_COMMAND: 'GC', CNI_PATH: ENV.CNI_PATH }, configFor(dir, { cniVersion: '1.1.0', 'cni.dev/valid-attachments': validAttachments })), { exitCode: 0 });
      const status = await run({ CNI_COMMAND: 'STATUS', CNI_PATH: ENV.CNI_PATH }, configFor(dir, { cniVersion: '1.1.0' }));
      assert.deepEqual(status, { exitCode: 1, printed: { cniVersion: '1.1.0', code: 50, msg: 'the pod network is not ready' } });
      assert.deepEqual(agent.requests, [
        { command: 'CHECK', attachment: ATTACHMENT, netns: NETNS, addresses: ['10.244.1.5/32', '10.244.9.9/32'] },
        { command: 'GC', validAttachments },
        { command: 'STATUS' },
      ]);
    } finally {
      await agent.close();
    }
  });

  test('no agent: ADD code 11 naming the socket and nothing left; DEL succeeds with a record for the agent; STATUS code 50', async () => {
    const dir = freshDir();
    const socketPath = path.join(dir, 'run', 'cni.sock');
    const add = await run(ENV, configFor(dir));
    assert.equal(add.exitCode, 1);
    assert.equal(add.printed?.code, 11);
    assert.ok(String(add.printed?.msg).includes(socketPath), String(add.printed?.msg));
    // The agent never saw this ADD, so there is nothing of it to undo.
    assert.deepEqual(pendingReleases(dir), []);

    assert.deepEqual(await run({ ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, configFor(dir)), { exitCode: 0 });
    assert.deepEqual(pendingReleases(dir), [ATTACHMENT]);
    const [record] = fs.readdirSync(path.join(dir, PENDING_RELEASES_DIRECTORY));
    assert.match(record, /\.json$/, 'a whole record, not the temporary file');

    const status = await run({ CNI_COMMAND: 'STATUS', CNI_PATH: ENV.CNI_PATH }, configFor(dir, { cniVersion: '1.1.0' }));
    assert.equal(status.printed?.code, 50);
  });

  for (const command of ['ADD', 'DEL']) {
    test(`an agent that takes ${command} and closes without answering: ${command === 'ADD' ? 'code 11' : 'exit 0'} and a record, since any part may have been done`, async () => {
      const dir = freshDir();
      const socketPath = path.join(dir, 'run', 'cni.sock');
      fs.mkdirSync(path.dirname(socketPath), { recursive: true });
      const lines: string[] = [];
      // Reads the whole request, then goes away as an agent killed mid-command would.
      const server = net.createServer((connection) => {
        connection.setEncoding('utf8');
        connection.on('data', (chunk: string) => {
          lines.push(chunk);
          connection.destroy();
        });
      });
      await new Promise<void>((resolve) => server.listen(socketPath, resolve));
      try {
        const { exitCode, printed } = await run({ ...ENV, CNI_COMMAND: command }, configFor(dir));
        assert.equal(JSON.parse(lines.join('')).command, command, 'the agent did receive the request');
        if (command === 'ADD') {
          assert.equal(exitCode, 1);
          assert.equal(printed?.code, 11);
          assert.match(String(printed?.msg), /without answering|failed mid-request/);
        } else {
          assert.deepEqual({ exitCode, printed }, { exitCode: 0, printed: undefined });
        }
        assert.deepEqual(pendingReleases(dir), [ATTACHMENT]);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  }

  test('a command the plugin refuses is counted by the agent, and only as a refusal: no ADD reaches the pod network', async () => {
    const dir = freshDir();
    const agent = await startAgent(dir, () => ({ ok: true, pod: POD }));
    try {
      const { exitCode, printed } = await run(ENV, configFor(dir, { mtu: 1 }));
      assert.equal(exitCode, 1);
      assert.equal(printed?.code, 7);
      assert.match(String(printed?.msg), /mtu/);
      assert.deepEqual(agent.requests, [{ command: 'REFUSED', refused: 'ADD', code: 7 }]);
      assert.equal(await sample(agent.metrics, 'twill_cni_operations_total', { command: 'ADD', result: 'invalid_config' }), 1);
      assert.equal(await sample(agent.metrics, 'twill_cni_operations_total', { command: 'ADD', result: 'success' }), 0);
      // The agent did no work for it, so it is not timed as an ADD.
      assert.equal(await sample(agent.metrics, 'twill_cni_operation_duration_seconds_count', { command: 'ADD' }), 0);
    } finally {
      await agent.close();
    }
    // With no agent to tell, the refusal is still printed, not turned into code 11.
    const alone = await run(ENV, configFor(freshDir(), { mtu: 1 }));
    assert.equal(alone.printed?.code, 7);
  });
});

describe('serveCni', () => {
  test('the socket is 0600 in a 0700 directory', async () => {
    const agent = await startAgent(freshDir());
    try {
      assert.equal(fs.statSync(agent.socketPath).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(agent.socketPath)).mode & 0o777, 0o700);
    } finally {
      await agent.close();
    }
  });

  test('a malformed request is answered code 6 and never reaches the handler or the metric labels', async () => {
    const agent = await startAgent(freshDir());
    try {
      for (const line of ['not json', '{"command":"ADD"}', '{"command":"ADD","attachment":{"containerID":"a","ifname":"eth0"},"netns":"relative"}', '{"command":"FROB"}', '{"command":"REFUSED","refused":"FROB","code":7}']) {
        const answer = await exchange(agent.socketPath, line);
        assert.equal(answer.ok, false, line);
        assert.equal(answer.code, 6, line);
        assert.match(String(answer.msg), /^request to the agent: /, line);
      }
      assert.deepEqual(agent.requests, []);
      assert.doesNotMatch(await agent.metrics.registry.metrics(), /FROB/);
      for (const command of POD_COMMANDS) assert.equal(await sample(agent.metrics, 'twill_cni_operations_total', { command, result: 'decode_failure' }), 0, command);
    } finally {
      await agent.close();
    }
  });

  test('served commands are counted by result, each with its duration', async () => {
    const agent = await startAgent(freshDir(), (request) => (request.command === 'DEL' ? { ok: false, code: 11, msg: 'busy' } : { ok: true, pod: POD }));
    try {
      const add = JSON.stringify({ command: 'ADD', attachment: ATTACHMENT, netns: NETNS });
      assert.deepEqual(await exchange(agent.socketPath, add), { ok: true, pod: POD });
      assert.deepEqual(await exchange(agent.socketPath, add), { ok: true, pod: POD });
      assert.deepEqual(await exchange(agent.socketPath, JSON.stringify({ command: 'DEL', attachment: ATTACHMENT, netns: '' })), { ok: false, code: 11, msg: 'busy' });
      const count = (labels: Record<string, string>): Promise<number | undefined> => sample(agent.metrics, 'twill_cni_operations_total', labels);
      assert.equal(await count({ command: 'ADD', result: 'success' }), 2);
      assert.equal(await count({ command: 'DEL', result: 'try_again_later' }), 1);
      assert.equal(await count({ command: 'DEL', result: 'success' }), 0);
      assert.equal(await count({ command: 'CHECK', result: 'success' }), 0, 'every command has its series from the start');
      assert.equal(await sample(agent.metrics, 'twill_cni_operation_duration_seconds_count', { command: 'ADD' }), 2);
      assert.equal(await sample(agent.metrics, 'twill_cni_operation_duration_seconds_count', { command: 'DEL' }), 1);
    } finally {
      await agent.close();
    }
  });
});
