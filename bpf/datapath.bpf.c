// SPDX-License-Identifier: GPL-2.0
// Twill's datapath.
//   from_pod     host-side veth ingress: traffic leaving a pod
//   from_netdev  uplink and VXLAN device ingress: traffic arriving from other nodes
//   to_tunnel    VXLAN device egress: sets the tunnel key for the node owning the destination
//   to_pod       host-side veth egress of a pod with an ingress limit: limits what the
//                host stack routes into it
// A packet for a pod on this node goes straight into its namespace (bpf_redirect_peer);
// one for another node's pod subnet is routed there (bpf_redirect_neigh out of the uplink,
// natively or wrapped in VXLAN here); everything else is the host stack's. The VXLAN
// device carries the host's own traffic to pods elsewhere, and any pod traffic the
// programs cannot wrap or unwrap themselves.
// IPv6 pods (ipv6_pods) are handled beside IPv4 ones, in the same programs: other
// nodes' IPv6 pod subnets (node_subnets6) are reached natively or wrapped in VXLAN like
// IPv4, over the nodes' IPv4 addresses or, in a cluster without IPv4 (underlay_ipv6),
// over their IPv6 ones.
// Pods are untrusted: from_pod lets a pod send only IP from its own addresses, ARP
// about itself and neighbour discovery from its own or a link-local address, and hands
// the stack nothing a pod may not ask of it; from_netdev accepts tunnel traffic only
// from nodes, for their own ranges. Every refusal has its reason.
// Bandwidth limits are token buckets in pod_limits, checked where a pod's traffic
// passes whatever its path: what it sends in from_pod, what it receives where it is
// redirected into it and, for what the host stack routes to it, in to_pod.
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "twill_types.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86dd
#define ETH_ALEN 6
#define ARPHRD_ETHER 1
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define IPPROTO_HOPOPTS 0
#define ICMP_REDIRECT 5
#define ICMP_ROUTER_ADVERTISEMENT 9
#define ICMPV6_MLD_QUERY 130
#define ICMPV6_ROUTER_SOLICITATION 133
#define ICMPV6_ROUTER_ADVERTISEMENT 134
#define ICMPV6_NEIGHBOUR_SOLICITATION 135
#define ICMPV6_NEIGHBOUR_ADVERTISEMENT 136
#define ICMPV6_REDIRECT 137
#define ICMPV6_MLD2_REPORT 143
#define IPV6_TRANSPORT (sizeof(struct ethhdr) + sizeof(struct ipv6hdr)) /* where the header after a fixed IPv6 header starts */
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff /* in 8-byte units */
#define IP_FRAGMENT (IP_MF | IP_OFFSET)
#define BPF_F_CURRENT_NETNS (-1)
#define NSEC_PER_SEC 1000000000ULL
#define TUNNEL_TTL 64
#define VXLAN_FLAG_VNI 0x08000000 /* the I flag: the VNI is valid (RFC 7348) */
#define BPF_F_ADJ_ROOM_ENCAP_L2(len) (((__u64)(len) & BPF_ADJ_ROOM_ENCAP_L2_MASK) << BPF_ADJ_ROOM_ENCAP_L2_SHIFT)

// Per-node settings, fixed when the agent loads the object.
const volatile __u32 uplink_ifindex = 0; /* native routing: the device towards other nodes */
const volatile __u32 tunnel_ifindex = 0; /* overlay: the collect-metadata VXLAN device */
const volatile __u32 tunnel_vni = 1;
const volatile __be16 tunnel_port = 0; /* overlay: the VXLAN UDP port, network order */
const volatile __be32 node_ip = 0; /* this node's address on the uplink */
const volatile __be32 node_ip6[4] = {}; /* and its IPv6 one, where VXLAN runs over IPv6: */
const volatile bool underlay_ipv6 = false; /* VXLAN's outer headers are IPv6 (no pod has IPv4) */
const volatile bool ipv4_pods = true;     /* the node's pods have IPv4 addresses, */
const volatile __be32 pod_cidr_first = 0; /* from this IPv4 pod CIDR: its network address, */
const volatile bool ipv6_pods = false;    /* the node's pods have IPv6 addresses, */
const volatile __be32 pod_ipv6_first[4] = {}; /* from this IPv6 pod CIDR: its network address, */
const volatile __u32 pod_cidr_size = 0;   /* and how many slots endpoints has: addresses of each CIDR that pods may hold */
const volatile __be32 cluster_first = 0;       /* the cluster CIDR's network address, */
const volatile __u32 node_slot_count = 0;      /* how many node pod subnets it holds (slots in node_slots; 0: none), */
const volatile __u32 node_slot_prefixlen = 32; /* and their prefix length: this node's pod CIDR's */
const volatile __be32 cluster6_first[2] = {};  /* node_slots6 likewise: the IPv6 cluster CIDR's first 64 bits, */
const volatile __u32 node_slot6_count = 0;     /* how many IPv6 node pod subnets it holds, */
const volatile __u32 node_slot6_prefixlen = 64; /* and their prefix length (at most 64): this node's IPv6 pod CIDR's */

struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *tuple, __u32 tuple__sz,
				  struct bpf_ct_opts *opts, __u32 opts__sz) __ksym;
void bpf_ct_release(struct nf_conn *ct) __ksym;

// One slot per address of the pod CIDR (see struct endpoint); the agent sizes it to
// pod_cidr_size at load.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct endpoint);
} endpoints SEC(".maps");

// Pods' bandwidth limits, in the endpoints map's slots; the agent sizes it alike.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pod_limits);
} pod_limits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct node_subnet_key);
	__type(value, struct node_subnet);
} node_subnets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct node_subnet_lengths);
} node_subnet_lengths SEC(".maps");

// The other nodes' IPv6 pod subnets, and their prefix lengths in use (as for IPv4; no
// array of slots: IPv6 node subnets are looked up in the hash alone).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct node_subnet6_key);
	__type(value, struct node_subnet6);
} node_subnets6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct node_subnet_lengths);
} node_subnet_lengths6 SEC(".maps");

// The node subnets that have this node's prefix length and lie in the cluster CIDR,
// also in an array, one slot per subnet of that size in the CIDR (slot = the offset of
// the subnet in the CIDR, in subnets): a lookup the verifier inlines, where the hash
// costs a call. Rebuilt from node_subnets at every load, it is not pinned. A slot whose
// node_ip is 0.0.0.0 is empty.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct node_subnet);
} node_slots SEC(".maps");

// node_slots for IPv6 node subnets: those of this node's IPv6 prefix length in the IPv6
// cluster CIDR. A slot whose node_ip6 is :: is empty.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct node_subnet6);
} node_slots6 SEC(".maps");

// The other nodes' addresses, the only outer sources the VXLAN device's traffic is
// accepted from: derived from node_subnets like node_slots, rebuilt at every load and
// not pinned.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct node_address);
	__type(value, __u32);
} node_addresses SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TWILL_REASON_SLOTS * TWILL_FAMILY_SLOTS * TWILL_DIRECTION_SLOTS);
	__type(key, __u32);
	__type(value, struct counter_value);
} counters SEC(".maps");

_Static_assert(TWILL_REASON_COUNT <= TWILL_REASON_SLOTS && TWILL_FAMILY_COUNT <= TWILL_FAMILY_SLOTS &&
		       TWILL_DIRECTION_COUNT <= TWILL_DIRECTION_SLOTS,
	       "the counters map has no slot for some reason, family or direction");

// Keyed by a flat index, the counters map names neither enum, flags are plain __u32s and
// the limit sizes an array; these keep the enums in the object's BTF, for bpftool and
// for the TypeScript generated from it (bpf/generate-layouts.mjs).
const enum twill_reason *const counter_reason_type __attribute__((unused));
const enum twill_direction *const counter_direction_type __attribute__((unused));
const enum twill_family *const counter_family_type __attribute__((unused));
const enum twill_counter_slots *const counter_slots_type __attribute__((unused));
const enum twill_endpoint_flag *const endpoint_flag_type __attribute__((unused));
const enum twill_subnet_flag *const subnet_flag_type __attribute__((unused));
const enum twill_node_subnet_limits *const node_subnet_limits_type __attribute__((unused));
const enum twill_tunnel_mac *const tunnel_mac_type __attribute__((unused));

// The counters slot of a reason, family and direction (bpf/counters.ts has its twin).
static __always_inline __u32 counter_index(enum twill_reason reason, enum twill_family family,
					   enum twill_direction direction)
{
	return (reason * TWILL_FAMILY_SLOTS + family) * TWILL_DIRECTION_SLOTS + direction;
}

// Counts the packet under its reason and returns the verdict, so every exit reads
// `return account(...)`. Per-CPU values need no atomics. The family is the one the
// kernel read from the frame (skb->protocol), so no caller has to name it.
static __always_inline int account(struct __sk_buff *skb, enum twill_reason reason,
				   enum twill_direction direction, int verdict)
{
	enum twill_family family = skb->protocol == bpf_htons(ETH_P_IPV6) ? TWILL_IPV6 : TWILL_IPV4;
	__u32 index = counter_index(reason, family, direction);
	struct counter_value *value = bpf_map_lookup_elem(&counters, &index);

	if (value) {
		value->packets++;
		value->bytes += skb->len;
	}
	return verdict;
}

// The one's-complement sum of the 20 bytes of an IPv4 header without its options, not
// yet folded: ~fold of it is the checksum of a header being written (check 0). Summed
// four bytes at a time, which folds to the same 16 bits (RFC 1071) in half the loads.
static __always_inline __u64 ipv4_sum(const void *header)
{
	const __u32 *word = header;
	__u64 sum = 0;

	for (int i = 0; i < sizeof(struct iphdr) / 4; i++)
		sum += word[i];
	return sum;
}

static __always_inline __u16 fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum + (sum >> 16);
}

