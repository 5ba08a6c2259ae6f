// The topologies Twill is measured against, each in network namespaces made here:
//   the limit: two pod namespaces joined by one veth;
//   Flannel-style nodes: two node namespaces on a veth wire, pods attached by Debian's
//   reference bridge + host-local plugins called as a runtime calls them (what Flannel
//   delegates to), the other node's pod subnet routed either through the other node
//   (host-gw) or through a kernel VXLAN device with static fdb and neighbour entries,
//   exactly as flanneld programs them (vxlan).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { TestNetns } from '../helpers/netns';
import { pluginEnv } from '../helpers/processes';
import type { Host } from './traffic';

/** Debian's containernetworking-plugins. */
export const REFERENCE_PLUGINS = '/usr/lib/cni';
/** Flannel's VXLAN defaults: VNI 1, the Linux port 8472, 50 bytes of overhead. */
const FLANNEL_VNI = 1;
const FLANNEL_PORT = 8472;
const WIRE_MTU = 1500;
const VXLAN_MTU = WIRE_MTU - 50;
const VXLAN6_MTU = WIRE_MTU - 70;

export type FlannelBackend = 'host-gw' | 'vxlan';

export interface Topology {
  /** Hosts by role, for the measures. */
  hosts: Record<string, Host>;
  tearDown: () => void;
}

/** Deletes what was made so far when building fails, and hands it to the caller otherwise. */
function building(build: (namespaces: TestNetns[], directories: string[]) => Record<string, Host>): Topology {
  const namespaces: TestNetns[] = [];
  const directories: string[] = [];
  const tearDown = (): void => {
    namespaces.forEach((ns) => ns.delete());
    directories.forEach((directory) => fs.rmSync(directory, { recursive: true, force: true }));
  };
  try {
    return { hosts: build(namespaces, directories), tearDown };
  } catch (error) {
    tearDown();
    throw error;
  }
}

/** Two pod namespaces joined by one veth: nothing in between. */
export function directVeth(): Topology {
  return building((namespaces) => {
    const [a, b] = [new TestNetns('limit-a'), new TestNetns('limit-b')];
    namespaces.push(a, b);
    a.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.name]);
    a.exec('ip', ['addr', 'add', '10.247.0.1/24', 'dev', 'eth0']);
    b.exec('ip', ['addr', 'add', '10.247.0.2/24', 'dev', 'eth0']);
    a.exec('ip', ['-6', 'addr', 'add', 'fd00:247::1/64', 'dev', 'eth0', 'nodad']);
    b.exec('ip', ['-6', 'addr', 'add', 'fd00:247::2/64', 'dev', 'eth0', 'nodad']);
    a.exec('ip', ['link', 'set', 'eth0', 'up']);
    b.exec('ip', ['link', 'set', 'eth0', 'up']);
    return { client: { ns: a.name, ip: '10.247.0.1' }, server: { ns: b.name, ip: '10.247.0.2' }, client6: { ns: a.name, ip: 'fd00:247::1' }, server6: { ns: b.name, ip: 'fd00:247::2' } };
  });
}

/** Runs a reference plugin inside `node` exactly as a runtime would, and returns its result. */
function runReferencePlugin(node: string, command: 'ADD' | 'DEL', pod: { containerID: string; netns: string }, config: object): Record<string, unknown> {
  const env = { ...pluginEnv(command, pod), CNI_PATH: REFERENCE_PLUGINS };
  const out = execFileSync('ip', ['netns', 'exec', node, path.join(REFERENCE_PLUGINS, (config as { type: string }).type)], { env, input: JSON.stringify(config), encoding: 'utf8', timeout: 30_000 });
  return out.trim() ? (JSON.parse(out) as Record<string, unknown>) : {};
}

/** The network config Flannel's plugin hands to bridge for a node owning `podSubnet` (and, dual-stack, `ipv6`'s subnet). */
export function flannelBridgeConfig(podSubnet: string, clusterCidr: string, mtu: number, dataDir: string, ipv6?: { subnet: string; clusterCidr: string }): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'cbr0',
    type: 'bridge',
    bridge: 'cni0',
    mtu,
    hairpinMode: true,
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: false,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: podSubnet }], ...(ipv6 ? [[{ subnet: ipv6.subnet }]] : [])],
      routes: [{ dst: clusterCidr }, ...(ipv6 ? [{ dst: ipv6.clusterCidr }] : [])],
      dataDir,
    },
  };
}

/** The result's first address, or its IPv6 one. */
function addedAddress(result: Record<string, unknown>, ipv6 = false): string {
  const ips = (result as { ips: Array<{ address: string }> }).ips.map((entry) => entry.address.split('/')[0]);
  return (ipv6 ? ips.find((address) => address.includes(':')) : ips[0]) as string;
}

/**
 * Two Flannel-style nodes on a wire, pods on node 1 (two) and node 2 (one).
 * Hosts: node1, node2 (the wire), pod1 and pod2 on node 1, remote on node 2; with
 * `dualStack` (vxlan only), the pods have IPv6 addresses too, and the hosts pod1v6 and
 * remotev6 are those. The same VXLAN devices carry them over the IPv4 wire or, with
 * `ipv6Underlay`, second ones over IPv6 (flannel-v6.1, as Flannel's dual-stack vxlan
 * backend does), pods then getting the MTU of the smaller.
 */
