// DEL: removes the pod's veth, link pin, endpoint entry and address. It succeeds when
// any of them, or all, are already gone: runtimes call DEL again, without a netns,
// without prevResult, with the agent down.
import { pinPaths } from '../../bpf/datapath';
import type { CmdArgs } from './args';
import type { NetConf } from './config';
import { Ipam } from './ipam';
import { unwirePod } from './pod-network';

export async function del(args: CmdArgs, netConf: NetConf): Promise<undefined> {
  const attachment = { containerID: args.containerID, ifname: args.ifname };
  const ipam = new Ipam(netConf.stateDir);
  // Only the address IPAM says this attachment holds: one freed earlier may be another pod's now.
  const allocation = await ipam.find(attachment);
  await unwirePod(pinPaths(netConf.bpffsRoot), attachment, allocation?.ip);
  await ipam.release(attachment);
  return undefined;
}
