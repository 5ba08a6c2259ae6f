// The per-CPU counters map: packets and bytes by reason and direction, summed over CPUs.
import fs from 'node:fs';

import { BpfMap } from './tsbpf';
import { DIRECTIONS, DIRECTION_COUNT, LAYOUTS, REASONS, REASON_COUNT, type DirectionName, type ReasonName } from './layouts';

export interface Counter {
  reason: ReasonName;
  direction: DirectionName;
  packets: bigint;
  bytes: bigint;
}

const VALUE = LAYOUTS.counter_value;
const REASON_NAMES = Object.keys(REASONS) as ReasonName[];
const DIRECTION_NAMES = Object.keys(DIRECTIONS) as DirectionName[];

/** The slot of a reason and direction: counter_index in datapath.bpf.c. */
export function counterIndex(reason: ReasonName, direction: DirectionName): number {
  return REASONS[reason] * DIRECTION_COUNT + DIRECTIONS[direction];
}

/** Every counter that has counted something, each the sum of its per-CPU values. */
export function readCounters(map: BpfMap): Counter[] {
  const slots = new Map(map.lookupBatch().map(([key, value]) => [key.readUInt32LE(0), value]));
  return REASON_NAMES.flatMap((reason) =>
    DIRECTION_NAMES.flatMap((direction) => {
      const value = slots.get(counterIndex(reason, direction));
      if (!value) return [];
      let packets = 0n;
      let bytes = 0n;
      for (const cpu of map.perCpuValues(value)) {
        packets += cpu.readBigUInt64LE(VALUE.members.packets);
        bytes += cpu.readBigUInt64LE(VALUE.members.bytes);
      }
      return packets === 0n ? [] : [{ reason, direction, packets, bytes }];
    }),
  );
}

/** TWILL_DELIVERED_LOCAL → delivered_local: the C enum names as metrics and the CLI show them. */
export const counterLabel = (name: ReasonName | DirectionName): string => name.replace(/^TWILL_/, '').toLowerCase();

/** Packets counted under one reason and direction (0 when never seen). */
export function packetsFor(counters: Counter[], reason: ReasonName, direction: DirectionName): bigint {
  return counters.find((c) => c.reason === reason && c.direction === direction)?.packets ?? 0n;
}

/**
 * A counters map pinned by a build with another number of reasons cannot be re-adopted
 * (libbpf reuses a pinned map only of the same size), which would fail the upgrade.
 * When the map pinned at `pin` is not this build's size, takes its slots and removes
 * the pin, so the load creates the map afresh; the returned function writes the slots
 * back into it. Reasons and directions keep their numbers from build to build, so a
 * slot means the same counter in both: the counts survive the upgrade.
 */
export function takeResizedCounters(pin: string): { from: number; restore: (map: BpfMap) => void } | undefined {
  if (!fs.existsSync(pin)) return undefined;
  const old = BpfMap.openPinned(pin);
  let slots: Array<[Buffer, Buffer]>;
  try {
    if (old.info.maxEntries === REASON_COUNT * DIRECTION_COUNT) return undefined;
    slots = old.lookupBatch();
  } finally {
    old.close();
  }
  fs.rmSync(pin);
  return {
    from: slots.length,
    restore: (map) => {
      for (const [key, value] of slots) {
        if (key.readUInt32LE(0) < map.info.maxEntries && value.length === map.valueLength) map.update(key, value);
      }
    },
  };
}
