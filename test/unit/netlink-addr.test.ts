// Address parsing and netlink error mapping: pure functions, no root needed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { NetlinkError, ipv4FromBytes, ipv4ToBytes, ipv6FromBytes, ipv6ToBytes, isIpv4, isIpv6, macFromBytes, macToBytes, parseIpPrefix, parseIpv4Prefix } from '../../agent/netlink';
import { cidrsByFamily } from '../../bpf/addresses';
import { toNetlinkError } from '../../agent/netlink/lib/errors';

describe('IPv4 and MAC parsing', () => {
  const rows: Array<[string, boolean]> = [
    ['10.244.0.5', true],
    ['0.0.0.0', true],
    ['255.255.255.255', true],
    ['256.1.1.1', false],
    ['10.1.1', false],
    ['010.1.1.1', false],
    ['10.1.1.1 ', false],
    ['a.b.c.d', false],
  ];
  for (const [text, valid] of rows) {
    test(`${JSON.stringify(text)} is ${valid ? '' : 'not '}an IPv4 address`, () => assert.equal(isIpv4(text), valid));
  }

  test('round-trips addresses and MACs through bytes', () => {
    assert.deepEqual(ipv4ToBytes('10.244.1.2'), Buffer.from([10, 244, 1, 2]));
    assert.equal(ipv4FromBytes(Buffer.from([192, 168, 0, 1])), '192.168.0.1');
    assert.deepEqual(macToBytes('02:AB:cd:00:00:01'), Buffer.from([2, 0xab, 0xcd, 0, 0, 1]));
    assert.equal(macFromBytes(Buffer.from([2, 0xab, 0xcd, 0, 0, 1])), '02:ab:cd:00:00:01');
    assert.throws(() => macToBytes('02:ab:cd:00:00'), /not a MAC address/);
    assert.throws(() => ipv4ToBytes('1.2.3.400'), /not an IPv4 address/);
  });

  test('parses prefixes; a bare address is a /32', () => {
    assert.deepEqual(parseIpv4Prefix('10.244.0.0/16'), { address: '10.244.0.0', prefixLength: 16 });
    assert.deepEqual(parseIpv4Prefix('10.244.0.7'), { address: '10.244.0.7', prefixLength: 32 });
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8/8', '/8', '10.0.0.0/x']) {
      assert.throws(() => parseIpv4Prefix(bad), /not an IPv4 prefix/, bad);
    }
  });
});

describe('IPv6 parsing', () => {
  test('round-trips addresses through bytes, written back in canonical form (RFC 5952)', () => {
    const rows: Array<[string, string]> = [
      ['fd00:10:244::5', 'fd00:10:244::5'],
      ['FD00:0010:0244:0000:0000:0000:0000:0005', 'fd00:10:244::5'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::1', 'fe80::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ];
    for (const [text, canonical] of rows) assert.equal(ipv6FromBytes(ipv6ToBytes(text)), canonical, text);
    for (const bad of ['fd00::1::2', '1:2:3:4:5:6:7:8:9', 'fd00:::1', '12345::', '10.0.0.1', '']) assert.equal(isIpv6(bad), false, bad);
  });

  test('prefixes of both families; one of each as Kubernetes writes a dual-stack CIDR', () => {
    assert.deepEqual(parseIpPrefix('fd00:10:244::/56'), { address: 'fd00:10:244::', prefixLength: 56, family: 'ipv6' });
    assert.deepEqual(parseIpPrefix('10.244.0.0/16'), { address: '10.244.0.0', prefixLength: 16, family: 'ipv4' });
    assert.throws(() => parseIpPrefix('fd00::/129'), /not an IPv6 prefix/);
    assert.deepEqual(cidrsByFamily('10.244.0.0/16,fd00:10:244::/56'), { ipv4: '10.244.0.0/16', ipv6: 'fd00:10:244::/56' });
    assert.deepEqual(cidrsByFamily(' fd00:10:244::/56 , 10.244.0.0/16'), { ipv4: '10.244.0.0/16', ipv6: 'fd00:10:244::/56' });
    assert.deepEqual(cidrsByFamily('fd00:10:244::/56'), { ipv6: 'fd00:10:244::/56' });
    assert.throws(() => cidrsByFamily('fd00::/56,fd01::/56'), /two IPv6 CIDRs/);
  });
});

describe('netlink error mapping', () => {
  test('a kernel refusal becomes NetlinkError with the errno name', () => {
    const mapped = toNetlinkError('RTM_NEWLINK veth0', new Error('Request rejected: EEXIST'));
    assert.ok(mapped instanceof NetlinkError);
    assert.equal(mapped.op, 'RTM_NEWLINK veth0');
    assert.equal(mapped.errno, 'EEXIST');
  });

  test('a request that timed out is ETIMEDOUT; anything else passes through', () => {
    assert.equal((toNetlinkError('RTM_GETLINK', new Error('Timeout has been reached')) as NetlinkError).errno, 'ETIMEDOUT');
    const other = new RangeError('something else');
    assert.equal(toNetlinkError('x', other), other);
  });
});
