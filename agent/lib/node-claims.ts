// Which of the other nodes' claims this node acts on. A node's entry (a Node object, or
// a line of the nodes file) claims a pod subnet and an address of each family, and
// whoever can write one can claim anything: the whole Internet, a neighbour's range,
// the Service range, a pod's address as its own. Each claim is judged before it reaches a route or a map,
// by the same rules for every source, one node and one family at a time: a refused
// claim changes nothing for the other nodes, nor for the node's claim of the other family.
//
// Claims are judged in the order the source lists them, oldest first (Kubernetes: by
// creation time; the nodes file: as written), so every agent reaches the same verdicts
// and a newcomer can never take what an established node holds. A refusal lasts only
// as long as its cause: once the holder of a subnet leaves, the next judgement admits
// the node that wanted it.
import { addressesByFamily, cidrsByFamily, familyOf, ipToBigInt, parseIpPrefix, type IpFamily } from '../../bpf/addresses';
import type { ClusterNode } from './cluster-nodes';

/** Why a node's claim was refused: the label of twill_nodes_refused. */
export const REFUSAL_REASONS = ['malformed', 'address', 'missing_family', 'outside_cluster', 'too_wide', 'overlaps_this_node', 'overlaps_node', 'covers_node_address'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/**
 * Without a cluster CIDR to hold them in, node subnets wider than this are refused: a
 * node's pod range is a /24 (IPv4) or a /64 (IPv6) by default (kube-controller-manager
 * --node-cidr-mask-size-ipv4/-ipv6), and a claim of a /8 or ::/0 takes traffic that is
 * no pod's.
 */
export const WIDEST_NODE_SUBNET: Record<IpFamily, number> = { ipv4: 16, ipv6: 48 };

const FAMILY_NAME: Record<IpFamily, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

/** What this node knows to judge the others by; each field one per family, as the flags take them. */
export interface ClaimRules {
  self: string;
  podCIDR: string;
  nodeIp?: string;
  clusterCIDR?: string;
  /** The family of the node address every family's subnet is routed to (vxlan: the underlay's, IPv4 wherever pods have it); each family's own when absent. */
  underlay?: IpFamily;
}

/** One family's claim of a node that is acted on: its pod subnet, routed to its address of that family (or of the underlay's). */
export interface AdmittedNode {
  name: string;
  cidr: string;
  nodeIp: string;
}

export interface RefusedNode {
  name: string;
  /** The family of the claim refused; none when the whole entry is (malformed). */
  family?: IpFamily;
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

/** An address range [first, last] as unsigned numbers of its family's width. */
interface Range {
  first: bigint;
  last: bigint;
}

function rangeOf(cidr: string): Range & { prefixLength: number } {
  const { address, prefixLength, family } = parseIpPrefix(cidr);
  const size = 1n << BigInt((family === 'ipv6' ? 128 : 32) - prefixLength);
  const first = ipToBigInt(address);
  return { first, last: first + size - 1n, prefixLength };
}

const contains = (range: Range, address: bigint): boolean => address >= range.first && address <= range.last;
const overlap = (a: Range, b: Range): boolean => a.first <= b.last && b.first <= a.last;

/** Addresses no node is reached at, per family. */
const NOT_UNICAST: Record<IpFamily, Array<[Range, string]>> = {
  ipv4: [
    [rangeOf('0.0.0.0/8'), 'unspecified'],
    [rangeOf('127.0.0.0/8'), 'loopback'],
    [rangeOf('169.254.0.0/16'), 'link-local'],
    [rangeOf('224.0.0.0/4'), 'multicast'],
    [rangeOf('240.0.0.0/4'), 'reserved or broadcast'],
  ],
  ipv6: [
    [rangeOf('::/128'), 'unspecified'],
    [rangeOf('::1/128'), 'loopback'],
    [rangeOf('::ffff:0:0/96'), 'IPv4-mapped'],
    [rangeOf('fe80::/10'), 'link-local'],
    [rangeOf('ff00::/8'), 'multicast'],
  ],
};

/** What the admitted nodes hold so far in one family, in address order, each with its holder's name. */
class Holdings {
  readonly #ranges: Array<Range & { holder: string }> = [];
  readonly #addresses: Array<{ address: bigint; holder: string }> = [];

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

  add(range: Range, address: bigint, holder: string): void {
    insertSorted(this.#ranges, { first: range.first, last: range.last, holder }, (held) => held.first);
    insertSorted(this.#addresses, { address, holder }, (held) => held.address);
  }
}

/** Inserts in key order; sources mostly list nodes in address order, so most inserts append. */
function insertSorted<T>(sorted: T[], element: T, key: (element: T) => bigint): void {
  const at = lastAtOrBefore(sorted, key(element), key) + 1;
  if (at === sorted.length) sorted.push(element);
  else sorted.splice(at, 0, element);
}

/** The index of the last element whose key is <= value, or -1 (the array is sorted by key). */
function lastAtOrBefore<T>(sorted: T[], value: bigint, key: (element: T) => bigint): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (key(sorted[middle]) <= value) low = middle + 1;
    else high = middle;
  }
  return low - 1;
}

type Verdict = { reason: RefusalReason; detail: string } | undefined;

/**
 * The claims of one family, judged against this node's and the cluster's ranges of that
 * family. Routed to addresses of another family (an IPv4 underlay), an address is
 * checked for what it is and for being another node's, not against the subnets.
 */
class FamilyJudge {
  readonly #family: IpFamily;
  readonly #sameFamily: boolean;
  readonly #self: string;
  readonly #podCIDR: string;
  readonly #own: Range;
  readonly #clusterCIDR: string | undefined;
  readonly #cluster: Range | undefined;
  readonly #ownAddress: bigint | undefined;
  readonly #holdings = new Holdings();

  constructor(family: IpFamily, addressFamily: IpFamily, self: string, podCIDR: string, clusterCIDR: string | undefined, nodeIp: string | undefined) {
    this.#family = family;
    this.#sameFamily = family === addressFamily;
    this.#self = self;
    this.#podCIDR = podCIDR;
    this.#own = rangeOf(podCIDR);
    this.#clusterCIDR = clusterCIDR;
    this.#cluster = clusterCIDR ? rangeOf(clusterCIDR) : undefined;
    this.#ownAddress = nodeIp ? ipToBigInt(nodeIp) : undefined;
  }

  /** Judges `name`'s subnet `cidr` at `internalIP` (both of this family), and holds them if admitted. */
  judge(name: string, cidr: string, internalIP: string): Verdict {
    const subnet = rangeOf(cidr);
    const address = ipToBigInt(internalIP);
    if (subnet.first % (subnet.last - subnet.first + 1n) !== 0n) return { reason: 'malformed', detail: `podCIDR ${cidr} has host bits set` };
    const addressProblem = this.#addressProblem(internalIP, address);
    if (addressProblem) return { reason: 'address', detail: addressProblem };
    const cluster = this.#cluster;
    if (cluster && !(subnet.first >= cluster.first && subnet.last <= cluster.last)) {
      return { reason: 'outside_cluster', detail: `podCIDR ${cidr} is not inside the cluster CIDR ${this.#clusterCIDR}` };
    }
    const widest = WIDEST_NODE_SUBNET[this.#family];
    if (!cluster && subnet.prefixLength < widest) {
      return { reason: 'too_wide', detail: `podCIDR ${cidr} is wider than /${widest}, the most a node may claim of ${FAMILY_NAME[this.#family]} without --cluster-cidr` };
    }
    if (overlap(subnet, this.#own)) return { reason: 'overlaps_this_node', detail: `podCIDR ${cidr} overlaps this node's pod CIDR ${this.#podCIDR}` };
    const holder = this.#holdings.rangeOverlapping(subnet);
    if (holder) return { reason: 'overlaps_node', detail: `podCIDR ${cidr} overlaps the pod subnet of node ${holder}, which claimed it first` };
    const covered = !this.#sameFamily ? undefined : this.#ownAddress !== undefined && contains(subnet, this.#ownAddress) ? this.#self : this.#holdings.addressWithin(subnet);
    if (covered) return { reason: 'covers_node_address', detail: `podCIDR ${cidr} holds the address of node ${covered}` };
    this.#holdings.add(subnet, address, name);
    return undefined;
  }

  #addressProblem(internalIP: string, address: bigint): string | undefined {
    const kind = NOT_UNICAST[familyOf(internalIP)].find(([range]) => contains(range, address));
    if (kind) return `internalIP ${internalIP} is ${kind[1]}, not a node's unicast address`;
    if (address === this.#ownAddress) return `internalIP ${internalIP} is this node's own address`;
    const point = { first: address, last: address };
    const sharer = this.#holdings.addressWithin(point);
    if (sharer) return `internalIP ${internalIP} is already the address of node ${sharer}`;
    if (!this.#sameFamily) return undefined;
    if (this.#cluster && contains(this.#cluster, address)) return `internalIP ${internalIP} lies in the cluster CIDR ${this.#clusterCIDR}`;
    if (contains(this.#own, address)) return `internalIP ${internalIP} lies in this node's pod CIDR ${this.#podCIDR}`;
    const holder = this.#holdings.rangeOverlapping(point);
    return holder ? `internalIP ${internalIP} lies in the pod subnet of node ${holder}` : undefined;
  }
}

/** Parses a field of one entry per family, or says why it is malformed. */
function perFamily<T>(parse: (text: string) => T, field: string, text: string, what: string): T | string {
  try {
    return parse(text);
  } catch (error) {
    return `${field} ${JSON.stringify(text)} is not ${what}: ${(error as Error).message}`;
  }
}

/**
 * Sorts the nodes' claims into admitted and refused, each family of the cluster (the
 * families of this node's pod CIDR) judged on its own: a node is admitted for the
 * family whose claim holds even when the other's is refused. Nodes without a subnet or
 * an address yet are neither.
 */
export function judgeClaims(nodes: ClusterNode[], rules: ClaimRules): Judgement {
  const own = cidrsByFamily(rules.podCIDR);
  const clusters = rules.clusterCIDR ? cidrsByFamily(rules.clusterCIDR) : {};
  const ownAddresses = rules.nodeIp ? addressesByFamily(rules.nodeIp) : {};
  const families = (Object.keys(own) as IpFamily[]).map((family) => {
    const addressFamily = rules.underlay ?? family;
    return { family, addressFamily, judge: new FamilyJudge(family, addressFamily, rules.self, own[family] as string, clusters[family], ownAddresses[addressFamily]) };
  });
  const judgement: Judgement = { admitted: [], refused: [] };
  const seen = new Set<string>();

  for (const node of nodes) {
    const duplicate = seen.has(node.name);
    seen.add(node.name);
    if (node.name === rules.self && !duplicate) continue;
    const refuseEntry = (detail: string): void => {
      judgement.refused.push({ name: node.name, ...(node.podCIDR !== undefined ? { podCIDR: node.podCIDR } : {}), ...(node.internalIP !== undefined ? { internalIP: node.internalIP } : {}), reason: 'malformed', detail });
    };
    if (node.problem) {
      refuseEntry(node.problem);
      continue;
    }
    if (duplicate) {
      refuseEntry(`the name ${node.name} is listed twice; the first entry is the node`);
      continue;
    }
    if (!node.podCIDR || !node.internalIP) continue;
    const claims = perFamily(cidrsByFamily, 'podCIDR', node.podCIDR, 'a CIDR, nor one of each family');
    const addresses = perFamily(addressesByFamily, 'internalIP', node.internalIP, 'an address, nor one of each family');
    if (typeof claims === 'string' || typeof addresses === 'string') {
      refuseEntry(typeof claims === 'string' ? claims : (addresses as string));
      continue;
    }

    for (const { family, addressFamily, judge } of families) {
      const cidr = claims[family];
      const internalIP = addresses[addressFamily];
      const refuse = (reason: RefusalReason, detail: string): void => {
        judgement.refused.push({ name: node.name, family, ...(cidr !== undefined ? { podCIDR: cidr } : {}), ...(internalIP !== undefined ? { internalIP } : {}), reason, detail });
      };
      const name = FAMILY_NAME[family];
      if (!cidr) refuse('missing_family', `node ${node.name} lists no ${name} pod CIDR (only ${node.podCIDR}) in a cluster with ${name} pods: its pods cannot be reached over ${name}`);
      else if (!internalIP) refuse('missing_family', `node ${node.name} lists no ${FAMILY_NAME[addressFamily]} internalIP (only ${node.internalIP}) to route its ${name} pod subnet ${cidr} to`);
      else {
        const verdict = judge.judge(node.name, cidr, internalIP);
        if (verdict) refuse(verdict.reason, verdict.detail);
        else judgement.admitted.push({ name: node.name, cidr, nodeIp: internalIP });
      }
    }
  }
  return judgement;
}
