// Reading a node's datapath maps from their pins, as the twill CLI and the tests do:
// no agent needed, only the bpffs root it pinned them under.
import { readCounters, type Counter } from './counters';
import { pinPaths } from './datapath';
import fs from 'node:fs';

import { occupiedSlots, type Endpoint } from './endpoints';
import { decodePodLimits, type PodLimitsHeld } from './pod-limits';
import type { MapName } from './layouts';
import { ipToBigInt, type IpFamily } from './addresses';
import { NODE_SUBNET_CODECS, type NodeSubnet } from './node-subnets';
import { BpfMap } from './tsbpf';

/** Opens the pinned map `name` under `bpffsRoot`, runs `read` on it, and closes it. */
export function withPinnedMap<T>(bpffsRoot: string, name: MapName, read: (map: BpfMap) => T): T {
  const map = BpfMap.openPinned(pinPaths(bpffsRoot).map(name));
  try {
    return read(map);
  } finally {
    map.close();
  }
}

/** The node subnets in a node's maps (IPv4, then IPv6), as sorted CIDRs. */
export function pinnedNodeSubnets(bpffsRoot: string): string[] {
  return pinnedRemoteSubnets(bpffsRoot).map((subnet) => subnet.cidr);
}

export function pinnedCounters(bpffsRoot: string): Counter[] {
  return withPinnedMap(bpffsRoot, 'counters', readCounters);
}

/** This node's pods with their bandwidth limits, in slot order: by address in each family. */
export function pinnedEndpoints(bpffsRoot: string): Array<Endpoint & { limits: PodLimitsHeld }> {
  const slots = withPinnedMap(bpffsRoot, 'endpoints', occupiedSlots);
  // A node whose agent predates limits has no pod_limits pin, and no limits.
  const limits = fs.existsSync(pinPaths(bpffsRoot).map('pod_limits'))
    ? withPinnedMap(bpffsRoot, 'pod_limits', (map) => slots.map((slot) => decodePodLimits(map.lookup(slot.key) ?? Buffer.alloc(map.valueLength))))
    : slots.map(() => ({}));
  return slots.map((slot, i) => ({ ...slot.endpoint, limits: limits[i] }));
}

/** The pinned node-subnet map of each family; a datapath pinned before IPv6 has none of IPv6. */
const NODE_SUBNET_MAPS: Array<[MapName, IpFamily]> = [['node_subnets', 'ipv4'], ['node_subnets6', 'ipv6']];

/** The other nodes' pod subnets, IPv4 then IPv6, each sorted by address. */
export function pinnedRemoteSubnets(bpffsRoot: string): Array<{ cidr: string } & NodeSubnet> {
  return NODE_SUBNET_MAPS.filter(([name]) => fs.existsSync(pinPaths(bpffsRoot).map(name))).flatMap(([name, family]) => {
    const codec = NODE_SUBNET_CODECS[family];
    const subnets = withPinnedMap(bpffsRoot, name, (map) => map.lookupBatch().map(([key, value]) => ({ cidr: codec.cidr(key), ...codec.decode(value) })));
    const start = (subnet: { cidr: string }): bigint => ipToBigInt(subnet.cidr.split('/')[0]);
    return subnets.sort((a, b) => (start(a) < start(b) ? -1 : start(a) > start(b) ? 1 : 0));
  });
}