// Whether an IPv4 header is one the stack would accept, so one the datapath may route:
// version 4, at least 20 bytes and all of them in the linear data, a total length that
// covers the header and that the frame carries (`carried`: the bytes from the header
// to the frame's end; more is padding), and a right checksum. A GSO packet above 64 KiB
// (BIG TCP) says 0 and means all it carries, as the kernel's iph_totlen reads it.
static __always_inline bool ipv4_sound(struct __sk_buff *skb, struct iphdr *ip, __u32 carried)
{
	void *data_end = (void *)(long)skb->data_end;
	const __u16 *option = (void *)(ip + 1);
	__u32 header_length, total;
	__u8 version_ihl;
	__u64 sum;

	if ((void *)(ip + 1) > data_end)
		return false;
	// Both 4-bit fields from one load: read as bitfields of vmlinux.h's iphdr, each
	// costs a relocatable load and shifts on every packet.
	version_ihl = *(const __u8 *)ip;
	if (version_ihl >> 4 != 4 || (version_ihl & 0xf) < 5)
		return false;
	header_length = (version_ihl & 0xf) * 4;
	total = bpf_ntohs(ip->tot_len);
	if (total == 0 && skb->gso_size)
		total = carried;
	if (total < header_length || total > carried)
		return false;
	sum = ipv4_sum(ip);
	// Options: at most 40 bytes, a bound the verifier can see.
	for (int i = 0; i < 20 && i < (header_length - sizeof(*ip)) / 2; i++) {
		if ((void *)(option + 1) > data_end)
			return false;
		sum += *option++;
	}
	return fold(sum) == 0xffff;
}

// The frame's Ethernet header, or NULL when it is shorter than one.
static __always_inline struct ethhdr *ethernet_header(struct __sk_buff *skb)
{
	struct ethhdr *eth = (void *)(long)skb->data;

	return (void *)(eth + 1) <= (void *)(long)skb->data_end ? eth : NULL;
}

// The IPv4 header after `eth` (an IPv4 frame's), or NULL when it cannot be trusted.
static __always_inline struct iphdr *ipv4_header(struct __sk_buff *skb, struct ethhdr *eth)
{
	struct iphdr *ip = (void *)(eth + 1);

	return ipv4_sound(skb, ip, skb->len - sizeof(*eth)) ? ip : NULL;
}

// The IPv6 header after `eth` (an IPv6 frame's), or NULL when it cannot be trusted:
// version 6, all 40 bytes in the linear data, and a payload length the frame carries
// (more is padding; 0, as a BIG TCP packet or a jumbogram says, is carried by any).
static __always_inline struct ipv6hdr *ipv6_header(struct __sk_buff *skb, struct ethhdr *eth)
{
	struct ipv6hdr *ip6 = (void *)(eth + 1);

	if ((void *)(ip6 + 1) > (void *)(long)skb->data_end || *(const __u8 *)ip6 >> 4 != 6)
		return NULL;
	return bpf_ntohs(ip6->payload_len) <= skb->len - IPV6_TRANSPORT ? ip6 : NULL;
}

// Next headers that are IPv6 extension headers (RFC 8200 and the IANA registry), which
// stand between the IPv6 header and what the programs would look at. ESP ends the
// headers anyone can read, so it counts as a payload.
static __always_inline bool extension_header(__u8 next)
{
	switch (next) {
	case IPPROTO_HOPOPTS:
	case 43:  /* routing */
	case 44:  /* fragment */
	case 51:  /* authentication */
	case 60:  /* destination options */
	case 135: /* mobility */
	case 139: /* host identity */
	case 140: /* shim6 */
	case 253: /* experiments */
	case 254:
		return true;
	}
	return false;
}

static __always_inline bool is_fragment(const struct iphdr *ip)
{
	return ip->frag_off & bpf_htons(IP_FRAGMENT);
}

// A fragment no hop can judge: a first one too short for its transport header (TCP's
// 20 bytes, 8 for the rest), whose ports and flags would then come from a later one,
// or one at offset 8, which can only overwrite that header (RFC 1858). Real senders
// never make either.
static __always_inline bool fragment_unsafe(const struct iphdr *ip)
{
	__u16 fragment = bpf_ntohs(ip->frag_off) & IP_FRAGMENT;
	__u32 transport_header = ip->protocol == IPPROTO_TCP ? sizeof(struct tcphdr) : 8;

	if ((fragment & IP_OFFSET) == 1)
		return true;
	return fragment == IP_MF && bpf_ntohs(ip->tot_len) - ip->ihl * 4 < transport_header;
}

// Routing decrements the TTL; the checksum follows incrementally (RFC 1624), as the
// kernel's ip_decrease_ttl does. The caller has checked ttl > 1.
static __always_inline void decrease_ttl(struct iphdr *ip)
{
	__u32 check = (__u32)ip->check + (__u32)bpf_htons(0x0100);

	ip->check = (__u16)(check + (check >= 0xffff));
	ip->ttl--;
}

// The endpoints slot of an IPv4 address: its offset in this node's pod CIDR, or a
// number past the last slot (pod_cidr_size or more) for any other address.
static __always_inline __u32 ipv4_slot(__be32 address)
{
	return ipv4_pods ? bpf_ntohl(address) - bpf_ntohl(pod_cidr_first) : pod_cidr_size;
}

// The endpoints slot of an IPv6 address, as ipv4_slot's. Slots are fewer than 2^32, so
// an address with a slot shares the first 96 bits of the CIDR's network address.
static __always_inline __u32 ipv6_slot(const struct in6_addr *address)
{
	const __be32 *word = address->in6_u.u6_addr32;

	if (!ipv6_pods || word[0] != pod_ipv6_first[0] || word[1] != pod_ipv6_first[1] || word[2] != pod_ipv6_first[2])
		return pod_cidr_size;
	return bpf_ntohl(word[3]) - bpf_ntohl(pod_ipv6_first[3]);
}

// The MAC of a node's VXLAN device (enum twill_tunnel_mac): two fixed bytes and the
// last four of its underlay address (`address_end`).
static __always_inline void tunnel_mac(__u8 mac[ETH_ALEN], const void *address_end)
{
	mac[0] = TWILL_TUNNEL_MAC_FIRST;
	mac[1] = TWILL_TUNNEL_MAC_SECOND;
	__builtin_memcpy(&mac[2], address_end, 4);
}

// tunnel_mac of this node's own VXLAN device.
static __always_inline void own_tunnel_mac(__u8 mac[ETH_ALEN])
{
	__be32 self = underlay_ipv6 ? node_ip6[3] : node_ip; /* rodata is volatile: copied before taking its address */

	tunnel_mac(mac, &self);
}

// A node's IPv4 address as node_subnet6 and node_addresses hold it: ::ffff:a.b.c.d.
static __always_inline void ipv4_mapped(struct node_address *address, __be32 ipv4)
{
	__be32 words[4] = { 0, 0, bpf_htonl(0xffff), ipv4 };

	__builtin_memcpy(address->ip, words, sizeof(address->ip));
}

