// Which of the other nodes' claims this node acts on. A node's entry (a Node object, or
// a line of the nodes file) claims a pod subnet and an address, and whoever can write
// one can claim anything: the whole Internet, a neighbour's range, the Service range, a
// pod's address as its own. Each claim is judged before it reaches a route or a map,
// by the same rules for every source, and one node at a time: a refused node changes
// nothing for the others.
//
// Claims are judged in the order the source lists them, oldest first (Kubernetes: by
// creation time; the nodes file: as written), so every agent reaches the same verdicts
// and a newcomer can never take what an established node holds. A refusal lasts only
// as long as its cause: once the holder of a subnet leaves, the next judgement admits
// the node that wanted it.
import { ipv4ToNumber, parseIpv4Prefix } from '../netlink';
import type { ClusterNode } from './cluster-nodes';

/** Why a node's claim was refused: the label of twill_nodes_refused. */
export const REFUSAL_REASONS = ['malformed', 'address', 'outside_cluster', 'too_wide', 'overlaps_this_node', 'overlaps_node', 'covers_node_address'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/**
 * Without a cluster CIDR to hold them in, node subnets wider than this are refused: a
 * node's pod range is a /24 by default (kube-controller-manager --node-cidr-mask-size),
 * and a claim of a /8 or 0.0.0.0/0 takes traffic that is no pod's.
 */
export const WIDEST_NODE_SUBNET = 16;

/** What this node knows to judge the others by. */
export interface ClaimRules {
  self: string;
  podCIDR: string;
  nodeIp?: string;
  clusterCIDR?: string;
}

export interface AdmittedNode {
  name: string;
  cidr: string;
  nodeIp: string;
}

export interface RefusedNode {
  name: string;
  podCIDR?: string;
  internalIP?: string;
  reason: RefusalReason;
  /** The rule, said so that an operator can fix the claim. */
  detail: string;
}

export interface Judgement {
  admitted: AdmittedNode[];
  refused: RefusedNode[];
}

/** An address range [first, last] as unsigned 32-bit numbers. */
interface Range {
  first: number;
  last: number;
}

function rangeOf(cidr: string): Range & { prefixLength: number } {
  const { address, prefixLength } = parseIpv4Prefix(cidr);
  const size = 2 ** (32 - prefixLength);
  const first = ipv4ToNumber(address);
  return { first, last: first + size - 1, prefixLength };
}

const contains = (range: Range, address: number): boolean => address >= range.first && address <= range.last;
const overlap = (a: Range, b: Range): boolean => a.first <= b.last && b.first <= a.last;

/** Addresses no node is reached at: 0.0.0.0/8, loopback, link-local, multicast, 240.0.0.0/4 and broadcast. */
const NOT_UNICAST: Array<[Range, string]> = [
  [rangeOf('0.0.0.0/8'), 'unspecified'],
  [rangeOf('127.0.0.0/8'), 'loopback'],
  [rangeOf('169.254.0.0/16'), 'link-local'],
  [rangeOf('224.0.0.0/4'), 'multicast'],
  [rangeOf('240.0.0.0/4'), 'reserved or broadcast'],
];

/** What the admitted nodes hold so far, in address order, each with its holder's name. */
class Holdings {
  readonly #ranges: Array<Range & { holder: string }> = [];
  readonly #addresses: Array<{ address: number; holder: string }> = [];

  /** The holder of a range overlapping `range`, if any. */
  rangeOverlapping(range: Range): string | undefined {
    // The ranges are disjoint: only the last one starting at or before range.last can reach into it.
    const i = lastAtOrBefore(this.#ranges, range.last, (held) => held.first);
    return i >= 0 && this.#ranges[i].last >= range.first ? this.#ranges[i].holder : undefined;
  }

  /** The holder of an address inside `range`, if any. */
  addressWithin(range: Range): string | undefined {
    const i = lastAtOrBefore(this.#addresses, range.last, (held) => held.address);
    return i >= 0 && this.#addresses[i].address >= range.first ? this.#addresses[i].holder : undefined;
  }

  add(range: Range, address: number, holder: string): void {
    insertSorted(this.#ranges, { first: range.first, last: range.last, holder }, (held) => held.first);
    insertSorted(this.#addresses, { address, holder }, (held) => held.address);
  }
}

/** Inserts in key order; sources mostly list nodes in address order, so most inserts append. */
function insertSorted<T>(sorted: T[], element: T, key: (element: T) => number): void {
  const at = lastAtOrBefore(sorted, key(element), key) + 1;
  if (at === sorted.length) sorted.push(element);
  else sorted.splice(at, 0, element);
}

/** The index of the last element whose key is <= value, or -1 (the array is sorted by key). */
function lastAtOrBefore<T>(sorted: T[], value: number, key: (element: T) => number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (key(sorted[middle]) <= value) low = middle + 1;
    else high = middle;
  }
  return low - 1;
}

/** Sorts the nodes' claims into admitted and refused; nodes without a subnet or an address yet are neither. */
export function judgeClaims(nodes: ClusterNode[], rules: ClaimRules): Judgement {
  const own = rangeOf(rules.podCIDR);
  const cluster = rules.clusterCIDR ? rangeOf(rules.clusterCIDR) : undefined;
  const ownAddress = rules.nodeIp ? ipv4ToNumber(rules.nodeIp) : undefined;
  const holdings = new Holdings();
  const judgement: Judgement = { admitted: [], refused: [] };
  const seen = new Set<string>();

  for (const node of nodes) {
    const duplicate = seen.has(node.name);
    seen.add(node.name);
    if (node.name === rules.self && !duplicate) continue;
    const refuse = (reason: RefusalReason, detail: string): void => {
      judgement.refused.push({ name: node.name, ...(node.podCIDR !== undefined ? { podCIDR: node.podCIDR } : {}), ...(node.internalIP !== undefined ? { internalIP: node.internalIP } : {}), reason, detail });
    };
    if (node.problem) {
      refuse('malformed', node.problem);
      continue;
    }
    if (duplicate) {
      refuse('malformed', `the name ${node.name} is listed twice; the first entry is the node`);
      continue;
    }
    if (!node.podCIDR || !node.internalIP) continue;

    let subnet: ReturnType<typeof rangeOf>;
    let address: number;
    try {
      subnet = rangeOf(node.podCIDR);
    } catch {
      refuse('malformed', `podCIDR ${JSON.stringify(node.podCIDR)} is not an IPv4 CIDR`);
      continue;
    }
    try {
      address = ipv4ToNumber(node.internalIP);
    } catch {
      refuse('malformed', `internalIP ${JSON.stringify(node.internalIP)} is not an IPv4 address`);
      continue;
    }
    if (subnet.first % (subnet.last - subnet.first + 1) !== 0) {
      refuse('malformed', `podCIDR ${node.podCIDR} has host bits set`);
      continue;
    }

    const addressProblem = ((): string | undefined => {
      const kind = NOT_UNICAST.find(([range]) => contains(range, address));
      if (kind) return `internalIP ${node.internalIP} is ${kind[1]}, not a node's unicast address`;
      if (address === ownAddress) return `internalIP ${node.internalIP} is this node's own address`;
      if (cluster && contains(cluster, address)) return `internalIP ${node.internalIP} lies in the cluster CIDR ${rules.clusterCIDR}`;
      if (contains(own, address)) return `internalIP ${node.internalIP} lies in this node's pod CIDR ${rules.podCIDR}`;
      const point = { first: address, last: address };
      const sharer = holdings.addressWithin(point);
      if (sharer) return `internalIP ${node.internalIP} is already the address of node ${sharer}`;
      const holder = holdings.rangeOverlapping(point);
      return holder ? `internalIP ${node.internalIP} lies in the pod subnet of node ${holder}` : undefined;
    })();
    if (addressProblem) {
      refuse('address', addressProblem);
      continue;
    }

    if (cluster && !(subnet.first >= cluster.first && subnet.last <= cluster.last)) {
      refuse('outside_cluster', `podCIDR ${node.podCIDR} is not inside the cluster CIDR ${rules.clusterCIDR}`);
      continue;
    }
    if (!cluster && subnet.prefixLength < WIDEST_NODE_SUBNET) {
      refuse('too_wide', `podCIDR ${node.podCIDR} is wider than /${WIDEST_NODE_SUBNET}, the most a node may claim without --cluster-cidr`);
      continue;
    }
    if (overlap(subnet, own)) {
      refuse('overlaps_this_node', `podCIDR ${node.podCIDR} overlaps this node's pod CIDR ${rules.podCIDR}`);
      continue;
    }
    const holder = holdings.rangeOverlapping(subnet);
    if (holder) {
      refuse('overlaps_node', `podCIDR ${node.podCIDR} overlaps the pod subnet of node ${holder}, which claimed it first`);
      continue;
    }
    const covered = ownAddress !== undefined && contains(subnet, ownAddress) ? rules.self : holdings.addressWithin(subnet);
    if (covered) {
      refuse('covers_node_address', `podCIDR ${node.podCIDR} holds the address of node ${covered}`);
      continue;
    }
    holdings.add(subnet, address, node.name);
    judgement.admitted.push({ name: node.name, cidr: node.podCIDR, nodeIp: node.internalIP });
  }
  return judgement;
}
