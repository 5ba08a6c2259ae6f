// The datapath object opened for one node: its settings compiled into the programs
// (.rodata), its maps sized for the node's pod CIDR and for the other nodes' subnets
// laid out over the cluster CIDR, ready to load. The agent pins its maps before it
// loads it; the verdict tests and the benchmark load it as it is.
import { cidrsByFamily, familyOf, ipv4ToBytes, ipv6ToBytes } from './addresses';
import { DATAPATH_OBJECT } from './datapath';
import { setPodCidrs, type PodCidrs } from './endpoints';
import type { RodataName } from './layouts';
import { nodeSlotLayouts, setNodeSlotLayouts, type NodeSlotLayouts } from './node-subnets';
import { BpfObject } from './tsbpf';

/** The per-node constants compiled into the programs at load; what is left out keeps the C's default. */
export interface DatapathSettings {
  /** Native routing: the device towards the other nodes. */
  uplinkIfindex?: number;
  /** The overlay: the collect-metadata VXLAN device. */
  tunnelIfindex?: number;
  vni?: number;
  vxlanPort?: number;
  /** This node's end of VXLAN: its IPv4 address, or its IPv6 one in a cluster whose tunnel runs over IPv6 (no pod has IPv4). */
  nodeIp?: string;
  /** This node's pod CIDRs: the endpoints map has a slot for each pod address of them. */
  podCIDRs: PodCidrs;
  /** The cluster's pod CIDR, or one per family, over which node_slots (node_slots6) lays out the other nodes' subnets. */
  clusterCIDR?: string;
}

/** A UDP port as the datapath compares it with packets' (tunnel_port): two bytes in network order. */
function udpPortBytes(port: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16BE(port);
  return bytes;
}

/** The rodata that name this node's end of VXLAN, by its family. */
function nodeIpRodata(nodeIp: string | undefined): Partial<Record<RodataName, number | Buffer>> {
  if (nodeIp === undefined) return {};
  return familyOf(nodeIp) === 'ipv6' ? { node_ip6: ipv6ToBytes(nodeIp), underlay_ipv6: 1 } : { node_ip: ipv4ToBytes(nodeIp) };
}

export function openDatapath(settings: DatapathSettings): { object: BpfObject; slotLayouts: NodeSlotLayouts } {
  const object = setPodCidrs(BpfObject.open(DATAPATH_OBJECT), settings.podCIDRs);
  const values: Partial<Record<RodataName, number | Buffer | undefined>> = {
    uplink_ifindex: settings.uplinkIfindex,
    tunnel_ifindex: settings.tunnelIfindex,
    tunnel_vni: settings.vni,
    tunnel_port: settings.vxlanPort === undefined ? undefined : udpPortBytes(settings.vxlanPort),
    ...nodeIpRodata(settings.nodeIp),
  };
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined) object.setRodata(name, value);
  }
  const slotLayouts = nodeSlotLayouts(settings.podCIDRs, settings.clusterCIDR ? cidrsByFamily(settings.clusterCIDR) : {});
  setNodeSlotLayouts(object, slotLayouts);
  return { object, slotLayouts };
}