export function flannelNodes(backend: FlannelBackend, { dualStack = false, ipv6Underlay = false } = {}): Topology {
  if (dualStack && backend !== 'vxlan') throw new Error('dual-stack Flannel-style nodes are built for vxlan only');
  if (ipv6Underlay && !dualStack) throw new Error('an IPv6 underlay carries the IPv6 pods of dual-stack nodes');
  return building((namespaces, directories) => {
    const clusterCidr = '10.246.0.0/16';
    const clusterCidr6 = 'fd00:246::/48';
    const mtu = backend === 'host-gw' ? WIRE_MTU : ipv6Underlay ? VXLAN6_MTU : VXLAN_MTU;
    const nodes = [1, 2].map((n) => {
      const node = { ns: new TestNetns(`fl${backend}-node${n}`), ip: `192.168.61.${10 + n}`, ip6: `fd00:192:168:61::${10 + n}`, subnet: `10.246.${n}.0/24`, subnet6: `fd00:246:${n}::/64`, mac: `02:f1:00:00:00:0${n}`, mac6: `02:f6:00:00:00:0${n}`, ipamDir: '' };
      namespaces.push(node.ns);
      node.ipamDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bench-host-local-'));
      directories.push(node.ipamDir);
      return node;
    });
    const [one, two] = nodes;
    one.ns.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', two.ns.name]);
    for (const node of nodes) {
      node.ns.exec('ip', ['addr', 'add', `${node.ip}/24`, 'dev', 'eth0']);
      if (ipv6Underlay) node.ns.exec('ip', ['-6', 'addr', 'add', `${node.ip6}/64`, 'dev', 'eth0', 'nodad']);
      node.ns.exec('ip', ['link', 'set', 'eth0', 'up']);
      node.ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      // Bridged frames skip iptables: the bridge's fastest honest setting. (kubeadm
      // turns this on for kube-proxy, which costs a Flannel node more.)
      node.ns.exec('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0']);
      if (dualStack) node.ns.exec('sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1', 'net.bridge.bridge-nf-call-ip6tables=0']);
    }
    for (const [self, other] of [[one, two], [two, one]]) {
      if (backend === 'host-gw') {
        self.ns.exec('ip', ['route', 'add', other.subnet, 'via', other.ip, 'dev', 'eth0']);
        continue;
      }
      // Flannel gives each VXLAN device the network address of its node's pod subnet.
      const vtep = self.subnet.split('/')[0];
      const otherVtep = other.subnet.split('/')[0];
      self.ns.exec('ip', ['link', 'add', 'flannel.1', 'address', self.mac, 'mtu', String(VXLAN_MTU), 'type', 'vxlan', 'id', String(FLANNEL_VNI), 'local', self.ip, 'dev', 'eth0', 'dstport', String(FLANNEL_PORT), 'nolearning']);
      self.ns.exec('ip', ['addr', 'add', `${vtep}/32`, 'dev', 'flannel.1']);
      self.ns.exec('ip', ['link', 'set', 'flannel.1', 'up']);
      self.ns.exec('ip', ['neigh', 'replace', otherVtep, 'lladdr', other.mac, 'dev', 'flannel.1', 'nud', 'permanent']);
      self.ns.exec('bridge', ['fdb', 'append', other.mac, 'dev', 'flannel.1', 'dst', other.ip]);
      self.ns.exec('ip', ['route', 'add', other.subnet, 'via', otherVtep, 'dev', 'flannel.1', 'onlink']);
      if (dualStack) {
        // As for IPv4: the device holds its pod subnet's network address, the other's is its neighbour.
        const [vtep6, otherVtep6] = [self.subnet6.split('/')[0], other.subnet6.split('/')[0]];
        let [device6, otherMac6] = ['flannel.1', other.mac];
        if (ipv6Underlay) {
          [device6, otherMac6] = ['flannel-v6.1', other.mac6];
          self.ns.exec('ip', ['link', 'add', device6, 'address', self.mac6, 'mtu', String(VXLAN6_MTU), 'type', 'vxlan', 'id', String(FLANNEL_VNI), 'local', self.ip6, 'dev', 'eth0', 'dstport', String(FLANNEL_PORT), 'nolearning']);
          self.ns.exec('ip', ['link', 'set', device6, 'up']);
          self.ns.exec('bridge', ['fdb', 'append', other.mac6, 'dev', device6, 'dst', other.ip6]);
        }
        self.ns.exec('ip', ['-6', 'addr', 'add', `${vtep6}/128`, 'dev', device6, 'nodad']);
        self.ns.exec('ip', ['-6', 'neigh', 'replace', otherVtep6, 'lladdr', otherMac6, 'dev', device6, 'nud', 'permanent']);
        self.ns.exec('ip', ['-6', 'route', 'add', other.subnet6, 'via', otherVtep6, 'dev', device6, 'onlink']);
      }
    }
    const addPod = (node: (typeof nodes)[number], tag: string): Record<string, unknown> => {
      const pod = new TestNetns(`fl${backend}-${tag}`);
      namespaces.push(pod);
      const ipv6 = dualStack ? { subnet: node.subnet6, clusterCidr: clusterCidr6 } : undefined;
      return { ns: pod.name, ...runReferencePlugin(node.ns.name, 'ADD', { containerID: crypto.randomBytes(32).toString('hex'), netns: pod.path }, flannelBridgeConfig(node.subnet, clusterCidr, mtu, node.ipamDir, ipv6)) };
    };
    const [pod1, pod2, remote] = [addPod(one, 'pod1'), addPod(one, 'pod2'), addPod(two, 'remote')];
    const host = (result: Record<string, unknown>, ipv6 = false): Host => ({ ns: result.ns as string, ip: addedAddress(result, ipv6) });
    return {
      node1: { ns: one.ns.name, ip: one.ip },
      node2: { ns: two.ns.name, ip: two.ip },
      pod1: host(pod1),
      pod2: host(pod2),
      remote: host(remote),
      ...(dualStack ? { pod1v6: host(pod1, true), remotev6: host(remote, true) } : {}),
    };
  });
}
