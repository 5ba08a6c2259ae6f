// Reading a node's datapath maps from their pins, as the twill CLI and the tests do:
// no agent needed, only the bpffs root it pinned them under.
import { readCounters, type Counter } from './counters';
import { pinPaths } from './datapath';
import fs from 'node:fs';

import { occupiedSlots, type Endpoint } from './endpoints';
import { decodePodLimits, type PodLimitsHeld } from './pod-limits';
import type { MapName } from './layouts';
import { ipv4ToNumber } from './addresses';
import { decodeNodeSubnet, nodeSubnetCidr, type NodeSubnet } from './node-subnets';
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

/** The node subnets in a node's map, as sorted CIDRs. */
export function pinnedNodeSubnets(bpffsRoot: string): string[] {
  return withPinnedMap(bpffsRoot, 'node_subnets', (map) => map.keys().map(nodeSubnetCidr).sort());
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

/** The other nodes' pod subnets, sorted by address. */
export function pinnedRemoteSubnets(bpffsRoot: string): Array<{ cidr: string } & NodeSubnet> {
  return withPinnedMap(bpffsRoot, 'node_subnets', (map) => map.lookupBatch().map(([key, value]) => ({ cidr: nodeSubnetCidr(key), ...decodeNodeSubnet(value) })))
    .sort((a, b) => compareIpv4(a.cidr.split('/')[0], b.cidr.split('/')[0]));
}

function compareIpv4(a: string, b: string): number {
  return ipv4ToNumber(a) - ipv4ToNumber(b);
}
