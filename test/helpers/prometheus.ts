// The agent's HTTP endpoints as a scraper sees them: a GET from inside the node's
// namespace, and the text exposition format parsed into samples.
import { inNetns } from './kernel';

export const METRICS_PORT = 9962;

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const GET = `fetch('http://127.0.0.1:' + process.argv[1] + process.argv[2], { signal: AbortSignal.timeout(5000) })
  .then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })))`;

/** GETs `route` from the agent of the node namespace `ns`. */
export function agentGet(ns: string, route: string, port = METRICS_PORT): { status: number; body: string } {
  return JSON.parse(inNetns(ns, process.execPath, ['-e', GET, String(port), route])) as { status: number; body: string };
}

/** Parses Prometheus' text format (what prom-client writes): one sample per line. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[name] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

export function scrape(ns: string): Sample[] {
  const { status, body } = agentGet(ns, '/metrics');
  if (status !== 200) throw new Error(`/metrics answered ${status}: ${body}`);
  return parseExposition(body);
}

/** The value of the sample `name` with exactly `labels`; 0 when there is none (a counter not yet moved). */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted)?.value ?? 0;
}
