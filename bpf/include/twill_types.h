/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * The datapath's map layouts: the single source for C and for TypeScript, whose
 * codecs (bpf/layouts.ts) are checked against the BTF of the compiled object.
 */
#ifndef TWILL_TYPES_H
#define TWILL_TYPES_H

/* Why a packet went where it went; every drop has a reason of its own. */
enum twill_reason {
	TWILL_DELIVERED_LOCAL = 1,   /* redirected into a pod on this node */
	TWILL_FORWARDED_REMOTE = 2,  /* sent towards the node that owns the destination */
	TWILL_PASSED_NOT_IPV4 = 3,   /* ARP, IPv6 in a cluster without it, …: the host stack handles it */
	TWILL_PASSED_NOT_POD = 4,    /* IP for no pod or pod subnet we know */
	TWILL_DROPPED_SPOOFED = 5,   /* a pod sent from an address that is not its own */
	TWILL_DROPPED_MALFORMED = 6, /* too short for the headers it claims */
	TWILL_PASSED_NAT_REPLY = 7,  /* a reply the host NATed (a Service): conntrack must reverse it */
	TWILL_PASSED_TTL_EXCEEDED = 8, /* TTL would expire here: the stack sends ICMP time exceeded */
	TWILL_DROPPED_NO_TUNNEL = 9, /* the tunnel key could not be set */
	TWILL_PASSED_FROM_HOST = 10, /* from a node or outside host: the stack must see both directions */
	TWILL_DROPPED_NOT_IPV4 = 11, /* a pod sent neither IPv4 nor ARP for itself: IPv6 in an IPv4 cluster, … */
	TWILL_DROPPED_ROUTER_MESSAGE = 12, /* a pod sent what only routers send: an ICMP redirect or router advertisement */
	TWILL_DROPPED_MARTIAN = 13,  /* a pod sent to loopback, 0.0.0.0/8, multicast or 240.0.0.0/4 */
	TWILL_DROPPED_TUNNEL_FROM_POD = 14, /* a pod sent to the VXLAN port of something not a pod: only nodes speak it */
	TWILL_DROPPED_FORGED_TUNNEL = 15, /* VXLAN from no node, or carrying a source outside the sender's range */
	TWILL_DROPPED_NOT_WRAPPED = 16, /* vxlan mode: a pod's source arriving unwrapped, as real pod traffic never does */
	TWILL_DROPPED_FRAGMENT = 17, /* a first fragment too short for its transport header, or one overlapping it */
	TWILL_PASSED_FRAGMENT = 18,  /* a fragment for a pod whose replies conntrack may reverse: the stack reassembles it */
	TWILL_DROPPED_NO_POD = 19,   /* for an address of this node's pod CIDR that no pod holds: never routed on */
	TWILL_PASSED_TOO_BIG = 20,   /* vxlan: too big for the uplink once wrapped: the stack answers "fragmentation needed" */
	TWILL_DROPPED_BY_LIMIT = 21, /* over the bandwidth limit of the pod sending or receiving it */
	TWILL_PASSED_NEIGHBOUR_DISCOVERY = 22, /* IPv6 neighbour discovery or MLD from a pod's own or link-local address: the stack answers it */
	TWILL_PASSED_EXTENSION_HEADER = 23, /* IPv6 with an extension header (a fragment, options, routing): the stack routes it */
	TWILL_REASON_COUNT,          /* not a reason: how many values there are (0 is none), for sizing */
};

/* Which hook saw the packet. */
enum twill_direction {
	TWILL_FROM_POD = 0,    /* host-side veth ingress: leaving a pod */
	TWILL_FROM_NETDEV = 1, /* uplink or tunnel ingress: arriving from the network */
	TWILL_TO_TUNNEL = 2,   /* tunnel device egress: leaving for another node */
	TWILL_TO_POD = 3,      /* host-side veth egress of a pod with an ingress limit: routed into it by the stack */
	TWILL_DIRECTION_COUNT, /* not a direction: how many there are */
};

/* The IP family of the packet a counter counted; ARP counts under IPv4. */
enum twill_family {
	TWILL_IPV4 = 0,
	TWILL_IPV6 = 1,
	TWILL_FAMILY_COUNT, /* not a family: how many there are */
};

/*
 * The counters map is an array (lookups the verifier inlines) with a slot for every
 * reason, family and direction: (reason * TWILL_FAMILY_SLOTS + family) *
 * TWILL_DIRECTION_SLOTS + direction (counter_index in the datapath, counterIndex in
 * bpf/counters.ts). Its shape is fixed with room to spare, so that a build adding
 * reasons re-adopts the pinned map of the build before it, counts and all. (Builds
 * before the family had eight direction slots and no family: their slots are the
 * IPv4 slots of this shape.)
 */
enum twill_counter_slots {
	TWILL_REASON_SLOTS = 64,
	TWILL_FAMILY_SLOTS = 2,
	TWILL_DIRECTION_SLOTS = 4,
};

struct counter_value {
	__u64 packets;
	__u64 bytes;
};

/*
 * Addresses in map keys and values are bytes in network order (four for IPv4, sixteen
 * for IPv6), declared as arrays so that bpftool prints 10.244.1.2 as [10,244,1,2]
 * rather than as an integer.
 */

