// Wiring one pod: a veth with its peer born inside the pod as CNI_IFNAME, a /32, the
// onlink default route via 169.254.1.1 with a permanent neighbour entry for it, and on
// the host the /32 route and neighbour; then from_pod on the host veth and the pod's
// endpoint entry. unwirePod undoes all of it and tolerates any part being gone.
import fs from 'node:fs';

import type { PinPaths } from '../../bpf/datapath';
import { clearSlot, occupiedSlots, writeEndpoint, type Endpoint } from '../../bpf/endpoints';
import { Rtnl, hardenHostVeth, type Link } from '../../bpf/netlink';
import { BpfMap, BpfProgram, attachTcx } from '../../bpf/tsbpf';
import type { Attachment } from './config';
import { Code, CniError } from './errors';
import { POD_GATEWAY, hostVethName, podMac } from './naming';

export interface PodWiring {
  hostVeth: Link;
  podInterface: Link;
}

/** The netlink sockets an ADD works through: the host's, and the pod's inside CNI_NETNS. */
export interface PodSockets {
  netns: string;
  host: Rtnl;
  pod: Rtnl;
  close(): void;
}

/** Opens the pod's socket first, so a CNI_NETNS that is no network namespace fails at once. */
export function openPodSockets(netns: string): PodSockets {
  const pod = Rtnl.open(netns);
  const host = Rtnl.open();
  return {
    netns,
    host,
    pod,
    close: () => {
      host.close();
      pod.close();
    },
  };
}

/**
 * Checks, before an address is taken, that CNI_IFNAME is free in the pod (or is this
 * attachment's own, from an ADD being retried), so that bad input never touches IPAM.
 */
export async function checkPodNamespace({ netns, host, pod }: PodSockets, attachment: Attachment): Promise<void> {
  if (!(await pod.link(attachment.ifname)) || (await host.link(hostVethName(attachment)))) return;
  throw new CniError(Code.InvalidEnvironment, `CNI_IFNAME ${attachment.ifname} already exists in CNI_NETNS ${netns}`);
}

export async function wirePod({ netns, host, pod }: PodSockets, attachment: Attachment, ip: string, mtu: number): Promise<PodWiring> {
  const name = hostVethName(attachment);
  // A veth by this name can only be left from an earlier ADD of this attachment.
  const stale = await host.link(name);
  if (stale) await host.deleteLink(stale.index);

  const hostVeth = await host.createVeth({ name, mtu, peer: { name: attachment.ifname, mac: podMac(ip), mtu, netns } });
  const podInterface = (await pod.link(attachment.ifname)) as Link;
  const loopback = await pod.link('lo');
  if (loopback) await pod.setUp(loopback.index);
  await pod.setUp(podInterface.index);
  await pod.addAddress(podInterface.index, `${ip}/32`);
  await pod.addPermanentNeighbour(podInterface.index, POD_GATEWAY, hostVeth.mac);
  await pod.addRoute({ destination: 'default', ifindex: podInterface.index, gateway: POD_GATEWAY, onlink: true });

  // Before it is up, so the pod is never heard as a router.
  hardenHostVeth(hostVeth.name);
  await host.setUp(hostVeth.index);
  await host.addRoute({ destination: `${ip}/32`, ifindex: hostVeth.index });
  await host.addPermanentNeighbour(hostVeth.index, ip, podInterface.mac);
  return { hostVeth: { ...hostVeth, up: true }, podInterface: { ...podInterface, up: true } };
}

/** Attaches from_pod to the host veth's ingress through a pinned TCX link that outlives the plugin. */
export function attachFromPod(pins: PinPaths, hostVeth: Link): void {
  const program = BpfProgram.openPinned(pins.program('from_pod'));
  try {
    const link = attachTcx(program, hostVeth.index, 'ingress');
    try {
      const pin = pins.podLink(hostVeth.name);
      fs.rmSync(pin, { force: true });
      link.pin(pin);
    } finally {
      link.close();
    }
  } finally {
    program.close();
  }
}

export function registerEndpoint(pins: PinPaths, podCIDR: string, ip: string, wiring: PodWiring): void {
  const endpoints = BpfMap.openPinned(pins.map('endpoints'));
  try {
    writeEndpoint(endpoints, podCIDR, { ip, ifindex: wiring.hostVeth.index, podMac: wiring.podInterface.mac, hostMac: wiring.hostVeth.mac });
  } finally {
    endpoints.close();
  }
}

/**
 * Removes the pod's veth (its routes and neighbours go with it), its link pin and its
 * endpoint entry: the one for `ip` (the address IPAM says it holds), and any entry that
 * names this veth, so an address record lost or freed early leaves no entry behind.
 * Anything already gone is fine: the netns may be gone, the agent down, the veth
 * deleted by hand.
 */
export async function unwirePod(pins: PinPaths, attachment: Attachment, ip: string | undefined): Promise<void> {
  const name = hostVethName(attachment);
  const host = Rtnl.open();
  let veth: Link | undefined;
  try {
    veth = await host.link(name);
    if (veth) await host.deleteLink(veth.index);
  } finally {
    host.close();
  }
  fs.rmSync(pins.podLink(name), { force: true });
  if (!fs.existsSync(pins.map('endpoints'))) return;
  const endpoints = BpfMap.openPinned(pins.map('endpoints'));
  // One read of the slots finds both, and needs no pod CIDR: DEL runs without node settings.
  const ours = (entry: Endpoint): boolean => entry.ip === ip || (veth !== undefined && entry.ifindex === veth.index && entry.hostMac === veth.mac);
  try {
    for (const slot of occupiedSlots(endpoints)) if (ours(slot.endpoint)) clearSlot(endpoints, slot.key);
  } finally {
    endpoints.close();
  }
}
