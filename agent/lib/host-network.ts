// What the node's own network needs from the agent: forwarding on, pod traffic leaving
// the cluster masqueraded to the node IP (as Flannel's ip-masq does), and the VXLAN
// device in overlay mode.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { tunnelMac } from '../../bpf/node-subnets';
import type { Link, Rtnl } from '../../bpf/netlink';

export const TUNNEL_DEVICE = 'twill-vxlan';
export const VXLAN_PORT = 8472;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

export function enableForwarding(): void {
  fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
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

/** The collect-metadata VXLAN device, created once and reused after restarts. */
export async function ensureTunnelDevice(rtnl: Rtnl, nodeIp: string, mtu: number): Promise<Link> {
  const existing = await rtnl.link(TUNNEL_DEVICE);
  const device = existing ?? (await rtnl.createVxlan({ name: TUNNEL_DEVICE, mac: tunnelMac(nodeIp), mtu }, VXLAN_PORT));
  if (!device.up) await rtnl.setUp(device.index);
  return { ...device, up: true };
}
