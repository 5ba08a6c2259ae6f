// CHECK: the pod's network is still what ADD made of it: address, veth, routes,
// neighbour, the attached from_pod program and the endpoint entry. Each mismatch is
// reported naming the resource.
import { readEndpoint } from '../../bpf/endpoints';
import { Rtnl } from '../../bpf/netlink';
import { BpfMap, BpfProgram, queryAttached } from '../../bpf/tsbpf';
import type { CmdArgs } from './args';
import type { NetConf } from './config';
import { Code, CniError } from './errors';
import { Ipam } from './ipam';
import { POD_GATEWAY, hostVethName } from './naming';
import { requireReadyNode } from './node';

function mismatch(problem: string): never {
  throw new CniError(Code.CheckFailed, problem);
}

export async function check(args: CmdArgs, netConf: NetConf): Promise<undefined> {
  if (!netConf.prevResult) throw new CniError(Code.InvalidConfig, 'network config: prevResult is required for CHECK');
  const { settings, pins } = requireReadyNode(netConf);
  const attachment = { containerID: args.containerID, ifname: args.ifname };
  const allocation = await new Ipam(netConf.stateDir).find(attachment);
  if (!allocation) throw new CniError(Code.UnknownContainer, `no address is allocated to container ${args.containerID} interface ${args.ifname}`);
  const address = `${allocation.ip}/32`;
  if (!netConf.prevResult.ips.some((ip) => ip.address === address)) mismatch(`prevResult does not list ${address}, the address allocated to this pod`);

  const name = hostVethName(attachment);
  const host = Rtnl.open();
  const pod = Rtnl.open(args.netns);
  try {
    const hostVeth = await host.link(name);
    if (!hostVeth) mismatch(`host veth ${name} is missing`);
    if (!hostVeth.up) mismatch(`host veth ${name} is down`);
    if (!(await host.routes()).some((r) => r.destination === address && r.ifindex === hostVeth.index)) mismatch(`host route ${address} dev ${name} is missing`);

    const podInterface = await pod.link(args.ifname);
    if (!podInterface) mismatch(`interface ${args.ifname} is missing in ${args.netns}`);
    if (!podInterface.up) mismatch(`interface ${args.ifname} in ${args.netns} is down`);
    if (!(await pod.addresses(podInterface.index)).includes(address)) mismatch(`${args.ifname} in ${args.netns} does not have ${address}`);
    if (!(await pod.routes()).some((r) => r.destination === 'default' && r.gateway === POD_GATEWAY)) mismatch(`the default route via ${POD_GATEWAY} is missing in ${args.netns}`);
    const gateway = (await pod.neighbours(podInterface.index)).find((n) => n.ip === POD_GATEWAY);
    if (!gateway?.permanent || gateway.mac !== hostVeth.mac) mismatch(`the permanent neighbour ${POD_GATEWAY} -> ${hostVeth.mac} is missing in ${args.netns}`);

    const program = BpfProgram.openPinned(pins.program('from_pod'));
    const attached = queryAttached(hostVeth.index, 'ingress').tcx.programIds;
    const expectedId = program.info.id;
    program.close();
    if (!attached.includes(expectedId)) mismatch(`from_pod is not attached to ${name} ingress`);

    const endpoints = BpfMap.openPinned(pins.map('endpoints'));
    const endpoint = readEndpoint(endpoints, settings.podCIDR, allocation.ip);
    endpoints.close();
    if (!endpoint || endpoint.ifindex !== hostVeth.index || endpoint.podMac !== podInterface.mac || endpoint.hostMac !== hostVeth.mac) {
      mismatch(`the endpoint entry for ${allocation.ip} does not match ${name} and ${args.ifname}`);
    }
  } finally {
    host.close();
    pod.close();
  }
  return undefined;
}
