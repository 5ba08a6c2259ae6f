// Follows the uplink's MTU while the agent runs: an operator or a cloud agent may lower
// it on a live node (a new underlay, jumbo frames turned off). The VXLAN device takes
// the new size at once, and pods created from then on get an MTU that fits; pods that
// already run keep theirs, since their interfaces live in namespaces only the runtime
// holds. Their packets too big for the new path are answered "fragmentation needed"
// (the datapath hands them to the stack: see fits_wrapped), so TCP adapts; a restart
// gives them the new MTU.
import type { Logger } from 'pino';

import type { Link, Rtnl } from '../netlink';

const POLL_MS = 2000;

export interface UplinkMtuOptions {
  rtnl: Rtnl;
  uplink: Link;
  /** The VXLAN device, in vxlan mode. */
  tunnel?: Link;
  /** The bytes of tunnel headers around pods' packets: VXLAN_OVERHEAD of the underlay, 0 natively. */
  overhead: number;
  /** An MTU the operator set for pods, which the agent then never changes. */
  configuredMtu?: number;
  /** How many pods run here now, for the log line. */
  podCount: () => number;
  /** Told the pod MTU for pods created from now on. */
  onPodMtu: (mtu: number) => void;
  log: Logger;
}

/** The MTU pods get over an uplink of `uplinkMtu`, around whose packets tunnels put `overhead` bytes. */
export function podMtuFor(uplinkMtu: number, overhead: number): number {
  return uplinkMtu - overhead;
}

/** Polls the uplink's MTU and applies each change; returns a function that stops it. */
export function followUplinkMtu(options: UplinkMtuOptions): () => void {
  const { rtnl, uplink, tunnel, configuredMtu, log } = options;
  let known = uplink.mtu;
  let checking = false;
  const check = async (): Promise<void> => {
    const now = (await rtnl.link(uplink.name))?.mtu;
    if (now === undefined || now === known) return;
    const previous = known;
    known = now;
    const podMtu = podMtuFor(now, options.overhead);
    if (tunnel) await rtnl.setMtu(tunnel.index, podMtu);
    const context = { uplink: uplink.name, uplinkMtu: now, previousUplinkMtu: previous, pods: options.podCount() };
    if (configuredMtu !== undefined) {
      if (configuredMtu > podMtu) log.warn(context, `uplink ${uplink.name} MTU changed from ${previous} to ${now}: the configured pod MTU ${configuredMtu} no longer fits (at most ${podMtu}); pods' larger packets to other nodes get "fragmentation needed"; lower --mtu`);
      return;
    }
    options.onPodMtu(podMtu);
    const running = now < previous ? `, and their packets too large for other nodes get "fragmentation needed" (restart them to take the new MTU)` : ' (restart them to take the new MTU)';
    log.warn(context, `uplink ${uplink.name} MTU changed from ${previous} to ${now}: pods created from now get MTU ${podMtu}; the ${context.pods} pods running keep theirs${running}`);
  };
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    check()
      .catch((error: Error) => log.warn({ uplink: uplink.name }, `reading the uplink's MTU failed: ${error.message}`))
      .finally(() => (checking = false));
  }, POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
