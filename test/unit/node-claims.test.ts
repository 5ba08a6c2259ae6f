// Node claims judged as a rogue node would make them: each refused with the rule it
// broke, the established node keeping what it holds, and one bad claim never costing
// another node its routes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { parseNodeList, type ClusterNode } from '../../agent/lib/cluster-nodes';
import { REFUSAL_REASONS, judgeClaims, type ClaimRules, type RefusalReason } from '../../agent/lib/node-claims';

const rules: ClaimRules = { self: 'node1', podCIDR: '10.244.1.0/24', nodeIp: '192.168.60.11', clusterCIDR: '10.244.0.0/16' };
/** The same node in a dual-stack cluster. */
const dual: ClaimRules = { self: 'node1', podCIDR: '10.244.1.0/24,fd00:10:244:1::/64', nodeIp: '192.168.60.11,fd00:60::11', clusterCIDR: '10.244.0.0/16,fd00:10:244::/56' };
// The real nodes are dual-stack; an IPv4 cluster acts on their IPv4 claims alone.
const real: ClusterNode[] = [
  { name: 'node1', podCIDR: '10.244.1.0/24,fd00:10:244:1::/64', internalIP: '192.168.60.11,fd00:60::11' },
  { name: 'node2', podCIDR: '10.244.2.0/24,fd00:10:244:2::/64', internalIP: '192.168.60.12,fd00:60::12' },
  { name: 'node3', podCIDR: '10.244.3.0/24,fd00:10:244:3::/64', internalIP: '192.168.60.13,fd00:60::13' },
];
const REAL_ADMITTED = [
  { name: 'node2', cidr: '10.244.2.0/24', nodeIp: '192.168.60.12' },
  { name: 'node3', cidr: '10.244.3.0/24', nodeIp: '192.168.60.13' },
];
const REAL_ADMITTED_DUAL = [
  REAL_ADMITTED[0],
  { name: 'node2', cidr: 'fd00:10:244:2::/64', nodeIp: 'fd00:60::12' },
  REAL_ADMITTED[1],
  { name: 'node3', cidr: 'fd00:10:244:3::/64', nodeIp: 'fd00:60::13' },
];
const admittedOf = (with_: ClaimRules) => (with_.podCIDR.includes(',') ? REAL_ADMITTED_DUAL : REAL_ADMITTED);

/** The verdict on one newcomer listed after the real nodes (its first refused claim), and what the real nodes kept. */
function judgeNewcomer(claim: Omit<ClusterNode, 'name'>, with_: ClaimRules = rules): { reason?: RefusalReason; detail?: string; admittedReal: boolean } {
  const judgement = judgeClaims([...real, { name: 'rogue', ...claim }], with_);
  const refusal = judgement.refused.find((node) => node.name === 'rogue');
  return { reason: refusal?.reason, detail: refusal?.detail, admittedReal: admittedOf(with_).every((node) => judgement.admitted.some((a) => JSON.stringify(a) === JSON.stringify(node))) };
}

