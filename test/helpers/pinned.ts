// Reading a node's datapath maps from their pins, the way an operator's tool would.
import { readCounters, type Counter } from '../../bpf/counters';
import { pinPaths } from '../../bpf/datapath';
import type { MapName } from '../../bpf/layouts';
import { nodeSubnetCidr } from '../../bpf/node-subnets';
import { BpfMap } from '../../bpf/tsbpf';

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
