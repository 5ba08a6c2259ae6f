// runtimeConfig.bandwidth: the pod's bandwidth limits as the runtime passes them when
// the conflist entry declares the "bandwidth" capability (the CNI conventions' names,
// bits per second and bits; containerd capitalises them). Checked here, so that a bad
// value fails ADD with the field named, before the agent is asked anything.
import { RATE_LIMIT_BOUNDS, type PodLimits, type RateLimit } from '../../agent/api/cni';
import { Code, CniError, invalidConfig } from './errors';

const FIELD = 'runtimeConfig.bandwidth';
const DIRECTIONS = ['ingress', 'egress'] as const;

function invalid(key: string, problem: string): never {
  invalidConfig(`${FIELD}.${key}`, problem);
}

/** The value under `key` or under its capitalised twin, and the spelling found; both at once is an error. */
function lookup(bandwidth: Record<string, unknown>, key: string): { key: string; value: unknown } {
  const capitalised = key[0].toUpperCase() + key.slice(1);
  if (bandwidth[key] !== undefined && bandwidth[capitalised] !== undefined) invalid(key, `is given twice, as ${key} and ${capitalised}`);
  return bandwidth[capitalised] !== undefined ? { key: capitalised, value: bandwidth[capitalised] } : { key, value: bandwidth[key] };
}

function wholeNumber(bandwidth: Record<string, unknown>, name: string, unit: string, maximum: number): { key: string; value: number } {
  const { key, value } = lookup(bandwidth, name);
  if (value === undefined) return { key, value: 0 };
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) invalid(key, `must be a whole number of ${unit}, 0 or more; got ${JSON.stringify(value)}`);
  if (value > maximum) invalid(key, `is ${value} ${unit}, more than the ${maximum} a limit can take`);
  return { key, value };
}

/** One direction: unlimited when neither its rate nor its burst is given (or both are 0). */
function direction(bandwidth: Record<string, unknown>, name: (typeof DIRECTIONS)[number]): RateLimit | undefined {
  const rate = wholeNumber(bandwidth, `${name}Rate`, 'bits per second', RATE_LIMIT_BOUNDS.maxRate);
  const burst = wholeNumber(bandwidth, `${name}Burst`, 'bits', RATE_LIMIT_BOUNDS.maxBurst);
  if (rate.value === 0 && burst.value === 0) return undefined;
  if (rate.value === 0) invalid(burst.key, `is set without ${rate.key}: a burst needs a rate`);
  if (burst.value === 0) invalid(burst.key, `must be set with ${rate.key}, and not be 0`);
  if (rate.value < RATE_LIMIT_BOUNDS.minRate) invalid(rate.key, `is ${rate.value} bits per second, less than the ${RATE_LIMIT_BOUNDS.minRate} Kubernetes allows`);
  return { rate: rate.value, burst: burst.value };
}

/** The pod's limits, or undefined when runtimeConfig carries none. */
export function parseBandwidth(runtimeConfig: Record<string, unknown> | undefined): PodLimits | undefined {
  const raw = runtimeConfig?.bandwidth;
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) invalidConfig(FIELD, 'must be an object');
  const bandwidth = raw as Record<string, unknown>;
  for (const name of ['shapedSubnets', 'unshapedSubnets']) {
    const { key, value } = lookup(bandwidth, name);
    if (Array.isArray(value) && value.length > 0) throw new CniError(Code.UnsupportedField, `network config: ${FIELD}.${key} is not supported: Twill limits all of a pod's traffic`);
  }
  const limits: PodLimits = {};
  for (const name of DIRECTIONS) {
    const limit = direction(bandwidth, name);
    if (limit) limits[name] = limit;
  }
  return limits.ingress || limits.egress ? limits : undefined;
}
