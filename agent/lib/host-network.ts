// What the node's own network needs from the agent: forwarding on, pod traffic leaving
// the cluster masqueraded to the node IP (as Flannel's ip-masq does), and the VXLAN
// device in overlay mode.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { podSlots } from '../../bpf/endpoints';
import { tunnelMac } from '../../bpf/node-subnets';
import { ipv4FromNumber, parseIpv4Prefix, type Link, type Rtnl } from '../netlink';
import { TWILL_ROUTE_PROTOCOL } from './node-sync';

export const TUNNEL_DEVICE = 'twill-vxlan';
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/**
 * Turns forwarding on when it is off. Kubernetes nodes normally have it on already
 * (kubeadm requires it), and a container's /proc/sys is read-only, so the agent writes
 * only when it must and says what to do when it cannot.
 */
export function enableForwarding(): void {
  if (fs.readFileSync(IP_FORWARD, 'utf8').trim() === '1') return;
  try {
    fs.writeFileSync(IP_FORWARD, '1');
  } catch (error) {
    throw new Error(`net.ipv4.ip_forward is 0 and cannot be set from here (${(error as NodeJS.ErrnoException).code}): set it on the node with sysctl -w net.ipv4.ip_forward=1`);
  }
}

/** The device holding the node's address: the uplink, when none is configured. */
export async function findUplink(rtnl: Rtnl, nodeIp: string): Promise<Link | undefined> {
  for (const link of await rtnl.links()) {
    if ((await rtnl.addresses(link.index)).some((address) => address.split('/')[0] === nodeIp)) return link;
  }
  return undefined;
}

/**
 * Adds the masquerade rule once (iptables -C first). Run at start-up only: this is
 * the one place the agent executes a command, and never on a per-pod path.
 */
export function ensureMasquerade(podCIDR: string, clusterCIDR: string): void {
  const rule = ['POSTROUTING', '-s', podCIDR, '!', '-d', clusterCIDR, '-m', 'comment', '--comment', 'twill: pod traffic leaving the cluster', '-j', 'MASQUERADE'];
  try {
    execFileSync('iptables', ['-w', '-t', 'nat', '-C', ...rule], { stdio: 'ignore' });
  } catch {
    execFileSync('iptables', ['-w', '-t', 'nat', '-A', ...rule], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

/**
 * The address the node's own traffic to other nodes' pods leaves the VXLAN device
 * with: its pod CIDR's network address, which IPAM never hands out (as Flannel gives
 * flannel.1). The pods' replies are then addressed into this node's pod CIDR and come
 * back wrapped like all pod traffic, so a node can refuse every pod source that
 * arrives unwrapped (see from_netdev).
 */
export function tunnelAddress(podCIDR: string): string {
  return ipv4FromNumber(podSlots({ ipv4: podCIDR }).ipv4 as number);
}

/** The collect-metadata VXLAN device with the tunnel address and no other, at `mtu`, created once and reused after restarts. */
export async function ensureTunnelDevice(rtnl: Rtnl, nodeIp: string, podCIDR: string, mtu: number, udpPort: number): Promise<Link> {
  const existing = await rtnl.link(TUNNEL_DEVICE);
  const device = existing ?? (await rtnl.createVxlan({ name: TUNNEL_DEVICE, mac: tunnelMac(nodeIp), mtu }, udpPort));
  // The uplink's MTU may have changed while no agent ran.
  if (device.mtu !== mtu) await rtnl.setMtu(device.index, mtu);
  const address = `${tunnelAddress(podCIDR)}/32`;
  const held = await rtnl.addresses(device.index);
  if (!held.includes(address)) await rtnl.addAddress(device.index, address);
  for (const stale of held.filter((other) => other !== address)) await rtnl.deleteAddress(device.index, stale);
  if (!device.up) await rtnl.setUp(device.index);
  return { ...device, mtu, up: true };
}

/**
 * This node's pod CIDR as an unreachable route, below the pods' /32 routes: a packet
 * for an address no pod holds is answered "host unreachable" here, never sent on by
 * the default route, where a router that knows the pod subnets would send it straight
 * back (a loop that ends only with the TTL). A pod CIDR of an earlier start goes.
 */
export async function ensurePodCidrUnreachable(rtnl: Rtnl, podCIDR: string): Promise<void> {
  const network = `${tunnelAddress(podCIDR)}/${parseIpv4Prefix(podCIDR).prefixLength}`;
  await rtnl.addRoute({ destination: network, type: 'unreachable', protocol: TWILL_ROUTE_PROTOCOL }, { replace: true });
  const stale = (await rtnl.routes()).filter((route) => route.type === 'unreachable' && route.protocol === TWILL_ROUTE_PROTOCOL && route.destination !== network);
  for (const route of stale) await rtnl.deleteRoute({ destination: route.destination, type: 'unreachable', protocol: TWILL_ROUTE_PROTOCOL });
}
