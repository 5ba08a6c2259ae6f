// GC: everything Twill holds for an attachment the runtime no longer lists in
// cni.dev/valid-attachments is freed: address, veth, link pin, endpoint entry. Strays
// with no address record (a plugin killed mid-ADD) are found by name and removed too.
import fs from 'node:fs';

import { pinPaths } from '../../bpf/datapath';
import { clearSlot, occupiedSlots } from '../../bpf/endpoints';
import { Rtnl } from '../../bpf/netlink';
import { BpfMap } from '../../bpf/tsbpf';
import type { NetConf } from './config';
import { Code, CniError } from './errors';
import { Ipam, sameAttachment } from './ipam';
import { HOST_VETH_NAME, hostVethName } from './naming';
import { unwirePod } from './pod-network';

export async function gc(netConf: NetConf): Promise<undefined> {
  const valid = netConf.validAttachments;
  if (!valid) throw new CniError(Code.InvalidConfig, 'network config: cni.dev/valid-attachments is required for GC');
  const pins = pinPaths(netConf.bpffsRoot);
  const ipam = new Ipam(netConf.stateDir);

  for (const allocation of await ipam.list()) {
    if (valid.some((attachment) => sameAttachment(attachment, allocation))) continue;
    await unwirePod(pins, allocation, allocation.ip);
    if (allocation.containerID) await ipam.release(allocation);
    else await ipam.releaseAddress(allocation.ip);
  }

  const kept = await ipam.list();
  const keptNames = new Set(kept.map(hostVethName));
  const keptAddresses = new Set(kept.map((allocation) => allocation.ip));
  const host = Rtnl.open();
  try {
    for (const link of await host.links()) {
      if (HOST_VETH_NAME.test(link.name) && !keptNames.has(link.name)) await host.deleteLink(link.index);
    }
  } finally {
    host.close();
  }
  if (fs.existsSync(pins.podLinks)) {
    for (const name of fs.readdirSync(pins.podLinks)) if (!keptNames.has(name)) fs.rmSync(pins.podLink(name), { force: true });
  }
  if (fs.existsSync(pins.map('endpoints'))) {
    const endpoints = BpfMap.openPinned(pins.map('endpoints'));
    try {
      for (const slot of occupiedSlots(endpoints)) {
        if (!keptAddresses.has(slot.endpoint.ip)) clearSlot(endpoints, slot.key);
      }
    } finally {
      endpoints.close();
    }
  }
  return undefined;
}
