// On start-up, this node's pods as the endpoints map lists them are checked against the
// host's veths.
//
// An entry whose host veth is gone (its pod deleted while nobody ran DEL, or an ADD
// killed after the entry was written) would keep answering for an address the node may
// hand out again. An entry is live when a veth with its ifindex and host MAC exists (the
// MAC guards against an ifindex reused by a newer pod) and it sits in the slot of its
// own address (a map pinned under another pod CIDR of the same size would put it
// elsewhere); only the others are emptied, and an ADD in flight has created its veth
// before it writes its entry.
//
// The live pods' host veths then get the settings that keep a pod from reconfiguring
// its node (hardenHostVeth), so pods wired by an earlier release are fixed by an upgrade.
import type { Logger } from 'pino';

import { clearSlot, inOwnSlot, occupiedSlots } from '../../bpf/endpoints';
import { hardenHostVeth, type Link, type Rtnl } from '../../bpf/netlink';
import type { BpfMap } from '../../bpf/tsbpf';

export async function reconcileEndpoints(endpoints: BpfMap, podCIDR: string, rtnl: Rtnl, procSysNet: string, log: Logger): Promise<{ kept: number; removed: string[] }> {
  const veths = new Map((await rtnl.links()).filter((link) => link.kind === 'veth').map((link) => [`${link.index} ${link.mac}`, link]));
  const removed: string[] = [];
  const live: Link[] = [];
  for (const slot of occupiedSlots(endpoints)) {
    const veth = veths.get(`${slot.endpoint.ifindex} ${slot.endpoint.hostMac}`);
    if (veth && inOwnSlot(podCIDR, slot)) {
      live.push(veth);
    } else {
      clearSlot(endpoints, slot.key);
      removed.push(slot.endpoint.ip);
    }
  }
  if (removed.length > 0) log.warn({ removed }, 'removed endpoint entries whose host veth is gone or that sit in another address\'s slot');
  const unhardened: string[] = [];
  for (const veth of live) {
    try {
      hardenHostVeth(veth.name, procSysNet);
    } catch (error) {
      unhardened.push((error as Error).message);
    }
  }
  if (unhardened.length > 0) {
    log.warn(`${unhardened.length} pod veths keep settings that let their pod reconfigure the node (mount the node's /proc/sys/net writable and point --proc-sys-net at it): ${unhardened[0]}`);
  }
  return { kept: live.length, removed };
}
