// Keeps the node-subnet maps (one per family) and the host's routes in step with the
// cluster's nodes.
// Every change is a diff: new and changed nodes are written before departed ones are
// removed, and nothing is ever flushed, so established flows never see a gap.
import type { Logger } from 'pino';

import { familyOf, ipToBytes, ipv6FromBytes, type IpFamily } from '../../bpf/addresses';
import { NODE_SUBNET_CODECS, addNodeAddress, isVxlanSender, removeNodeAddress, tunnelMac, writeNodeSlot, writePrefixLengths, type NodeSlotLayout, type NodeSlotLayouts, type NodeSubnet, type NodeSubnetMaps } from '../../bpf/node-subnets';
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
  /** Both families' node-subnet maps and what is derived from them (node-subnets.ts). */
  maps: NodeSubnetMaps;
  slotLayouts: NodeSlotLayouts;
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

/** A node subnet as the maps and routes hold it: its family's map, and the node it is routed to. */
interface Remote extends NodeSubnet {
  cidr: string;
  family: IpFamily;
}

const FAMILIES: IpFamily[] = ['ipv4', 'ipv6'];

/**
 * The next hop of an IPv6 route into the VXLAN device towards the node at `nodeIp` (its
 * underlay address): a link-local address made of the address's last four bytes, as
 * its tunnel MAC is, whose permanent neighbour entry is that MAC, as the IPv4 route's
 * next hop is the node's address itself.
 */
export function tunnelGateway6(nodeIp: string): string {
  const address = Buffer.alloc(16);
  address.writeUInt16BE(0xfe80);
  ipToBytes(nodeIp).subarray(-4).copy(address, 12);
  return ipv6FromBytes(address);
}

