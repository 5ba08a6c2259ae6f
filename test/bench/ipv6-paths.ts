// IPv6 between two pods on one node, beside the IPv6 limit (one veth between two
// namespaces) at the same moments (beside.ts): a dual-stack Twill node with two pods,
// whose IPv6 round trips and TCP must go through the programs (its IPv6 counters).
import { TestNetns } from '../helpers/netns';
import { newContainerID, standaloneNode, type TestNode } from '../lab/node';
import { measureBeside } from './beside';
import { directVeth, type Topology } from './peers';
import type { PodPath } from './pod-paths';
import type { Observation, Suite } from './suite';
import { startServers, type Host } from './traffic';

export const IPV6_SAME_NODE = 'pod to pod, same node, IPv6';
export const IPV6_SUBJECTS = { veth: 'limit: one veth between the pods (IPv6)', twill: 'Twill, dual-stack node (IPv6)' };

const POD_CIDRS = '10.244.0.0/24,fd00:10:244::/64';

export function ipv6PathsSuite(options: { seconds: number }): Suite {
  let veth: Topology | undefined;
  let node: TestNode | undefined;
  const pods: TestNetns[] = [];
  const servers: Array<{ stop: () => void }> = [];
  let pair: [PodPath, PodPath] | undefined;
  let repetition = 0;

  return {
    name: 'IPv6 paths',
    baselines: { [IPV6_SAME_NODE]: IPV6_SUBJECTS.veth },
    async setUp() {
      veth = directVeth();
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
      const { cli } = node.executables;
      pair = [
        { group: IPV6_SAME_NODE, subject: IPV6_SUBJECTS.veth, from: veth.hosts.client6, to: veth.hosts.server6, evidence: [] },
        { group: IPV6_SAME_NODE, subject: IPV6_SUBJECTS.twill, from: hosts[0], to: hosts[1], evidence: [{ cli, bpffsRoot: node.bpffsRoot, reason: 'TWILL_DELIVERED_LOCAL', direction: 'TWILL_FROM_POD', family: 'TWILL_IPV6' }] },
      ];
      for (const podPath of pair) servers.push(await startServers(podPath.to, ['iperf3', 'pairedRoundTrips']));
    },
    async measure(): Promise<Observation[]> {
      if (!pair) throw new Error('the IPv6 paths are not set up');
      return measureBeside(pair, options.seconds, repetition++ % 2 === 1);
    },
    tearDown() {
      servers.splice(0).forEach((server) => server.stop());
      pods.splice(0).forEach((ns) => ns.delete());
      node?.remove();
      node = undefined;
      veth?.tearDown();
      veth = undefined;
    },
  };
}
