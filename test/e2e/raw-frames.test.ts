// raw-frames and the frame builders against a real kernel: frames built here and sent
// from namespace a must be taken by b's stack as if a host had sent them. Every case
// checks an effect only a well-formed frame has (a delivered payload, a route, a
// neighbour entry, an answer, a counter past checksum validation), so a wrong checksum
// or layout fails instead of being dropped quietly; the damaged frames must be dropped
// by the check their damage targets.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { needsRoot } from '../helpers/kernel';
import { TestNetns, wiredPair } from '../helpers/netns';
import {
  arpFrame,
  icmpEchoRequest,
  icmpRedirect,
  icmpv6Redirect,
  ipv4Frame,
  neighbourSolicitation,
  routerAdvertisement,
  tcpSyn,
  udpDatagram,
  type Ipv4Fields,
} from '../helpers/packets';
import { sendFrames } from '../helpers/raw-frames';
import { startUdpListener } from '../helpers/traffic';
import { waitFor } from '../helpers/wait';

const A_IP = '192.168.77.1';
const B_IP = '192.168.77.2';
const WAIT_MS = 5_000;
// b's link-local address is tentative until DAD is done, about a second on a veth.
const DAD_WAIT_MS = 10_000;

const mac = (ns: TestNetns, device: string): string => ns.exec('cat', [`/sys/class/net/${device}/address`]).trim();

/** `device`'s link-local address once DAD has finished with it. */
async function linkLocal(ns: TestNetns, device: string): Promise<string> {
  let address = '';
  await waitFor(`a settled link-local address on ${device}`, () => {
    address = /inet6 (fe80::[0-9a-f:]+)\//.exec(ns.exec('ip', ['-6', '-o', 'addr', 'show', 'dev', device, 'scope', 'link', '-tentative']))?.[1] ?? '';
    return address !== '';
  }, DAD_WAIT_MS);
  return address;
}

/** Every counter of `ns` by name: "Icmp.InEchos" from /proc/net/snmp and netstat, "Icmp6InEchos" from snmp6. */
function counters(ns: TestNetns): Map<string, number> {
  const found = new Map<string, number>();
  for (const file of ['snmp', 'netstat']) {
    // Pairs of lines: "Icmp: InMsgs InErrors ..." then "Icmp: 3 0 ...".
    const lines = ns.exec('cat', [`/proc/net/${file}`]).trim().split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const [group, ...names] = lines[i].split(/\s+/);
      const values = lines[i + 1].split(/\s+/).slice(1);
      names.forEach((name, j) => found.set(`${group.slice(0, -1)}.${name}`, Number(values[j])));
    }
  }
  for (const line of ns.exec('cat', ['/proc/net/snmp6']).trim().split('\n')) {
    const [name, value] = line.split(/\s+/);
    found.set(name, Number(value));
  }
  return found;
}

