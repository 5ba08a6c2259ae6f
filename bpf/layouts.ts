// The structs and enums of bpf/include/twill_types.h as TypeScript uses them, all read
// from layouts.generated.ts, which the build generates from the compiled datapath's BTF
// (bpf/generate-layouts.mjs): nothing of the C is typed again here.
import { ENUMS, LAYOUTS, MAPS, RODATA } from './layouts.generated';

export { LAYOUTS, MAPS };

const { TWILL_REASON_COUNT, ...reasons } = ENUMS.twill_reason;
const { TWILL_DIRECTION_COUNT, ...directions } = ENUMS.twill_direction;
const { TWILL_FAMILY_COUNT, ...families } = ENUMS.twill_family;

/** enum twill_reason, by the names the C uses. */
export const REASONS = reasons;
/** enum twill_direction. */
export const DIRECTIONS = directions;
/** enum twill_family: the IP family a counter counted. */
export const FAMILIES = families;
/** TWILL_REASON_COUNT and TWILL_DIRECTION_COUNT: the enums' sizes. */
export const REASON_COUNT = TWILL_REASON_COUNT;
export const DIRECTION_COUNT = TWILL_DIRECTION_COUNT;
export const FAMILY_COUNT = TWILL_FAMILY_COUNT;

/** enum twill_counter_slots: the counters map's fixed shape, with room for more reasons. */
export const COUNTER_SLOTS = ENUMS.twill_counter_slots;
/** enum twill_endpoint_flag: the bits of struct endpoint's flags. */
export const ENDPOINT_FLAGS = ENUMS.twill_endpoint_flag;
/** enum twill_subnet_flag: the bits of struct node_subnet's flags. */
export const SUBNET_FLAGS = ENUMS.twill_subnet_flag;
/** enum twill_tunnel_mac: the first two bytes of a node's VXLAN device MAC, before its address. */
export const TUNNEL_MAC = ENUMS.twill_tunnel_mac;
/** How many different node subnet prefix lengths the datapath searches. */
export const PREFIX_LENGTHS_MAX = ENUMS.twill_node_subnet_limits.TWILL_PREFIX_LENGTHS_MAX;

export type ReasonName = keyof typeof REASONS;
export type DirectionName = keyof typeof DIRECTIONS;
export type FamilyName = keyof typeof FAMILIES;

/** An array map's key: the slot's index, a __u32 (little-endian, as on every host Twill runs on). */
export function slotKey(slot: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(slot);
  return key;
}

export type MapName = keyof typeof MAPS;
/** The settings compiled into the programs before load (`const volatile` in the C). */
export type RodataName = (typeof RODATA)[number];

/**
 * Maps rebuilt from node_subnets at every load instead of pinned: node_slots, sized by
 * the cluster CIDR (which may change), and node_addresses.
 */
export const UNPINNED_MAPS: readonly MapName[] = ['node_slots', 'node_slots6', 'node_addresses'];
