// The structs and enums of bpf/include/twill_types.h as TypeScript lays them out.
// test/unit/layouts.test.ts compares every size, offset and enum value here with the
// BTF of the compiled datapath, so a C change that TypeScript does not follow fails.

export interface StructLayout {
  size: number;
  /** Member name -> byte offset. */
  members: Record<string, number>;
}

export const LAYOUTS = {
  counter_value: { size: 16, members: { packets: 0, bytes: 8 } },
  endpoint: { size: 24, members: { ip: 0, ifindex: 4, pod_mac: 8, host_mac: 14, flags: 20 } },
  node_subnet_key: { size: 8, members: { prefixlen: 0, addr: 4 } },
  node_subnet: { size: 8, members: { node_ip: 0, flags: 4 } },
  node_subnet_lengths: { size: 16, members: { count: 0, lengths: 4, slotted_length: 12 } },
  node_address: { size: 4, members: { ip: 0 } },
  rate_limit: { size: 24, members: { rate: 0, burst_ns: 8, next_ns: 16 } },
  pod_limits: { size: 56, members: { lock: 0, egress: 8, ingress: 32 } },
} as const satisfies Record<string, StructLayout>;

/** enum twill_reason, by the names the C uses. */
export const REASONS = {
  TWILL_DELIVERED_LOCAL: 1,
  TWILL_FORWARDED_REMOTE: 2,
  TWILL_PASSED_NOT_IPV4: 3,
  TWILL_PASSED_NOT_POD: 4,
  TWILL_DROPPED_SPOOFED: 5,
  TWILL_DROPPED_MALFORMED: 6,
  TWILL_PASSED_NAT_REPLY: 7,
  TWILL_PASSED_TTL_EXCEEDED: 8,
  TWILL_DROPPED_NO_TUNNEL: 9,
  TWILL_PASSED_FROM_HOST: 10,
  TWILL_DROPPED_NOT_IPV4: 11,
  TWILL_DROPPED_ROUTER_MESSAGE: 12,
  TWILL_DROPPED_MARTIAN: 13,
  TWILL_DROPPED_TUNNEL_FROM_POD: 14,
  TWILL_DROPPED_FORGED_TUNNEL: 15,
  TWILL_DROPPED_NOT_WRAPPED: 16,
  TWILL_DROPPED_FRAGMENT: 17,
  TWILL_PASSED_FRAGMENT: 18,
  TWILL_DROPPED_NO_POD: 19,
  TWILL_PASSED_TOO_BIG: 20,
  TWILL_DROPPED_BY_LIMIT: 21,
} as const;

/** enum twill_direction. */
export const DIRECTIONS = {
  TWILL_FROM_POD: 0,
  TWILL_FROM_NETDEV: 1,
  TWILL_TO_TUNNEL: 2,
  TWILL_TO_POD: 3,
} as const;

/** TWILL_REASON_COUNT and TWILL_DIRECTION_COUNT: the enums' sizes. */
export const REASON_COUNT = 22;
export const DIRECTION_COUNT = 4;

/** enum twill_counter_slots: the counters map's fixed shape, with room for more reasons and directions. */
export const COUNTER_SLOTS = {
  TWILL_REASON_SLOTS: 64,
  TWILL_DIRECTION_SLOTS: 8,
} as const;

/** enum twill_endpoint_flag: the bits of struct endpoint's flags. */
export const ENDPOINT_FLAGS = {
  TWILL_ENDPOINT_USES_STACK: 1,
  TWILL_ENDPOINT_EGRESS_LIMITED: 2,
  TWILL_ENDPOINT_INGRESS_LIMITED: 4,
} as const;

/** TWILL_PREFIX_LENGTHS_MAX: how many different node subnet prefix lengths the datapath searches. */
export const PREFIX_LENGTHS_MAX = 8;

export type ReasonName = keyof typeof REASONS;
export type DirectionName = keyof typeof DIRECTIONS;

/** An array map's key: the slot's index, a __u32 (little-endian, as on every host Twill runs on). */
export function slotKey(slot: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(slot);
  return key;
}

/** Each map of the datapath with the type names of its key (a struct, or an array's slot index) and value. */
export const MAPS = {
  endpoints: { key: '__u32', value: 'endpoint' },
  pod_limits: { key: '__u32', value: 'pod_limits' },
  node_subnets: { key: 'node_subnet_key', value: 'node_subnet' },
  node_subnet_lengths: { key: '__u32', value: 'node_subnet_lengths' },
  node_slots: { key: '__u32', value: 'node_subnet' },
  node_addresses: { key: 'node_address', value: '__u32' },
  counters: { key: '__u32', value: 'counter_value' },
} as const satisfies Record<string, { key: keyof typeof LAYOUTS | '__u32'; value: keyof typeof LAYOUTS | '__u32' }>;

export type MapName = keyof typeof MAPS;

/**
 * Maps rebuilt from node_subnets at every load instead of pinned: node_slots, sized by
 * the cluster CIDR (which may change), and node_addresses.
 */
export const UNPINNED_MAPS: readonly MapName[] = ['node_slots', 'node_addresses'];