test('raw-frames: hand-built frames from one namespace are taken by the other as real traffic', needsRoot, async (t) => {
  const { a, b, cleanup } = wiredPair('raw');
  try {
    const aMac = mac(a, 'va');
    const bMac = mac(b, 'vb');
    const toB = { sourceMac: aMac, destinationMac: bMac, source: A_IP, destination: B_IP };

    await t.test('a UDP datagram reaches a listener in b with its exact payload (the UDP checksum is right)', async () => {
      const listener = await startUdpListener(b.name, B_IP, 5555);
      try {
        const payload = Buffer.from('forged by raw-frames');
        sendFrames(a.name, 'va', [ipv4Frame({ ...toB, protocol: 17, payload: udpDatagram({ source: A_IP, destination: B_IP, sourcePort: 4444, destinationPort: 5555 }, payload) })]);
        await waitFor('the datagram in b', () => listener.received().length > 0, WAIT_MS);
        assert.deepEqual(listener.received(), [payload]);
      } finally {
        listener.stop();
      }
    });

    await t.test('a router advertisement gives b a default route via a and an address in the prefix (ICMPv6 checksum and RA layout)', async () => {
      b.exec('sysctl', ['-qw', 'net.ipv6.conf.vb.accept_ra=1']);
      assert.equal(b.exec('sysctl', ['-n', 'net.ipv6.conf.vb.forwarding']).trim(), '0', 'a forwarding b ignores router advertisements');
      const router = await linkLocal(a, 'va');
      sendFrames(a.name, 'va', [routerAdvertisement({ sourceMac: aMac, source: router, routerLifetime: 600, prefix: { prefix: '2001:db8:bad::/64' } })]);
      const route = (): string => b.exec('ip', ['-6', 'route', 'show', 'default']);
      await waitFor('a default route in b', () => route().includes(`via ${router} dev vb`), WAIT_MS, route);
      const addresses = (): string => b.exec('ip', ['-6', 'addr', 'show', 'dev', 'vb']);
      await waitFor('a SLAAC address in 2001:db8:bad::/64 in b', () => addresses().includes('inet6 2001:db8:bad:'), WAIT_MS, addresses);
      assert.match(b.exec('ip', ['-6', 'route', 'show', '2001:db8:bad::/64']), /dev vb/, 'the on-link prefix is routed to the link');
    });

    await t.test('a gratuitous ARP makes b record the forged address', async () => {
      b.exec('sysctl', ['-qw', 'net.ipv4.conf.vb.arp_accept=1']);
      const forged = { mac: '02:00:00:00:be:ef', ip: '192.168.77.99' };
      sendFrames(a.name, 'va', [arpFrame({ op: 'request', senderMac: forged.mac, senderIp: forged.ip, targetIp: forged.ip })]);
      const neighbour = (): string => b.exec('ip', ['neigh', 'show', forged.ip, 'dev', 'vb']);
      await waitFor('the forged neighbour in b', () => neighbour().includes(`lladdr ${forged.mac}`), WAIT_MS, neighbour);
    });

    const bLinkLocal = await linkLocal(b, 'vb');
    const aLinkLocal = await linkLocal(a, 'va');
    const echo = (damage: Partial<Ipv4Fields>): Buffer => ipv4Frame({ ...toB, protocol: 1, payload: icmpEchoRequest(7, 1, Buffer.from('twill')), ...damage });
    const cases: Array<{ name: string; frame: Buffer; moves: string[]; stays?: string[] }> = [
      { name: 'an ICMP echo request is answered', frame: echo({}), moves: ['Icmp.InEchos', 'Icmp.OutEchoReps'] },
      { name: 'a TCP SYN to a closed port is reset', frame: ipv4Frame({ ...toB, protocol: 6, payload: tcpSyn({ source: A_IP, destination: B_IP, sourcePort: 4444, destinationPort: 9 }) }), moves: ['Tcp.OutRsts'] },
      {
        name: 'an ICMP redirect passes the ICMP checksum',
        frame: ipv4Frame({ ...toB, protocol: 1, payload: icmpRedirect('192.168.77.50', ipv4Frame({ source: B_IP, destination: '10.9.9.9', protocol: 17, payload: Buffer.alloc(8) }).subarray(14)) }),
        moves: ['Icmp.InRedirects'],
      },
      { name: 'a neighbour solicitation for b is answered', frame: neighbourSolicitation({ sourceMac: aMac, source: aLinkLocal, target: bLinkLocal }), moves: ['Icmp6InNeighborSolicits', 'Icmp6OutNeighborAdvertisements'] },
      {
        name: 'an ICMPv6 redirect passes the ICMPv6 checksum',
        frame: icmpv6Redirect({ sourceMac: aMac, destinationMac: bMac, source: aLinkLocal, destination: bLinkLocal, target: 'fe80::bad', redirected: '2001:db8:1::1' }),
        moves: ['Icmp6InRedirects'],
      },
      { name: 'an IPv4 header with a bad checksum is dropped', frame: echo({ badChecksum: true }), moves: ['IpExt.InCsumErrors'], stays: ['Icmp.InEchos'] },
      { name: 'an IPv4 header with version 5 is dropped', frame: echo({ version: 5 }), moves: ['Ip.InHdrErrors'], stays: ['Icmp.InEchos'] },
      { name: 'an IPv4 total length beyond the frame is dropped', frame: echo({ totalLength: 200 }), moves: ['IpExt.InTruncatedPkts'], stays: ['Icmp.InEchos'] },
    ];
    for (const { name, frame, moves, stays = [] } of cases) {
      await t.test(name, async () => {
        const before = counters(b);
        for (const counter of [...moves, ...stays]) assert.ok(before.has(counter), `b has no counter ${counter}`);
        sendFrames(a.name, 'va', [frame]);
        let now = before;
        const unmoved = (): string[] => moves.filter((counter) => now.get(counter) === before.get(counter));
        const allMoved = (): boolean => {
          now = counters(b);
          return unmoved().length === 0;
        };
        await waitFor(`${moves.join(', ')} in b`, allMoved, WAIT_MS, () => `unmoved: ${unmoved().join(', ')}`);
        for (const counter of stays) assert.equal(now.get(counter), before.get(counter), `${counter} moved`);
      });
    }
  } finally {
    cleanup();
  }
});

test('raw-frames: a failing step fails the send, named on one line of stderr', needsRoot, () => {
  const ns = new TestNetns('rawerr');
  try {
    ns.exec('ip', ['link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
    assert.throws(() => sendFrames(ns.name, 'nosuchdev', [Buffer.alloc(60)]), /raw-frames: if_nametoindex: No such device\n/);
    assert.throws(() => sendFrames(ns.name, 'd0', [Buffer.alloc(10)]), /raw-frames: frame shorter than an Ethernet header: 0{20} \(usage/);
    assert.throws(() => sendFrames(ns.name, 'd0', [Buffer.alloc(60)]), /raw-frames: send frame 1 of 1: Network is down\n/, 'd0 is down');
  } finally {
    ns.delete();
  }
});
