// The multi-node lab: N test nodes (lab/node.ts) joined by a veth wire (two nodes) or
// a bridge in a fabric namespace (more, or with an "outside" host), the real agent in
// each node with a static nodes file, and pods created through the real plugin.
// The e2e tests, the benchmarks and the README's first command all use it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { inNetns, run } from '../helpers/kernel';
import { addNamespace, deleteNamespace } from '../helpers/netns';
import { newContainerID, stopByPid, TestNode } from './node';

export type LabMode = 'native' | 'vxlan';
/** The cluster's IP families: its nodes' addresses, pod CIDRs and pods have each. */
export type LabIpFamily = 'ipv4' | 'ipv6' | 'dual';
export const LAB_IP_FAMILIES: readonly LabIpFamily[] = ['ipv4', 'ipv6', 'dual'];

export interface LabOptions {
  nodes: number;
  podsPerNode: number;
  mode: LabMode;
  /** Namespace name prefix; tests use the leak-checked test prefix. */
  prefix: string;
  /** Where the lab keeps its bpffs mount, state dirs and nodes file. */
  directory: string;
  /** Add a host outside the cluster on the fabric (for masquerade checks). */
  outside?: boolean;
  /** Agents outlive this process (the lab command); tests keep them as children. */
  detached?: boolean;
  /** The root of the built tree whose agent and plugin the lab runs (default: this checkout; the benchmark compares with an earlier revision's). */
  buildRoot?: string;
  /** ipv4 (the default), ipv6 or dual. */
  ipFamily?: LabIpFamily;
}

export interface LabPod {
  name: string;
  ns: string;
  node: string;
  /** Its first address: IPv4, but in an IPv6 cluster. */
  ip: string;
  /** Every address, one per family of the cluster. */
  ips: string[];
  containerID: string;
}

export interface Lab {
  options: LabOptions;
  bpffs: string;
  nodesFile: string;
  fabric?: string;
  outside?: { ns: string; ip: string };
  nodes: TestNode[];
  pods: LabPod[];
}

export const CLUSTER_CIDR = '10.244.0.0/16';
export const CLUSTER_CIDR6 = 'fd00:10:244::/56';
const FABRIC_PREFIX = '192.168.60';
const FABRIC_PREFIX6 = 'fd00:192:168:60:';
export const OUTSIDE_IP = `${FABRIC_PREFIX}.200`;
export const OUTSIDE_IP6 = `${FABRIC_PREFIX6}:200`;

/** What each family gives a lab: node i's address and pod CIDR, the cluster CIDR, the fabric's prefix length, the outside host. */
const FAMILY_PLAN = {
  ipv4: { nodeIp: (i: number) => `${FABRIC_PREFIX}.${11 + i}`, podCIDR: (i: number) => `10.244.${i + 1}.0/24`, clusterCIDR: CLUSTER_CIDR, fabricLength: 24, outside: OUTSIDE_IP },
  ipv6: { nodeIp: (i: number) => `${FABRIC_PREFIX6}:${11 + i}`, podCIDR: (i: number) => `fd00:10:244:${i + 1}::/64`, clusterCIDR: CLUSTER_CIDR6, fabricLength: 64, outside: OUTSIDE_IP6 },
};
const familiesOf = (ipFamily: LabIpFamily = 'ipv4'): Array<(typeof FAMILY_PLAN)['ipv4']> => (ipFamily === 'dual' ? [FAMILY_PLAN.ipv4, FAMILY_PLAN.ipv6] : [FAMILY_PLAN[ipFamily]]);
/** One value of each family, as the agent's flags and the nodes file take them. */
const perFamily = (ipFamily: LabIpFamily | undefined, value: (plan: (typeof FAMILY_PLAN)['ipv4']) => string): string => familiesOf(ipFamily).map(value).join(',');

function ip(args: string[]): string {
  return run('ip', args);
}

/**
 * The cluster as the agents' static node source sees it: each node's pod CIDR and
 * address, as lists of one per family in a dual-stack lab (single fields otherwise, which
 * every build reads, the previous one the benchmark runs beside this one included).
 */
