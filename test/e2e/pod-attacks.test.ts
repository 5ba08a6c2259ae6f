// An attacker in a pod (root, CAP_NET_RAW, as containerd grants by default) and a rogue
// host or node on the node network, against the two-node lab in each mode, through pods
// made by the real plugin: router advertisements and redirects, forged ARP, VXLAN with
// forged inner sources, unwrapped pod sources from the underlay, loopback behind
// route_localnet, malformed IPv4, and a flood of idle connections to the agent. After
// each attack the nodes' routes, addresses and neighbours are as before, nothing forged
// reached a pod, the refusal was counted under its reason, and legitimate traffic still
// flows. Then all of it again after an agent restart over pods whose host veths carry
// the settings an earlier release left them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PEER_CONNECTIONS } from '../../agent/lib/http-endpoints';
import { packetsFor } from '../../bpf/counters';
import type { DirectionName, ReasonName } from '../../bpf/layouts';
import { tunnelMac } from '../../bpf/node-subnets';
import { pinnedCounters } from '../../bpf/pinned-maps';
import { atExit } from '../helpers/exit';
import { inNetns, needsRoot } from '../helpers/kernel';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import { arpFrame, icmpRedirect, icmpv6Redirect, ipv4Frame, routerAdvertisement, tcpSyn, udpDatagram, type Ipv4Fields } from '../helpers/packets';
import { METRICS_PORT, agentGet, scrape, valueOf } from '../helpers/prometheus';
import { sendFrames } from '../helpers/raw-frames';
import { ping, sendUdp, startTcpServer, startUdpListener, type UdpListener } from '../helpers/traffic';
import { waitFor } from '../helpers/wait';
import { labDown, labUp, type Lab, type LabPod } from '../lab/cluster';
import type { TestNode } from '../lab/node';

const VICTIM_PORT = 7777;
const VXLAN_PORT = 8472;
const VNI = 1;
const LOOPBACK_PORT = 7778;
/** An address of the cluster CIDR in no node's pod subnet. */
const NOBODYS_ADDRESS = '10.244.9.9';
const ROGUE_LINK_LOCAL = 'fe80::74:aff:fef4:101';
/** What must be 0 on the host side of every pod veth (family/setting under net.<family>.conf.<veth>). */
const HOST_VETH_SETTINGS = ['ipv4/accept_redirects', 'ipv6/accept_ra', 'ipv6/autoconf', 'ipv6/accept_redirects'];

/** What a pod's attack must not change on a node: its routes, addresses and neighbours (learnt MACs), both families. */
function nodeState(node: TestNode): string {
  const ip = (args: string[]): string => inNetns(node.ns, 'ip', args);
  const neighbours = (family: string): string[] =>
    ip([family, 'neigh', 'show'])
      .split('\n')
      .map((line) => /^(\S+) dev (\S+) lladdr (\S+)/.exec(line)?.slice(1).join(' '))
      .filter((entry): entry is string => entry !== undefined)
      .sort();
  return [ip(['-4', 'route', 'show', 'table', 'all']), ip(['-6', 'route', 'show', 'table', 'all']), ip(['-br', 'addr']), ...neighbours('-4'), ...neighbours('-6')].join('\n');
}

interface PodWire {
  /** The pod's eth0. */
  mac: string;
  /** The host side of its veth: the pod's next hop. */
  hostMac: string;
  hostVeth: string;
}

function wireOf(lab: Lab, pod: LabPod): PodWire {
  const node = lab.nodes.find((n) => n.name === pod.node) as TestNode;
  const mac = inNetns(pod.ns, 'cat', ['/sys/class/net/eth0/address']).trim();
  const hostMac = /lladdr (\S+)/.exec(inNetns(pod.ns, 'ip', ['neigh', 'show', '169.254.1.1', 'dev', 'eth0']))?.[1] as string;
  const links = JSON.parse(inNetns(node.ns, 'ip', ['-j', 'link', 'show', 'type', 'veth'])) as Array<{ ifname: string; address: string }>;
  const hostVeth = links.find((link) => link.address === hostMac)?.ifname as string;
  return { mac, hostMac, hostVeth };
}

