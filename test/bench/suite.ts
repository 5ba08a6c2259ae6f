// What every part of the benchmark hands to the runner: a suite builds its topology
// once, is measured once per repetition (suites take turns, so a noisy minute hits
// every subject alike) and is torn down also when another suite failed.

/** One number from one repetition. */
export interface Observation {
  /** Rows of one group are compared with that group's baseline subject. */
  group: string;
  subject: string;
  metric: string;
  unit: string;
  value: number;
}

export interface Suite {
  name: string;
  /** For each group the suite reports, the subject its ratios are taken against. */
  baselines: Record<string, string>;
  setUp(): Promise<void>;
  measure(): Promise<Observation[]>;
  /** Must remove everything setUp made, even after a partial setUp. */
  tearDown(): void;
}