static __always_inline bool ipv6_equal(const void *a, const void *b)
{
	const __u32 *x = a, *y = b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

// Whether a connection the host stack NATed (a kube-proxy Service) has `tuple` as its
// reply: delivered straight into the pod, it would skip the reverse NAT.
static __always_inline bool natted_reply(struct __sk_buff *skb, struct bpf_sock_tuple *tuple, __u32 tuple_size,
					 __u8 protocol)
{
	struct bpf_ct_opts opts = { .netns_id = BPF_F_CURRENT_NETNS, .l4proto = protocol };
	struct nf_conn *ct;
	bool natted;

	// The options' first 12 bytes, their size since Linux 5.18: later kernels grew the
	// struct (conntrack zones) and still take 12, earlier ones refuse any other size.
	ct = bpf_skb_ct_lookup(skb, tuple, tuple_size, &opts, 12);
	if (!ct)
		return false;
	natted = ct->status & (IPS_SRC_NAT | IPS_DST_NAT);
	bpf_ct_release(ct);
	return natted;
}

// Whether the packet is a reply of a connection the host stack NATed. Only pods that
// have sent traffic into the stack can have such connections, so only they pay for the
// conntrack lookup.
static __always_inline bool nat_reply(struct __sk_buff *skb, struct iphdr *ip, const struct endpoint *pod)
{
	struct bpf_sock_tuple tuple = {};
	__be16 *ports;

	if (!(pod->flags & TWILL_ENDPOINT_USES_STACK))
		return false;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return false;
	ports = (void *)ip + ip->ihl * 4;
	if ((void *)(ports + 2) > (void *)(long)skb->data_end)
		return false;
	tuple.ipv4.saddr = ip->saddr;
	tuple.ipv4.daddr = ip->daddr;
	tuple.ipv4.sport = ports[0];
	tuple.ipv4.dport = ports[1];
	return natted_reply(skb, &tuple, sizeof(tuple.ipv4), ip->protocol);
}

// nat_reply for IPv6; a packet with extension headers never gets here (see from_pod_ipv6).
static __always_inline bool nat_reply6(struct __sk_buff *skb, struct ipv6hdr *ip6, const struct endpoint *pod)
{
	__be16 *ports = (void *)(ip6 + 1);
	struct bpf_sock_tuple tuple = {};

	if (!(pod->flags & TWILL_ENDPOINT_USES_STACK))
		return false;
	if (ip6->nexthdr != IPPROTO_TCP && ip6->nexthdr != IPPROTO_UDP)
		return false;
	if ((void *)(ports + 2) > (void *)(long)skb->data_end)
		return false;
	__builtin_memcpy(tuple.ipv6.saddr, &ip6->saddr, sizeof(tuple.ipv6.saddr));
	__builtin_memcpy(tuple.ipv6.daddr, &ip6->daddr, sizeof(tuple.ipv6.daddr));
	tuple.ipv6.sport = ports[0];
	tuple.ipv6.dport = ports[1];
	return natted_reply(skb, &tuple, sizeof(tuple.ipv6), ip6->nexthdr);
}

// The bytes a packet puts on the wire: a GSO packet leaves as gso_segs frames, each
// with its own copy of the headers, as a qdisc counts them. `transport`: where the
// header after the IP header starts, `protocol` what it is.
static __always_inline __u64 wire_bytes(struct __sk_buff *skb, __u32 transport, __u8 protocol)
{
	struct tcphdr *tcp = (void *)(long)skb->data + transport;
	__u32 segments = skb->gso_segs;
	__u32 headers = transport;

	if (segments <= 1)
		return skb->len;
	if (protocol == IPPROTO_TCP && (void *)(tcp + 1) <= (void *)(long)skb->data_end)
		headers += tcp->doff * 4;
	else if (protocol == IPPROTO_UDP)
		headers += sizeof(struct udphdr);
	return skb->len + (__u64)(segments - 1) * headers;
}

// Where a packet's transport header starts and what it is, for wire_bytes.
struct transport {
	__u32 offset;
	__u8 protocol;
};

static __always_inline struct transport ipv4_transport(const struct iphdr *ip)
{
	return (struct transport){ .offset = sizeof(struct ethhdr) + ip->ihl * 4, .protocol = ip->protocol };
}

static __always_inline struct transport ipv6_transport(const struct ipv6hdr *ip6)
{
	return (struct transport){ .offset = IPV6_TRANSPORT, .protocol = ip6->nexthdr };
}

// Whether the pod in endpoints slot `slot` may send (egress) or receive (ingress) the
// packet now under its limit in that direction (pod_limits has the slots of
// endpoints): a token bucket kept as a clock (GCRA). The packet fits when the clock is
// at most the burst ahead of now; it then moves the clock on by the time the rate
// takes to send it. A packet that does not fit leaves the clock alone, and is
// dropped: the sender's TCP backs off, as from a full link.
static __always_inline bool within_limit(struct __sk_buff *skb, __u32 slot, struct transport transport, bool egress)
{
	struct pod_limits *limits = bpf_map_lookup_elem(&pod_limits, &slot);
	__u64 now = bpf_ktime_get_ns();
	__u64 bytes = wire_bytes(skb, transport.offset, transport.protocol);
	struct rate_limit *limit;
	bool fits;

	if (!limits)
		return true;
	limit = egress ? &limits->egress : &limits->ingress;
	if (!limit->rate)
		return true;
	bpf_spin_lock(&limits->lock);
	if (limit->next_ns < now)
		limit->next_ns = now;
	fits = limit->next_ns - now <= limit->burst_ns;
	if (fits)
		limit->next_ns += bytes * 8 * NSEC_PER_SEC / limit->rate;
	bpf_spin_unlock(&limits->lock);
	return fits;
}

// Rewrites the Ethernet header as the pod's next hop would and hands the packet to
// the ingress of the pod's eth0 (the pod in endpoints slot `slot`), skipping the host
// stack and the veth's backlog, once the pod's ingress limit (if any) lets it in.
static __always_inline int redirect_into(struct __sk_buff *skb, struct ethhdr *eth, struct transport transport,
					 const struct endpoint *pod, __u32 slot, enum twill_direction direction)
{
	if ((pod->flags & TWILL_ENDPOINT_INGRESS_LIMITED) && !within_limit(skb, slot, transport, false))
		return account(skb, TWILL_DROPPED_BY_LIMIT, direction, TC_ACT_SHOT);
	__builtin_memcpy(eth->h_dest, pod->pod_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, pod->host_mac, ETH_ALEN);
	account(skb, TWILL_DELIVERED_LOCAL, direction, TC_ACT_OK);
	return bpf_redirect_peer(pod->ifindex, 0);
}

// Fragments for a pod whose replies conntrack may reverse go to the stack whole: only
// the first carries the ports nat_reply needs, and the stack reassembles before it
// looks, so splitting the fragments between the two paths would lose the packet. What
// arrives from the network takes a routing hop into the pod (the TTL was checked), as
// on the sending node; what goes to the stack is left for the stack to route.
static __always_inline int deliver_local(struct __sk_buff *skb, struct ethhdr *eth, struct iphdr *ip,
					 const struct endpoint *pod, enum twill_direction direction)
{
	if ((pod->flags & TWILL_ENDPOINT_USES_STACK) && is_fragment(ip))
		return account(skb, TWILL_PASSED_FRAGMENT, direction, TC_ACT_OK);
	if (nat_reply(skb, ip, pod))
		return account(skb, TWILL_PASSED_NAT_REPLY, direction, TC_ACT_OK);
	if (direction == TWILL_FROM_NETDEV)
		decrease_ttl(ip);
	return redirect_into(skb, eth, ipv4_transport(ip), pod, ipv4_slot(ip->daddr), direction);
}

// The headers VXLAN puts after the outer IP header, before a pod's packet.
struct vxlan_tail {
	struct udphdr udp;
	struct vxlanhdr vxlan;
	struct ethhdr inner;
} __attribute__((packed));

// All the headers VXLAN puts after the outer Ethernet header: over an IPv4 underlay,
struct vxlan_headers {
	struct iphdr ip;
	struct vxlan_tail tail;
} __attribute__((packed));

// and over an IPv6 one.
struct vxlan6_headers {
	struct ipv6hdr ip6;
	struct vxlan_tail tail;
} __attribute__((packed));

// How many bytes VXLAN adds to a pod's packet over this cluster's underlay (IPv4
// wherever pods have IPv4, so an IPv4 pod's packet always goes in vxlan_headers).
#define VXLAN_OVERHEAD (underlay_ipv6 ? sizeof(struct vxlan6_headers) : sizeof(struct vxlan_headers))

// The checksum of an IPv4 header without options.
static __always_inline __sum16 ipv4_checksum(const void *header)
{
	return ~fold(ipv4_sum(header));
}

// The source port in 49152-65535 of a flow's hash.
static __always_inline __be16 tunnel_port_of(__u32 hash)
{
	return bpf_htons(0xc000 | ((hash ^ (hash >> 16)) & 0x3fff));
}

// A UDP source port in 49152-65535 that follows the inner flow, so the network can
// spread tunnels over paths as RFC 7348 asks, and one flow never reorders. A socket's
// packets carry its hash; for others the addresses and ports are folded here, which
// costs a few instructions where the kernel's flow dissector costs ~200 ns.
static __always_inline __be16 tunnel_source_port(struct __sk_buff *skb, struct iphdr *ip)
{
	void *data_end = (void *)(long)skb->data_end;
	__u32 *ports = (void *)ip + ip->ihl * 4;
	__u32 hash = skb->hash;

	if (!hash) {
		hash = ip->saddr ^ ip->daddr ^ ip->protocol;
		if ((void *)(ports + 1) <= data_end)
			hash ^= *ports;
		hash *= 0x9e3779b1; /* Fibonacci hashing: spreads the low bits upwards */
	}
	return tunnel_port_of(hash);
}

// tunnel_source_port for a pod's IPv6 packet: the last words of both addresses stand in
// for them, which is what differs between the pods of a cluster.
static __always_inline __be16 tunnel_source_port6(struct __sk_buff *skb, struct ipv6hdr *ip6)
{
	void *data_end = (void *)(long)skb->data_end;
	__u32 *ports = (void *)(ip6 + 1);
	__u32 hash = skb->hash;

	if (!hash) {
		hash = ip6->saddr.in6_u.u6_addr32[3] ^ ip6->daddr.in6_u.u6_addr32[3] ^ ip6->saddr.in6_u.u6_addr32[1] ^
		       ip6->daddr.in6_u.u6_addr32[1] ^ ip6->nexthdr;
		if ((void *)(ports + 1) <= data_end)
			hash ^= *ports;
		hash *= 0x9e3779b1;
	}
	return tunnel_port_of(hash);
}

// Room for VXLAN between the Ethernet header and the pod's IP header, marked as a
// UDP tunnel of Ethernet in an outer header of `outer_l3` (BPF_F_ADJ_ROOM_ENCAP_L3_*)
// so that GSO can still cut a large packet into segments (FIXED_GSO: the pod MTU
// already leaves room for the headers).
#define VXLAN_ROOM_FLAGS(outer_l3)                                                                      \
	(BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |         \
	 BPF_F_ADJ_ROOM_ENCAP_L2(sizeof(struct ethhdr)) | (outer_l3))

// UDP, VXLAN and inner Ethernet headers for the node whose underlay address ends in
// `remote_end`, around `udp_length` bytes of UDP. The UDP checksum is 0, as the VXLAN
// device sends it over IPv4 (RFC 7348) and, told so, over IPv6 (RFC 6935).
static __always_inline void write_vxlan_tail(struct vxlan_tail *tail, __u32 udp_length, __be16 source_port,
					     const void *remote_end, __be16 inner_protocol)
{
	tail->udp = (struct udphdr){ .source = source_port, .dest = tunnel_port, .len = bpf_htons(udp_length) };
	tail->vxlan.vx_flags = bpf_htonl(VXLAN_FLAG_VNI);
	tail->vxlan.vx_vni = bpf_htonl(tunnel_vni << 8);
	tunnel_mac(tail->inner.h_dest, remote_end);
	own_tunnel_mac(tail->inner.h_source);
	tail->inner.h_proto = inner_protocol;
}

// Fills the room made for VXLAN with the headers the VXLAN device would write for the
// node at `remote_ip` (IPv4, 4 bytes), around an inner frame of `inner_protocol`. False
// only if the room is not in the linear head, which the kernel's push guarantees.
static __always_inline bool write_vxlan_headers(struct __sk_buff *skb, const __u8 *remote_ip, __be16 source_port,
						__be16 inner_protocol)
{
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = (void *)(long)skb->data;
	struct vxlan_headers *outer = (void *)(eth + 1);
	__u32 length = skb->len - sizeof(struct ethhdr);

	if ((void *)(outer + 1) > data_end)
		return false;
	eth->h_proto = bpf_htons(ETH_P_IP); /* the outer header's, whatever the inner was */
	// Outer TOS 0, not ECN-capable: a router drops rather than marks, since nothing
	// here would carry a congestion mark over to the inner header.
	outer->ip = (struct iphdr){ .version = 4, .ihl = 5, .tot_len = bpf_htons(length), .frag_off = bpf_htons(IP_DF),
				    .ttl = TUNNEL_TTL, .protocol = IPPROTO_UDP, .saddr = node_ip };
	__builtin_memcpy(&outer->ip.daddr, remote_ip, sizeof(outer->ip.daddr));
	outer->ip.check = ipv4_checksum(outer);
	write_vxlan_tail(&outer->tail, length - sizeof(struct iphdr), source_port, remote_ip, inner_protocol);
	return true;
}

// write_vxlan_headers over an IPv6 underlay, to the node at `remote_ip6` (16 bytes),
// around a pod's IPv6 packet. Traffic class 0, as the IPv4 header's TOS; flow label 0:
// the UDP source port already spreads the flows.
static __always_inline bool write_vxlan6_headers(struct __sk_buff *skb, const __u8 *remote_ip6, __be16 source_port)
{
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = (void *)(long)skb->data;
	struct vxlan6_headers *outer = (void *)(eth + 1);
	__u32 length = skb->len - sizeof(struct ethhdr) - sizeof(struct ipv6hdr);

	if ((void *)(outer + 1) > data_end)
		return false;
	outer->ip6 = (struct ipv6hdr){ .version = 6, .payload_len = bpf_htons(length), .nexthdr = IPPROTO_UDP,
				       .hop_limit = TUNNEL_TTL };
	for (int word = 0; word < 4; word++)
		outer->ip6.saddr.in6_u.u6_addr32[word] = node_ip6[word];
	__builtin_memcpy(&outer->ip6.daddr, remote_ip6, sizeof(outer->ip6.daddr));
	write_vxlan_tail(&outer->tail, length, source_port, &remote_ip6[12], bpf_htons(ETH_P_IPV6));
	return true;
}

// Whether a pod's packet, wrapped in VXLAN, fits the uplink's MTU as it is now (read
// at every packet, so a change applies at once); a GSO packet, whether each segment it
// will be cut into does. Wrapped here, a packet skips both the uplink's MTU check and
// the "fragmentation needed" the VXLAN device sends, so one too big goes to the stack,
// which routes it through that device and answers the pod as for any forwarded packet.
static __always_inline bool fits_wrapped(struct __sk_buff *skb, void *network, __u32 network_length, __u8 protocol)
{
	struct tcphdr *tcp = network + network_length;
	__u32 length = skb->len - sizeof(struct ethhdr);
	__u32 mtu = 0;

	if (skb->gso_size) {
		length = network_length + skb->gso_size + 8;
		if (protocol == IPPROTO_TCP) {
			// A header out of the linear data counts at its largest, which errs towards the stack.
			if ((void *)(tcp + 1) <= (void *)(long)skb->data_end)
				length += tcp->doff * 4 - 8;
			else
				length += 60 - 8;
		}
	}
	if (bpf_check_mtu(skb, uplink_ifindex, &mtu, 0, 0) < 0)
		return true;
	return length + VXLAN_OVERHEAD <= mtu;
}

// Routes a pod's packet to the node that owns its destination: natively through the
// uplink's neighbour for that node, or wrapped in VXLAN here and sent out of the uplink
// as the host routes the node's address. Without an uplink, or when the kernel cannot
// make room, the VXLAN device wraps it (its egress program sets the tunnel key).
static __always_inline int forward_remote(struct __sk_buff *skb, struct ethhdr *eth, struct iphdr *ip,
					  const struct node_subnet *remote)
{
	struct bpf_redir_neigh next_hop = { .nh_family = AF_INET };

	if (ip->ttl <= 1)
		return account(skb, TWILL_PASSED_TTL_EXCEEDED, TWILL_FROM_POD, TC_ACT_OK);
	if ((remote->flags & TWILL_SUBNET_TUNNEL) && uplink_ifindex && !fits_wrapped(skb, ip, ip->ihl * 4, ip->protocol))
		return account(skb, TWILL_PASSED_TOO_BIG, TWILL_FROM_POD, TC_ACT_OK);
	decrease_ttl(ip);
	account(skb, TWILL_FORWARDED_REMOTE, TWILL_FROM_POD, TC_ACT_OK);
	if (remote->flags & TWILL_SUBNET_TUNNEL) {
		__be16 source_port = tunnel_source_port(skb, ip);

		// The VXLAN device needs these MACs; wrapped here, the neighbour replaces them.
		tunnel_mac(eth->h_dest, remote->node_ip);
		own_tunnel_mac(eth->h_source);
		if (!uplink_ifindex || bpf_skb_adjust_room(skb, sizeof(struct vxlan_headers), BPF_ADJ_ROOM_MAC,
							  VXLAN_ROOM_FLAGS(BPF_F_ADJ_ROOM_ENCAP_L3_IPV4)))
			return bpf_redirect(tunnel_ifindex, 0);
		if (!write_vxlan_headers(skb, remote->node_ip, source_port, bpf_htons(ETH_P_IP)))
			return TC_ACT_SHOT;
		return bpf_redirect_neigh(uplink_ifindex, NULL, 0, 0);
	}
	__builtin_memcpy(&next_hop.ipv4_nh, remote->node_ip, sizeof(next_hop.ipv4_nh));
	return bpf_redirect_neigh(uplink_ifindex, &next_hop, sizeof(next_hop), 0);
}

// The pod on this node in endpoints slot `slot`, or NULL. A slot past the last (an
// address outside the pod CIDR) costs no lookup, and a lookup in an array is inlined
// by the verifier: no call.
static __always_inline struct endpoint *endpoint_in(__u32 slot)
{
	struct endpoint *pod;

	if (slot >= pod_cidr_size)
		return NULL;
	pod = bpf_map_lookup_elem(&endpoints, &slot);
	if (!pod || !pod->ifindex)
		return NULL;
	return pod;
}

// A slot of this node's pod CIDRs that no pod holds (endpoint_in found none), but for
// the VXLAN device's own (each CIDR's network address, in vxlan mode): traffic for it
// ends here, as the node's unreachable route for the CIDR ends the host's.
static __always_inline bool unallocated(__u32 slot)
{
	return slot < pod_cidr_size && !(tunnel_ifindex && slot == 0);
}

static __always_inline bool in_pod_cidr(__be32 address)
{
	return ipv4_slot(address) < pod_cidr_size;
}

// The pod on this node holding `address`, or NULL.
static __always_inline struct endpoint *endpoint_of(__be32 address)
{
	return endpoint_in(ipv4_slot(address));
}

// The subnet of node_slots that holds `address`, or NULL.
static __always_inline struct node_subnet *node_slot_of(__be32 address)
{
	// Below the CIDR the difference wraps past the last slot too.
	__u32 slot = (bpf_ntohl(address) - bpf_ntohl(cluster_first)) >> (32 - node_slot_prefixlen);
	struct node_subnet *subnet;
	__u32 node;

	if (slot >= node_slot_count)
		return NULL;
	subnet = bpf_map_lookup_elem(&node_slots, &slot);
	if (!subnet)
		return NULL;
	__builtin_memcpy(&node, subnet->node_ip, sizeof(node));
	return node ? subnet : NULL;
}

// The node whose pod subnet holds `address`: one lookup per prefix length in use,
// longest first, so the cost stays the same from 10 nodes to 5,000. The length that
// node_slots holds in full is looked up there, the others in the hash.
static __always_inline struct node_subnet *node_subnet_of(__be32 address)
{
	struct node_subnet_key key = {};
	struct node_subnet_lengths *in_use;
	struct node_subnet *subnet;
	__u32 zero = 0;

	in_use = bpf_map_lookup_elem(&node_subnet_lengths, &zero);
	if (!in_use)
		return NULL;
	for (int i = 0; i < TWILL_PREFIX_LENGTHS_MAX && i < in_use->count; i++) {
		__u32 length = in_use->lengths[i];
		__be32 network;

		if (length == 0 || length > 32)
			return NULL;
		if (length == in_use->slotted_length) {
			subnet = node_slot_of(address);
		} else {
			network = address & bpf_htonl(0xffffffffULL << (32 - length));
			key.prefixlen = length;
			__builtin_memcpy(key.addr, &network, sizeof(network));
			subnet = bpf_map_lookup_elem(&node_subnets, &key);
		}
		if (subnet)
			return subnet;
	}
	return NULL;
}

// The subnet of node_slots6 that holds `address`, or NULL: node_slot_of on the first 64
// bits of the address, where node subnets of up to /64 end.
static __always_inline struct node_subnet6 *node_slot6_of(const struct in6_addr *address)
{
	const __be32 *word = address->in6_u.u6_addr32;
	__u64 high = ((__u64)bpf_ntohl(word[0]) << 32) | bpf_ntohl(word[1]);
	__u64 first = ((__u64)bpf_ntohl(cluster6_first[0]) << 32) | bpf_ntohl(cluster6_first[1]);
	struct node_subnet6 *subnet;
	__u64 offset = (high - first) >> (64 - node_slot6_prefixlen);
	__u32 slot = offset;
	__u64 node[2];

	// Below the CIDR the difference wraps past the last slot too.
	if (offset >= node_slot6_count)
		return NULL;
	subnet = bpf_map_lookup_elem(&node_slots6, &slot);
	if (!subnet)
		return NULL;
	__builtin_memcpy(node, subnet->node_ip6, sizeof(node));
	return node[0] | node[1] ? subnet : NULL;
}

// The node whose IPv6 pod subnet holds `address`: node_subnet_of for IPv6, one lookup
// per prefix length in use, longest first, node_slots6 for the length it holds in full.
static __always_inline struct node_subnet6 *node_subnet6_of(const struct in6_addr *address)
{
	struct node_subnet6_key key = {};
	struct node_subnet_lengths *in_use;
	struct node_subnet6 *subnet;
	__u32 *network = (__u32 *)key.addr;
	__u32 zero = 0;

	in_use = bpf_map_lookup_elem(&node_subnet_lengths6, &zero);
	if (!in_use)
		return NULL;
	for (int i = 0; i < TWILL_PREFIX_LENGTHS_MAX && i < in_use->count; i++) {
		__u32 length = in_use->lengths[i];

		if (length == 0 || length > 128)
			return NULL;
		if (length == in_use->slotted_length) {
			subnet = node_slot6_of(address);
			if (subnet)
				return subnet;
			continue;
		}
		// The address with its host bits cleared, a 32-bit word at a time.
		for (int word = 0; word < 4; word++) {
			__u32 bits = length > word * 32 ? length - word * 32 : 0;

			network[word] = bits >= 32 ? address->in6_u.u6_addr32[word] :
				       bits ? address->in6_u.u6_addr32[word] & bpf_htonl(0xffffffffULL << (32 - bits)) : 0;
		}
		key.prefixlen = length;
		subnet = bpf_map_lookup_elem(&node_subnets6, &key);
		if (subnet)
			return subnet;
	}
	return NULL;
}

// forward_remote for IPv6: routed to the node that owns the destination through the
// uplink's neighbour for that node's IPv6 address, the hop limit taken down as a router
// does (IPv6 has no header checksum to follow).
static __always_inline int forward_remote6(struct __sk_buff *skb, struct ethhdr *eth, struct ipv6hdr *ip6,
					   const struct node_subnet6 *remote)
{
	struct bpf_redir_neigh next_hop = { .nh_family = AF_INET6 };
	bool tunnelled = remote->flags & TWILL_SUBNET_TUNNEL;

	if (ip6->hop_limit <= 1)
		return account(skb, TWILL_PASSED_TTL_EXCEEDED, TWILL_FROM_POD, TC_ACT_OK);
	if (tunnelled && uplink_ifindex && !fits_wrapped(skb, ip6, sizeof(*ip6), ip6->nexthdr))
		return account(skb, TWILL_PASSED_TOO_BIG, TWILL_FROM_POD, TC_ACT_OK);
	ip6->hop_limit--;
	account(skb, TWILL_FORWARDED_REMOTE, TWILL_FROM_POD, TC_ACT_OK);
	if (tunnelled) {
		// To the node's underlay address: node_ip6, which over IPv4 is ::ffff:a.b.c.d.
		const __u8 *underlay_end = &remote->node_ip6[12];
		__be16 source_port = tunnel_source_port6(skb, ip6);
		bool written;

		tunnel_mac(eth->h_dest, underlay_end);
		own_tunnel_mac(eth->h_source);
		if (!uplink_ifindex ||
		    bpf_skb_adjust_room(skb, VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC,
					underlay_ipv6 ? VXLAN_ROOM_FLAGS(BPF_F_ADJ_ROOM_ENCAP_L3_IPV6) :
							VXLAN_ROOM_FLAGS(BPF_F_ADJ_ROOM_ENCAP_L3_IPV4)))
			return bpf_redirect(tunnel_ifindex, 0);
		written = underlay_ipv6 ? write_vxlan6_headers(skb, remote->node_ip6, source_port) :
					  write_vxlan_headers(skb, underlay_end, source_port, bpf_htons(ETH_P_IPV6));
		if (!written)
			return TC_ACT_SHOT;
		return bpf_redirect_neigh(uplink_ifindex, NULL, 0, 0);
	}
	__builtin_memcpy(next_hop.ipv6_nh, remote->node_ip6, sizeof(next_hop.ipv6_nh));
	return bpf_redirect_neigh(uplink_ifindex, &next_hop, sizeof(next_hop), 0);
}

// An ARP packet about IPv4 over Ethernet (RFC 826).
struct arp_ipv4 {
	__be16 hardware;
	__be16 protocol;
	__u8 hardware_length;
	__u8 protocol_length;
	__be16 operation;
	__u8 sender_mac[ETH_ALEN];
	__u8 sender_ip[4];
	__u8 target_mac[ETH_ALEN];
	__u8 target_ip[4];
} __attribute__((packed));

static __always_inline bool mac_equal(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b && *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

// The ICMP or ICMPv6 type at `offset`, or 0 (echo reply, harmless) when the packet ends
// before it. Read through the helper: such packets are rare enough not to matter, and
// their header need not be in the linear data.
static __always_inline __u8 icmp_type_at(struct __sk_buff *skb, __u32 offset)
{
	__u8 type = 0;

	bpf_skb_load_bytes(skb, offset, &type, sizeof(type));
	return type;
}

// What a pod may send besides IPv4 and, in a cluster with it, IPv6: ARP that speaks
// for its own address and MAC, which its kernel may use. Nothing else, IPv6 in an IPv4
// cluster included: a pod can then neither announce itself as the node's router
// (CVE-2020-10749) nor reach the node's services over link-local IPv6. IPv6 router
// advertisements and redirects are counted apart from the pods' own noise (router
// solicitations, duplicate address detection).
static __always_inline int from_pod_not_ip(struct __sk_buff *skb, struct ethhdr *eth)
{
	void *data_end = (void *)(long)skb->data_end;
	struct arp_ipv4 *arp = (void *)(eth + 1);
	struct ipv6hdr *ipv6 = (void *)(eth + 1);
	struct endpoint *sender;
	__be32 sender_ip;
	__u8 type;

	if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		if ((void *)(arp + 1) > data_end || arp->hardware != bpf_htons(ARPHRD_ETHER) ||
		    arp->protocol != bpf_htons(ETH_P_IP) || arp->hardware_length != ETH_ALEN || arp->protocol_length != 4)
			return account(skb, TWILL_DROPPED_MALFORMED, TWILL_FROM_POD, TC_ACT_SHOT);
		__builtin_memcpy(&sender_ip, arp->sender_ip, sizeof(sender_ip));
		sender = endpoint_of(sender_ip);
		if (!sender || sender->ifindex != skb->ifindex || !mac_equal(arp->sender_mac, sender->pod_mac))
			return account(skb, TWILL_DROPPED_SPOOFED, TWILL_FROM_POD, TC_ACT_SHOT);
		return account(skb, TWILL_PASSED_NOT_IPV4, TWILL_FROM_POD, TC_ACT_OK);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6) && (void *)(ipv6 + 1) <= data_end && ipv6->nexthdr == IPPROTO_ICMPV6) {
		type = icmp_type_at(skb, sizeof(*eth) + sizeof(*ipv6));
		if (type == ICMPV6_ROUTER_ADVERTISEMENT || type == ICMPV6_REDIRECT)
			return account(skb, TWILL_DROPPED_ROUTER_MESSAGE, TWILL_FROM_POD, TC_ACT_SHOT);
	}
	return account(skb, TWILL_DROPPED_NOT_IPV4, TWILL_FROM_POD, TC_ACT_SHOT);
}

