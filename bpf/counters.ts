// The per-CPU counters map: packets and bytes by reason, family and direction, summed over CPUs.
import fs from 'node:fs';

import { BpfMap } from './tsbpf';
import { COUNTER_SLOTS, DIRECTIONS, FAMILIES, LAYOUTS, REASONS, slotKey, type DirectionName, type FamilyName, type ReasonName } from './layouts';

export interface Counter {
  reason: ReasonName;
  family: FamilyName;
  direction: DirectionName;
  packets: bigint;
  bytes: bigint;
}

const VALUE = LAYOUTS.counter_value;
const REASON_NAMES = Object.keys(REASONS) as ReasonName[];
const DIRECTION_NAMES = Object.keys(DIRECTIONS) as DirectionName[];
export const FAMILY_NAMES = Object.keys(FAMILIES) as FamilyName[];

/** The slot of a reason, family and direction, by their numbers: counter_index in datapath.bpf.c. */
function slotOf(reason: number, family: number, direction: number): number {
  return (reason * COUNTER_SLOTS.TWILL_FAMILY_SLOTS + family) * COUNTER_SLOTS.TWILL_DIRECTION_SLOTS + direction;
}

/** The slot of a reason, family and direction. */
export function counterIndex(reason: ReasonName, family: FamilyName, direction: DirectionName): number {
  return slotOf(REASONS[reason], FAMILIES[family], DIRECTIONS[direction]);
}

/** How many slots the counters map has. */
export const COUNTER_SLOT_COUNT = COUNTER_SLOTS.TWILL_REASON_SLOTS * COUNTER_SLOTS.TWILL_FAMILY_SLOTS * COUNTER_SLOTS.TWILL_DIRECTION_SLOTS;

/** Builds before the map's shape was fixed sized it by their enums, which had three directions then. */
const OLD_DIRECTION_COUNT = 3;

/** Every counter that has counted something, each the sum of its per-CPU values. */
export function readCounters(map: BpfMap): Counter[] {
  const slots = new Map(map.lookupBatch().map(([key, value]) => [key.readUInt32LE(0), value]));
  return REASON_NAMES.flatMap((reason) =>
    FAMILY_NAMES.flatMap((family) =>
      DIRECTION_NAMES.flatMap((direction) => {
        const value = slots.get(counterIndex(reason, family, direction));
        if (!value) return [];
        let packets = 0n;
        let bytes = 0n;
        for (const cpu of map.perCpuValues(value)) {
          packets += cpu.readBigUInt64LE(VALUE.members.packets);
          bytes += cpu.readBigUInt64LE(VALUE.members.bytes);
        }
        return packets === 0n ? [] : [{ reason, family, direction, packets, bytes }];
      }),
    ),
  );
}

/** TWILL_DELIVERED_LOCAL → delivered_local, TWILL_IPV6 → ipv6: the C enum names as metrics and the CLI show them. */
export const counterLabel = (name: ReasonName | FamilyName | DirectionName): string => name.replace(/^TWILL_/, '').toLowerCase();

/** Packets counted under one reason and direction, of one family or of both (0 when never seen). */
export function packetsFor(counters: Counter[], reason: ReasonName, direction: DirectionName, family?: FamilyName): bigint {
  return counters.filter((c) => c.reason === reason && c.direction === direction && (family === undefined || c.family === family)).reduce((sum, c) => sum + c.packets, 0n);
}

/**
 * A counters map pinned by a build before the map's shape was fixed (sized by its
 * reasons, three directions a reason, no family) cannot be re-adopted: libbpf reuses
 * a pinned map only of the same size, and the upgrade would fail. When the map pinned
 * at `pin` is not this build's size, takes its slots and removes the pin, so the load
 * creates the map afresh; the returned function writes each old slot's counts into the
 * slot of the same reason and direction, as IPv4 (reasons and directions keep their
 * numbers from build to build, and those builds counted IPv4 alone).
 */
export function takeResizedCounters(pin: string): { from: number; restore: (map: BpfMap) => void } | undefined {
  if (!fs.existsSync(pin)) return undefined;
  const old = BpfMap.openPinned(pin);
  let slots: Array<[Buffer, Buffer]>;
  try {
    if (old.info.maxEntries === COUNTER_SLOT_COUNT) return undefined;
    slots = old.lookupBatch();
  } finally {
    old.close();
  }
  fs.rmSync(pin);
  return {
    from: slots.length,
    restore: (map) => {
      for (const [key, value] of slots) {
        const old = key.readUInt32LE(0);
        const slot = slotOf(Math.floor(old / OLD_DIRECTION_COUNT), FAMILIES.TWILL_IPV4, old % OLD_DIRECTION_COUNT);
        if (slot < map.info.maxEntries && value.length === map.valueLength) map.update(slotKey(slot), value);
      }
    },
  };
}
