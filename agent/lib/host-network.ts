// What the node's own network needs from the agent: forwarding on, pod traffic leaving
// the cluster masqueraded to the node IP (as Flannel's ip-masq does), in each family
// the node's pods have, and the VXLAN device in overlay mode.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { familyOf, hostPrefixLength, ipv6FromBigInt, type CidrsByFamily, type IpFamily } from '../../bpf/addresses';
import { podSlots, type PodCidrs } from '../../bpf/endpoints';
import { tunnelMac } from '../../bpf/node-subnets';
import { ipv4FromNumber, parseIpPrefix, type Link, type Rtnl } from '../netlink';
import { TWILL_ROUTE_PROTOCOL } from './node-sync';

export const TUNNEL_DEVICE = 'twill-vxlan';
/** What VXLAN adds to a pod's packet over an underlay of each family: outer IPv4 (20) or IPv6 (40), UDP (8), VXLAN (8), inner Ethernet (14). */
export const VXLAN_OVERHEAD: Record<IpFamily, number> = { ipv4: 50, ipv6: 70 };

/** The family VXLAN runs over: IPv4 wherever pods have IPv4 (it carries IPv6 pods beside them), else IPv6. */
export const underlayFamily = (podCIDRs: PodCidrs): IpFamily => (podCIDRs.ipv4 ? 'ipv4' : 'ipv6');

/** Each family's forwarding switch, by its sysctl name. */
const FORWARDING: Record<IpFamily, string> = { ipv4: 'net.ipv4.ip_forward', ipv6: 'net.ipv6.conf.all.forwarding' };

/**
 * Turns forwarding on, in each family the node's pods have, when it is off. Kubernetes
 * nodes normally have it on already (kubeadm requires it), and a container's /proc/sys
 * is read-only, so the agent writes only when it must and says what to do when it
 * cannot. (With IPv6 forwarding on, a node takes router advertisements on its uplink
 * only with accept_ra=2, as Kubernetes' dual-stack set-up says.)
 */
export function enableForwarding(families: IpFamily[]): void {
  for (const family of families) {
    const file = `/proc/sys/${FORWARDING[family].replaceAll('.', '/')}`;
    if (fs.readFileSync(file, 'utf8').trim() === '1') continue;
    try {
      fs.writeFileSync(file, '1');
    } catch (error) {
      throw new Error(`${FORWARDING[family]} is 0 and cannot be set from here (${(error as NodeJS.ErrnoException).code}): set it on the node with sysctl -w ${FORWARDING[family]}=1`);
    }
  }
}

/** The device holding the node's address: the uplink, when none is configured. */
export async function findUplink(rtnl: Rtnl, nodeIp: string): Promise<Link | undefined> {
  for (const link of await rtnl.links()) {
    if ((await rtnl.addresses(link.index, familyOf(nodeIp))).some((address) => address.split('/')[0] === nodeIp)) return link;
  }
  return undefined;
}

/**
 * Adds the masquerade rule of each family the node's pods and the cluster both have,
 * once (iptables -C first; ip6tables for IPv6). Run at start-up only: this is the one
 * place the agent executes a command, and never on a per-pod path. Returns the
 * families of the pods that no cluster CIDR covers, whose traffic is not masqueraded.
 */
