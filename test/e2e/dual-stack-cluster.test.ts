// Three nodes of a dual-stack cluster and of an IPv6-only one, each natively routed and
// in vxlan mode: every pod reaches every pod at each of its addresses; IPv6 between
// nodes is forwarded by the programs (bpf_redirect_neigh towards the other node's IPv6
// address, or wrapped in VXLAN to its underlay address: IPv4 in a dual-stack cluster,
// IPv6 in an IPv6-only one) and counted as IPv6; IPv6 pods leave the cluster masqueraded by ip6tables; a Service DNATed by
// ip6tables reaches backends on the same and another node; nodes leaving and joining
// update both families' maps and routes; a node's refused IPv6 claim leaves its IPv4
// one, and the other nodes, as they were; and in vxlan mode, a pod's IPv6 packet too big
// for the uplink once wrapped is answered with ICMPv6 packet too big.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { addressesByFamily } from '../../bpf/addresses';
import { TUNNEL_DEVICE, VXLAN_OVERHEAD, tunnelAddress } from '../../agent/lib/host-network';
import { tunnelGateway6 } from '../../agent/lib/node-sync';
import { readNodeSettings } from '../../agent/lib/node-settings';
import { packetsFor } from '../../bpf/counters';
import { pinnedCounters, pinnedNodeSubnets } from '../../bpf/pinned-maps';
import { readRefusedNodes } from '../../agent/lib/refused-nodes';
import { inNetns, needsRoot } from '../helpers/kernel';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import { ping, sendUdp, startTcpServer, startUdpListener, tcpEchoBulk, tcpExchange as tcp } from '../helpers/traffic';
import { ipv6Frame, udpDatagram } from '../helpers/packets';
import { tunnelMac } from '../../bpf/node-subnets';
import { waitFor } from '../helpers/wait';
import { CLUSTER_CIDR6, OUTSIDE_IP6, connectivityMatrix, labDown, labUp, writeNodesFile, type Lab, type LabIpFamily, type LabMode, type LabPod } from '../lab/cluster';
import type { TestNode } from '../lab/node';

const SERVICE_IP6 = 'fd00:96::10';
// Changes to the node source must reach the maps and routes within a second.
const SYNC_WAIT_MS = 1000;

const ipv6Of = (pod: LabPod): string => pod.ips.find((address) => address.includes(':')) as string;
const nodeIpv6 = (node: TestNode): string => addressesByFamily(node.ip).ipv6 as string;
const ipv4Of = (node: TestNode): string => addressesByFamily(node.ip).ipv4 as string;
const podCidr6 = (node: TestNode): string => node.podCIDR.split(',').find((cidr) => cidr.includes(':')) as string;
const counted = (node: TestNode) => pinnedCounters(node.bpffsRoot);
const ipv6Routes = (node: TestNode): string => inNetns(node.ns, 'ip', ['-6', 'route', 'show', 'proto', '77']);
/** Packets the node's VXLAN device has sent. */
const tunnelDeviceSent = (node: TestNode): number => (JSON.parse(inNetns(node.ns, 'ip', ['-s', '-j', 'link', 'show', 'dev', TUNNEL_DEVICE])) as Array<{ stats64: { tx: { packets: number } } }>)[0].stats64.tx.packets;

const LABS: Array<[LabIpFamily, LabMode]> = [['dual', 'native'], ['ipv6', 'native'], ['dual', 'vxlan'], ['ipv6', 'vxlan']];

