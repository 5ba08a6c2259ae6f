// At start-up, before the agent serves any request, the node's pods as IPAM records
// them are set against what the kernel holds, so that nothing leaks across any
// sequence of agent restarts, plugin kills and node reboots:
//
// - DELs recorded while the agent was down are completed.
// - An address whose pod is gone is freed with whatever is left of the pod. A pod is
//   gone when its host veth is: a veth pair dies with the pod's namespace, so this
//   holds after a reboot (namespaces, veths and pins all gone, the state dir kept),
//   after an ADD killed before its veth existed, and for pods deleted while nobody
//   ran DEL. Records no one can read are freed too.
// - A live pod gets back any part of its wiring the node lost (its from_pod link after
//   bpffs was cleared, its endpoint entry, its bandwidth limits and their queue), and
//   the host veth settings that keep a pod from reconfiguring its node (so an upgrade
//   fixes pods an older release wired).
// - Host veths, link pins, endpoint entries and limits that no record names are removed.
import type { Logger } from 'pino';

import { listAttachments } from '../../../bpf/device-hooks';
import { clearSlot, endpointKey, inOwnSlot, inPodCidr, occupiedSlots, readEndpoint, writeEndpoint } from '../../../bpf/endpoints';
import { clearLimitsSlot, holdsPodLimits, limitedSlots } from '../../../bpf/pod-limits';
import { hardenHostVeth } from '../../netlink';
import type { Attachment } from '../../api/cni';
import type { Allocation, Ipam } from './ipam';
import { HOST_VETH_NAME, hostVethName, podMac } from './naming';
import { donePendingRelease, pendingReleases } from './pending-releases';
import { applyLimits, attachFromPod, podEndpoint, unwirePod, type PodHost } from './pod-wiring';

export interface ReconcileSummary {
  pendingReleases: number;
  /** Addresses freed because their pod is gone (or their record unreadable). */
  freed: string[];
  live: number;
  repaired: string[];
  strays: number;
}

/** Deletes host veths, link pins, endpoint entries and limits that none of `kept` names. */
export async function removeStrays(host: PodHost, kept: Allocation[]): Promise<number> {
  const keptNames = new Set(kept.filter((a) => a.containerID).map(hostVethName));
  const keptAddresses = new Set(kept.map((a) => a.ip));
  let removed = 0;
  for (const link of await host.rtnl.links()) {
    if (HOST_VETH_NAME.test(link.name) && !keptNames.has(link.name)) {
      await host.rtnl.deleteLink(link.index);
      removed++;
    }
  }
  for (const hook of listAttachments(host.hooks.pins)) {
    if ((hook.program !== 'from_pod' && hook.program !== 'to_pod') || keptNames.has(hook.device)) continue;
    host.hooks.release(hook.program, { index: hook.ifindex, name: hook.device });
    removed++;
  }
  for (const slot of occupiedSlots(host.endpoints)) {
    if ([slot.endpoint.ip, slot.endpoint.ip6].some((ip) => ip !== undefined && keptAddresses.has(ip)) && inOwnSlot(host.podCIDRs, slot)) continue;
    clearSlot(host.endpoints, slot.key);
    removed++;
  }
  const limitedKeys = new Set(kept.filter((a) => a.limits && inPodCidr(host.podCIDRs, a.ip)).map((a) => endpointKey(host.podCIDRs, a.ip).toString('hex')));
  for (const key of limitedSlots(host.podLimits)) {
    if (limitedKeys.has(key.toString('hex'))) continue;
    clearLimitsSlot(host.podLimits, key);
    removed++;
  }
  return removed;
}

export async function reconcilePods(host: PodHost, ipam: Ipam, stateDir: string, release: (attachment: Attachment) => Promise<void>, log: Logger): Promise<ReconcileSummary> {
  const pending = pendingReleases(stateDir);
  for (const record of pending) {
    if (record.attachment) await release(record.attachment);
    donePendingRelease(record);
  }

  const veths = new Map((await host.rtnl.links()).filter((link) => HOST_VETH_NAME.test(link.name)).map((link) => [link.name, link]));
  const freed: string[] = [];
  const repaired: string[] = [];
  const unhardened: string[] = [];
  for (const allocation of ipam.list()) {
    const veth = allocation.containerID ? veths.get(hostVethName(allocation)) : undefined;
    if (!veth) {
      if (allocation.containerID) await unwirePod(host, allocation, allocation.ip);
      ipam.releaseAddress(allocation.ip);
      freed.push(allocation.ip);
      continue;
    }
    try {
      hardenHostVeth(veth.name, host.procSysNet);
    } catch (error) {
      unhardened.push((error as Error).message);
    }
    if (!host.hooks.holds('from_pod', veth)) {
      attachFromPod(host, veth);
      repaired.push(`${allocation.ip}: from_pod attached to ${veth.name}`);
    }
    // A pod keeps an address outside a pod CIDR changed under it, but has no slot for it.
    if (!inPodCidr(host.podCIDRs, allocation.ip)) continue;
    const limits = allocation.limits ?? {};
    if (!holdsPodLimits(host.podLimits, host.podCIDRs, allocation.ip, limits) || (limits.ingress && !host.hooks.holds('to_pod', veth))) {
      applyLimits(host, veth, allocation.ip, limits);
      repaired.push(`${allocation.ip}: bandwidth limits`);
    }
    const entry = readEndpoint(host.endpoints, host.podCIDRs, allocation.ip);
    const expected = podEndpoint(host, allocation.ip, veth, podMac(allocation.ip), limits);
    if (!entry || entry.ifindex !== veth.index || entry.hostMac !== veth.mac || entry.ip6 !== expected.ip6 || entry.egressLimited !== expected.egressLimited || entry.ingressLimited !== expected.ingressLimited) {
      writeEndpoint(host.endpoints, host.podCIDRs, { ...expected, usesStack: entry?.usesStack });
      repaired.push(`${allocation.ip}: endpoint entry`);
    }
  }
  const strays = await removeStrays(host, ipam.list());

  if (pending.length > 0) log.info({ count: pending.length }, 'completed the DELs recorded while the agent was down');
  if (freed.length > 0) log.warn({ freed }, 'freed the addresses of pods that are gone (deleted without DEL, or taken by a reboot)');
  if (repaired.length > 0) log.warn({ repaired }, 'restored what live pods had lost of their wiring');
  if (strays > 0) log.warn({ strays }, 'removed host veths, link pins and endpoint entries that no pod holds');
  if (unhardened.length > 0) {
    log.warn(`${unhardened.length} pod veths keep settings that let their pod reconfigure the node (mount the node's /proc/sys/net writable and point --proc-sys-net at it): ${unhardened[0]}`);
  }
  return { pendingReleases: pending.length, freed, live: ipam.size, repaired, strays };
}
