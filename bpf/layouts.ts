// The structs and enums of bpf/include/twill_types.h as TypeScript lays them out.
// test/unit/layouts.test.ts compares every size, offset and enum value here with the
// BTF of the compiled datapath, so a C change that TypeScript does not follow fails.

export interface StructLayout {
  size: number;
  /** Member name -> byte offset. */
  members: Record<string, number>;
}

export const LAYOUTS = {
  counter_key: { size: 8, members: { reason: 0, direction: 4 } },
  counter_value: { size: 16, members: { packets: 0, bytes: 8 } },
  endpoint_key: { size: 4, members: { ip: 0 } },
  endpoint: { size: 20, members: { ifindex: 0, pod_mac: 4, host_mac: 10, flags: 16 } },
  node_subnet_key: { size: 8, members: { prefixlen: 0, addr: 4 } },
  node_subnet: { size: 8, members: { node_ip: 0, flags: 4 } },
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
} as const;

/** enum twill_direction. */
export const DIRECTIONS = {
  TWILL_FROM_POD: 0,
  TWILL_FROM_NETDEV: 1,
  TWILL_TO_TUNNEL: 2,
} as const;

export type ReasonName = keyof typeof REASONS;
export type DirectionName = keyof typeof DIRECTIONS;

/** Each map of the datapath with the struct names of its key and value. */
export const MAPS = {
  endpoints: { key: 'endpoint_key', value: 'endpoint' },
  node_subnets: { key: 'node_subnet_key', value: 'node_subnet' },
  counters: { key: 'counter_key', value: 'counter_value' },
} as const satisfies Record<string, { key: keyof typeof LAYOUTS; value: keyof typeof LAYOUTS }>;

export type MapName = keyof typeof MAPS;