/*
 * A pod on this node. The endpoints map is an array with one slot per pod address of
 * the node: slot = the address's offset in the node's pod CIDR of its family (for
 * IPv4, ntohl(ip) - ntohl(network)). A dual-stack pod has the same offset in both
 * CIDRs, so one slot holds it for both families. A slot with ifindex 0 holds no pod;
 * the addresses are kept too, so a dump shows which pod a slot holds and userspace can
 * check them against the slot. ip6 comes last: a map pinned by a build before it holds
 * the same fields in front.
 */
struct endpoint {
	__u8 ip[4];       /* the pod's IPv4 address; 0.0.0.0 in a cluster without IPv4 */
	__u32 ifindex;    /* the host-side veth; 0: an empty slot */
	__u8 pod_mac[6];  /* the pod's eth0 */
	__u8 host_mac[6]; /* the host-side veth, the pod's next hop */
	__u32 flags;      /* enum twill_endpoint_flag */
	__u8 ip6[16];     /* the pod's IPv6 address; :: in a cluster without IPv6 */
};

enum twill_endpoint_flag {
	/*
	 * The pod has sent traffic into the host stack, which may have NATed it (kube-proxy
	 * Services): replies to it are checked against conntrack before delivery.
	 */
	TWILL_ENDPOINT_USES_STACK = 1,
	/* What the pod sends is held to its egress limit (struct pod_limits). */
	TWILL_ENDPOINT_EGRESS_LIMITED = 2,
	/* What the pod receives is held to its ingress limit. */
	TWILL_ENDPOINT_INGRESS_LIMITED = 4,
};

/*
 * One direction of a pod's bandwidth limit, a token bucket kept as a clock (the
 * generic cell rate algorithm): next_ns is when the bytes let through so far would
 * have been sent at the rate. A packet passes while that is at most burst_ns ahead of
 * now, and moves it on by the time the rate takes to send the packet.
 */
struct rate_limit {
	__u64 rate;     /* bits per second; 0: no limit this way */
	__u64 burst_ns; /* the burst, as the time the rate takes to send it */
	__u64 next_ns;  /* CLOCK_MONOTONIC; the datapath's to move, 0 when the agent writes the limit */
};

/*
 * A pod's bandwidth limits: the pod_limits map is an array with the endpoints map's
 * slots. The lock keeps two CPUs from letting two packets through on the same tokens.
 */
struct pod_limits {
	struct bpf_spin_lock lock;
	struct rate_limit egress;  /* what the pod sends */
	struct rate_limit ingress; /* what the pod receives */
};

/*
 * Another node's pod subnet: its prefix length and network address (host bits zero).
 * The node_subnets map is a hash on this key, searched once per prefix length in use,
 * longest first: a longest-prefix match whose cost does not grow with the number of
 * nodes, as a trie's does.
 */
struct node_subnet_key {
	__u32 prefixlen;
	__u8 addr[4];
};

enum twill_node_subnet_limits {
	/* How many different node subnet prefix lengths the datapath searches. */
	TWILL_PREFIX_LENGTHS_MAX = 8,
};

/*
 * The prefix lengths the node_subnets map holds, longest first (the only entry of the
 * node_subnet_lengths array). Clusters give every node the same mask size, so count is
 * usually 1: one lookup per packet, and an inlined one when node_slots holds that length.
 */
struct node_subnet_lengths {
	__u32 count;
	__u8 lengths[TWILL_PREFIX_LENGTHS_MAX];
	/*
	 * A length whose subnets are all in the node_slots array as well (this node's
	 * prefix length, when every such subnet lies in the cluster CIDR), looked up
	 * there; 0: none.
	 */
	__u32 slotted_length;
};

enum twill_subnet_flag {
	TWILL_SUBNET_TUNNEL = 1, /* reach the node in VXLAN (see forward_remote) */
};

struct node_subnet {
	__u8 node_ip[4];
	__u32 flags; /* enum twill_subnet_flag */
};

/*
 * Another node's IPv6 pod subnet, as node_subnet_key is an IPv4 one: the node_subnets6
 * map is searched the same way, once per prefix length in node_subnet_lengths6.
 */
struct node_subnet6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct node_subnet6 {
	/*
	 * Where the node's IPv6 pods are reached: natively, its IPv6 address (the next hop);
	 * tunnelled, its address on the VXLAN underlay: IPv6, or IPv4 as ::ffff:a.b.c.d.
	 */
	__u8 node_ip6[16];
	__u32 flags; /* enum twill_subnet_flag */
};

/*
 * The MAC of a node's VXLAN device: these two bytes, then the node's address. The agent
 * gives each device this MAC, so a tunnelled frame arrives addressed to its receiver.
 */
enum twill_tunnel_mac {
	TWILL_TUNNEL_MAC_FIRST = 0x02,  /* locally administered, unicast */
	TWILL_TUNNEL_MAC_SECOND = 0x76, /* 'v' */
};

/*
 * Another node's address: the key of node_addresses, the set of outer sources VXLAN is
 * accepted from (its value is always 1). IPv6, or IPv4 as ::ffff:a.b.c.d.
 */
struct node_address {
	__u8 ip[16];
};

#endif /* TWILL_TYPES_H */
