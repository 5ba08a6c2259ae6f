// Keeps the node-subnet map and the host's routes in step with the cluster's nodes.
// Every change is a diff: new and changed nodes are written before departed ones are
// removed, and nothing is ever flushed, so established flows never see a gap.
import type { Logger } from 'pino';

import { decodeNodeSubnet, encodeNodeSubnet, nodeSubnetCidr, nodeSubnetKey, tunnelMac } from '../../bpf/node-subnets';
import type { Rtnl } from '../../bpf/netlink';
import type { BpfMap } from '../../bpf/tsbpf';
import type { ClusterNode } from './cluster-nodes';
import type { Mode } from './config';

/** rtm_protocol of Twill's routes, so it finds its own and never touches others'. */
export const TWILL_ROUTE_PROTOCOL = 77;

export interface NodeSyncOptions {
  self: string;
  mode: Mode;
  /** The device remote pod subnets are routed through: the uplink, or the VXLAN device. */
  routeDevice: number;
  nodeSubnets: BpfMap;
  rtnl: Rtnl;
  log: Logger;
}

export interface SyncSummary {
  nodes: number;
  added: number;
  changed: number;
  removed: number;
  durationMs: number;
}

interface Remote {
  cidr: string;
  nodeIp: string;
}

export class NodeSync {
  readonly #options: NodeSyncOptions;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: NodeSyncOptions) {
    this.#options = options;
  }

  /** Makes the map and the routes match `nodes`; changes apply one at a time, in order. */
  apply(nodes: ClusterNode[]): Promise<SyncSummary> {
    const run = this.#queue.then(() => this.#apply(nodes));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #apply(nodes: ClusterNode[]): Promise<SyncSummary> {
    const started = performance.now();
    const { self, mode, routeDevice, nodeSubnets, rtnl, log } = this.#options;
    const tunnel = mode === 'vxlan';
    const desired = new Map<string, Remote>();
    for (const node of nodes) {
      if (node.name === self || !node.podCIDR || !node.internalIP) continue;
      desired.set(node.podCIDR, { cidr: node.podCIDR, nodeIp: node.internalIP });
    }

    const current = new Map(nodeSubnets.keys().map((key) => [nodeSubnetCidr(key), decodeNodeSubnet(nodeSubnets.lookup(key) as Buffer)]));
    let added = 0;
    let changed = 0;
    for (const remote of desired.values()) {
      const existing = current.get(remote.cidr);
      if (existing && existing.nodeIp === remote.nodeIp && existing.tunnel === tunnel) continue;
      if (tunnel) await rtnl.addPermanentNeighbour(routeDevice, remote.nodeIp, tunnelMac(remote.nodeIp));
      await rtnl.addRoute({ destination: remote.cidr, ifindex: routeDevice, gateway: remote.nodeIp, onlink: true, protocol: TWILL_ROUTE_PROTOCOL }, { replace: true });
      nodeSubnets.update(nodeSubnetKey(remote.cidr), encodeNodeSubnet({ nodeIp: remote.nodeIp, tunnel }));
      if (existing) changed++;
      else added++;
    }

    let removed = 0;
    for (const [cidr, existing] of current) {
      if (desired.has(cidr)) continue;
      nodeSubnets.delete(nodeSubnetKey(cidr));
      await rtnl.deleteRoute({ destination: cidr, ifindex: routeDevice, gateway: existing.nodeIp, protocol: TWILL_ROUTE_PROTOCOL });
      if (tunnel && ![...desired.values()].some((r) => r.nodeIp === existing.nodeIp)) await rtnl.deleteNeighbour(routeDevice, existing.nodeIp);
      removed++;
    }
    // Routes of ours with no map entry (an agent killed between the two writes).
    for (const route of await rtnl.routes()) {
      if (route.protocol === TWILL_ROUTE_PROTOCOL && !desired.has(route.destination)) {
        await rtnl.deleteRoute({ destination: route.destination, ifindex: route.ifindex ?? routeDevice, protocol: TWILL_ROUTE_PROTOCOL });
      }
    }

    const summary = { nodes: desired.size, added, changed, removed, durationMs: Math.round((performance.now() - started) * 10) / 10 };
    if (added + changed + removed > 0) log.info(summary, 'node subnets synced');
    return summary;
  }
}