/** A UDP datagram to a victim's listener, as IPv4 with `fields` (the forged or damaged parts). */
function toVictim(source: string, victim: LabPod, fields: Partial<Ipv4Fields> = {}): Buffer {
  const payload = udpDatagram({ source, destination: victim.ip, sourcePort: 40000, destinationPort: VICTIM_PORT }, Buffer.from(`forged by ${source}`));
  return ipv4Frame({ source, destination: victim.ip, protocol: 17, payload, ...fields });
}

/** A VXLAN header (the I flag, our VNI) and an inner frame for `victim` from `innerSource`, addressed to `node`'s VXLAN device. */
function vxlanPayload(node: TestNode, innerSource: string, victim: LabPod): Buffer {
  const header = Buffer.from([0x08, 0, 0, 0, (VNI >> 16) & 0xff, (VNI >> 8) & 0xff, VNI & 0xff, 0]);
  const inner = toVictim(innerSource, victim, { destinationMac: tunnelMac(node.ip), sourceMac: '02:76:0a:f4:09:09' });
  return Buffer.concat([header, inner]);
}

// Prints how many attempts have connected or failed, every 100 ms; keeps what connected open.
const IDLE_FLOOD = `const [host, port, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let settled = 0;
for (let i = 0; i < count; i++) {
  let connected = false;
  const socket = require('net').connect(port, host);
  socket.once('connect', () => { connected = true; settled++; });
  socket.once('close', () => { if (!connected) settled++; });
  socket.on('error', () => {});
}
setInterval(() => process.stdout.write(settled + '\\n'), 100);`;

/** Opens `count` idle connections from `ns` to host:port and holds them; resolves once every attempt connected or failed. */
async function idleFlood(ns: string, host: string, port: number, count: number): Promise<{ stop(): void }> {
  const flood = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', IDLE_FLOOD, host, String(port), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = (): void => void flood.kill('SIGKILL');
  const forget = atExit(kill);
  let settled = 0;
  flood.stdout.on('data', (data: Buffer) => {
    const lines = data.toString().trim().split('\n');
    settled = Number(lines[lines.length - 1]);
  });
  const stop = (): void => {
    forget();
    kill();
  };
  try {
    await waitFor(`${count} connection attempts from ${ns}`, () => settled >= count, 20_000, () => `(${settled} settled)`);
  } catch (error) {
    stop();
    throw error;
  }
  return { stop };
}

/** The status of a GET of `route` from inside `ns` to the agent's port on `host`; 0 when nothing answered within 5 s. */
function getFrom(ns: string, host: string, route: string): number {
  const script = `fetch('http://${host}:${METRICS_PORT}${route}', { signal: AbortSignal.timeout(5000) }).then((r) => process.stdout.write(String(r.status)), () => process.stdout.write('0'))`;
  return Number(inNetns(ns, process.execPath, ['-e', script]));
}

