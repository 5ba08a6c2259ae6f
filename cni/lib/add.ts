// ADD: an address from the node's pod CIDR, the pod wired into the datapath, and the
// result. Any failure undoes everything done so far, the address included.
import type { CmdArgs } from './args';
import type { NetConf } from './config';
import { Ipam } from './ipam';
import { POD_GATEWAY } from './naming';
import { requireReadyNode } from './node';
import { attachFromPod, checkPodNamespace, openPodSockets, registerEndpoint, unwirePod, wirePod } from './pod-network';
import { emptyResult, formatResult, type Result } from './result';

export async function add(args: CmdArgs, netConf: NetConf): Promise<Record<string, unknown>> {
  const { settings, pins } = requireReadyNode(netConf);
  const attachment = { containerID: args.containerID, ifname: args.ifname };
  const sockets = openPodSockets(args.netns);
  try {
    await checkPodNamespace(sockets, attachment);
    const ipam = new Ipam(netConf.stateDir);
    const ip = await ipam.allocate(attachment, settings.podCIDR);
    try {
      const wiring = await wirePod(sockets, attachment, ip, netConf.mtu ?? settings.mtu);
      attachFromPod(pins, wiring.hostVeth);
      registerEndpoint(pins, settings.podCIDR, ip, wiring);

      // Chained after another plugin, Twill extends its result rather than replacing it.
      const result: Result = netConf.prevResult ?? emptyResult();
      const first = result.interfaces.length;
      result.interfaces.push({ name: wiring.hostVeth.name, mac: wiring.hostVeth.mac }, { name: args.ifname, mac: wiring.podInterface.mac, sandbox: args.netns });
      result.ips.push({ address: `${ip}/32`, gateway: POD_GATEWAY, interface: first + 1 });
      result.routes.push({ dst: '0.0.0.0/0', gw: POD_GATEWAY });
      return formatResult(result, netConf.cniVersion);
    } catch (error) {
      await unwirePod(pins, attachment, ip).catch(() => undefined);
      await ipam.release(attachment).catch(() => undefined);
      throw error;
    }
  } finally {
    sockets.close();
  }
}
