// How many entries a datapath map holds, for the metrics and the CLI: in the arrays,
// whose slots always exist, the occupied ones (pods; pods with limits; counters that
// have counted; node subnets; the prefix lengths listed).
import { readCounters } from './counters';
import { occupiedSlots } from './endpoints';
import { LAYOUTS, slotKey, type MapName } from './layouts';
import { limitedSlots } from './pod-limits';
import type { BpfMap } from './tsbpf';

export function entryCount(name: MapName, map: BpfMap): number {
  switch (name) {
    case 'endpoints':
      return occupiedSlots(map).length;
    case 'pod_limits':
      return limitedSlots(map).length;
    case 'counters':
      return readCounters(map).length;
    case 'node_subnets':
    case 'node_subnets6':
    case 'node_addresses':
      return map.keys().length;
    case 'node_slots':
      return map.lookupBatch().filter(([, value]) => value.readUInt32BE(LAYOUTS.node_subnet.members.node_ip) !== 0).length;
    case 'node_slots6':
      return map.lookupBatch().filter(([, value]) => value.subarray(LAYOUTS.node_subnet6.members.node_ip6, LAYOUTS.node_subnet6.members.node_ip6 + 16).some((byte) => byte !== 0)).length;
    case 'node_subnet_lengths':
    case 'node_subnet_lengths6':
      return map.lookup(slotKey(0))?.readUInt32LE(LAYOUTS.node_subnet_lengths.members.count) ?? 0;
  }
}