// ICMP that only a router sends: a redirect, which would move the receiver's routes,
// or a router advertisement.
static __always_inline bool router_icmp(struct __sk_buff *skb, const struct iphdr *ip)
{
	__u8 type;

	if (ip->protocol != IPPROTO_ICMP || (ip->frag_off & bpf_htons(IP_OFFSET)))
		return false;
	type = icmp_type_at(skb, sizeof(struct ethhdr) + ip->ihl * 4);
	return type == ICMP_REDIRECT || type == ICMP_ROUTER_ADVERTISEMENT;
}

// Destinations no pod may hand its node: loopback (with route_localnet set, as
// kube-proxy once did, the node delivers it to services bound to 127.0.0.1:
// CVE-2020-8558), 0.0.0.0/8, multicast, and 240.0.0.0/4 with the broadcast address.
static __always_inline bool martian_destination(__be32 address)
{
	__u32 first_octet = bpf_ntohl(address) >> 24;

	return first_octet == 0 || first_octet == 127 || first_octet >= 224;
}

// A pod's UDP datagram to the VXLAN port. Only nodes speak the tunnel: to its own node
// the VXLAN device would unwrap it, and to another node it would leave masqueraded to
// this node's address, which the receiver must trust. Later fragments carry no port,
// and go nowhere without the first.
static __always_inline bool tunnel_datagram(struct __sk_buff *skb, const struct iphdr *ip)
{
	struct udphdr *udp = (void *)ip + ip->ihl * 4;
	__be16 port = 0;

	if (ip->protocol != IPPROTO_UDP || (ip->frag_off & bpf_htons(IP_OFFSET)))
		return false;
	if ((void *)(udp + 1) <= (void *)(long)skb->data_end)
		return udp->dest == tunnel_port;
	// A header past the linear data is read by the helper, which costs a call.
	bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + ip->ihl * 4 + __builtin_offsetof(struct udphdr, dest), &port,
			   sizeof(port));
	return port == tunnel_port;
}