export function ensureMasquerade(podCIDRs: PodCidrs, clusterCIDRs: CidrsByFamily): IpFamily[] {
  const unmasqueraded: IpFamily[] = [];
  for (const [family, podCIDR] of Object.entries(podCIDRs) as Array<[IpFamily, string]>) {
    const clusterCIDR = clusterCIDRs[family];
    if (!clusterCIDR) {
      unmasqueraded.push(family);
      continue;
    }
    const command = family === 'ipv6' ? 'ip6tables' : 'iptables';
    const rule = ['POSTROUTING', '-s', podCIDR, '!', '-d', clusterCIDR, '-m', 'comment', '--comment', 'twill: pod traffic leaving the cluster', '-j', 'MASQUERADE'];
    try {
      execFileSync(command, ['-w', '-t', 'nat', '-C', ...rule], { stdio: 'ignore' });
    } catch {
      execFileSync(command, ['-w', '-t', 'nat', '-A', ...rule], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
  }
  return unmasqueraded;
}

/**
 * The address the node's own traffic to other nodes' pods leaves the VXLAN device
 * with: its pod CIDR's network address, which IPAM never hands out (as Flannel gives
 * flannel.1). The pods' replies are then addressed into this node's pod CIDR and come
 * back wrapped like all pod traffic, so a node can refuse every pod source that
 * arrives unwrapped (see from_netdev).
 */
export function tunnelAddress(podCIDR: string): string {
  const family = familyOf(podCIDR);
  const first = podSlots({ [family]: podCIDR })[family];
  return family === 'ipv6' ? ipv6FromBigInt(first as bigint) : ipv4FromNumber(first as number);
}

/**
 * The collect-metadata VXLAN device with the tunnel address of each pod CIDR and no
 * other (but its IPv6 link-local one), at `mtu`, created once and reused after restarts.
 * `nodeIp` is this node's underlay address, of which its MAC is made.
 */
export async function ensureTunnelDevice(rtnl: Rtnl, nodeIp: string, podCIDRs: PodCidrs, mtu: number, udpPort: number): Promise<Link> {
  const existing = await rtnl.link(TUNNEL_DEVICE);
  const device = existing ?? (await rtnl.createVxlan({ name: TUNNEL_DEVICE, mac: tunnelMac(nodeIp), mtu }, udpPort));
  // The uplink's MTU may have changed while no agent ran.
  if (device.mtu !== mtu) await rtnl.setMtu(device.index, mtu);
  for (const family of ['ipv4', 'ipv6'] as const) {
    const podCIDR = podCIDRs[family];
    const address = podCIDR && `${tunnelAddress(podCIDR)}/${hostPrefixLength(podCIDR)}`;
    const held = (await rtnl.addresses(device.index, family)).filter((other) => !other.startsWith('fe80:'));
    if (address && !held.includes(address)) await rtnl.addAddress(device.index, address);
    for (const stale of held.filter((other) => other !== address)) await rtnl.deleteAddress(device.index, stale);
  }
  if (!device.up) await rtnl.setUp(device.index);
  return { ...device, mtu, up: true };
}

/**
 * This node's pod CIDRs as unreachable routes, below the pods' host routes: a packet
 * for an address no pod holds is answered "host unreachable" here, never sent on by
 * the default route, where a router that knows the pod subnets would send it straight
 * back (a loop that ends only with the TTL or hop limit). Pod CIDRs of an earlier start go.
 */
export async function ensurePodCidrUnreachable(rtnl: Rtnl, podCIDRs: PodCidrs): Promise<void> {
  const { ipv4, ipv6 } = podSlots(podCIDRs);
  const networks: Record<IpFamily, string | undefined> = {
    ipv4: ipv4 === undefined ? undefined : `${ipv4FromNumber(ipv4)}/${parseIpPrefix(podCIDRs.ipv4 as string).prefixLength}`,
    ipv6: ipv6 === undefined ? undefined : `${ipv6FromBigInt(ipv6)}/${parseIpPrefix(podCIDRs.ipv6 as string).prefixLength}`,
  };
  for (const family of ['ipv4', 'ipv6'] as const) {
    const network = networks[family];
    if (network) await rtnl.addRoute({ destination: network, type: 'unreachable', protocol: TWILL_ROUTE_PROTOCOL }, { replace: true });
    const stale = (await rtnl.routes(family)).filter((route) => route.type === 'unreachable' && route.protocol === TWILL_ROUTE_PROTOCOL && route.destination !== network);
    for (const route of stale) await rtnl.deleteRoute({ destination: route.destination, type: 'unreachable', protocol: TWILL_ROUTE_PROTOCOL });
  }
}
