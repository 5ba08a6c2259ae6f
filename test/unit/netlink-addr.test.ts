// Address parsing and netlink error mapping: pure functions, no root needed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { NetlinkError, ipv4FromBytes, ipv4ToBytes, isIpv4, macFromBytes, macToBytes, parseIpv4Prefix } from '../../agent/netlink';
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