// Hands a pod's packet to the host stack, which may NAT it (kube-proxy Services): the
// pod's flag then has replies to it checked against conntrack (nat_reply). Only this
// pod's own packets set the flag, so a plain store cannot lose anything that matters.
static __always_inline int pass_to_stack(struct __sk_buff *skb, struct endpoint *sender, enum twill_reason reason)
{
	if (!(sender->flags & TWILL_ENDPOINT_USES_STACK))
		sender->flags |= TWILL_ENDPOINT_USES_STACK;
	return account(skb, reason, TWILL_FROM_POD, TC_ACT_OK);
}

// An ICMPv6 type that only speaks about the link: neighbour and router discovery a
// host takes part in, and multicast listener discovery (MLD). Sent with hop limit 255
// or 1, such messages are for the node's stack, and no router forwards them.
static __always_inline bool link_message(__u8 type)
{
	// 130 to 133: MLD query, report and done, and router solicitation.
	return (type >= ICMPV6_MLD_QUERY && type <= ICMPV6_ROUTER_SOLICITATION) || type == ICMPV6_NEIGHBOUR_SOLICITATION ||
	       type == ICMPV6_NEIGHBOUR_ADVERTISEMENT || type == ICMPV6_MLD2_REPORT;
}

// A link-local (fe80::/10) or the unspecified (::) address: the sources a pod's
// neighbour discovery may come from besides its own address.
static __always_inline bool link_scoped(const struct in6_addr *address)
{
	const __be32 *word = address->in6_u.u6_addr32;

	if ((word[0] & bpf_htonl(0xffc00000)) == bpf_htonl(0xfe800000))
		return true;
	return !(word[0] | word[1] | word[2] | word[3]);
}

