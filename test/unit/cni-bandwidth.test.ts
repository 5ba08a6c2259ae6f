// runtimeConfig.bandwidth as the plugin reads it (the bad values are rows of the shared
// bad-input table), and the limits as the pod_limits map holds them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BURST_NS, datapathRateLimit, decodePodLimits, encodePodLimits } from '../../bpf/pod-limits';
import { parseBandwidth } from '../../cni/lib/bandwidth';

/** What containerd sends for a pod annotated with an ingress limit only: all four keys, capitalised, the unset direction 0. */
const CONTAINERD_INGRESS_ONLY = { IngressRate: 10_000_000, IngressBurst: 4_294_967_295, EgressRate: 0, EgressBurst: 0 };

describe('runtimeConfig.bandwidth', () => {
  test("containerd's capitalised keys, with the direction it has no annotation for at 0", () => {
    assert.deepEqual(parseBandwidth({ bandwidth: CONTAINERD_INGRESS_ONLY }), { ingress: { rate: 10_000_000, burst: 4_294_967_295 } });
  });

  test('the CNI conventions\' keys, both directions', () => {
    assert.deepEqual(parseBandwidth({ bandwidth: { ingressRate: 1e9, ingressBurst: 8e6, egressRate: 1e8, egressBurst: 1e6 } }), {
      ingress: { rate: 1e9, burst: 8e6 },
      egress: { rate: 1e8, burst: 1e6 },
    });
  });

  test('no bandwidth, or nothing but zeros, is no limit', () => {
    assert.equal(parseBandwidth(undefined), undefined);
    assert.equal(parseBandwidth({ portMappings: [] }), undefined);
    assert.equal(parseBandwidth({ bandwidth: { IngressRate: 0, IngressBurst: 0, EgressRate: 0, EgressBurst: 0 } }), undefined);
  });
});

describe('the pod_limits map', () => {
  test("a burst is held between the floor and the ceiling, as time at the rate", () => {
    assert.equal(datapathRateLimit({ rate: 10_000_000, burst: 4_294_967_295 }).burstNs, BURST_NS.ceiling, "containerd's 2^32 - 1 bits");
    assert.equal(datapathRateLimit({ rate: 10_000_000, burst: 8_000 }).burstNs, BURST_NS.floor);
    assert.equal(datapathRateLimit({ rate: 10_000_000, burst: 4_000_000 }).burstNs, 400e6);
  });

  test('encoded and decoded, each direction in its place and a missing one unlimited', () => {
    const limits = { egress: { rate: 1e15, burst: 4e15 } };
    assert.deepEqual(decodePodLimits(encodePodLimits(limits)), { egress: { rate: 1e15, burst: 5e14, burstNs: BURST_NS.ceiling } });
    assert.deepEqual(decodePodLimits(encodePodLimits({})), {});
  });
});