describe('node claims', () => {
  test('real nodes are admitted, this node and nodes without a subnet or address yet are neither admitted nor refused', () => {
    const pending = [{ name: 'node4', internalIP: '192.168.60.14' }, { name: 'node5', podCIDR: '10.244.5.0/24' }];
    assert.deepEqual(judgeClaims([...real, ...pending], rules), { admitted: REAL_ADMITTED, refused: [] });
    assert.deepEqual(judgeClaims([...real, ...pending], dual), { admitted: REAL_ADMITTED_DUAL, refused: [] });
  });

  const refusals: Array<[string, Omit<ClusterNode, 'name'>, RefusalReason, RegExp, ClaimRules?]> = [
    ['the whole Internet', { podCIDR: '0.0.0.0/0', internalIP: '192.168.60.66' }, 'outside_cluster', /0\.0\.0\.0\/0 is not inside the cluster CIDR 10\.244\.0\.0\/16/],
    ['the whole Internet, without a cluster CIDR', { podCIDR: '0.0.0.0/0', internalIP: '192.168.60.66' }, 'too_wide', /wider than \/16/, { ...rules, clusterCIDR: undefined }],
    ['a /8 wider than the cluster', { podCIDR: '10.0.0.0/8', internalIP: '192.168.60.66' }, 'outside_cluster', /not inside the cluster CIDR/],
    ['the Service range', { podCIDR: '10.96.0.0/12', internalIP: '192.168.60.66' }, 'outside_cluster', /10\.96\.0\.0\/12/],
    ["node2's subnet", { podCIDR: '10.244.2.0/24', internalIP: '192.168.60.66' }, 'overlaps_node', /overlaps the pod subnet of node node2, which claimed it first/],
    ["a subnet inside node3's", { podCIDR: '10.244.3.128/25', internalIP: '192.168.60.66' }, 'overlaps_node', /node node3/],
    ["a subnet holding node2's and node3's", { podCIDR: '10.244.0.0/22', internalIP: '192.168.60.66' }, 'overlaps_this_node', /overlaps this node's pod CIDR 10\.244\.1\.0\/24/],
    ["half of this node's subnet", { podCIDR: '10.244.1.0/25', internalIP: '192.168.60.66' }, 'overlaps_this_node', /this node's pod CIDR/],
    ['a pod address as the node address', { podCIDR: '10.244.9.0/24', internalIP: '10.244.2.5' }, 'address', /lies in the cluster CIDR/],
    ['loopback as the node address', { podCIDR: '10.244.9.0/24', internalIP: '127.0.0.1' }, 'address', /127\.0\.0\.1 is loopback/],
    ['0.0.0.0 as the node address', { podCIDR: '10.244.9.0/24', internalIP: '0.0.0.0' }, 'address', /unspecified/],
    ['link-local as the node address', { podCIDR: '10.244.9.0/24', internalIP: '169.254.169.254' }, 'address', /link-local/],
    ['multicast as the node address', { podCIDR: '10.244.9.0/24', internalIP: '224.0.0.1' }, 'address', /multicast/],
    ['broadcast as the node address', { podCIDR: '10.244.9.0/24', internalIP: '255.255.255.255' }, 'address', /broadcast/],
    ["this node's address", { podCIDR: '10.244.9.0/24', internalIP: '192.168.60.11' }, 'address', /this node's own address/],
    ["node2's address", { podCIDR: '10.244.9.0/24', internalIP: '192.168.60.12' }, 'address', /already the address of node node2/],
    ['a pod address, without a cluster CIDR', { podCIDR: '10.244.9.0/24', internalIP: '10.244.3.7' }, 'address', /lies in the pod subnet of node node3/, { ...rules, clusterCIDR: undefined }],
    ["a subnet holding node2's address, without a cluster CIDR", { podCIDR: '192.168.60.0/24', internalIP: '172.16.0.1' }, 'covers_node_address', /holds the address of node node1/, { ...rules, clusterCIDR: undefined }],
    ['a subnet with host bits', { podCIDR: '10.244.9.5/24', internalIP: '192.168.60.66' }, 'malformed', /host bits set/],
    ['no CIDR at all', { podCIDR: '10.244.9.0/40', internalIP: '192.168.60.66' }, 'malformed', /podCIDR "10\.244\.9\.0\/40" is not a CIDR/],
    ['no address at all', { podCIDR: '10.244.9.0/24', internalIP: 'node9.example' }, 'malformed', /internalIP "node9\.example" is not an address/],
    ['two IPv4 CIDRs', { podCIDR: '10.244.9.0/24,10.244.10.0/24', internalIP: '192.168.60.66' }, 'malformed', /two IPv4 CIDRs/],
    ['IPv6: the whole Internet', { podCIDR: '10.244.9.0/24,::/0', internalIP: '192.168.60.66,fd00:60::66' }, 'outside_cluster', /podCIDR ::\/0 is not inside the cluster CIDR fd00:10:244::\/56/, dual],
    ['IPv6: a /32, without a cluster CIDR', { podCIDR: '10.244.9.0/24,fd00:10::/32', internalIP: '192.168.60.66,fd00:60::66' }, 'too_wide', /wider than \/48, the most a node may claim of IPv6/, { ...dual, clusterCIDR: undefined }],
    ["IPv6: node2's subnet", { podCIDR: '10.244.9.0/24,fd00:10:244:2::/64', internalIP: '192.168.60.66,fd00:60::66' }, 'overlaps_node', /fd00:10:244:2::\/64 overlaps the pod subnet of node node2/, dual],
    ["IPv6: half of this node's subnet", { podCIDR: '10.244.9.0/24,fd00:10:244:1:8000::/65', internalIP: '192.168.60.66,fd00:60::66' }, 'overlaps_this_node', /this node's pod CIDR fd00:10:244:1::\/64/, dual],
    ['IPv6: link-local as the node address', { podCIDR: '10.244.9.0/24,fd00:10:244:9::/64', internalIP: '192.168.60.66,fe80::1' }, 'address', /fe80::1 is link-local/, dual],
    ['IPv6: an IPv4-mapped node address', { podCIDR: '10.244.9.0/24,fd00:10:244:9::/64', internalIP: '192.168.60.66,::ffff:c0a8:3c0c' }, 'address', /IPv4-mapped/, dual],
    ['IPv6: loopback as the node address', { podCIDR: '10.244.9.0/24,fd00:10:244:9::/64', internalIP: '192.168.60.66,::1' }, 'address', /::1 is loopback/, dual],
    ["IPv6: node2's address", { podCIDR: '10.244.9.0/24,fd00:10:244:9::/64', internalIP: '192.168.60.66,fd00:60::12' }, 'address', /already the address of node node2/, dual],
    ['IPv6: a pod address as the node address', { podCIDR: '10.244.9.0/24,fd00:10:244:9::/64', internalIP: '192.168.60.66,fd00:10:244:2::5' }, 'address', /lies in the cluster CIDR fd00:10:244::\/56/, dual],
    ['IPv6: a subnet with host bits', { podCIDR: '10.244.9.0/24,fd00:10:244:9::1/64', internalIP: '192.168.60.66,fd00:60::66' }, 'malformed', /host bits set/, dual],
    ['IPv6: no IPv6 pod CIDR in a dual-stack cluster', { podCIDR: '10.244.9.0/24', internalIP: '192.168.60.66,fd00:60::66' }, 'missing_family', /node rogue lists no IPv6 pod CIDR \(only 10\.244\.9\.0\/24\)/, dual],
    ['IPv6: an IPv6 pod CIDR and no IPv6 address', { podCIDR: '10.244.9.0/24,fd00:10:244:9::/64', internalIP: '192.168.60.66' }, 'missing_family', /lists no IPv6 internalIP .* to route its IPv6 pod subnet fd00:10:244:9::\/64 to/, dual],
    ['an IPv6-only node in a dual-stack cluster', { podCIDR: 'fd00:10:244:9::/64', internalIP: 'fd00:60::66' }, 'missing_family', /lists no IPv4 pod CIDR/, dual],
  ];
  for (const [name, claim, reason, detail, with_] of refusals) {
    test(`refused: ${name} (${reason}), and the real nodes keep their routes`, () => {
      const verdict = judgeNewcomer(claim, with_);
      assert.equal(verdict.reason, reason);
      assert.match(verdict.detail ?? '', detail);
      assert.ok(verdict.admittedReal, 'a real node lost its route to the newcomer');
    });
  }

  test('every reason a claim can be refused for is one of the exported labels', () => {
    const reasons = new Set(refusals.map(([, , reason]) => reason));
    assert.deepEqual([...reasons].sort(), [...REFUSAL_REASONS].sort());
  });

  test('the established claim wins an overlap, whichever order the lists come in, and the newcomer gets in once the holder leaves', () => {
    const newcomer = { name: 'node9', podCIDR: '10.244.2.0/24', internalIP: '192.168.60.19' };
    assert.deepEqual(judgeClaims([...real, newcomer], rules).admitted, REAL_ADMITTED);
    // Two newcomers in conflict: the one listed first (older) holds the subnet.
    const rivals = [{ name: 'node7', podCIDR: '10.244.7.0/24', internalIP: '192.168.60.17' }, { name: 'node8', podCIDR: '10.244.7.0/25', internalIP: '192.168.60.18' }];
    const judged = judgeClaims([...real, ...rivals], rules);
    assert.ok(judged.admitted.some((node) => node.name === 'node7'));
    assert.deepEqual(judged.refused.map((node) => [node.name, node.reason]), [['node8', 'overlaps_node']]);
    const afterLeaving = judgeClaims([...real.filter((node) => node.name !== 'node2'), newcomer], rules);
    assert.deepEqual(afterLeaving.refused, []);
    assert.ok(afterLeaving.admitted.some((node) => node.name === 'node9' && node.cidr === '10.244.2.0/24'));
  });

  test('a nodes file with bad entries refuses those entries, and only them', () => {
    const parsed = parseNodeList([...real, { name: 'typed', podCIDR: 24, internalIP: '192.168.60.20' }, { podCIDR: '10.244.21.0/24', internalIP: '192.168.60.21' }, 'junk', { name: 'node2', podCIDR: '10.244.22.0/24', internalIP: '192.168.60.22' }], 'nodes.yaml');
    const judgement = judgeClaims(parsed, rules);
    assert.deepEqual(judgement.admitted, REAL_ADMITTED);
    assert.deepEqual(
      judgement.refused.map((node) => [node.name, node.reason, node.detail]),
      [
        ['typed', 'malformed', 'nodes.yaml: nodes[3].podCIDR 24 is not a string'],
        ['nodes[4]', 'malformed', 'nodes.yaml: nodes[4].name must be a non-empty string'],
        ['nodes[5]', 'malformed', 'nodes.yaml: nodes[5].name must be a non-empty string'],
        ['node2', 'malformed', 'the name node2 is listed twice; the first entry is the node'],
      ],
    );
    assert.throws(() => parseNodeList('not a list', 'nodes.yaml'), /nodes\.yaml: expected a list of nodes/);
  });

  test("a node's claim of one family is judged apart from the other's", () => {
    // Its IPv6 subnet is node2's: refused; its IPv4 claim holds and is acted on.
    const judgement = judgeClaims([...real, { name: 'half', podCIDR: '10.244.9.0/24,fd00:10:244:2::/64', internalIP: '192.168.60.19,fd00:60::19' }], dual);
    assert.deepEqual(judgement.admitted, [...REAL_ADMITTED_DUAL, { name: 'half', cidr: '10.244.9.0/24', nodeIp: '192.168.60.19' }]);
    assert.deepEqual(judgement.refused.map((node) => [node.name, node.family, node.podCIDR, node.reason]), [['half', 'ipv6', 'fd00:10:244:2::/64', 'overlaps_node']]);
    // An IPv4 cluster acts on a dual-stack node's IPv4 claim alone, and refuses nothing of it.
    assert.deepEqual(judgeClaims([...real, { name: 'half', podCIDR: '10.244.9.0/24,fd00:10:244:2::/64', internalIP: '192.168.60.19,fd00:60::19' }], rules).refused, []);
    // An IPv6-only cluster acts on the IPv6 claims.
    const ipv6Only = { self: 'node1', podCIDR: 'fd00:10:244:1::/64', nodeIp: 'fd00:60::11', clusterCIDR: 'fd00:10:244::/56' };
    assert.deepEqual(judgeClaims(real, ipv6Only), { admitted: [REAL_ADMITTED_DUAL[1], REAL_ADMITTED_DUAL[3]], refused: [] });
  });

  test('in vxlan mode both families are routed to the IPv4 underlay: an IPv6 subnet is admitted with its node\'s IPv4 address, and needs one', () => {
    const vxlan: ClaimRules = { ...dual, underlay: 'ipv4' };
    const judgement = judgeClaims(real, vxlan);
    assert.deepEqual(judgement.admitted, [
      REAL_ADMITTED[0],
      { name: 'node2', cidr: 'fd00:10:244:2::/64', nodeIp: '192.168.60.12' },
      REAL_ADMITTED[1],
      { name: 'node3', cidr: 'fd00:10:244:3::/64', nodeIp: '192.168.60.13' },
    ]);
    const ipv6Addressed = judgeClaims([...real, { name: 'v6addr', podCIDR: 'fd00:10:244:9::/64', internalIP: 'fd00:60::19' }], { ...vxlan, podCIDR: 'fd00:10:244:1::/64', clusterCIDR: 'fd00:10:244::/56' });
    assert.deepEqual(ipv6Addressed.refused.map((node) => [node.name, node.reason, node.detail]), [['v6addr', 'missing_family', 'node v6addr lists no IPv4 internalIP (only fd00:60::19) to route its IPv6 pod subnet fd00:10:244:9::/64 to']]);
    const sharing = judgeClaims([...real, { name: 'copycat', podCIDR: '10.244.9.0/24,fd00:10:244:9::/64', internalIP: '192.168.60.12,fd00:60::19' }], vxlan);
    assert.deepEqual(sharing.refused.map((node) => [node.family, node.reason]), [['ipv4', 'address'], ['ipv6', 'address']], "another node's IPv4 address, in either family");
  });

  test('in an IPv6-only vxlan cluster the underlay is IPv6: subnets are admitted with their nodes\' IPv6 addresses, and a node with only IPv4 is refused', () => {
    const vxlan6: ClaimRules = { self: 'node1', podCIDR: 'fd00:10:244:1::/64', nodeIp: 'fd00:60::11', clusterCIDR: 'fd00:10:244::/56', underlay: 'ipv6' };
    const judgement = judgeClaims([...real, { name: 'v4addr', podCIDR: 'fd00:10:244:9::/64', internalIP: '192.168.60.19' }], vxlan6);
    assert.deepEqual(judgement.admitted, [REAL_ADMITTED_DUAL[1], REAL_ADMITTED_DUAL[3]]);
    assert.deepEqual(judgement.refused.map((node) => [node.name, node.reason, node.detail]), [['v4addr', 'missing_family', 'node v4addr lists no IPv6 internalIP (only 192.168.60.19) to route its IPv6 pod subnet fd00:10:244:9::/64 to']]);
  });

  test('the nodes file takes podCIDRs and internalIPs as lists, one per family, beside the single fields', () => {
    const parsed = parseNodeList(
      [
        { name: 'listed', podCIDRs: ['10.244.23.0/24', 'fd00:10:244:23::/64'], internalIPs: ['192.168.60.23', 'fd00:60::23'] },
        { name: 'both', podCIDR: '10.244.24.0/24', podCIDRs: ['10.244.24.0/24', 'fd00:10:244:24::/64'], internalIP: '192.168.60.24,fd00:60::24' },
        { name: 'disagree', podCIDR: '10.244.25.0/24', podCIDRs: ['10.244.26.0/24'], internalIP: '192.168.60.25' },
        { name: 'three', podCIDRs: ['10.244.27.0/24', 'fd00:10:244:27::/64', '10.244.28.0/24'], internalIP: '192.168.60.27' },
        { name: 'text', internalIPs: '192.168.60.29', podCIDR: '10.244.29.0/24' },
      ],
      'nodes.yaml',
    );
    assert.deepEqual(parsed.slice(0, 2), [
      { name: 'listed', podCIDR: '10.244.23.0/24,fd00:10:244:23::/64', internalIP: '192.168.60.23,fd00:60::23' },
      { name: 'both', podCIDR: '10.244.24.0/24,fd00:10:244:24::/64', internalIP: '192.168.60.24,fd00:60::24' },
    ]);
    assert.deepEqual(parsed.slice(2).map((node) => node.problem), [
      'nodes.yaml: nodes[2].podCIDR 10.244.25.0/24 is not the first of podCIDRs ["10.244.26.0/24"]',
      'nodes.yaml: nodes[3].podCIDRs ["10.244.27.0/24","fd00:10:244:27::/64","10.244.28.0/24"] is not a list of one or two strings, one per family',
      'nodes.yaml: nodes[4].internalIPs "192.168.60.29" is not a list of one or two strings, one per family',
    ]);
    assert.deepEqual(judgeClaims([...real, ...parsed.slice(0, 2)], dual).admitted.slice(4).map((node) => node.cidr), ['10.244.23.0/24', 'fd00:10:244:23::/64', '10.244.24.0/24', 'fd00:10:244:24::/64']);
  });

  test('5,000 nodes with 50 rogue ones among them are judged in well under the sync budget', () => {
    const subnet = (n: number): string => `10.${n >> 8}.${n & 0xff}.0/24`;
    const nodes: ClusterNode[] = Array.from({ length: 5000 }, (_, n) => ({ name: `node${n + 1}`, podCIDR: subnet(n), internalIP: `172.${16 + (n >> 8)}.${n & 0xff}.1` }));
    // Each rogue right after the node whose subnet it claims.
    for (let r = 0; r < 50; r++) {
      const victim = 50 + 100 * r;
      nodes.splice(victim + r + 1, 0, { name: `rogue${r}`, podCIDR: subnet(victim), internalIP: `172.99.0.${r + 1}` });
    }
    const started = performance.now();
    const judgement = judgeClaims(nodes, { self: 'node1', podCIDR: subnet(0), nodeIp: '172.16.0.1', clusterCIDR: '10.0.0.0/8' });
    const elapsedMs = performance.now() - started;
    assert.equal(judgement.admitted.length, 4999);
    assert.equal(judgement.refused.length, 50);
    assert.ok(judgement.refused.every((node) => node.name.startsWith('rogue') && node.reason === 'overlaps_node'));
    assert.ok(elapsedMs < 500, `judging took ${elapsedMs} ms`);
  });
});