// IPv6 destinations no pod may hand its node: multicast (ff00::/8), link-local
// (fe80::/10: the node's services on the veth), and ::/96 and ::ffff:0:0/96, which
// hold the unspecified and loopback addresses and IPv4 (mapped, or compatible as once).
static __always_inline bool martian_destination6(const struct in6_addr *address)
{
	const __be32 *word = address->in6_u.u6_addr32;
	__u32 first = bpf_ntohl(word[0]);

	if (first >> 24 == 0xff || first >> 22 == 0xfe80 >> 6)
		return true;
	return !word[0] && !word[1] && (!word[2] || word[2] == bpf_htonl(0xffff));
}

// tunnel_datagram for IPv6, whose UDP header follows the fixed header (a packet with
// extension headers never gets here).
static __always_inline bool tunnel_datagram6(struct __sk_buff *skb, const struct ipv6hdr *ip6)
{
	struct udphdr *udp = (void *)(ip6 + 1);
	__be16 port = 0;

	if (ip6->nexthdr != IPPROTO_UDP)
		return false;
	if ((void *)(udp + 1) <= (void *)(long)skb->data_end)
		return udp->dest == tunnel_port;
	// As in tunnel_datagram: a header past the linear data costs a helper call.
	bpf_skb_load_bytes(skb, IPV6_TRANSPORT + __builtin_offsetof(struct udphdr, dest), &port, sizeof(port));
	return port == tunnel_port;
}

// An IPv6 packet a pod sent, as from_pod judges IPv4: only from the pod's own address,
// straight into a pod on this node, and what the stack may be handed. Neighbour
// discovery and MLD from the pod's own or a link-local address go to the stack, which
// answers them; router advertisements and redirects go nowhere. A packet with extension
// headers goes to the stack too, which parses them and routes it (the hop limit it
// takes off is what makes a router message it carries worthless to any receiver).
// The type of a pod's ICMPv6 message, found right after the fixed header or behind a
// Hop-by-Hop header, which every MLD message carries (its router alert option); false
// when the packet carries no ICMPv6 there.
static __always_inline bool icmpv6_type(struct __sk_buff *skb, struct ipv6hdr *ip6, __u8 *type)
{
	__u8 hop_by_hop[2]; // its next header, and its length in 8 bytes beyond the first 8

	if (ip6->nexthdr == IPPROTO_ICMPV6) {
		*type = icmp_type_at(skb, IPV6_TRANSPORT);
		return true;
	}
	if (ip6->nexthdr != IPPROTO_HOPOPTS || bpf_skb_load_bytes(skb, IPV6_TRANSPORT, hop_by_hop, sizeof(hop_by_hop)) < 0 ||
	    hop_by_hop[0] != IPPROTO_ICMPV6)
		return false;
	*type = icmp_type_at(skb, IPV6_TRANSPORT + (hop_by_hop[1] + 1) * 8);
	return true;
}

static __always_inline int from_pod_ipv6(struct __sk_buff *skb, struct ethhdr *eth)
{
	struct ipv6hdr *ip6 = ipv6_header(skb, eth);
	struct endpoint *sender, *receiver;
	struct node_subnet6 *remote;
	__u32 slot;
	__u8 type;

	if (!ip6)
		return account(skb, TWILL_DROPPED_MALFORMED, TWILL_FROM_POD, TC_ACT_SHOT);
	slot = ipv6_slot(&ip6->saddr);
	sender = endpoint_in(slot);
	if (sender && sender->ifindex != skb->ifindex)
		sender = NULL;
	if (icmpv6_type(skb, ip6, &type)) {
		if (type == ICMPV6_ROUTER_ADVERTISEMENT || type == ICMPV6_REDIRECT)
			return account(skb, TWILL_DROPPED_ROUTER_MESSAGE, TWILL_FROM_POD, TC_ACT_SHOT);
		if (link_message(type) && (sender || link_scoped(&ip6->saddr)))
			return account(skb, TWILL_PASSED_NEIGHBOUR_DISCOVERY, TWILL_FROM_POD, TC_ACT_OK);
	}
	// Only the pod behind this veth may use its address.
	if (!sender)
		return account(skb, TWILL_DROPPED_SPOOFED, TWILL_FROM_POD, TC_ACT_SHOT);
	if ((sender->flags & TWILL_ENDPOINT_EGRESS_LIMITED) && !within_limit(skb, slot, ipv6_transport(ip6), true))
		return account(skb, TWILL_DROPPED_BY_LIMIT, TWILL_FROM_POD, TC_ACT_SHOT);
	if (extension_header(ip6->nexthdr))
		return pass_to_stack(skb, sender, TWILL_PASSED_EXTENSION_HEADER);

	slot = ipv6_slot(&ip6->daddr);
	receiver = endpoint_in(slot);
	if (receiver) {
		if (nat_reply6(skb, ip6, receiver))
			return account(skb, TWILL_PASSED_NAT_REPLY, TWILL_FROM_POD, TC_ACT_OK);
		return redirect_into(skb, eth, ipv6_transport(ip6), receiver, slot, TWILL_FROM_POD);
	}
	if (unallocated(slot))
		return account(skb, TWILL_DROPPED_NO_POD, TWILL_FROM_POD, TC_ACT_SHOT);
	remote = node_subnet6_of(&ip6->daddr);
	if (remote)
		return forward_remote6(skb, eth, ip6, remote);

	// The rest is for the host stack, which must not be handed what a pod may not ask of it.
	if (martian_destination6(&ip6->daddr))
		return account(skb, TWILL_DROPPED_MARTIAN, TWILL_FROM_POD, TC_ACT_SHOT);
	if (tunnel_ifindex && tunnel_datagram6(skb, ip6))
		return account(skb, TWILL_DROPPED_TUNNEL_FROM_POD, TWILL_FROM_POD, TC_ACT_SHOT);
	return pass_to_stack(skb, sender, TWILL_PASSED_NOT_POD);
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	struct ethhdr *eth = ethernet_header(skb);
	struct endpoint *sender, *receiver;
	struct node_subnet *remote;
	struct iphdr *ip;

	if (!eth)
		return account(skb, TWILL_DROPPED_MALFORMED, TWILL_FROM_POD, TC_ACT_SHOT);
	if (ipv6_pods && eth->h_proto == bpf_htons(ETH_P_IPV6))
		return from_pod_ipv6(skb, eth);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return from_pod_not_ip(skb, eth);
	ip = ipv4_header(skb, eth);
	if (!ip)
		return account(skb, TWILL_DROPPED_MALFORMED, TWILL_FROM_POD, TC_ACT_SHOT);

	// Only the pod behind this veth may use its address.
	sender = endpoint_of(ip->saddr);
	if (!sender || sender->ifindex != skb->ifindex)
		return account(skb, TWILL_DROPPED_SPOOFED, TWILL_FROM_POD, TC_ACT_SHOT);
	if (fragment_unsafe(ip))
		return account(skb, TWILL_DROPPED_FRAGMENT, TWILL_FROM_POD, TC_ACT_SHOT);
	if (router_icmp(skb, ip))
		return account(skb, TWILL_DROPPED_ROUTER_MESSAGE, TWILL_FROM_POD, TC_ACT_SHOT);
	if ((sender->flags & TWILL_ENDPOINT_EGRESS_LIMITED) && !within_limit(skb, ipv4_slot(ip->saddr), ipv4_transport(ip), true))
		return account(skb, TWILL_DROPPED_BY_LIMIT, TWILL_FROM_POD, TC_ACT_SHOT);

	receiver = endpoint_of(ip->daddr);
	if (receiver)
		return deliver_local(skb, eth, ip, receiver, TWILL_FROM_POD);
	if (unallocated(ipv4_slot(ip->daddr)))
		return account(skb, TWILL_DROPPED_NO_POD, TWILL_FROM_POD, TC_ACT_SHOT);

	remote = node_subnet_of(ip->daddr);
	if (remote)
		return forward_remote(skb, eth, ip, remote);

	// The rest is for the host stack, which must not be handed what a pod may not ask of it.
	if (martian_destination(ip->daddr))
		return account(skb, TWILL_DROPPED_MARTIAN, TWILL_FROM_POD, TC_ACT_SHOT);
	if (tunnel_ifindex && tunnel_datagram(skb, ip))
		return account(skb, TWILL_DROPPED_TUNNEL_FROM_POD, TWILL_FROM_POD, TC_ACT_SHOT);
	return pass_to_stack(skb, sender, TWILL_PASSED_NOT_POD);
}

// Whether VXLAN's headers after the outer IP header are ours: to our port, for our
// VNI, no UDP checksum to verify (anything else is the VXLAN device's to judge).
static __always_inline bool vxlan_tail_ours(const struct vxlan_tail *tail)
{
	return tail->udp.dest == tunnel_port && !tail->udp.check && tail->vxlan.vx_flags == bpf_htonl(VXLAN_FLAG_VNI) &&
	       tail->vxlan.vx_vni == bpf_htonl(tunnel_vni << 8);
}

// The pod here a wrapped IPv6 packet is for, when the programs can take it straight in
// (its endpoints slot in `slot`): sound in the `length` bytes from its header, without
// extension headers or an expiring hop limit, from a tunnelled subnet of the node at
// `underlay` (16 bytes, as node_subnet6 holds it) and no Service reply. Else NULL, and
// the VXLAN device takes the packet.
static __always_inline struct endpoint *unwrapped6_receiver(struct __sk_buff *skb, struct ipv6hdr *ip6, __u32 length,
							    const void *underlay, __u32 *slot)
{
	struct node_subnet6 *sender;
	struct endpoint *receiver;

	if ((void *)(ip6 + 1) > (void *)(long)skb->data_end || *(const __u8 *)ip6 >> 4 != 6 ||
	    bpf_ntohs(ip6->payload_len) > length - sizeof(*ip6) || extension_header(ip6->nexthdr) || ip6->hop_limit <= 1)
		return NULL;
	*slot = ipv6_slot(&ip6->daddr);
	receiver = endpoint_in(*slot);
	sender = node_subnet6_of(&ip6->saddr);
	if (!receiver || !sender || !(sender->flags & TWILL_SUBNET_TUNNEL) || !ipv6_equal(sender->node_ip6, underlay) ||
	    nat_reply6(skb, ip6, receiver))
		return NULL;
	return receiver;
}

