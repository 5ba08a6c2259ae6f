// The layouts TypeScript uses (bpf/layouts.ts) equal the BTF of the built datapath
// object: struct sizes, member offsets, enum values, and each map's key and value types.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';

import { DATAPATH_OBJECT } from '../../bpf/datapath';
import { DIRECTIONS, LAYOUTS, MAPS, REASONS } from '../../bpf/layouts';

interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  members?: Array<{ name: string; type_id: number; bits_offset: number }>;
  values?: Array<{ name: string; val: number }>;
  vars?: Array<{ type_id: number }>;
}

const btf: BtfType[] = (JSON.parse(execFileSync('bpftool', ['btf', 'dump', 'file', DATAPATH_OBJECT, '-j'], { encoding: 'utf8' })) as { types: BtfType[] }).types;
const byId = new Map(btf.map((type) => [type.id, type]));
const named = (kind: string, name: string): BtfType => {
  const type = btf.find((t) => t.kind === kind && t.name === name);
  assert.ok(type, `BTF has no ${kind} ${name}`);
  return type;
};
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

  test('enum twill_reason and enum twill_direction', () => {
    assert.deepEqual(enumValues('twill_reason'), REASONS);
    assert.deepEqual(enumValues('twill_direction'), DIRECTIONS);
  });

  test('every map in .maps, with the key and value structs TypeScript encodes', () => {
    const section = named('DATASEC', '.maps');
    const maps = Object.fromEntries(
      (section.vars ?? []).map(({ type_id }) => {
        const variable = byId.get(type_id) as BtfType;
        const definition = byId.get(variable.type_id as number) as BtfType;
        const pointee = (member: string): string => {
          const pointer = byId.get((definition.members ?? []).find((m) => m.name === member)?.type_id ?? -1);
          return byId.get(pointer?.type_id ?? -1)?.name ?? '?';
        };
        return [variable.name, { key: pointee('key'), value: pointee('value') }];
      }),
    );
    assert.deepEqual(maps, MAPS);
  });
});
