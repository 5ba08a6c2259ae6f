// IPv6 pod paths, each beside its IPv6 limit at the same moments (beside.ts):
// - between two pods on one node: a dual-stack Twill node beside one veth between two
//   namespaces;
// - between pods on two nodes, natively routed: an IPv6-only two-node lab beside the
//   wire (again one veth between two namespaces, as the lab's nodes are joined);
// - between pods on two nodes in VXLAN over IPv4: a dual-stack two-node vxlan lab
//   beside Flannel-style nodes whose VXLAN devices carry the pods' IPv6 the same way;
// - between pods on two nodes in VXLAN over IPv6: an IPv6-only two-node vxlan lab
//   beside Flannel-style nodes whose IPv6 VXLAN devices (flannel-v6.1) carry it.
// Twill's round trips and TCP must go through the programs (their IPv6 counters).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { labDown, labUp, type Lab, type LabIpFamily, type LabMode } from '../lab/cluster';
import { newContainerID, standaloneNode, type TestNode } from '../lab/node';
import { TEST_NETNS_PREFIX, TestNetns } from '../helpers/netns';
import { measureBeside } from './beside';
import { directVeth, flannelNodes, type Topology } from './peers';
import { twillPaths, type PodPath } from './pod-paths';
import type { Observation, Suite } from './suite';
import { startServers, type Host } from './traffic';

export const IPV6_SAME_NODE = 'pod to pod, same node, IPv6';
export const IPV6_CROSS_NODE = 'pod to pod, across nodes, IPv6';
export const IPV6_VXLAN = 'pod to pod, across nodes in VXLAN over IPv4, IPv6';
export const IPV6_VXLAN6 = 'pod to pod, across nodes in VXLAN over IPv6, IPv6';
export const IPV6_SUBJECTS = {
  veth: 'limit: one veth between the pods (IPv6)',
  twill: 'Twill, dual-stack node (IPv6)',
  wire: 'limit: node to node on the wire (IPv6)',
  twillNative: 'Twill native, IPv6-only nodes',
  flannelVxlan: 'Flannel vxlan style, dual-stack nodes (IPv6)',
  twillVxlan: 'Twill vxlan, dual-stack nodes (IPv6)',
  flannelVxlan6: 'Flannel vxlan style, IPv6 underlay (flannel-v6.1)',
  twillVxlan6: 'Twill vxlan, IPv6-only nodes',
};

const POD_CIDRS = '10.244.0.0/24,fd00:10:244::/64';

export function ipv6PathsSuite(options: { seconds: number }): Suite {
  const topologies: Topology[] = [];
  let node: TestNode | undefined;
  const labs: Lab[] = [];
  const pods: TestNetns[] = [];
  const servers: Array<{ stop: () => void }> = [];
  let pairs: Array<[PodPath, PodPath]> = [];
  let repetition = 0;

  return {
    name: 'IPv6 paths',
    baselines: { [IPV6_SAME_NODE]: IPV6_SUBJECTS.veth, [IPV6_CROSS_NODE]: IPV6_SUBJECTS.wire, [IPV6_VXLAN]: IPV6_SUBJECTS.flannelVxlan, [IPV6_VXLAN6]: IPV6_SUBJECTS.flannelVxlan6 },
    async setUp() {
      const [veth, wire] = [directVeth(), directVeth()];
      topologies.push(veth, wire);
      const flannel = flannelNodes('vxlan', { dualStack: true });
      const flannel6 = flannelNodes('vxlan', { dualStack: true, ipv6Underlay: true });
      topologies.push(flannel, flannel6);
      node = standaloneNode('b6', POD_CIDRS);
      await node.startAgent();
      const hosts: Host[] = [];
      for (let i = 0; i < 2; i++) {
        const ns = new TestNetns('b6pod');
        pods.push(ns);
        const { result } = await node.add({ containerID: newContainerID(), netns: ns.path });
        const ipv6 = (result.ips as Array<{ address: string }>).find((ip) => ip.address.includes(':'));
        if (!ipv6) throw new Error(`the dual-stack node gave no IPv6 address: ${JSON.stringify(result.ips)}`);
        hosts.push({ ns: ns.name, ip: ipv6.address.split('/')[0] });
      }
      const twoNodes = (mode: LabMode, ipFamily: LabIpFamily) => labUp({ nodes: 2, podsPerNode: 1, mode, ipFamily, prefix: `${TEST_NETNS_PREFIX}${process.pid}-b6${mode[0]}${ipFamily[0]}`, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bench-lab-')) });
      labs.push(await twoNodes('native', 'ipv6'));
      labs.push(await twoNodes('vxlan', 'dual'));
      labs.push(await twoNodes('vxlan', 'ipv6'));
      const [native, vxlan, vxlan6] = labs;
      const { cli } = node.executables;
      pairs = [
        [
          { group: IPV6_SAME_NODE, subject: IPV6_SUBJECTS.veth, from: veth.hosts.client6, to: veth.hosts.server6, evidence: [] },
          { group: IPV6_SAME_NODE, subject: IPV6_SUBJECTS.twill, from: hosts[0], to: hosts[1], evidence: [{ cli, bpffsRoot: node.bpffsRoot, reason: 'TWILL_DELIVERED_LOCAL', direction: 'TWILL_FROM_POD', family: 'TWILL_IPV6' }] },
        ],
        [{ group: IPV6_CROSS_NODE, subject: IPV6_SUBJECTS.wire, from: wire.hosts.client6, to: wire.hosts.server6, evidence: [] }, twillPaths(native, { group: IPV6_CROSS_NODE, subject: IPV6_SUBJECTS.twillNative })[0]],
        [{ group: IPV6_VXLAN, subject: IPV6_SUBJECTS.flannelVxlan, from: flannel.hosts.pod1v6, to: flannel.hosts.remotev6, evidence: [] }, twillPaths(vxlan, { group: IPV6_VXLAN, subject: IPV6_SUBJECTS.twillVxlan }, undefined, 'ipv6')[0]],
        [{ group: IPV6_VXLAN6, subject: IPV6_SUBJECTS.flannelVxlan6, from: flannel6.hosts.pod1v6, to: flannel6.hosts.remotev6, evidence: [] }, twillPaths(vxlan6, { group: IPV6_VXLAN6, subject: IPV6_SUBJECTS.twillVxlan6 }, undefined, 'ipv6')[0]],
      ];
      for (const podPath of pairs.flat()) servers.push(await startServers(podPath.to, ['iperf3', 'pairedRoundTrips']));
    },
    async measure(): Promise<Observation[]> {
      if (pairs.length === 0) throw new Error('the IPv6 paths are not set up');
      const swap = repetition++ % 2 === 1;
      const observations: Observation[] = [];
      for (const pair of pairs) observations.push(...(await measureBeside(pair, options.seconds, swap)));
      return observations;
    },
    tearDown() {
      servers.splice(0).forEach((server) => server.stop());
      pods.splice(0).forEach((ns) => ns.delete());
      node?.remove();
      node = undefined;
      labs.splice(0).forEach(labDown);
      topologies.splice(0).forEach((topology) => topology.tearDown());
    },
  };
}
