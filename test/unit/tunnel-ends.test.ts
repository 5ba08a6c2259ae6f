// How a node's end of VXLAN is written down, over an IPv4 or an IPv6 underlay: in
// node_subnets6 (IPv4 held mapped), as its VXLAN device's MAC and as the link-local next
// hop of the host's IPv6 routes into that device.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { tunnelGateway6 } from '../../agent/lib/node-sync';
import { LAYOUTS } from '../../bpf/layouts';
import { decodeNodeSubnet6, encodeNodeSubnet6, tunnelMac } from '../../bpf/node-subnets';

const NODE_IP6 = LAYOUTS.node_subnet6.members.node_ip6;

describe("a node's end of VXLAN", () => {
  test('node_subnets6 holds an IPv4 underlay address mapped, an IPv6 one as it is, and reads both back', () => {
    const overIpv4 = encodeNodeSubnet6({ nodeIp: '192.168.60.12', tunnel: true });
    assert.equal(overIpv4.subarray(NODE_IP6, NODE_IP6 + 16).toString('hex'), '00000000000000000000ffffc0a83c0c');
    const overIpv6 = encodeNodeSubnet6({ nodeIp: 'fd00:192:168:60::12', tunnel: true });
    assert.equal(overIpv6.subarray(NODE_IP6, NODE_IP6 + 16).toString('hex'), 'fd000192016800600000000000000012');
    for (const subnet of [{ nodeIp: '192.168.60.12', tunnel: true }, { nodeIp: 'fd00:192:168:60::12', tunnel: true }, { nodeIp: 'fd00:192:168:60::12', tunnel: false }]) {
      assert.deepEqual(decodeNodeSubnet6(encodeNodeSubnet6(subnet)), subnet);
    }
  });

  test("the VXLAN device's MAC and the IPv6 routes' next hop end in the underlay address's last four bytes", () => {
    assert.equal(tunnelMac('192.168.60.12'), '02:76:c0:a8:3c:0c');
    assert.equal(tunnelMac('fd00:192:168:60::12'), '02:76:00:00:00:12');
    assert.equal(tunnelMac('2001:db8::a:b0c:d0e'), '02:76:0b:0c:0d:0e');
    assert.equal(tunnelGateway6('192.168.60.12'), 'fe80::c0a8:3c0c');
    assert.equal(tunnelGateway6('fd00:192:168:60::12'), 'fe80::12', 'written as the kernel prints it, so routes compare equal');
    assert.equal(tunnelGateway6('2001:db8::a:b0c:d0e'), 'fe80::b0c:d0e');
  });
});
