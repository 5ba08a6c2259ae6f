// Wiring one pod: a veth with its peer born inside the pod as CNI_IFNAME; for each of
// its addresses (podAddresses: one per family of the node) a host prefix, the default
// route via the family's gateway (POD_GATEWAYS) with a permanent neighbour entry for
// it, and on the host the host route and neighbour; then from_pod on the host veth,
// the pod's bandwidth limits (if it has any) and its endpoint entry. A pod with an ingress limit
// also gets to_pod on the veth's egress, for what the host stack routes to it.
// unwirePod undoes all of it and tolerates any part being gone; checkPod says which
// part is missing.
import { Code, type Attachment, type PodAddress, type PodInterfaces, type PodLimits } from '../../api/cni';
import { familyOf, hostPrefixLength } from '../../../bpf/addresses';
import type { DeviceHooks } from '../../../bpf/device-hooks';
import { clearEndpoint, podAddresses, readEndpoint, writeEndpoint, type Endpoint, type PodCidrs } from '../../../bpf/endpoints';
import { clearPodLimits, holdsPodLimits, writePodLimits } from '../../../bpf/pod-limits';
import type { BpfMap, BpfProgram } from '../../../bpf/tsbpf';
import { hardenHostVeth, type Link, type Rtnl } from '../../netlink';
import { POD_GATEWAYS, hostVethName, podMac } from './naming';
import { PodError } from './pod-error';

/** What the agent's pod work runs on: its host socket, the loaded datapath, the node's pod CIDRs. */
export interface PodHost {
  rtnl: Rtnl;
  hooks: DeviceHooks;
  fromPod: BpfProgram;
  toPod: BpfProgram;
  endpoints: BpfMap;
  podLimits: BpfMap;
  podCIDRs: PodCidrs;
  procSysNet: string;
}

/**
 * Checks, before an address is taken, that CNI_IFNAME is free in the pod (or is this
 * attachment's own, from an ADD being retried), so that bad input never touches IPAM.
 */
export async function checkPodNamespace(host: PodHost, pod: Rtnl, netns: string, attachment: Attachment): Promise<void> {
  if (!(await pod.link(attachment.ifname)) || (await host.rtnl.link(hostVethName(attachment)))) return;
  throw new PodError(Code.InvalidEnvironment, `CNI_IFNAME ${attachment.ifname} already exists in CNI_NETNS ${netns}`);
}

/** The pod's addresses as host prefixes, each with its gateway: what the pod and the CNI result carry. */
export function podPrefixes(host: PodHost, ip: string): PodAddress[] {
  return podAddresses(host.podCIDRs, ip).map((address) => ({ address: `${address}/${hostPrefixLength(address)}`, gateway: POD_GATEWAYS[familyOf(address)] }));
}

export async function wirePod(host: PodHost, pod: Rtnl, netns: string, attachment: Attachment, ip: string, mtu: number, limits: PodLimits = {}): Promise<PodInterfaces> {
  const name = hostVethName(attachment);
  // A veth by this name can only be left from an earlier ADD of this attachment.
  const stale = await host.rtnl.link(name);
  if (stale) await host.rtnl.deleteLink(stale.index);

  const addresses = podPrefixes(host, ip);
  const hostVeth = await host.rtnl.createVeth({ name, mtu, peer: { name: attachment.ifname, mac: podMac(ip), mtu, netns } });
  const podInterface = (await pod.link(attachment.ifname)) as Link;
  const loopback = await pod.link('lo');
  if (loopback) await pod.setUp(loopback.index);
  await pod.setUp(podInterface.index);
  for (const { address, gateway } of addresses) {
    await pod.addAddress(podInterface.index, address);
    await pod.addPermanentNeighbour(podInterface.index, gateway, hostVeth.mac);
    // The IPv4 gateway is in no subnet of the pod's; the IPv6 one is link-local, on the link anyway.
    await pod.addRoute({ destination: 'default', ifindex: podInterface.index, gateway, onlink: familyOf(gateway) === 'ipv4' });
  }

  // Before it is up, so the pod is never heard as a router.
  hardenHostVeth(hostVeth.name, host.procSysNet);
  await host.rtnl.setUp(hostVeth.index);
  for (const { address } of addresses) {
    await host.rtnl.addRoute({ destination: address, ifindex: hostVeth.index });
    await host.rtnl.addPermanentNeighbour(hostVeth.index, address.split('/')[0], podInterface.mac);
  }
  attachFromPod(host, hostVeth);
  applyLimits(host, hostVeth, ip, limits);
  writeEndpoint(host.endpoints, host.podCIDRs, podEndpoint(host, ip, hostVeth, podInterface.mac, limits));
  return { addresses, hostVeth: { name: hostVeth.name, mac: hostVeth.mac }, podInterface: { name: podInterface.name, mac: podInterface.mac } };
}