/** The gateway of a remote's host route: its node's address, or for IPv6 in the tunnel, tunnelGateway6. */
const gatewayOf = (remote: Remote): string => (remote.tunnel && remote.family === 'ipv6' ? tunnelGateway6(remote.nodeIp) : remote.nodeIp);
/** The node addresses of `remotes` that VXLAN is accepted from. */
const vxlanSenders = (remotes: Iterable<Remote>): Set<string> => new Set([...remotes].filter((remote) => isVxlanSender(remote.family, remote)).map((remote) => remote.nodeIp));

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

  /** Makes the maps and the routes match the admitted nodes (node-claims.ts); changes apply one at a time, in order. */
  apply(nodes: AdmittedNode[]): Promise<SyncSummary> {
    const run = this.#queue.then(() => this.#apply(nodes));
    this.#queue = run.catch(() => {
      this.#strayRoutesPossible = true;
    });
    return run;
  }

  /** One family's map, prefix lengths and slots. */
  #mapsOf(family: IpFamily): { subnets: BpfMap; lengths: BpfMap; slots: BpfMap; layout?: NodeSlotLayout } {
    const { maps, slotLayouts } = this.#options;
    const layout = slotLayouts[family];
    return family === 'ipv4' ? { subnets: maps.nodeSubnets, lengths: maps.nodeSubnetLengths, slots: maps.nodeSlots, layout } : { subnets: maps.nodeSubnets6, lengths: maps.nodeSubnetLengths6, slots: maps.nodeSlots6, layout };
  }

  async #apply(nodes: AdmittedNode[]): Promise<SyncSummary> {
    const started = performance.now();
    const tunnel = this.#options.mode === 'vxlan';
    const desired = new Map<string, Remote>(nodes.map((node) => [node.cidr, { cidr: node.cidr, family: familyOf(node.cidr), nodeIp: node.nodeIp, tunnel }]));

    // One batched read of each whole map, not a lookup per key.
    const current = new Map<string, Remote>();
    for (const family of FAMILIES) {
      const codec = NODE_SUBNET_CODECS[family];
      for (const [key, value] of this.#mapsOf(family).subnets.lookupBatch()) {
        const cidr = codec.cidr(key);
        current.set(cidr, { cidr, family, ...codec.decode(value) });
      }
    }
    const writes = [...desired.values()].filter((remote) => {
      const existing = current.get(remote.cidr);
      return !existing || existing.nodeIp !== remote.nodeIp || existing.tunnel !== remote.tunnel;
    });
    const departed = [...current.values()].filter((remote) => !desired.has(remote.cidr));
    // The datapath finds only subnets whose prefix length is listed: while entries of
    // both lists are in a map, both lengths are.
    this.#writePrefixLengths([...current.keys(), ...desired.keys()]);
    await this.#write(writes);
    await this.#remove(departed);
    const desiredNodeIps = vxlanSenders(desired.values());
    await this.#forgetNodes([...vxlanSenders(current.values())].filter((nodeIp) => !desiredNodeIps.has(nodeIp)));
    this.#writePrefixLengths(desired.keys());
    if (this.#strayRoutesPossible) {
      await this.#removeStrayRoutes(desired);
      this.#strayRoutesPossible = false;
    }

    const changed = writes.filter((remote) => current.has(remote.cidr)).length;
    const summary = { nodes: desired.size, added: writes.length - changed, changed, removed: departed.length, durationMs: Math.round((performance.now() - started) * 10) / 10 };
    if (writes.length + departed.length > 0) this.#options.log.info(summary, 'node subnets synced');
    return summary;
  }

  #writePrefixLengths(cidrs: Iterable<string>): void {
    const all = [...cidrs];
    for (const family of FAMILIES) {
      const { lengths, layout } = this.#mapsOf(family);
      writePrefixLengths(lengths, all.filter((cidr) => familyOf(cidr) === family), layout);
    }
  }

  /**
   * Each node's route (and tunnel neighbour) goes in before its map entry, so the
   * datapath never forwards where the host cannot; its address before its subnet, so
   * its VXLAN is accepted once traffic goes to it.
   */
  async #write(remotes: Remote[]): Promise<void> {
    const { routeDevice, maps, rtnl } = this.#options;
    await rtnl.pipeline(remotes, async (remote) => {
      const subnet = { nodeIp: remote.nodeIp, tunnel: remote.tunnel };
      if (remote.tunnel) await rtnl.addPermanentNeighbour(routeDevice, gatewayOf(remote), tunnelMac(remote.nodeIp));
      await rtnl.addRoute({ destination: remote.cidr, ifindex: routeDevice, gateway: gatewayOf(remote), onlink: true, protocol: TWILL_ROUTE_PROTOCOL }, { replace: true });
      if (isVxlanSender(remote.family, remote)) addNodeAddress(maps.nodeAddresses, remote.nodeIp);
      const codec = NODE_SUBNET_CODECS[remote.family];
      const { subnets, slots, layout } = this.#mapsOf(remote.family);
      subnets.update(codec.key(remote.cidr), codec.encode(subnet));
      writeNodeSlot(slots, layout, remote.cidr, subnet);
    });
  }

  /** Departed subnets lose their map entries first, then their route. */
  async #remove(departed: Remote[]): Promise<void> {
    const { routeDevice, rtnl } = this.#options;
    await rtnl.pipeline(departed, async (remote) => {
      const { subnets, slots, layout } = this.#mapsOf(remote.family);
      writeNodeSlot(slots, layout, remote.cidr, undefined);
      subnets.delete(NODE_SUBNET_CODECS[remote.family].key(remote.cidr));
      await rtnl.deleteRoute({ destination: remote.cidr, ifindex: routeDevice, gateway: gatewayOf(remote), protocol: TWILL_ROUTE_PROTOCOL });
    });
  }

  /** VXLAN senders' addresses no node has any more (it left, or its address changed): their VXLAN is refused, and their tunnel neighbours go. */
  async #forgetNodes(nodeIps: string[]): Promise<void> {
    const { mode, routeDevice, maps, rtnl } = this.#options;
    await rtnl.pipeline(nodeIps, async (nodeIp) => {
      removeNodeAddress(maps.nodeAddresses, nodeIp);
      if (mode === 'vxlan') {
        await rtnl.deleteNeighbour(routeDevice, nodeIp);
        await rtnl.deleteNeighbour(routeDevice, tunnelGateway6(nodeIp));
      }
    });
  }

  async #removeStrayRoutes(desired: Map<string, Remote>): Promise<void> {
    const { routeDevice, rtnl } = this.#options;
    for (const family of FAMILIES) {
      const strays = (await rtnl.routes(family)).filter((route) => route.protocol === TWILL_ROUTE_PROTOCOL && route.type === 'unicast' && !desired.has(route.destination));
      await rtnl.pipeline(strays, (route) => rtnl.deleteRoute({ destination: route.destination, ifindex: route.ifindex ?? routeDevice, protocol: TWILL_ROUTE_PROTOCOL }));
    }
  }
}
