// The per-CPU counters map: packets and bytes by reason and direction, summed over CPUs.
import type { BpfMap } from './tsbpf';
import { DIRECTIONS, LAYOUTS, REASONS, type DirectionName, type ReasonName } from './layouts';

export interface Counter {
  reason: ReasonName;
  direction: DirectionName;
  packets: bigint;
  bytes: bigint;
}

const KEY = LAYOUTS.counter_key;
const VALUE = LAYOUTS.counter_value;
const reasonNames = new Map(Object.entries(REASONS).map(([name, value]) => [value as number, name as ReasonName]));
const directionNames = new Map(Object.entries(DIRECTIONS).map(([name, value]) => [value as number, name as DirectionName]));

export function counterKey(reason: ReasonName, direction: DirectionName): Buffer {
  const key = Buffer.alloc(KEY.size);
  key.writeUInt32LE(REASONS[reason], KEY.members.reason);
  key.writeUInt32LE(DIRECTIONS[direction], KEY.members.direction);
  return key;
}

/** Every counter in the map, each the sum of its per-CPU values. */
export function readCounters(map: BpfMap): Counter[] {
  return map.lookupBatch().flatMap(([key, value]) => {
    const reason = reasonNames.get(key.readUInt32LE(KEY.members.reason));
    const direction = directionNames.get(key.readUInt32LE(KEY.members.direction));
    if (!reason || !direction) return [];
    let packets = 0n;
    let bytes = 0n;
    for (const slot of map.perCpuValues(value)) {
      packets += slot.readBigUInt64LE(VALUE.members.packets);
      bytes += slot.readBigUInt64LE(VALUE.members.bytes);
    }
    return [{ reason, direction, packets, bytes }];
  });
}

/** TWILL_DELIVERED_LOCAL → delivered_local: the C enum names as metrics and the CLI show them. */
export const counterLabel = (name: ReasonName | DirectionName): string => name.replace(/^TWILL_/, '').toLowerCase();

/** Packets counted under one reason and direction (0 when never seen). */
export function packetsFor(counters: Counter[], reason: ReasonName, direction: DirectionName): bigint {
  return counters.find((c) => c.reason === reason && c.direction === direction)?.packets ?? 0n;
}
