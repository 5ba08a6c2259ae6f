// On start-up, the endpoints map is checked against the host's veths: an entry whose
// host veth is gone (its pod deleted while nobody ran DEL, or an ADD killed after the
// entry was written) would keep answering for an address the node may hand out again.
// An entry is live when a veth with its ifindex and host MAC exists (the MAC guards
// against an ifindex reused by a newer pod); only the others are removed, and an ADD in
// flight has created its veth before it writes its entry.
import type { Logger } from 'pino';

import { decodeEndpoint } from '../../bpf/endpoints';
import type { Rtnl } from '../../bpf/netlink';
import type { BpfMap } from '../../bpf/tsbpf';

export async function removeStaleEndpoints(endpoints: BpfMap, rtnl: Rtnl, log: Logger): Promise<{ kept: number; removed: string[] }> {
  const veths = new Set((await rtnl.links()).filter((link) => link.kind === 'veth').map((link) => `${link.index} ${link.mac}`));
  const removed: string[] = [];
  let kept = 0;
  for (const [key, value] of endpoints.lookupBatch()) {
    const endpoint = decodeEndpoint(key, value);
    if (veths.has(`${endpoint.ifindex} ${endpoint.hostMac}`)) {
      kept++;
    } else if (endpoints.delete(key)) {
      removed.push(endpoint.ip);
    }
  }
  if (removed.length > 0) log.warn({ removed }, 'removed endpoint entries whose host veth is gone');
  return { kept, removed };
}
