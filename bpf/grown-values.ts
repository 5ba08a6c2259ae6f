// A pinned map whose values a later build grew at their end (a field appended to the
// struct, as struct endpoint's ip6 was): libbpf reuses a pinned map only of the same
// value size, so the upgrade would fail to load. Its entries are taken and its pin
// removed before the load creates the map afresh, then written back, each followed by
// zeros for the new fields. The programs of the build before keep the old map and run
// until the new ones take their hooks, which happens after the write-back.
import fs from 'node:fs';

import { BpfMap } from './tsbpf';

export interface GrownValues {
  /** The old value size. */
  from: number;
  entries: number;
  /** Writes the old entries into the map the load created. */
  restore(map: BpfMap): void;
}

/** Takes the entries of the map pinned at `pin` when its values are shorter than `valueSize`; undefined when there is nothing to grow. */
export function takeGrownValues(pin: string, valueSize: number): GrownValues | undefined {
  if (!fs.existsSync(pin)) return undefined;
  const old = BpfMap.openPinned(pin);
  let entries: Array<[Buffer, Buffer]>;
  let from: number;
  try {
    from = old.valueLength;
    if (from >= valueSize) return undefined;
    entries = old.lookupBatch();
  } finally {
    old.close();
  }
  fs.rmSync(pin);
  return {
    from,
    entries: entries.length,
    restore: (map) => {
      for (const [key, value] of entries) map.update(key, Buffer.concat([value, Buffer.alloc(map.valueLength - value.length)]));
    },
  };
}
