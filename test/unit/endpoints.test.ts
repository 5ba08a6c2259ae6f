// The endpoints map's slots: an address's offset in the pod CIDR, the cap on the CIDR's
// size, and values that say which pod a slot holds or that it is empty.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { decodeEndpoint, encodeEndpoint, endpointKey, IPV6_ONLY_SLOTS, podCidrProblem, podSlots, slotOf, writeEndpoint, type Endpoint } from '../../bpf/endpoints';
import type { BpfMap } from '../../bpf/tsbpf';
import { LAYOUTS } from '../../bpf/layouts';

const pod: Endpoint = { ip: '10.244.1.7', ifindex: 12, podMac: '02:74:0a:f4:01:07', hostMac: '42:f9:d8:0e:96:0f', usesStack: true, egressLimited: false, ingressLimited: true };

describe('endpoint slots', () => {
  test('a slot is the offset of the address in the pod CIDR, host bits of the CIDR ignored', () => {
    assert.deepEqual(podSlots({ ipv4: '10.244.1.0/24' }), { ipv4: 0x0af40100, size: 256 });
    assert.deepEqual(podSlots({ ipv4: '10.244.1.9/24' }), podSlots({ ipv4: '10.244.1.0/24' }));
    assert.equal(endpointKey({ ipv4: '10.244.1.0/24' }, '10.244.1.7').readUInt32LE(0), 7);
    assert.equal(endpointKey({ ipv4: '10.244.0.0/16' }, '10.244.1.7').readUInt32LE(0), 263);
  });

  test('an address outside the pod CIDR has no slot', () => {
    assert.throws(() => endpointKey({ ipv4: '10.244.1.0/24' }, '10.244.2.7'), /10.244.2.7 is not in the pod CIDR 10.244.1.0\/24/);
    assert.throws(() => endpointKey({ ipv4: '10.244.1.0/24' }, '10.244.0.255'), RangeError);
  });

  test('a pod CIDR larger than /16 is refused, naming the cap', () => {
    assert.equal(podCidrProblem({ ipv4: '10.244.0.0/16' }), undefined);
    assert.match(podCidrProblem({ ipv4: '10.244.0.0/15' }) ?? '', /pod CIDR 10.244.0.0\/15 is larger than \/16/);
    assert.throws(() => podSlots({ ipv4: '10.0.0.0/8' }), RangeError);
  });

  test('a dual-stack pod holds the same offset in both CIDRs; an IPv6-only node has the first 4,096 addresses', () => {
    const dual = { ipv4: '10.244.1.0/24', ipv6: 'fd00:10:244:1::/64' };
    assert.deepEqual(podSlots(dual), { ipv4: 0x0af40100, ipv6: 0xfd000010024400010000000000000000n, size: 256 });
    assert.equal(slotOf(dual, 'fd00:10:244:1::7'), 7);
    assert.equal(slotOf(dual, '10.244.1.7'), 7);
    assert.equal(slotOf(dual, 'fd00:10:244:1::100'), undefined, 'past the IPv4 CIDR\'s size');
    assert.equal(slotOf(dual, 'fd00:10:244:2::7'), undefined);
    assert.equal(slotOf({ ipv4: '10.244.1.0/24' }, 'fd00:10:244:1::7'), undefined, 'no IPv6 CIDR, no IPv6 slot');
    assert.equal(podSlots({ ipv6: 'fd00:10:244:1::/64' }).size, IPV6_ONLY_SLOTS);
    assert.equal(podSlots({ ipv6: 'fd00:10:244:1::/120' }).size, 256);
    assert.equal(slotOf({ ipv6: 'fd00:10:244:1::/64' }, 'fd00:10:244:1::fff'), 4095);
    assert.equal(slotOf({ ipv6: 'fd00:10:244:1::/64' }, 'fd00:10:244:1::1000'), undefined);
  });

  test('IPv6 pod CIDRs the map cannot take are refused, naming them', () => {
    assert.match(podCidrProblem({ ipv4: '10.244.1.0/24', ipv6: 'fd00::/121' }) ?? '', /IPv6 pod CIDR fd00::\/121 has fewer addresses than IPv4 pod CIDR 10.244.1.0\/24/);
    assert.match(podCidrProblem({ ipv6: 'fd00::/127' }) ?? '', /IPv6 pod CIDR fd00::\/127 is too small for pods/);
    assert.match(podCidrProblem({ ipv6: '10.0.0.0/24' }) ?? '', /IPv6 pod CIDR 10.0.0.0\/24 is not an IPv6 CIDR/);
    assert.match(podCidrProblem({}) ?? '', /no pod CIDR/);
  });

  test('a pod whose two addresses are not at the same offset has no slot', () => {
    const dual = { ipv4: '10.244.1.0/24', ipv6: 'fd00:10:244:1::/64' };
    assert.throws(() => writeEndpoint({ update: () => undefined } as unknown as BpfMap, dual, { ...pod, ip6: 'fd00:10:244:1::8' }), /not at the same offset/);
  });

  test('a value carries the pod and its address; an all-zero value is an empty slot', () => {
    const dual = { ...pod, ip6: 'fd00:10:244:1::7' };
    assert.deepEqual(decodeEndpoint(encodeEndpoint(dual)), dual);
    const { ip: _ipv4, ...ipv6Only } = dual;
    assert.deepEqual(decodeEndpoint(encodeEndpoint(ipv6Only)), ipv6Only, 'no IPv4 address: none decoded');
    assert.deepEqual(decodeEndpoint(encodeEndpoint(pod)), pod);
    assert.deepEqual(decodeEndpoint(encodeEndpoint({ ...pod, usesStack: false })), { ...pod, usesStack: false });
    const limited = { ...pod, usesStack: false, egressLimited: true, ingressLimited: false };
    assert.deepEqual(decodeEndpoint(encodeEndpoint(limited)), limited);
    assert.equal(decodeEndpoint(Buffer.alloc(LAYOUTS.endpoint.size)), undefined);
  });
});
