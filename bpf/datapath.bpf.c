// SPDX-License-Identifier: GPL-2.0
// Twill's datapath. from_pod runs on every host-side pod veth's ingress, from_netdev on
// the uplink's: a packet for a pod on this node goes straight into that pod's namespace
// with bpf_redirect_peer; everything else is the host stack's.
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "twill_types.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_P_IP 0x0800
#define ETH_ALEN 6

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct node_subnet_key);
	__type(value, struct node_subnet);
} node_subnets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, struct counter_key);
	__type(value, struct counter_value);
} counters SEC(".maps");

// Counts the packet under its reason and returns the verdict, so every exit reads
// `return account(...)`. Per-CPU values need no atomics.
static __always_inline int account(struct __sk_buff *skb, enum twill_reason reason,
				   enum twill_direction direction, int verdict)
{
	struct counter_key key = { .reason = reason, .direction = direction };
	struct counter_value *value = bpf_map_lookup_elem(&counters, &key);

	if (value) {
		value->packets++;
		value->bytes += skb->len;
	} else {
		struct counter_value first = { .packets = 1, .bytes = skb->len };

		bpf_map_update_elem(&counters, &key, &first, BPF_NOEXIST);
	}
	return verdict;
}

// Rewrites the Ethernet header as the pod's next hop would and hands the packet to
// the ingress of the pod's eth0, skipping the host stack and the veth's backlog.
static __always_inline int deliver_local(struct __sk_buff *skb, struct ethhdr *eth,
					 const struct endpoint *pod,
					 enum twill_direction direction)
{
	__builtin_memcpy(eth->h_dest, pod->pod_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, pod->host_mac, ETH_ALEN);
	account(skb, TWILL_DELIVERED_LOCAL, direction, TC_ACT_OK);
	return bpf_redirect_peer(pod->ifindex, 0);
}

// The IPv4 header, or NULL with *verdict set when the packet is not IPv4 or is cut
// shorter than its header length claims.
static __always_inline struct iphdr *ipv4_header(struct __sk_buff *skb, struct ethhdr **eth,
						 enum twill_direction direction, int *verdict)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip;

	*eth = data;
	if ((void *)(*eth + 1) > data_end) {
		*verdict = account(skb, TWILL_DROPPED_MALFORMED, direction, TC_ACT_SHOT);
		return NULL;
	}
	if ((*eth)->h_proto != bpf_htons(ETH_P_IP)) {
		*verdict = account(skb, TWILL_PASSED_NOT_IPV4, direction, TC_ACT_OK);
		return NULL;
	}
	ip = (void *)(*eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5 || (void *)ip + ip->ihl * 4 > data_end) {
		*verdict = account(skb, TWILL_DROPPED_MALFORMED, direction, TC_ACT_SHOT);
		return NULL;
	}
	return ip;
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	struct endpoint_key source, destination;
	struct endpoint *sender, *receiver;
	struct ethhdr *eth;
	struct iphdr *ip;
	int verdict;

	ip = ipv4_header(skb, &eth, TWILL_FROM_POD, &verdict);
	if (!ip)
		return verdict;

	// Only the pod behind this veth may use its address.
	source.ip = ip->saddr;
	sender = bpf_map_lookup_elem(&endpoints, &source);
	if (!sender || sender->ifindex != skb->ifindex)
		return account(skb, TWILL_DROPPED_SPOOFED, TWILL_FROM_POD, TC_ACT_SHOT);

	destination.ip = ip->daddr;
	receiver = bpf_map_lookup_elem(&endpoints, &destination);
	if (receiver)
		return deliver_local(skb, eth, receiver, TWILL_FROM_POD);

	return account(skb, TWILL_PASSED_NOT_POD, TWILL_FROM_POD, TC_ACT_OK);
}

SEC("tc")
int from_netdev(struct __sk_buff *skb)
{
	struct endpoint_key destination;
	struct endpoint *receiver;
	struct ethhdr *eth;
	struct iphdr *ip;
	int verdict;

	ip = ipv4_header(skb, &eth, TWILL_FROM_NETDEV, &verdict);
	if (!ip)
		return verdict;

	destination.ip = ip->daddr;
	receiver = bpf_map_lookup_elem(&endpoints, &destination);
	if (receiver)
		return deliver_local(skb, eth, receiver, TWILL_FROM_NETDEV);

	return account(skb, TWILL_PASSED_NOT_POD, TWILL_FROM_NETDEV, TC_ACT_OK);
}

char LICENSE[] SEC("license") = "GPL";