for (const [ipFamily, mode] of LABS) {
  describe(`three nodes, ${ipFamily === 'dual' ? 'dual-stack' : 'IPv6 only'}, ${mode === 'native' ? 'native routing' : 'vxlan'}`, needsRoot, () => {
    let lab: Lab;
    const pod = (name: string) => lab.pods.find((p) => p.name === name) as LabPod;
    /** VXLAN runs over IPv4 where pods have it, else over IPv6. */
    const underlay = ipFamily === 'dual' ? 'ipv4' : 'ipv6';
    const underlayOf = (node: TestNode): string => (underlay === 'ipv4' ? ipv4Of(node) : nodeIpv6(node));
    /** The host route to `node`'s IPv6 pod subnet: via its IPv6 address natively, via its tunnel gateway into the VXLAN device. */
    const route6 = (node: TestNode): RegExp =>
      new RegExp(mode === 'native' ? `${podCidr6(node)} via ${nodeIpv6(node)} dev eth0` : `${podCidr6(node)} via ${tunnelGateway6(underlayOf(node))} dev ${TUNNEL_DEVICE}`);

    before(async () => {
      lab = await labUp({ nodes: 3, podsPerNode: 2, mode, ipFamily, prefix: `${TEST_NETNS_PREFIX}${process.pid}-${ipFamily[0]}6${mode[0]}`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-lab-')), outside: true });
      process.on('exit', () => labDown(lab));
    });
    after(() => lab && labDown(lab));

    test('pods get an address of each family, and every pod and node reaches every pod at each of them', () => {
      assert.ok(lab.pods.every((p) => p.ips.length === (ipFamily === 'dual' ? 2 : 1) && ipv6Of(p) !== undefined), JSON.stringify(lab.pods.map((p) => p.ips)));
      assert.deepEqual(connectivityMatrix(lab).filter((cell) => !cell.ok), []);
    });

    test(`each node holds the others' IPv6 pod subnets, routed to their ${mode === 'native' ? 'IPv6 addresses' : `${underlay === 'ipv4' ? 'IPv4' : 'IPv6'} addresses through the VXLAN device`}`, () => {
      const [node1, node2, node3] = lab.nodes;
      const expected = [...(ipFamily === 'dual' ? ['10.244.2.0/24', '10.244.3.0/24'] : []), 'fd00:10:244:2::/64', 'fd00:10:244:3::/64'];
      assert.deepEqual(pinnedNodeSubnets(node1.bpffsRoot), expected);
      const routes = ipv6Routes(node1);
      for (const node of [node2, node3]) assert.match(routes, route6(node));
    });

    test('IPv6 across nodes is forwarded by the datapath and delivered by from_netdev, counted as IPv6, two routing hops', () => {
      const [node1, node2] = lab.nodes;
      const sent = () => packetsFor(counted(node1), 'TWILL_FORWARDED_REMOTE', 'TWILL_FROM_POD', 'TWILL_IPV6');
      const delivered = () => packetsFor(counted(node2), 'TWILL_DELIVERED_LOCAL', 'TWILL_FROM_NETDEV', 'TWILL_IPV6');
      const [sentBefore, deliveredBefore] = [sent(), delivered()];
      const reply = inNetns(pod('node1-pod1').ns, 'ping', ['-c', '5', '-i', '0.05', '-W', '1', ipv6Of(pod('node2-pod1'))]);
      assert.match(reply, /ttl=62/, 'each node took one off the hop limit');
      assert.ok(sent() - sentBefore >= 5n, `forwarded: ${sent() - sentBefore}`);
      assert.ok(delivered() - deliveredBefore >= 5n, `delivered: ${delivered() - deliveredBefore}`);
    });

    test(`pods talk TCP over IPv6 across nodes without NAT, and a node is seen by ${mode === 'native' ? 'its IPv6 address' : "its VXLAN device's IPv6 address"}`, async () => {
      const server = await startTcpServer(pod('node3-pod1').ns, 8080, 'node3-pod1', '::');
      const node1 = lab.nodes[0];
      try {
        assert.equal(tcp(pod('node1-pod2').ns, ipv6Of(pod('node3-pod1')), 8080), `node3-pod1 saw ${ipv6Of(pod('node1-pod2'))}`);
        assert.equal(tcp(node1.ns, ipv6Of(pod('node3-pod1')), 8080), `node3-pod1 saw ${mode === 'native' ? nodeIpv6(node1) : tunnelAddress(podCidr6(node1))}`);
      } finally {
        server.stop();
      }
    });

    test('IPv6 pod traffic leaving the cluster is masqueraded to the node, by ip6tables', async () => {
      const outside = lab.outside as { ns: string };
      const server = await startTcpServer(outside.ns, 8082, 'outside', '::');
      try {
        assert.equal(tcp(pod('node2-pod1').ns, OUTSIDE_IP6, 8082), `outside saw ${nodeIpv6(lab.nodes[1])}`);
      } finally {
        server.stop();
      }
      assert.ok(inNetns(lab.nodes[1].ns, 'ip6tables-save', ['-t', 'nat']).includes(`-s ${podCidr6(lab.nodes[1])} ! -d ${CLUSTER_CIDR6}`));
    });

    test('a Service ClusterIP DNATed by ip6tables reaches backends on the same and on another node, replies from the ClusterIP', async () => {
      const node1 = lab.nodes[0];
      const client = pod('node1-pod1');
      for (const backend of [pod('node1-pod2'), pod('node2-pod1')]) {
        const server = await startTcpServer(backend.ns, 8080, backend.name, '::');
        inNetns(node1.ns, 'ip6tables', ['-w', '-t', 'nat', '-A', 'PREROUTING', '-d', `${SERVICE_IP6}/128`, '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', `[${ipv6Of(backend)}]:8080`]);
        const direction = backend.node === node1.name ? 'TWILL_FROM_POD' : 'TWILL_FROM_NETDEV';
        const replies = () => packetsFor(counted(node1), 'TWILL_PASSED_NAT_REPLY', direction, 'TWILL_IPV6');
        const repliesBefore = replies();
        try {
          // The connection completes only if the client's replies come from the ClusterIP.
          assert.equal(tcp(client.ns, SERVICE_IP6, 80), `${backend.name} saw ${ipv6Of(client)}`);
          assert.ok(replies() - repliesBefore >= 2n, `replies handed to conntrack: ${replies() - repliesBefore}`);
        } finally {
          inNetns(node1.ns, 'ip6tables', ['-w', '-t', 'nat', '-F', 'PREROUTING']);
          server.stop();
        }
      }
    });

    test("a node leaving the source takes its subnets and routes of both families with it; joining brings them back", async () => {
      const [node1, , node3] = lab.nodes;
      const before = pinnedNodeSubnets(node1.bpffsRoot);
      writeNodesFile(lab, lab.nodes.filter((n) => n !== node3));
      await waitFor('node3 removed from node1', () => pinnedNodeSubnets(node1.bpffsRoot).length === before.length / 2 && !ipv6Routes(node1).includes(podCidr6(node3)), SYNC_WAIT_MS);
      assert.ok(pinnedNodeSubnets(node1.bpffsRoot).every((cidr) => !node3.podCIDR.split(',').includes(cidr)));
      writeNodesFile(lab);
      await waitFor('node3 back on node1', () => pinnedNodeSubnets(node1.bpffsRoot).length === before.length && ipv6Routes(node1).includes(podCidr6(node3)), SYNC_WAIT_MS);
      assert.deepEqual(pinnedNodeSubnets(node1.bpffsRoot), before);
      assert.deepEqual(connectivityMatrix(lab).filter((cell) => !cell.ok), []);
    });

    if (ipFamily === 'dual') {
      test("a node claiming another's IPv6 subnet loses that claim alone: its IPv4 pods and the other nodes stay reachable", async () => {
        const [node1, node2, node3] = lab.nodes;
        const rogue = { name: node3.name, podCIDR: `${node3.podCIDR.split(',')[0]},${podCidr6(node2)}`, ip: node3.ip };
        writeNodesFile(lab, [node1, node2, rogue]);
        try {
          await waitFor("node3's IPv6 claim refused on node1", () => !pinnedNodeSubnets(node1.bpffsRoot).includes(podCidr6(node3)), SYNC_WAIT_MS);
          assert.deepEqual(pinnedNodeSubnets(node1.bpffsRoot), ['10.244.2.0/24', '10.244.3.0/24', podCidr6(node2)]);
          const refused = readRefusedNodes(node1.stateDir) ?? [];
          assert.deepEqual(refused.map((n) => [n.name, n.family, n.reason]), [['node3', 'ipv6', 'overlaps_node']]);
          assert.match(ipv6Routes(node1), route6(node2), "node2's route is its own");
          const cutOff = connectivityMatrix(lab).filter((cell) => !cell.ok);
          assert.ok(cutOff.length > 0 && cutOff.every((cell) => [cell.from, cell.to].some((end) => end.startsWith('node3')) && cell.failed.every((address) => address.includes(':'))), `only IPv6 to and from node3 is cut off: ${JSON.stringify(cutOff)}`);
          assert.equal(inNetns(pod('node1-pod1').ns, 'ping', ['-c', '1', '-W', '1', pod('node3-pod1').ip]).includes('1 received'), true);
        } finally {
          writeNodesFile(lab);
        }
        await waitFor('node3 admitted again', () => pinnedNodeSubnets(node1.bpffsRoot).includes(podCidr6(node3)), SYNC_WAIT_MS);
        assert.deepEqual(readRefusedNodes(node1.stateDir), []);
      });
    }

    if (mode === 'vxlan') {
      test("pods' IPv6 is wrapped by the programs; the host's own goes through its VXLAN device", () => {
        const node1 = lab.nodes[0];
        const before = tunnelDeviceSent(node1);
        inNetns(pod('node1-pod1').ns, 'ping', ['-c', '20', '-i', '0.01', '-W', '1', ipv6Of(pod('node2-pod1'))]);
        assert.equal(tunnelDeviceSent(node1), before, 'no pod packet passed through the VXLAN device');
        inNetns(node1.ns, 'ping', ['-c', '5', '-i', '0.05', '-W', '1', ipv6Of(pod('node2-pod1'))]);
        assert.ok(tunnelDeviceSent(node1) - before >= 5, "the node's pings went through its device");
      });

      test("a node sending VXLAN with IPv6 from another node's pods inside is refused and counted, and nothing reaches the pod", async () => {
        const [node1, node2, node3] = lab.nodes;
        const victim = pod('node1-pod1');
        const listener = await startUdpListener(victim.ns, '::', 7020);
        const forged = () => packetsFor(counted(node1), 'TWILL_DROPPED_FORGED_TUNNEL', 'TWILL_FROM_NETDEV', 'TWILL_IPV6');
        const before = forged();
        try {
          // node3, a real node, speaks for node2's pods: right VNI and port, right tunnel MACs.
          const forgedSource = podCidr6(node2).replace('::/64', '::99');
          const inner = ipv6Frame({ source: forgedSource, destination: ipv6Of(victim), nextHeader: 17, payload: udpDatagram({ source: forgedSource, destination: ipv6Of(victim), sourcePort: 40000, destinationPort: 7020 }, Buffer.from('forged')), sourceMac: tunnelMac(underlayOf(node3)), destinationMac: tunnelMac(underlayOf(node1)) });
          const vxlan = Buffer.concat([Buffer.from([0x08, 0, 0, 0, 0, 0, 1, 0]), inner]);
          for (let i = 0; i < 3; i++) sendUdp(node3.ns, underlayOf(node1), 8472, vxlan);
          await waitFor('the forged frames to be counted', () => forged() - before >= 3n, 5000);
          assert.deepEqual(listener.received(), [], 'nothing reached the pod');
        } finally {
          listener.stop();
        }
      });

      // Last: it lowers the lab's MTU.
      test('with the uplink MTU lowered, a pod gets ICMPv6 packet too big, and TCP over IPv6 completes both ways', async () => {
        const [node1] = lab.nodes;
        const [client, server] = [pod('node1-pod1'), pod('node2-pod1')];
        for (const node of lab.nodes) inNetns(node.ns, 'ip', ['link', 'set', 'eth0', 'mtu', '1400']);
        const podMtu = 1400 - VXLAN_OVERHEAD[underlay];
        await waitFor('the agents to follow', () => lab.nodes.every((node) => readNodeSettings(node.stateDir)?.mtu === podMtu), 10_000);
        // 1,352 bytes of ping data: 1,400 inside, more than the uplink's 1,400 wrapped.
        const tooBig = (() => {
          try {
            return inNetns(client.ns, 'ping', ['-M', 'do', '-s', '1352', '-c', '2', '-i', '0.2', '-W', '1', ipv6Of(server)]);
          } catch (error) {
            return String((error as { stdout?: Buffer }).stdout ?? error);
          }
        })();
        assert.match(tooBig, new RegExp(`[Pp]acket too big.*mtu ?= ?${podMtu}|message too long, mtu=${podMtu}`));
        assert.ok(packetsFor(counted(node1), 'TWILL_PASSED_TOO_BIG', 'TWILL_FROM_POD', 'TWILL_IPV6') > 0n, 'handed to the stack under passed_too_big');
        assert.equal(ping(client.ns, ipv6Of(server), 2), 2, 'small packets still flow');
        const size = 4 << 20;
        for (const [from, to] of [[client, server], [server, client]]) {
          const echo = await startTcpServer(to.ns, 7010, undefined, '::');
          try {
            assert.equal(tcpEchoBulk(from.ns, ipv6Of(to), 7010, size), size, `${from.name} to ${to.name} and back`);
          } finally {
            echo.stop();
          }
        }
      });
    }
  });
}
