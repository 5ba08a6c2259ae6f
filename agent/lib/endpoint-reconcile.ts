// On start-up, the endpoints map is checked against the host's veths: an entry whose
// host veth is gone (its pod deleted while nobody ran DEL, or an ADD killed after the
// entry was written) would keep answering for an address the node may hand out again.
// An entry is live when a veth with its ifindex and host MAC exists (the MAC guards
// against an ifindex reused by a newer pod) and it sits in the slot of its own address
// (a map pinned under another pod CIDR of the same size would put it elsewhere); only
// the others are emptied, and an ADD in flight has created its veth before it writes
// its entry.
import type { Logger } from 'pino';

import { clearSlot, inOwnSlot, occupiedSlots } from '../../bpf/endpoints';
import type { Rtnl } from '../../bpf/netlink';
import type { BpfMap } from '../../bpf/tsbpf';

export async function removeStaleEndpoints(endpoints: BpfMap, podCIDR: string, rtnl: Rtnl, log: Logger): Promise<{ kept: number; removed: string[] }> {
  const veths = new Set((await rtnl.links()).filter((link) => link.kind === 'veth').map((link) => `${link.index} ${link.mac}`));
  const removed: string[] = [];
  let kept = 0;
  for (const slot of occupiedSlots(endpoints)) {
    if (veths.has(`${slot.endpoint.ifindex} ${slot.endpoint.hostMac}`) && inOwnSlot(podCIDR, slot)) {
      kept++;
    } else {
      clearSlot(endpoints, slot.key);
      removed.push(slot.endpoint.ip);
    }
  }
  if (removed.length > 0) log.warn({ removed }, 'removed endpoint entries whose host veth is gone or that sit in another address\'s slot');
  return { kept, removed };
}