// Takes `room` bytes of VXLAN headers off an IPv6 packet for `receiver` and redirects
// it into the pod, a routing hop taken. `flags` tell the kernel what the outer header
// was. If the kernel cannot shrink the packet, it goes, still whole, to the VXLAN device.
static __always_inline int deliver_unwrapped6(struct __sk_buff *skb, __u32 room, __u64 flags, struct endpoint *receiver,
					      __u32 slot)
{
	struct ipv6hdr *ip6;
	struct ethhdr *eth;

	if (bpf_skb_adjust_room(skb, -(int)room, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO | flags))
		return account(skb, TWILL_PASSED_NOT_POD, TWILL_FROM_NETDEV, TC_ACT_OK);
	eth = (void *)(long)skb->data;
	ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > (void *)(long)skb->data_end)
		return TC_ACT_SHOT; /* cannot happen: the inner header was in the head before */
	eth->h_proto = bpf_htons(ETH_P_IPV6); /* was the outer header's */
	ip6->hop_limit--;
	return redirect_into(skb, eth, ipv6_transport(ip6), receiver, slot, TWILL_FROM_NETDEV);
}

// unwrap_for_pod for an inner IPv6 packet, once the outer IPv4 headers are found to be
// for this node: it too goes straight into the pod, the outer header's protocol
// becoming the inner's (a kernel before 6.3 refuses that, and the VXLAN device takes
// the packet).
static __always_inline bool unwrap6_for_pod(struct __sk_buff *skb, struct iphdr *outer, int *verdict)
{
	struct vxlan_headers *tunnel = (void *)outer;
	struct node_address underlay;
	struct endpoint *receiver;
	__u32 slot;

	ipv4_mapped(&underlay, outer->saddr);
	receiver = unwrapped6_receiver(skb, (void *)(tunnel + 1), skb->len - sizeof(struct ethhdr) - sizeof(*tunnel),
				       underlay.ip, &slot);
	if (!receiver)
		return false;
	*verdict = deliver_unwrapped6(skb, sizeof(*tunnel), BPF_F_ADJ_ROOM_DECAP_L3_IPV6, receiver, slot);
	return true;
}

// unwrap_for_pod over an IPv6 underlay: VXLAN in IPv6 to this node from the node that
// owns the inner source, for a pod here. An outer header followed by anything but UDP
// (an extension header, a fragment) is the stack's.
static __always_inline bool unwrap_over_ipv6(struct __sk_buff *skb, struct ipv6hdr *outer, int *verdict)
{
	struct vxlan6_headers *tunnel = (void *)outer;
	__be32 self[4] = { node_ip6[0], node_ip6[1], node_ip6[2], node_ip6[3] };
	struct endpoint *receiver;
	__u32 slot;

	if ((void *)(tunnel + 1) > (void *)(long)skb->data_end || outer->nexthdr != IPPROTO_UDP ||
	    !ipv6_equal(&outer->daddr, self) || !vxlan_tail_ours(&tunnel->tail) ||
	    tunnel->tail.inner.h_proto != bpf_htons(ETH_P_IPV6))
		return false;
	receiver = unwrapped6_receiver(skb, (void *)(tunnel + 1), skb->len - sizeof(struct ethhdr) - sizeof(*tunnel),
				       &outer->saddr, &slot);
	if (!receiver)
		return false;
	*verdict = deliver_unwrapped6(skb, sizeof(*tunnel), 0, receiver, slot);
	return true;
}

// A VXLAN packet to this node from the node that owns its inner source, for a pod
// here: the tunnel headers come off and the pod gets the inner packet, with no pass
// through the UDP socket, the VXLAN device and its GRO cell. Returns false, with the
// packet untouched, for anything else (the host's traffic, another VNI or port, an
// unknown or mismatched sender, a Service reply, a UDP checksum to verify, an inner
// packet that is a fragment or not sound), which the VXLAN device takes as before
// (and from_netdev, on its ingress, judges).
static __always_inline bool unwrap_for_pod(struct __sk_buff *skb, struct iphdr *outer, int *verdict)
{
	void *data_end = (void *)(long)skb->data_end;
	struct vxlan_headers *tunnel = (void *)outer;
	struct endpoint *receiver;
	struct node_subnet *sender;
	__be32 sender_node_ip;
	struct ethhdr *eth;
	struct iphdr *ip;

	// Over an IPv6 underlay, no VXLAN comes in IPv4 (node_ip is 0.0.0.0).
	if (underlay_ipv6 || (void *)(tunnel + 1) > data_end || outer->ihl != 5 || outer->protocol != IPPROTO_UDP ||
	    outer->daddr != node_ip || is_fragment(outer) || !vxlan_tail_ours(&tunnel->tail))
		return false;
	if (ipv6_pods && tunnel->tail.inner.h_proto == bpf_htons(ETH_P_IPV6))
		return unwrap6_for_pod(skb, outer, verdict);
	if (tunnel->tail.inner.h_proto != bpf_htons(ETH_P_IP))
		return false;
	ip = (void *)(tunnel + 1);
	if (!ipv4_sound(skb, ip, skb->len - sizeof(struct ethhdr) - sizeof(*tunnel)) || is_fragment(ip) || ip->ttl <= 1)
		return false;
	receiver = endpoint_of(ip->daddr);
	sender = node_subnet_of(ip->saddr);
	if (!receiver || !sender || !(sender->flags & TWILL_SUBNET_TUNNEL))
		return false;
	__builtin_memcpy(&sender_node_ip, sender->node_ip, sizeof(sender_node_ip));
	if (sender_node_ip != outer->saddr || nat_reply(skb, ip, receiver))
		return false;
	// Past this call the verifier forgets every packet pointer, so the packet is
	// handled here even if the kernel fails to shrink it: then, still whole, it goes to
	// the VXLAN device.
	if (bpf_skb_adjust_room(skb, -(int)sizeof(struct vxlan_headers), BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO)) {
		*verdict = account(skb, TWILL_PASSED_NOT_POD, TWILL_FROM_NETDEV, TC_ACT_OK);
		return true;
	}
	eth = (void *)(long)skb->data;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > (void *)(long)skb->data_end) {
		*verdict = TC_ACT_SHOT; /* cannot happen: the inner header was in the head before */
		return true;
	}
	decrease_ttl(ip);
	*verdict = redirect_into(skb, eth, ipv4_transport(ip), receiver, ipv4_slot(ip->daddr), TWILL_FROM_NETDEV);
	return true;
}

// Whether a frame that the VXLAN device unwrapped came from a node: the outer source in
// its tunnel key (into `sender`, as node_addresses holds it) is a node's address and the
// VNI is ours. A pod's datagram to a node's VXLAN port, or anyone else's, carries no
// node's address.
static __always_inline bool tunnel_sender(struct __sk_buff *skb, struct node_address *sender)
{
	struct bpf_tunnel_key key = {};

	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), underlay_ipv6 ? BPF_F_TUNINFO_IPV6 : 0) < 0 ||
	    key.tunnel_id != tunnel_vni)
		return false;
	if (underlay_ipv6)
		__builtin_memcpy(sender->ip, key.remote_ipv6, sizeof(sender->ip));
	else
		ipv4_mapped(sender, bpf_htonl(key.remote_ipv4));
	return bpf_map_lookup_elem(&node_addresses, sender) != NULL;
}

// Whether the node at `node` may send from `address`: its own address, or one of its
// pod subnet (`subnet`: the node subnet holding `address`, if any).
static __always_inline bool speaks_for(__be32 node, __be32 address, const struct node_subnet *subnet)
{
	__be32 owner;

	if (address == node)
		return true;
	if (!subnet)
		return false;
	__builtin_memcpy(&owner, subnet->node_ip, sizeof(owner));
	return owner == node;
}

// Whether the node at `node` (a VXLAN sender) may send from an IPv6 address in
// `subnet`: a tunnelled subnet of its own.
static __always_inline bool speaks_for6(const struct node_address *node, const struct node_subnet6 *subnet)
{
	return subnet && (subnet->flags & TWILL_SUBNET_TUNNEL) && ipv6_equal(subnet->node_ip6, node->ip);
}

