// From the observations of every repetition to the numbers the benchmark reports:
// the median of each (group, subject, metric), and its ratio to the group's baseline
// from the same run.
import type { Observation } from './suite';

export interface Result {
  group: string;
  subject: string;
  metric: string;
  unit: string;
  median: number;
  /** Every repetition's value, in the order measured. */
  values: number[];
  /** median / the baseline subject's median for the same metric; absent for the baseline itself or without one. */
  ratio?: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const keyOf = (group: string, subject: string, metric: string): string => JSON.stringify([group, subject, metric]);

/** Results in the order their subjects were first measured within each group. */
export function summarise(observations: Observation[], baselines: Record<string, string>): Result[] {
  const byKey = new Map<string, Result>();
  for (const o of observations) {
    const key = keyOf(o.group, o.subject, o.metric);
    const result = byKey.get(key) ?? { group: o.group, subject: o.subject, metric: o.metric, unit: o.unit, median: 0, values: [] };
    result.values.push(o.value);
    byKey.set(key, result);
  }
  const results = [...byKey.values()];
  for (const result of results) result.median = median(result.values);
  for (const result of results) {
    const baseline = baselines[result.group];
    if (!baseline || baseline === result.subject) continue;
    const reference = byKey.get(keyOf(result.group, baseline, result.metric));
    if (reference && reference.median !== 0) result.ratio = result.median / reference.median;
  }
  return results;
}

/** Looks a median up; undefined when that suite did not run. */
export function lookup(results: Result[], group: string, subject: string, metric: string): number | undefined {
  return results.find((r) => r.group === group && r.subject === subject && r.metric === metric)?.median;
}
