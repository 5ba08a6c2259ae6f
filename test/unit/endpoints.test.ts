// The endpoints map's slots: an address's offset in the pod CIDR, the cap on the CIDR's
// size, and values that say which pod a slot holds or that it is empty.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { decodeEndpoint, encodeEndpoint, endpointKey, podCidrProblem, podSlots, type Endpoint } from '../../bpf/endpoints';
import { LAYOUTS } from '../../bpf/layouts';

const pod: Endpoint = { ip: '10.244.1.7', ifindex: 12, podMac: '02:74:0a:f4:01:07', hostMac: '42:f9:d8:0e:96:0f', usesStack: true, egressLimited: false, ingressLimited: true };

describe('endpoint slots', () => {
  test('a slot is the offset of the address in the pod CIDR, host bits of the CIDR ignored', () => {
    assert.deepEqual(podSlots('10.244.1.0/24'), { first: 0x0af40100, size: 256 });
    assert.deepEqual(podSlots('10.244.1.9/24'), podSlots('10.244.1.0/24'));
    assert.equal(endpointKey('10.244.1.0/24', '10.244.1.7').readUInt32LE(0), 7);
    assert.equal(endpointKey('10.244.0.0/16', '10.244.1.7').readUInt32LE(0), 263);
  });

  test('an address outside the pod CIDR has no slot', () => {
    assert.throws(() => endpointKey('10.244.1.0/24', '10.244.2.7'), /10.244.2.7 is not in the pod CIDR 10.244.1.0\/24/);
    assert.throws(() => endpointKey('10.244.1.0/24', '10.244.0.255'), RangeError);
  });

  test('a pod CIDR larger than /16 is refused, naming the cap', () => {
    assert.equal(podCidrProblem('10.244.0.0/16'), undefined);
    assert.match(podCidrProblem('10.244.0.0/15') ?? '', /pod CIDR 10.244.0.0\/15 is larger than \/16/);
    assert.throws(() => podSlots('10.0.0.0/8'), RangeError);
  });

  test('a value carries the pod and its address; an all-zero value is an empty slot', () => {
    assert.deepEqual(decodeEndpoint(encodeEndpoint(pod)), pod);
    assert.deepEqual(decodeEndpoint(encodeEndpoint({ ...pod, usesStack: false })), { ...pod, usesStack: false });
    const limited = { ...pod, usesStack: false, egressLimited: true, ingressLimited: false };
    assert.deepEqual(decodeEndpoint(encodeEndpoint(limited)), limited);
    assert.equal(decodeEndpoint(Buffer.alloc(LAYOUTS.endpoint.size)), undefined);
  });
});