// IPv6 arriving from the network, as from_netdev judges IPv4: a pod-to-pod packet from
// another node's IPv6 pod subnet goes straight into the pod here, a routing hop taken;
// one from a node or an outside host goes through the stack, so conntrack sees both
// directions, and so does one with extension headers. Unwrapped by the VXLAN device,
// it must come from a subnet of the node that sent it; in vxlan mode, pod sources here
// and in tunnelled subnets arrive only wrapped.
static __always_inline int from_netdev_ipv6(struct __sk_buff *skb, struct ethhdr *eth, bool tunnelled,
					    const struct node_address *sender_node)
{
	struct ipv6hdr *ip6 = ipv6_header(skb, eth);
	struct node_subnet6 *sender = NULL;
	struct endpoint *receiver;
	int verdict;
	__u32 slot;

	if (!ip6)
		return account(skb, TWILL_DROPPED_MALFORMED, TWILL_FROM_NETDEV, TC_ACT_SHOT);
	// Over an IPv6 underlay, VXLAN arrives on the uplink as IPv6.
	if (underlay_ipv6 && tunnel_ifindex && !tunnelled && unwrap_over_ipv6(skb, ip6, &verdict))
		return verdict;
	if (tunnel_ifindex) {
		sender = node_subnet6_of(&ip6->saddr);
		if (tunnelled && !speaks_for6(sender_node, sender))
			return account(skb, TWILL_DROPPED_FORGED_TUNNEL, TWILL_FROM_NETDEV, TC_ACT_SHOT);
		if (!tunnelled && (ipv6_slot(&ip6->saddr) < pod_cidr_size || (sender && (sender->flags & TWILL_SUBNET_TUNNEL))))
			return account(skb, TWILL_DROPPED_NOT_WRAPPED, TWILL_FROM_NETDEV, TC_ACT_SHOT);
	}
	slot = ipv6_slot(&ip6->daddr);
	receiver = endpoint_in(slot);
	if (!receiver && unallocated(slot))
		return account(skb, TWILL_DROPPED_NO_POD, TWILL_FROM_NETDEV, TC_ACT_SHOT);
	if (!receiver)
		return account(skb, TWILL_PASSED_NOT_POD, TWILL_FROM_NETDEV, TC_ACT_OK);
	if (!tunnel_ifindex)
		sender = node_subnet6_of(&ip6->saddr);
	if (!sender)
		return account(skb, TWILL_PASSED_FROM_HOST, TWILL_FROM_NETDEV, TC_ACT_OK);
	if (extension_header(ip6->nexthdr))
		return account(skb, TWILL_PASSED_EXTENSION_HEADER, TWILL_FROM_NETDEV, TC_ACT_OK);
	if (ip6->hop_limit <= 1)
		return account(skb, TWILL_PASSED_TTL_EXCEEDED, TWILL_FROM_NETDEV, TC_ACT_OK);
	if (nat_reply6(skb, ip6, receiver))
		return account(skb, TWILL_PASSED_NAT_REPLY, TWILL_FROM_NETDEV, TC_ACT_OK);
	ip6->hop_limit--;
	return redirect_into(skb, eth, ipv6_transport(ip6), receiver, slot, TWILL_FROM_NETDEV);
}

SEC("tc")
int from_netdev(struct __sk_buff *skb)
{
	bool tunnelled = tunnel_ifindex && skb->ifindex == tunnel_ifindex;
	struct ethhdr *eth = ethernet_header(skb);
	struct node_address sender_node = {};
	struct node_subnet *sender = NULL;
	struct endpoint *receiver;
	struct iphdr *ip;
	int verdict;

	if (!eth)
		return account(skb, TWILL_DROPPED_MALFORMED, TWILL_FROM_NETDEV, TC_ACT_SHOT);
	// Only nodes speak the tunnel, whatever the frame inside.
	if (tunnelled && !tunnel_sender(skb, &sender_node))
		return account(skb, TWILL_DROPPED_FORGED_TUNNEL, TWILL_FROM_NETDEV, TC_ACT_SHOT);
	if (ipv6_pods && eth->h_proto == bpf_htons(ETH_P_IPV6))
		return from_netdev_ipv6(skb, eth, tunnelled, &sender_node);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return account(skb, TWILL_PASSED_NOT_IPV4, TWILL_FROM_NETDEV, TC_ACT_OK);
	ip = ipv4_header(skb, eth);
	if (!ip)
		return account(skb, TWILL_DROPPED_MALFORMED, TWILL_FROM_NETDEV, TC_ACT_SHOT);

	// The node subnet holding the source, looked up once, where a check below needs it.
	if (tunnelled) {
		// The sender's IPv4 address, the last word of its mapped one; over an IPv6
		// underlay no IPv4 is tunnelled, and none speaks for it.
		__be32 sender_ip;

		__builtin_memcpy(&sender_ip, &sender_node.ip[12], sizeof(sender_ip));
		sender = node_subnet_of(ip->saddr);
		if (underlay_ipv6 || !speaks_for(sender_ip, ip->saddr, sender))
			return account(skb, TWILL_DROPPED_FORGED_TUNNEL, TWILL_FROM_NETDEV, TC_ACT_SHOT);
	} else if (tunnel_ifindex) {
		// VXLAN arrives on the uplink; on the VXLAN device it is unwrapped already.
		if (unwrap_for_pod(skb, ip, &verdict))
			return verdict;
		// Pods here and in tunnelled subnets reach this node only wrapped.
		sender = node_subnet_of(ip->saddr);
		if (in_pod_cidr(ip->saddr) || (sender && (sender->flags & TWILL_SUBNET_TUNNEL)))
			return account(skb, TWILL_DROPPED_NOT_WRAPPED, TWILL_FROM_NETDEV, TC_ACT_SHOT);
	}

	receiver = endpoint_of(ip->daddr);
	if (!receiver && unallocated(ipv4_slot(ip->daddr)))
		return account(skb, TWILL_DROPPED_NO_POD, TWILL_FROM_NETDEV, TC_ACT_SHOT);
	if (!receiver)
		return account(skb, TWILL_PASSED_NOT_POD, TWILL_FROM_NETDEV, TC_ACT_OK);
	if (!tunnel_ifindex)
		sender = node_subnet_of(ip->saddr);
	// Only pod-to-pod traffic skips the stack. A connection from a node or an outside
	// host must pass conntrack both ways, or the pod's replies (which go through the
	// stack) would look new and be masqueraded.
	if (!sender)
		return account(skb, TWILL_PASSED_FROM_HOST, TWILL_FROM_NETDEV, TC_ACT_OK);
	if (fragment_unsafe(ip))
		return account(skb, TWILL_DROPPED_FRAGMENT, TWILL_FROM_NETDEV, TC_ACT_SHOT);
	if (ip->ttl <= 1)
		return account(skb, TWILL_PASSED_TTL_EXCEEDED, TWILL_FROM_NETDEV, TC_ACT_OK);
	return deliver_local(skb, eth, ip, receiver, TWILL_FROM_NETDEV);
}

SEC("tc")
int to_tunnel(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = { .tunnel_id = tunnel_vni, .tunnel_ttl = TUNNEL_TTL };
	__u64 flags = BPF_F_ZERO_CSUM_TX; /* as write_vxlan_tail sends it */
	struct ethhdr *eth = ethernet_header(skb);
	struct node_subnet6 *remote6;
	struct node_subnet *remote;
	struct ipv6hdr *ip6;
	__be32 remote_ip;
	struct iphdr *ip;

	if (!eth)
		return account(skb, TWILL_DROPPED_MALFORMED, TWILL_TO_TUNNEL, TC_ACT_SHOT);
	if (ipv6_pods && eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		// To a tunnelled IPv6 subnet, over its node's underlay address.
		ip6 = ipv6_header(skb, eth);
		if (!ip6)
			return account(skb, TWILL_DROPPED_MALFORMED, TWILL_TO_TUNNEL, TC_ACT_SHOT);
		remote6 = node_subnet6_of(&ip6->daddr);
		if (!remote6 || !(remote6->flags & TWILL_SUBNET_TUNNEL))
			return account(skb, TWILL_DROPPED_NO_TUNNEL, TWILL_TO_TUNNEL, TC_ACT_SHOT);
		if (underlay_ipv6) {
			__builtin_memcpy(key.remote_ipv6, remote6->node_ip6, sizeof(key.remote_ipv6));
			flags |= BPF_F_TUNINFO_IPV6;
		} else {
			__builtin_memcpy(&remote_ip, &remote6->node_ip6[12], sizeof(remote_ip));
			key.remote_ipv4 = bpf_ntohl(remote_ip);
		}
	} else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		ip = ipv4_header(skb, eth);
		if (!ip)
			return account(skb, TWILL_DROPPED_MALFORMED, TWILL_TO_TUNNEL, TC_ACT_SHOT);
		remote = node_subnet_of(ip->daddr);
		if (!remote)
			return account(skb, TWILL_DROPPED_NO_TUNNEL, TWILL_TO_TUNNEL, TC_ACT_SHOT);
		__builtin_memcpy(&remote_ip, remote->node_ip, sizeof(remote_ip));
		key.remote_ipv4 = bpf_ntohl(remote_ip);
	} else {
		// Anything else goes on without a key, and the device drops it as it would
		// without Twill.
		return account(skb, TWILL_PASSED_NOT_IPV4, TWILL_TO_TUNNEL, TC_ACT_OK);
	}
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), flags) < 0)
		return account(skb, TWILL_DROPPED_NO_TUNNEL, TWILL_TO_TUNNEL, TC_ACT_SHOT);
	return account(skb, TWILL_FORWARDED_REMOTE, TWILL_TO_TUNNEL, TC_ACT_OK);
}

// On the host veth of a pod with an ingress limit: what the host stack routes into the
// pod (from the node, from outside, a Service's traffic) passes here, and the pod's
// ingress limit holds for it as for what the programs redirect into it.
SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	struct ethhdr *eth = ethernet_header(skb);
	struct transport transport;
	struct endpoint *receiver;
	struct ipv6hdr *ip6;
	struct iphdr *ip;
	__u32 slot;

	if (eth && ipv6_pods && eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = ipv6_header(skb, eth);
		if (!ip6)
			return account(skb, TWILL_DROPPED_MALFORMED, TWILL_TO_POD, TC_ACT_SHOT);
		slot = ipv6_slot(&ip6->daddr);
		transport = ipv6_transport(ip6);
	} else if (eth && eth->h_proto == bpf_htons(ETH_P_IP)) {
		ip = ipv4_header(skb, eth);
		if (!ip)
			return account(skb, TWILL_DROPPED_MALFORMED, TWILL_TO_POD, TC_ACT_SHOT);
		slot = ipv4_slot(ip->daddr);
		transport = ipv4_transport(ip);
	} else {
		return account(skb, TWILL_PASSED_NOT_IPV4, TWILL_TO_POD, TC_ACT_OK);
	}
	receiver = endpoint_in(slot);
	if (!receiver || receiver->ifindex != skb->ifindex)
		return account(skb, TWILL_PASSED_NOT_POD, TWILL_TO_POD, TC_ACT_OK);
	if (!within_limit(skb, slot, transport, false))
		return account(skb, TWILL_DROPPED_BY_LIMIT, TWILL_TO_POD, TC_ACT_SHOT);
	return account(skb, TWILL_DELIVERED_LOCAL, TWILL_TO_POD, TC_ACT_OK);
}

char LICENSE[] SEC("license") = "GPL";