export function writeNodesFile(lab: Lab, nodes: Array<Pick<TestNode, 'name' | 'podCIDR' | 'ip'>> = lab.nodes): void {
  const list = nodes.map((node) => (node.podCIDR.includes(',') ? { name: node.name, podCIDRs: node.podCIDR.split(','), internalIPs: node.ip.split(',') } : { name: node.name, podCIDR: node.podCIDR, internalIP: node.ip }));
  const temporary = `${lab.nodesFile}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(list, null, 2));
  fs.renameSync(temporary, lab.nodesFile);
}

export async function labUp(options: LabOptions): Promise<Lab> {
  fs.mkdirSync(options.directory, { recursive: true, mode: 0o700 });
  const bpffs = path.join(options.directory, 'bpffs');
  const lab: Lab = { options, bpffs, nodesFile: path.join(options.directory, 'nodes.json'), nodes: [], pods: [] };
  try {
    fs.mkdirSync(bpffs, { recursive: true });
    execFileSync('mount', ['-t', 'bpf', 'bpffs', bpffs]);
    const useFabric = options.nodes > 2 || options.outside === true;
    if (useFabric) {
      lab.fabric = `${options.prefix}fabric`;
      addNamespace(lab.fabric);
      ip(['-n', lab.fabric, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', lab.fabric, 'link', 'set', 'br0', 'up']);
      // A switch, not a firewall: where br_netfilter is loaded (Docker loads it) the
      // bridge would check and drop malformed IPv4 that the nodes must meet themselves.
      if (fs.existsSync('/proc/sys/net/bridge')) inNetns(lab.fabric, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0']);
    }
    // Each node's agent as a node would run it: nodes from the shared file, the uplink
    // found from the node's address.
    const agentFlags = ['--nodes-file', lab.nodesFile, '--mode', options.mode, '--cluster-cidr', perFamily(options.ipFamily, (plan) => plan.clusterCIDR)];
    for (let i = 0; i < options.nodes; i++) {
      const name = `node${i + 1}`;
      lab.nodes.push(new TestNode({
        name, ns: `${options.prefix}${name}`, ip: perFamily(options.ipFamily, (plan) => plan.nodeIp(i)), podCIDR: perFamily(options.ipFamily, (plan) => plan.podCIDR(i)),
        stateDir: path.join(options.directory, name), bpffsRoot: path.join(bpffs, name), detached: options.detached, buildRoot: options.buildRoot, agentFlags,
      }));
    }
    if (options.outside) {
      lab.outside = { ns: `${options.prefix}outside`, ip: perFamily(options.ipFamily, (plan) => plan.outside) };
      addNamespace(lab.outside.ns);
    }
    const attached = [...lab.nodes.map((node) => ({ ns: node.ns, address: node.ip })), ...(lab.outside ? [{ ns: lab.outside.ns, address: lab.outside.ip }] : [])];
    attached.forEach((host, i) => {
      if (lab.fabric) {
        ip(['-n', host.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `port${i}`, 'netns', lab.fabric]);
        ip(['-n', lab.fabric, 'link', 'set', `port${i}`, 'master', 'br0', 'up']);
      } else if (i === 1) {
        ip(['-n', attached[0].ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns]);
      } else if (attached.length === 1) {
        // A lone node still needs a device holding its address; this kernel has no dummy
        // devices, so a veth whose peer stays in the node.
        ip(['-n', host.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'wire']);
      }
    });
    for (const host of attached) {
      // No duplicate address detection on the fabric: a node whose link-local address
      // is still tentative cannot solicit a neighbour, and its first packets to a node
      // it has not spoken to would wait a second. Real nodes are up long before.
      if (options.ipFamily && options.ipFamily !== 'ipv4') inNetns(host.ns, 'sysctl', ['-qw', 'net.ipv6.conf.eth0.accept_dad=0']);
      familiesOf(options.ipFamily).forEach((plan, f) => ip(['-n', host.ns, 'addr', 'add', `${host.address.split(',')[f]}/${plan.fabricLength}`, 'dev', 'eth0']));
      ip(['-n', host.ns, 'link', 'set', 'eth0', 'up']);
    }
    writeNodesFile(lab);
    for (const node of lab.nodes) await node.startAgent();
    for (const node of lab.nodes) {
      for (let j = 0; j < options.podsPerNode; j++) await addPod(lab, node, `${node.name}-pod${j + 1}`);
    }
    return lab;
  } catch (error) {
    labDown(lab);
    throw error;
  }
}

/** A pod made through the real plugin; `runtimeConfig` is what a runtime adds for the capabilities the entry declares (bandwidth). */
export async function addPod(lab: Lab, node: TestNode, name: string, runtimeConfig?: Record<string, unknown>): Promise<LabPod> {
  const ns = `${lab.options.prefix}${name}`;
  addNamespace(ns);
  const containerID = newContainerID();
  const pod: LabPod = { name, ns, node: node.name, containerID, ip: '', ips: [] };
  lab.pods.push(pod);
  const { result, ip: first } = await node.add({ containerID, netns: `/run/netns/${ns}`, podName: name }, runtimeConfig ? node.netConf({ runtimeConfig }) : undefined);
  pod.ip = first;
  pod.ips = (result.ips as Array<{ address: string }>).map((entry) => entry.address.split('/')[0]);
  return pod;
}

/**
 * Stops the agents by PID and removes every namespace, the bpffs mount and the lab
 * directory. It reads only the lab's data, so `lab down` can run it on the saved lab.
 */
export function labDown(lab: Lab): void {
  for (const node of lab.nodes) {
    if (node.agentPid) stopByPid(node.agentPid);
    node.agentPid = 0;
  }
  const namespaces = [...lab.pods.map((p) => p.ns), ...lab.nodes.map((n) => n.ns), lab.outside?.ns, lab.fabric].filter((ns): ns is string => !!ns);
  namespaces.forEach(deleteNamespace);
  try {
    execFileSync('umount', [lab.bpffs], { stdio: 'ignore' });
  } catch {
    // Not mounted.
  }
  fs.rmSync(lab.options.directory, { recursive: true, force: true });
}

/** Whether `from` (a namespace) gets a ping reply from `address`. */
export function reaches(from: string, address: string): boolean {
  try {
    inNetns(from, 'ping', ['-c', '1', '-W', '1', address]);
    return true;
  } catch {
    return false;
  }
}

/** Every pod to every pod, and every node to every pod, at each of the pod's addresses (`failed` names those that did not answer). */
export function connectivityMatrix(lab: Lab): Array<{ from: string; to: string; ok: boolean; failed: string[] }> {
  const sources = [...lab.pods.map((p) => ({ name: p.name, ns: p.ns })), ...lab.nodes.map((n) => ({ name: n.name, ns: n.ns }))];
  return sources.flatMap((source) =>
    lab.pods
      .filter((pod) => pod.name !== source.name)
      .map((pod) => {
        const failed = pod.ips.filter((address) => !reaches(source.ns, address));
        return { from: source.name, to: pod.name, ok: failed.length === 0, failed };
      }),
  );
}
