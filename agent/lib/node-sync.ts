// Keeps the node-subnet map and the host's routes in step with the cluster's nodes.
// Every change is a diff: new and changed nodes are written before departed ones are
// removed, and nothing is ever flushed, so established flows never see a gap.
import type { Logger } from 'pino';

import { addNodeAddress, decodeNodeSubnet, encodeNodeSubnet, nodeSubnetCidr, nodeSubnetKey, removeNodeAddress, tunnelMac, writeNodeSlot, writePrefixLengths, type NodeSlotLayout, type NodeSubnet } from '../../bpf/node-subnets';
import type { Rtnl } from '../netlink';
import type { BpfMap } from '../../bpf/tsbpf';
import type { Mode } from './config';
import type { AdmittedNode } from './node-claims';

/** rtm_protocol of Twill's routes, so it finds its own and never touches others'. */
export const TWILL_ROUTE_PROTOCOL = 77;

export interface NodeSyncOptions {
  mode: Mode;
  /** The device remote pod subnets are routed through: the uplink, or the VXLAN device. */
  routeDevice: number;
  nodeSubnets: BpfMap;
  /** The prefix lengths the datapath tries, longest first. */
  nodeSubnetLengths: BpfMap;
  /** The subnets of this node's prefix length again, in an array over the cluster CIDR (none without one). */
  nodeSlots: BpfMap;
  slotLayout?: NodeSlotLayout;
  /** The nodes' addresses, which VXLAN is accepted from. */
  nodeAddresses: BpfMap;
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
  /**
   * Whether routes of ours may lack a map entry: after a start (an agent killed between
   * a route and its map entry) and after a failed sync. Only then is the whole route
   * table listed, which with thousands of routes would dominate a small change.
   */
  #strayRoutesPossible = true;

  constructor(options: NodeSyncOptions) {
    this.#options = options;
  }

  /** Makes the map and the routes match the admitted nodes (node-claims.ts); changes apply one at a time, in order. */
  apply(nodes: AdmittedNode[]): Promise<SyncSummary> {
    const run = this.#queue.then(() => this.#apply(nodes));
    this.#queue = run.catch(() => {
      this.#strayRoutesPossible = true;
    });
    return run;
  }

  async #apply(nodes: AdmittedNode[]): Promise<SyncSummary> {
    const started = performance.now();
    const { mode, nodeSubnets, nodeSubnetLengths, slotLayout, log } = this.#options;
    const tunnel = mode === 'vxlan';
    const desired = new Map<string, Remote>(nodes.map((node) => [node.cidr, { cidr: node.cidr, nodeIp: node.nodeIp }]));

    // One batched read of the whole map, not a lookup per key.
    const current = new Map(nodeSubnets.lookupBatch().map(([key, value]) => [nodeSubnetCidr(key), decodeNodeSubnet(value)]));
    const writes = [...desired.values()].filter((remote) => {
      const existing = current.get(remote.cidr);
      return !existing || existing.nodeIp !== remote.nodeIp || existing.tunnel !== tunnel;
    });
    const departed = [...current].filter(([cidr]) => !desired.has(cidr));
    // The datapath finds only subnets whose prefix length is listed: while entries of
    // both lists are in the map, both lengths are.
    writePrefixLengths(nodeSubnetLengths, [...current.keys(), ...desired.keys()], slotLayout);
    await this.#write(writes);
    await this.#remove(departed);
    const desiredNodeIps = new Set([...desired.values()].map((remote) => remote.nodeIp));
    await this.#forgetNodes([...new Set([...current.values()].map((subnet) => subnet.nodeIp))].filter((nodeIp) => !desiredNodeIps.has(nodeIp)));
    writePrefixLengths(nodeSubnetLengths, desired.keys(), slotLayout);
    if (this.#strayRoutesPossible) {
      await this.#removeStrayRoutes(desired);
      this.#strayRoutesPossible = false;
    }

    const changed = writes.filter((remote) => current.has(remote.cidr)).length;
    const summary = { nodes: desired.size, added: writes.length - changed, changed, removed: departed.length, durationMs: Math.round((performance.now() - started) * 10) / 10 };
    if (writes.length + departed.length > 0) log.info(summary, 'node subnets synced');
    return summary;
  }

  /**
   * Each node's route (and tunnel neighbour) goes in before its map entry, so the
   * datapath never forwards where the host cannot; its address before its subnet, so
   * its VXLAN is accepted once traffic goes to it.
   */
  async #write(remotes: Remote[]): Promise<void> {
    const { mode, routeDevice, nodeSubnets, nodeSlots, slotLayout, nodeAddresses, rtnl } = this.#options;
    const tunnel = mode === 'vxlan';
    await rtnl.pipeline(remotes, async (remote) => {
      if (tunnel) await rtnl.addPermanentNeighbour(routeDevice, remote.nodeIp, tunnelMac(remote.nodeIp));
      await rtnl.addRoute({ destination: remote.cidr, ifindex: routeDevice, gateway: remote.nodeIp, onlink: true, protocol: TWILL_ROUTE_PROTOCOL }, { replace: true });
      addNodeAddress(nodeAddresses, remote.nodeIp);
      const subnet = { nodeIp: remote.nodeIp, tunnel };
      nodeSubnets.update(nodeSubnetKey(remote.cidr), encodeNodeSubnet(subnet));
      writeNodeSlot(nodeSlots, slotLayout, remote.cidr, subnet);
    });
  }

  /** Departed subnets lose their map entries first, then their route. */
  async #remove(departed: Array<[string, NodeSubnet]>): Promise<void> {
    const { routeDevice, nodeSubnets, nodeSlots, slotLayout, rtnl } = this.#options;
    await rtnl.pipeline(departed, async ([cidr, existing]) => {
      writeNodeSlot(nodeSlots, slotLayout, cidr, undefined);
      nodeSubnets.delete(nodeSubnetKey(cidr));
      await rtnl.deleteRoute({ destination: cidr, ifindex: routeDevice, gateway: existing.nodeIp, protocol: TWILL_ROUTE_PROTOCOL });
    });
  }

  /** Addresses no node has any more (it left, or its address changed): their VXLAN is refused, and their tunnel neighbour goes. */
  async #forgetNodes(nodeIps: string[]): Promise<void> {
    const { mode, routeDevice, nodeAddresses, rtnl } = this.#options;
    await rtnl.pipeline(nodeIps, async (nodeIp) => {
      removeNodeAddress(nodeAddresses, nodeIp);
      if (mode === 'vxlan') await rtnl.deleteNeighbour(routeDevice, nodeIp);
    });
  }

  async #removeStrayRoutes(desired: Map<string, Remote>): Promise<void> {
    const { routeDevice, rtnl } = this.#options;
    const strays = (await rtnl.routes()).filter((route) => route.protocol === TWILL_ROUTE_PROTOCOL && route.type === 'unicast' && !desired.has(route.destination));
    await rtnl.pipeline(strays, (route) => rtnl.deleteRoute({ destination: route.destination, ifindex: route.ifindex ?? routeDevice, protocol: TWILL_ROUTE_PROTOCOL }));
  }
}
