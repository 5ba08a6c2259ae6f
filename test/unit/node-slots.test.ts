// node_slots (node_slots6): other nodes' subnets of this node's prefix length laid out
// over the cluster CIDR of their family, and when the datapath may answer that length
// from it alone.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { LAYOUTS } from '../../bpf/layouts';
import { nodeSlotLayout, nodeSlotOf, writePrefixLengths, type NodeSlotLayout } from '../../bpf/node-subnets';
import type { BpfMap } from '../../bpf/tsbpf';

const LENGTHS = LAYOUTS.node_subnet_lengths.members;

/** What writePrefixLengths stores: it only ever updates slot 0, so a recorder stands in for the map. */
function prefixLengthsEntry(cidrs: string[], layout?: NodeSlotLayout): { count: number; lengths: number[]; slotted: number } {
  let value: Buffer = Buffer.alloc(0);
  const recorder = { update: (_key: Buffer, written: Buffer) => (value = written) } as unknown as BpfMap;
  writePrefixLengths(recorder, cidrs, layout);
  const count = value.readUInt32LE(LENGTHS.count);
  return { count, lengths: [...value.subarray(LENGTHS.lengths, LENGTHS.lengths + count)], slotted: value.readUInt32LE(LENGTHS.slotted_length) };
}

describe('node slots', () => {
  const layout = nodeSlotLayout('10.244.0.0/16', 24) as NodeSlotLayout;

  test('a /16 cluster CIDR of /24 node subnets has 256 slots from its network address', () => {
    assert.deepEqual(layout, { family: 'ipv4', first: 0x0af40000n, prefixLength: 24, count: 256 });
    assert.deepEqual(nodeSlotLayout('10.244.7.9/16', 24), layout, 'host bits of the CIDR ignored');
    assert.deepEqual(nodeSlotLayout('10.0.0.0/8', 24), { family: 'ipv4', first: 0x0a000000n, prefixLength: 24, count: 65536 });
  });

  test('no layout without a cluster CIDR, for node subnets larger than it, or past 2^16 slots', () => {
    assert.equal(nodeSlotLayout(undefined, 24), undefined);
    assert.equal(nodeSlotLayout('10.244.0.0/16', 12), undefined);
    assert.equal(nodeSlotLayout('10.0.0.0/7', 24), undefined);
    assert.equal(nodeSlotLayout('fd00:10::/47', 64), undefined, 'past 2^16 slots');
    assert.equal(nodeSlotLayout('fd00:10:244::/56', 80), undefined, 'IPv6 node subnets longer than /64: the datapath compares 64 bits');
  });

  test('IPv6: a /56 of /64 node subnets has 256 slots, each the offset of its subnet in the /56', () => {
    const layout6 = nodeSlotLayout('fd00:10:244::/56', 64) as NodeSlotLayout;
    assert.deepEqual(layout6, { family: 'ipv6', first: 0xfd000010024400000000000000000000n, prefixLength: 64, count: 256 });
    assert.equal(nodeSlotOf(layout6, 'fd00:10:244:3::/64'), 3);
    assert.equal(nodeSlotOf(layout6, 'fd00:10:244:ff::/64'), 255);
    assert.equal(nodeSlotOf(layout6, 'fd00:10:244:100::/64'), undefined, 'past the /56');
    assert.equal(nodeSlotOf(layout6, 'fd00:10:243:ff::/64'), undefined, 'below it');
    assert.equal(nodeSlotOf(layout6, '10.244.3.0/24'), undefined, 'another family');
    assert.deepEqual(prefixLengthsEntry(['fd00:10:244:1::/64', 'fd00:10:250::/48', 'fd00:10:244:2::/64'], layout6), { count: 2, lengths: [64, 48], slotted: 64 });
  });

  test("a subnet's slot is its offset in the cluster CIDR, in subnets", () => {
    assert.equal(nodeSlotOf(layout, '10.244.0.0/24'), 0);
    assert.equal(nodeSlotOf(layout, '10.244.3.0/24'), 3);
    assert.equal(nodeSlotOf(layout, '10.244.255.0/24'), 255);
  });

  test('a subnet of another length, outside the cluster CIDR, or without a layout has no slot', () => {
    assert.equal(nodeSlotOf(layout, '10.244.3.0/25'), undefined);
    assert.equal(nodeSlotOf(layout, '10.244.0.0/16'), undefined);
    assert.equal(nodeSlotOf(layout, '10.243.255.0/24'), undefined);
    assert.equal(nodeSlotOf(layout, '10.245.0.0/24'), undefined);
    assert.equal(nodeSlotOf(undefined, '10.244.3.0/24'), undefined);
  });

  test('the datapath answers the node prefix length from the slots only when every subnet of that length has one', () => {
    assert.deepEqual(prefixLengthsEntry(['10.244.1.0/24', '10.250.0.0/16', '10.244.2.0/24'], layout), { count: 2, lengths: [24, 16], slotted: 24 });
    assert.deepEqual(prefixLengthsEntry(['10.244.1.0/24', '10.9.0.0/24'], layout), { count: 1, lengths: [24], slotted: 0 }, 'one /24 outside the cluster CIDR: the hash for all');
    assert.deepEqual(prefixLengthsEntry(['10.244.1.0/24'], undefined), { count: 1, lengths: [24], slotted: 0 });
  });
});
