// The layouts TypeScript uses (bpf/layouts.ts) equal the BTF of the built datapath
// object: struct sizes, member offsets, enum values and counts (which size the counters
// map and compute its index), and each map's key and value types.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';

import { DATAPATH_OBJECT } from '../../bpf/datapath';
import { COUNTER_SLOTS, DIRECTIONS, DIRECTION_COUNT, ENDPOINT_FLAGS, LAYOUTS, MAPS, REASONS, REASON_COUNT } from '../../bpf/layouts';

interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  members?: Array<{ name: string; type_id: number; bits_offset: number }>;
  values?: Array<{ name: string; val: number }>;
  vars?: Array<{ type_id: number }>;
  nr_elems?: number;
}

const btf: BtfType[] = (JSON.parse(execFileSync('bpftool', ['btf', 'dump', 'file', DATAPATH_OBJECT, '-j'], { encoding: 'utf8' })) as { types: BtfType[] }).types;
const byId = new Map(btf.map((type) => [type.id, type]));
const named = (kind: string, name: string): BtfType => {
  const type = btf.find((t) => t.kind === kind && t.name === name);
  assert.ok(type, `BTF has no ${kind} ${name}`);
  return type;
};
/** Each map of .maps with what a member of its definition points at (__type: the type; __uint: an array of that many elements). */
const mapDefinitions = (): Array<{ name: string; member: (name: string) => BtfType | undefined }> =>
  (named('DATASEC', '.maps').vars ?? []).map(({ type_id }) => {
    const variable = byId.get(type_id) as BtfType;
    const definition = byId.get(variable.type_id as number) as BtfType;
    const member = (name: string): BtfType | undefined => {
      const pointer = byId.get((definition.members ?? []).find((m) => m.name === name)?.type_id ?? -1);
      return byId.get(pointer?.type_id ?? -1);
    };
    return { name: variable.name, member };
  });
const enumValues = (name: string): Record<string, number> =>
  Object.fromEntries((named('ENUM', name).values ?? []).map((v) => [v.name, v.val]));

describe('map layouts match the BTF of the compiled datapath', () => {
  for (const [name, layout] of Object.entries(LAYOUTS)) {
    test(`struct ${name}: size and member offsets`, () => {
      const struct = named('STRUCT', name);
      assert.equal(struct.size, layout.size, `sizeof(struct ${name})`);
      const offsets = Object.fromEntries((struct.members ?? []).map((m) => [m.name, m.bits_offset / 8]));
      assert.deepEqual(offsets, layout.members);
    });
  }

  test('enum twill_reason and enum twill_direction, and their counts', () => {
    assert.deepEqual(enumValues('twill_reason'), { ...REASONS, TWILL_REASON_COUNT: REASON_COUNT });
    assert.deepEqual(enumValues('twill_direction'), { ...DIRECTIONS, TWILL_DIRECTION_COUNT: DIRECTION_COUNT });
  });

  test('enum twill_counter_slots and enum twill_endpoint_flag', () => {
    assert.deepEqual(enumValues('twill_counter_slots'), COUNTER_SLOTS);
    assert.deepEqual(enumValues('twill_endpoint_flag'), ENDPOINT_FLAGS);
  });

  test('every map in .maps, with the key and value types TypeScript encodes', () => {
    const maps = Object.fromEntries(mapDefinitions().map(({ name, member }) => [name, { key: member('key')?.name ?? '?', value: member('value')?.name ?? '?' }]));
    assert.deepEqual(maps, MAPS);
  });

  test('the counters map has its fixed shape, with a slot for every reason and direction', () => {
    const counters = mapDefinitions().find((map) => map.name === 'counters');
    assert.equal(counters?.member('max_entries')?.nr_elems, COUNTER_SLOTS.TWILL_REASON_SLOTS * COUNTER_SLOTS.TWILL_DIRECTION_SLOTS);
    assert.ok(REASON_COUNT <= COUNTER_SLOTS.TWILL_REASON_SLOTS && DIRECTION_COUNT <= COUNTER_SLOTS.TWILL_DIRECTION_SLOTS);
  });
});