/** The pod's endpoint entry, with its addresses of each family: its flags say which of its limits the datapath applies. */
export function podEndpoint(host: PodHost, ip: string, hostVeth: Link, podMac: string, limits: PodLimits | undefined): Endpoint {
  const addresses = podAddresses(host.podCIDRs, ip);
  return {
    ip: addresses.find((address) => familyOf(address) === 'ipv4'),
    ip6: addresses.find((address) => familyOf(address) === 'ipv6'),
    ifindex: hostVeth.index,
    podMac,
    hostMac: hostVeth.mac,
    egressLimited: Boolean(limits?.egress),
    ingressLimited: Boolean(limits?.ingress),
  };
}

export function attachFromPod(host: PodHost, hostVeth: Link): void {
  host.hooks.attach('from_pod', host.fromPod, hostVeth);
}

/**
 * Writes the pod's limits (before its endpoint entry turns them on) and, for an ingress
 * limit, attaches to_pod to its host veth's egress, which what the host stack routes to
 * the pod passes. Written again over a live pod, the limits start afresh.
 */
export function applyLimits(host: PodHost, hostVeth: Link, ip: string, limits: PodLimits): void {
  if (limits.ingress || limits.egress) writePodLimits(host.podLimits, host.podCIDRs, ip, limits);
  else clearPodLimits(host.podLimits, host.podCIDRs, ip);
  if (limits.ingress && !host.hooks.runs('to_pod', host.toPod, hostVeth)) host.hooks.attach('to_pod', host.toPod, hostVeth);
}

/**
 * Removes the pod's veth (its routes, neighbours and hooks go with it), its link pins and the
 * endpoint entry of `ip`, the address IPAM says it holds. Anything already gone is
 * fine: the netns may be gone, the veth deleted by hand.
 */
export async function unwirePod(host: PodHost, attachment: Attachment, ip: string | undefined): Promise<void> {
  const name = hostVethName(attachment);
  const veth = await host.rtnl.link(name);
  if (veth) await host.rtnl.deleteLink(veth.index);
  // The veth is gone now, and with it whatever ran on it: only a link's pin is left.
  const gone = { index: 0, name };
  host.hooks.release('from_pod', gone);
  host.hooks.release('to_pod', gone);
  if (ip) {
    clearEndpoint(host.endpoints, host.podCIDRs, ip);
    clearPodLimits(host.podLimits, host.podCIDRs, ip);
  }
}

function mismatch(problem: string): never {
  throw new PodError(Code.CheckFailed, problem);
}

/** The pod's network is still what ADD made of it; each mismatch names the resource. */
export async function checkPod(host: PodHost, pod: Rtnl, netns: string, attachment: Attachment, ip: string, limits: PodLimits = {}): Promise<void> {
  const name = hostVethName(attachment);
  const hostVeth = await host.rtnl.link(name);
  if (!hostVeth) mismatch(`host veth ${name} is missing`);
  if (!hostVeth.up) mismatch(`host veth ${name} is down`);
  const podInterface = await pod.link(attachment.ifname);
  if (!podInterface) mismatch(`interface ${attachment.ifname} is missing in ${netns}`);
  if (!podInterface.up) mismatch(`interface ${attachment.ifname} in ${netns} is down`);

  for (const { address, gateway } of podPrefixes(host, ip)) {
    const family = familyOf(address);
    if (!(await host.rtnl.routes(family)).some((r) => r.destination === address && r.ifindex === hostVeth.index)) mismatch(`host route ${address} dev ${name} is missing`);
    if (!(await pod.addresses(podInterface.index, family)).includes(address)) mismatch(`${attachment.ifname} in ${netns} does not have ${address}`);
    if (!(await pod.routes(family)).some((r) => r.destination === 'default' && r.gateway === gateway)) mismatch(`the default route via ${gateway} is missing in ${netns}`);
    const neighbour = (await pod.neighbours(podInterface.index, family)).find((n) => n.ip === gateway);
    if (!neighbour?.permanent || neighbour.mac !== hostVeth.mac) mismatch(`the permanent neighbour ${gateway} -> ${hostVeth.mac} is missing in ${netns}`);
  }

  if (!host.hooks.runs('from_pod', host.fromPod, hostVeth)) mismatch(`from_pod is not attached to ${name} ingress`);
  const endpoint = readEndpoint(host.endpoints, host.podCIDRs, ip);
  const expected = podEndpoint(host, ip, hostVeth, podInterface.mac, limits);
  if (!endpoint || endpoint.ifindex !== hostVeth.index || endpoint.podMac !== podInterface.mac || endpoint.hostMac !== hostVeth.mac || endpoint.ip6 !== expected.ip6) {
    mismatch(`the endpoint entry for ${ip} does not match ${name} and ${attachment.ifname}`);
  }
  if (!holdsPodLimits(host.podLimits, host.podCIDRs, ip, limits) || endpoint.egressLimited !== expected.egressLimited || endpoint.ingressLimited !== expected.ingressLimited) {
    mismatch(`the bandwidth limits of ${ip} in the datapath are not the ones ADD set`);
  }
  if (limits.ingress && !host.hooks.runs('to_pod', host.toPod, hostVeth)) mismatch(`to_pod is not attached to ${name} egress`);
}