for (const mode of ['native', 'vxlan'] as const) {
  describe(`a pod attacking its node and other pods, ${mode} mode`, needsRoot, () => {
    let lab: Lab;
    let listeners: Map<string, UdpListener>;
    const pod = (name: string): LabPod => lab.pods.find((p) => p.name === name) as LabPod;
    const node = (name: string): TestNode => lab.nodes.find((n) => n.name === name) as TestNode;
    const counted = (on: TestNode, reason: ReasonName, direction: DirectionName): bigint => packetsFor(pinnedCounters(on.bpffsRoot), reason, direction);

    before(async () => {
      lab = await labUp({ nodes: 2, podsPerNode: 3, mode, outside: true, prefix: `${TEST_NETNS_PREFIX}${process.pid}-a${mode[0]}`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-lab-')) });
      process.on('exit', () => labDown(lab));
      listeners = new Map();
      for (const victim of lab.pods) listeners.set(victim.name, await startUdpListener(victim.ns, victim.ip, VICTIM_PORT));
      // The rogue host on the node network is a neighbour the nodes know before any attack.
      for (const n of lab.nodes) assert.equal(ping((lab.outside as { ns: string }).ns, n.ip, 1), 1);
      // Links that just came up still get their IPv6 link-local addresses (after duplicate
      // address detection); the attacks compare the nodes' state from after that.
      const tentative = (): string => lab.nodes.map((n) => inNetns(n.ns, 'ip', ['-6', 'addr', 'show', 'tentative'])).join('');
      await waitFor('IPv6 duplicate address detection on the nodes', () => tentative() === '', 10_000, tentative);
    });
    after(() => {
      listeners?.forEach((listener) => listener.stop());
      if (lab) labDown(lab);
    });

    /**
     * Runs `attack` and checks what every attack must leave: no datagram at any pod's
     * listener, nothing else `unharmed` looks for, both nodes' routes, addresses and
     * neighbours as they were, each counter in `refused` moved by its count, and the
     * legitimate paths still open.
     */
    let markers = 0;
    async function expectRefused(attack: () => void | Promise<void>, refused: Array<[TestNode, ReasonName, DirectionName, number]>, unharmed: () => void | Promise<void> = () => undefined): Promise<void> {
      const states = lab.nodes.map(nodeState);
      const counts = refused.map(([on, reason, direction]) => counted(on, reason, direction));
      await attack();
      // A marker from each pod's node, sent after the attack, arrives after anything it sent.
      const marker = Buffer.from(`marker ${markers++}`);
      for (const victim of lab.pods) sendUdp(node(victim.node).ns, victim.ip, VICTIM_PORT, marker);
      for (const [name, listener] of listeners) assert.deepEqual(await listener.takeUntil(marker), [], `nothing reached ${name}`);
      await unharmed();
      assert.deepEqual(lab.nodes.map(nodeState), states, "the nodes' routes, addresses and neighbours are unchanged");
      refused.forEach(([on, reason, direction, count], i) => assert.equal(counted(on, reason, direction) - counts[i], BigInt(count), `${reason}/${direction} on ${on.name}`));
      assert.equal(ping(pod('node1-pod1').ns, pod('node1-pod2').ip, 1), 1, 'pod to pod on one node');
      assert.equal(ping(pod('node1-pod1').ns, pod('node2-pod1').ip, 1), 1, 'pod to pod across nodes');
      assert.equal(ping(node('node2').ns, pod('node1-pod1').ip, 1), 1, 'node to a pod on another node');
      assert.equal(ping(pod('node1-pod1').ns, node('node2').ip, 1), 1, "pod to another node's address");
    }

    for (const phase of ['as wired by this build', 'after an agent restart over pods an earlier release wired'] as const) {
      describe(phase, () => {
        if (phase !== 'as wired by this build') {
          // What an earlier release left on the host side of its pods' veths: the kernel's
          // defaults. The restarted agent must put its own settings back.
          before(async () => {
            const node1 = node('node1');
            for (const victim of lab.pods.filter((p) => p.node === 'node1')) {
              const { hostVeth } = wireOf(lab, victim);
              for (const setting of HOST_VETH_SETTINGS) inNetns(node1.ns, 'sysctl', ['-qw', `net.${setting.replace('/', '.conf.' + hostVeth + '.')}=1`]);
            }
            process.kill(node1.agentPid, 'SIGKILL');
            await node1.startAgent();
          });
        }

        test("every pod veth's host side refuses router advertisements, autoconfiguration and redirects", () => {
          for (const victim of lab.pods) {
            const { hostVeth } = wireOf(lab, victim);
            const settings = HOST_VETH_SETTINGS.map((setting) => `net.${setting.replace('/', '.conf.' + hostVeth + '.')}`);
            assert.deepEqual(inNetns(node(victim.node).ns, 'sysctl', ['-n', ...settings]).trim().split('\n'), ['0', '0', '0', '0'], `${victim.name}'s ${hostVeth}: ${settings.join(', ')}`);
          }
        });

        test('router advertisements (a default route and a prefix) from a pod: dropped', async () => {
          const attacker = pod('node1-pod1');
          const { mac } = wireOf(lab, attacker);
          const advertisement = routerAdvertisement({ source: ROGUE_LINK_LOCAL, sourceMac: mac, routerLifetime: 1800, prefix: { prefix: '2001:db8:bad::/64' } });
          await expectRefused(() => sendFrames(attacker.ns, 'eth0', [advertisement, advertisement, advertisement]), [[node('node1'), 'TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD', 3]]);
        });

        test('ICMPv6 and ICMP redirects from a pod: dropped', async () => {
          const attacker = pod('node1-pod1');
          const { mac, hostMac } = wireOf(lab, attacker);
          const node1 = node('node1');
          const original = ipv4Frame({ source: node1.ip, destination: node('node2').ip, protocol: 17, payload: Buffer.alloc(8) }).subarray(14);
          const redirects = [
            icmpv6Redirect({ source: ROGUE_LINK_LOCAL, sourceMac: mac, target: ROGUE_LINK_LOCAL, redirected: '2001:db8::1' }),
            ipv4Frame({ source: attacker.ip, destination: node1.ip, protocol: 1, payload: icmpRedirect(attacker.ip, original), sourceMac: mac, destinationMac: hostMac }),
          ];
          await expectRefused(() => sendFrames(attacker.ns, 'eth0', redirects), [[node1, 'TWILL_DROPPED_ROUTER_MESSAGE', 'TWILL_FROM_POD', 2]]);
        });

        test("ARP for the node's address and another pod's, from a pod: dropped as spoofed", async () => {
          const attacker = pod('node1-pod1');
          const { mac } = wireOf(lab, attacker);
          const [node1, other] = [node('node1'), pod('node1-pod2')];
          const forged = [
            arpFrame({ op: 'request', senderMac: mac, senderIp: node1.ip, targetIp: node1.ip }),
            arpFrame({ op: 'request', senderMac: mac, senderIp: other.ip, targetIp: other.ip }),
            arpFrame({ op: 'request', senderMac: mac, senderIp: other.ip, targetIp: node1.ip }),
          ];
          await expectRefused(() => sendFrames(attacker.ns, 'eth0', forged), [[node1, 'TWILL_DROPPED_SPOOFED', 'TWILL_FROM_POD', 3]]);
        });

        test('VXLAN with forged inner sources from a pod, to its own node and to the other: dropped before it leaves', async () => {
          const attacker = pod('node1-pod1');
          const [node1, node2] = [node('node1'), node('node2')];
          // Inner sources owned by the sender's node, by the target's node, and by no node.
          const datagrams: Array<[TestNode, Buffer]> = [
            [node1, vxlanPayload(node1, pod('node2-pod1').ip, pod('node1-pod2'))],
            [node1, vxlanPayload(node1, NOBODYS_ADDRESS, pod('node1-pod2'))],
            [node2, vxlanPayload(node2, pod('node1-pod2').ip, pod('node2-pod1'))],
            [node2, vxlanPayload(node2, pod('node2-pod2').ip, pod('node2-pod1'))],
            [node2, vxlanPayload(node2, NOBODYS_ADDRESS, pod('node2-pod1'))],
          ];
          // In native mode no node listens for VXLAN: the datagrams are ordinary ones to a closed port.
          const refused: Array<[TestNode, ReasonName, DirectionName, number]> = mode === 'vxlan' ? [[node1, 'TWILL_DROPPED_TUNNEL_FROM_POD', 'TWILL_FROM_POD', datagrams.length]] : [];
          await expectRefused(() => datagrams.forEach(([target, payload]) => sendUdp(attacker.ns, target.ip, VXLAN_PORT, payload)), refused);
        });

        if (mode === 'vxlan') {
          test('VXLAN from a host that is no node, and from a node for sources outside its range: dropped', async () => {
            const [node1, node2] = [node('node1'), node('node2')];
            const outside = lab.outside as { ns: string };
            const victim = pod('node1-pod1');
            await expectRefused(
              () => {
                sendUdp(outside.ns, node1.ip, VXLAN_PORT, vxlanPayload(node1, pod('node2-pod1').ip, victim));
                sendUdp(node2.ns, node1.ip, VXLAN_PORT, vxlanPayload(node1, NOBODYS_ADDRESS, victim));
                sendUdp(node2.ns, node1.ip, VXLAN_PORT, vxlanPayload(node1, pod('node1-pod2').ip, victim));
              },
              [[node1, 'TWILL_DROPPED_FORGED_TUNNEL', 'TWILL_FROM_NETDEV', 3]],
            );
          });

          test('a pod source arriving unwrapped from the underlay: dropped', async () => {
            const [node1, node2] = [node('node1'), node('node2')];
            const node1Mac = inNetns(node1.ns, 'cat', ['/sys/class/net/eth0/address']).trim();
            const node2Mac = inNetns(node2.ns, 'cat', ['/sys/class/net/eth0/address']).trim();
            const frames = [pod('node2-pod1').ip, '10.244.2.9', pod('node1-pod2').ip].map((source) => toVictim(source, pod('node1-pod1'), { sourceMac: node2Mac, destinationMac: node1Mac }));
            await expectRefused(() => sendFrames(node2.ns, 'eth0', frames), [[node1, 'TWILL_DROPPED_NOT_WRAPPED', 'TWILL_FROM_NETDEV', frames.length]]);
          });
        }

        test('loopback from a pod, with route_localnet on: dropped', async () => {
          const attacker = pod('node1-pod1');
          const { mac, hostMac, hostVeth } = wireOf(lab, attacker);
          const node1 = node('node1');
          for (const device of ['all', hostVeth]) inNetns(node1.ns, 'sysctl', ['-qw', `net.ipv4.conf.${device}.route_localnet=1`]);
          const loopbackUdp = await startUdpListener(node1.ns, '127.0.0.1', LOOPBACK_PORT);
          const loopbackTcp = await startTcpServer(node1.ns, LOOPBACK_PORT, undefined, '127.0.0.1');
          try {
            const ends = { sourceMac: mac, destinationMac: hostMac };
            const flow = { source: attacker.ip, destination: '127.0.0.1', sourcePort: 40001, destinationPort: LOOPBACK_PORT };
            const frames = [
              ipv4Frame({ ...ends, source: attacker.ip, destination: '127.0.0.1', protocol: 6, payload: tcpSyn(flow) }),
              ipv4Frame({ ...ends, source: attacker.ip, destination: '127.0.0.1', protocol: 17, payload: udpDatagram(flow, Buffer.from('to the node loopback')) }),
            ];
            const reachedLoopback = async (): Promise<void> => {
              const marker = Buffer.from('from the node itself');
              sendUdp(node1.ns, '127.0.0.1', LOOPBACK_PORT, marker);
              assert.deepEqual(await loopbackUdp.takeUntil(marker), [], 'nothing reached the UDP service on 127.0.0.1');
              assert.equal(inNetns(node1.ns, 'ss', ['-Htn', 'state', 'syn-recv', `( sport = :${LOOPBACK_PORT} )`]).trim(), '', 'no SYN reached the TCP service on 127.0.0.1');
            };
            await expectRefused(() => sendFrames(attacker.ns, 'eth0', frames), [[node1, 'TWILL_DROPPED_MARTIAN', 'TWILL_FROM_POD', 2]], reachedLoopback);
          } finally {
            loopbackUdp.stop();
            loopbackTcp.stop();
            for (const device of ['all', hostVeth]) inNetns(node1.ns, 'sysctl', ['-qw', `net.ipv4.conf.${device}.route_localnet=0`]);
          }
        });

        test('malformed IPv4 from a pod, to a pod on its node and on the other: dropped', async () => {
          const attacker = pod('node1-pod1');
          const { mac, hostMac } = wireOf(lab, attacker);
          const ends = { sourceMac: mac, destinationMac: hostMac };
          const battery = (victim: LabPod): Buffer[] => [
            toVictim(attacker.ip, victim, { ...ends, badChecksum: true }),
            toVictim(attacker.ip, victim, { ...ends, version: 6 }),
            toVictim(attacker.ip, victim, { ...ends, totalLength: 400 }),
            // A first fragment too short for a TCP header, and one over the transport header.
            ipv4Frame({ ...ends, source: attacker.ip, destination: victim.ip, protocol: 6, payload: Buffer.alloc(8), fragment: 0x2000, id: 7 }),
            toVictim(attacker.ip, victim, { ...ends, fragment: 0x0001, id: 7 }),
          ];
          const node1 = node('node1');
          await expectRefused(() => sendFrames(attacker.ns, 'eth0', [...battery(pod('node1-pod2')), ...battery(pod('node2-pod1'))]), [
            [node1, 'TWILL_DROPPED_MALFORMED', 'TWILL_FROM_POD', 6],
            [node1, 'TWILL_DROPPED_FRAGMENT', 'TWILL_FROM_POD', 4],
          ]);
        });

        test('malformed IPv4 from the network to a pod: dropped', async () => {
          const [node1, node2] = [node('node1'), node('node2')];
          const ends = { sourceMac: inNetns(node2.ns, 'cat', ['/sys/class/net/eth0/address']).trim(), destinationMac: inNetns(node1.ns, 'cat', ['/sys/class/net/eth0/address']).trim() };
          const victim = pod('node1-pod1');
          const frames = [toVictim(node2.ip, victim, { ...ends, badChecksum: true }), toVictim(node2.ip, victim, { ...ends, version: 6 }), toVictim(node2.ip, victim, { ...ends, totalLength: 400 })];
          await expectRefused(() => sendFrames(node2.ns, 'eth0', frames), [[node1, 'TWILL_DROPPED_MALFORMED', 'TWILL_FROM_NETDEV', frames.length]]);
        });

        test("a flood of idle connections to the agent's port from pods: probes and scrapes still answer", async () => {
          const node1 = node('node1');
          const attackers = lab.pods.filter((p) => p.node === 'node1');
          const refused = (): number => valueOf(scrape(node1.ns), 'twill_http_connections_refused_total', { cap: 'address' });
          const refusedBefore = refused();
          const floods = [];
          try {
            for (const attacker of attackers) floods.push(await idleFlood(attacker.ns, node1.ip, METRICS_PORT, 1000));
            assert.equal(agentGet(node1.ns, '/readyz').status, 200, 'the kubelet probe (from the node) answers');
            assert.equal(agentGet(node1.ns, '/healthz').status, 200);
            assert.equal(getFrom(pod('node2-pod1').ns, node1.ip, '/metrics'), 200, 'a scrape from a pod elsewhere answers');
            // What the agent holds, as the node's kernel sees it.
            const held = (attacker: LabPod): number => inNetns(node1.ns, 'ss', ['-Htn', 'state', 'established', `( sport = :${METRICS_PORT} and dst ${attacker.ip} )`]).split('\n').filter(Boolean).length;
            for (const attacker of attackers) assert.ok(held(attacker) <= PEER_CONNECTIONS, `${attacker.name} holds ${held(attacker)} connections`);
            assert.ok(refused() > refusedBefore, 'the refused connections are counted');
          } finally {
            floods.forEach((flood) => flood.stop());
          }
        });
      });
    }
  });
}
