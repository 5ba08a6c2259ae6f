// The PromQL queries of the chart's Grafana dashboards, what each references, and the
// metrics the agent exports, from its own registry. Tests use it two ways: offline
// (every query names only exported metrics, labels and label values:
// test/unit/chart.test.ts) and against live agents (every query returns series from a
// real Prometheus scraping a lab: test/e2e/dashboards.test.ts).
import fs from 'node:fs';
import path from 'node:path';

import { Histogram } from 'prom-client';

import { AgentMetrics, NODE_SOURCE_KINDS } from '../../agent/lib/metrics';

const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const DASHBOARDS_DIR = path.join(repoRoot, 'charts', 'twill', 'dashboards');

/** Labels Prometheus attaches to every scraped series. */
export const TARGET_LABELS: readonly string[] = ['instance', 'job'];

export interface ExportedMetrics {
  /** Every series name the agent exports (histograms as their _bucket, _sum and _count series) with its label names. */
  series: Record<string, string[]>;
  /** Every value a label takes in a fresh agent's export: the closed sets, all exported from the start. */
  labelValues: Record<string, string[]>;
}

/**
 * What the agent exports, read from its own registry (prom-client's defaults included)
 * as a fresh agent has it once each kind of node source has been observed: the names
 * and labels of every series, and the values of every label whose set is closed.
 */
export async function exportedMetrics(): Promise<ExportedMetrics> {
  const agent = new AgentMetrics();
  for (const kind of NODE_SOURCE_KINDS) agent.nodeSourceObserver(kind);
  const series: Record<string, string[]> = {};
  for (const metric of agent.registry.getMetricsAsArray()) {
    // prom-client keeps each metric's configuration on it; its types leave labelNames out.
    const labels = [...((metric as { labelNames?: readonly string[] }).labelNames ?? [])];
    if (metric instanceof Histogram) Object.assign(series, { [`${metric.name}_bucket`]: [...labels, 'le'], [`${metric.name}_sum`]: labels, [`${metric.name}_count`]: labels });
    else series[metric.name] = labels;
  }
  const values = new Map<string, Set<string>>();
  for (const metric of await agent.registry.getMetricsAsJSON()) {
    for (const [label, value] of metric.values.flatMap((v) => Object.entries(v.labels))) {
      if (label !== 'le') values.set(label, (values.get(label) ?? new Set()).add(String(value)));
    }
  }
  return { series, labelValues: Object.fromEntries([...values].map(([label, set]) => [label, [...set].sort()])) };
}

export interface DashboardQuery {
  /** "<dashboard title> / <panel title> (<refId>)", or "... / variable <name>". */
  title: string;
  expr: string;
}

interface GrafanaTarget {
  expr?: string;
  refId?: string;
}

interface GrafanaPanel {
  title?: string;
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}

interface GrafanaVariable {
  name: string;
  type: string;
  query?: string | { query?: string };
}

interface GrafanaDashboard {
  title: string;
  panels?: GrafanaPanel[];
  templating?: { list?: GrafanaVariable[] };
}

/** The dashboard files of the chart, parsed. */
export function dashboardFiles(directory = DASHBOARDS_DIR): Array<{ file: string; dashboard: GrafanaDashboard }> {
  return fs
    .readdirSync(directory)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => ({ file: name, dashboard: JSON.parse(fs.readFileSync(path.join(directory, name), 'utf8')) as GrafanaDashboard }));
}

function panelsOf(panels: GrafanaPanel[] = []): GrafanaPanel[] {
  return panels.flatMap((panel) => [panel, ...panelsOf(panel.panels)]);
}

/**
 * Every PromQL query of every dashboard: panel targets, and query variables, whose
 * Grafana-only `label_values(selector, label)` is written as the equivalent PromQL
 * `group by (label) (selector)`.
 */
export function dashboardQueries(directory = DASHBOARDS_DIR): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  for (const { dashboard } of dashboardFiles(directory)) {
    for (const panel of panelsOf(dashboard.panels)) {
      for (const target of panel.targets ?? []) {
        if (target.expr) queries.push({ title: `${dashboard.title} / ${panel.title ?? '(untitled)'} (${target.refId ?? '?'})`, expr: target.expr });
      }
    }
    for (const variable of dashboard.templating?.list ?? []) {
      if (variable.type !== 'query') continue;
      const query = typeof variable.query === 'string' ? variable.query : variable.query?.query ?? '';
      const labelValues = /^\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/.exec(query);
      const expr = labelValues ? `group by (${labelValues[2]}) (${labelValues[1]})` : query;
      queries.push({ title: `${dashboard.title} / variable ${variable.name}`, expr });
    }
  }
  return queries;
}

/** Grafana's variables replaced with values a plain Prometheus query accepts. */
export function substituteVariables(expr: string, values: Record<string, string> = {}): string {
  const all: Record<string, string> = { __rate_interval: '1m', __interval: '30s', __range: '1h', instance: '.*', family: '.*', ...values };
  return expr.replace(/\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (match, a?: string, b?: string, c?: string) => all[(a ?? b ?? c) as string] ?? match);
}

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  label: string;
  op: MatchOp;
  value: string;
}

export interface VectorSelector {
  /** The metric name; '' for a selector without one (and no __name__="x" matcher). */
  metric: string;
  matchers: LabelMatcher[];
}

export interface PromqlReferences {
  /** Vector selectors, in order of appearance. */
  selectors: VectorSelector[];
  /** Metric names referenced, sorted, unique. */
  metrics: string[];
  /** Label names in by/without/on/ignoring/group_left/group_right lists. */
  groupingLabels: string[];
  /** Every label name referenced: matchers' and grouping labels, sorted, unique. */
  labels: string[];
}

const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2']);
const NUMBER_WORDS = new Set(['inf', 'nan']);
const IDENTIFIER = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const NUMBER = /(?:0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?:(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdwy]))*)?/y;
const VARIABLE = /\$\{[^}]*\}|\[\[[^\]]*\]\]|\$[a-zA-Z_][a-zA-Z0-9_]*/y;

/**
 * What a PromQL expression references: the metric names of its vector selectors with
 * their label matchers, and the labels of its grouping clauses. Function and aggregation
 * names, numbers, strings, range and subquery brackets, and Grafana variables
 * ($__rate_interval, ${x}, [[x]]) are recognised and skipped. Throws on text it cannot
 * tokenize (an unterminated string, brace or bracket).
 */
export function metricSelectorsOf(expr: string): PromqlReferences {
  let i = 0;
  const selectors: VectorSelector[] = [];
  const grouping = new Set<string>();
  const fail = (what: string): never => {
    throw new SyntaxError(`PromQL: ${what} at offset ${i} of ${JSON.stringify(expr)}`);
  };
  const skipSpace = (): void => {
    for (;;) {
      while (i < expr.length && /\s/.test(expr[i])) i++;
      if (expr[i] !== '#') return;
      while (i < expr.length && expr[i] !== '\n') i++;
    }
  };
  const match = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = i;
    const found = pattern.exec(expr);
    if (!found) return undefined;
    i += found[0].length;
    return found[0];
  };
  const readString = (): string => {
    const quote = expr[i++];
    let value = '';
    while (i < expr.length && expr[i] !== quote) {
      if (expr[i] === '\\' && quote !== '`') {
        value += expr[i + 1] ?? '';
        i += 2;
      } else value += expr[i++];
    }
    if (i >= expr.length) fail('unterminated string');
    i++;
    return value;
  };
  const readLabelList = (): void => {
    i++; // (
    for (;;) {
      skipSpace();
      if (expr[i] === ')') {
        i++;
        return;
      }
      const label = match(LABEL_NAME) ?? (expr[i] === '"' ? readString() : fail('expected a label name'));
      grouping.add(label);
      skipSpace();
      if (expr[i] === ',') i++;
      else if (expr[i] !== ')') fail('expected "," or ")" in a label list');
    }
  };
  const readMatchers = (): LabelMatcher[] => {
    i++; // {
    const matchers: LabelMatcher[] = [];
    for (;;) {
      skipSpace();
      if (expr[i] === '}') {
        i++;
        return matchers;
      }
      const label = match(LABEL_NAME) ?? (expr[i] === '"' || expr[i] === "'" ? readString() : fail('expected a label name in a selector'));
      skipSpace();
      const op = match(/=~|!~|!=|=/y) ?? fail('expected a matcher operator');
      skipSpace();
      if (expr[i] !== '"' && expr[i] !== "'" && expr[i] !== '`') fail('expected a quoted label value');
      matchers.push({ label, op: op as MatchOp, value: readString() });
      skipSpace();
      if (expr[i] === ',') i++;
      else if (expr[i] !== '}') fail('expected "," or "}" in a selector');
    }
  };
  const addSelector = (metric: string): void => {
    skipSpace();
    const matchers = expr[i] === '{' ? readMatchers() : [];
    const named = matchers.find((m) => m.label === '__name__' && m.op === '=');
    selectors.push({ metric: metric || named?.value || '', matchers: matchers.filter((m) => m.label !== '__name__') });
  };

  while ((skipSpace(), i < expr.length)) {
    const ch = expr[i];
    if (ch === '"' || ch === "'" || ch === '`') {
      readString();
    } else if (ch === '[' && expr[i + 1] === '[') {
      match(VARIABLE) ?? fail('unterminated [[variable]]');
    } else if (ch === '[') {
      const end = expr.indexOf(']', i);
      if (end < 0) fail('unterminated range');
      i = end + 1;
    } else if (ch === '$') {
      match(VARIABLE) ?? fail('bad variable');
    } else if (ch === '{') {
      addSelector('');
    } else if (/[0-9.]/.test(ch)) {
      match(NUMBER) ?? fail('bad number');
    } else if (/[a-zA-Z_:]/.test(ch)) {
      const word = match(IDENTIFIER) as string;
      skipSpace();
      const next = expr[i];
      const lower = word.toLowerCase();
      if (GROUPING.has(lower)) {
        if (next === '(') readLabelList();
      } else if (KEYWORDS.has(lower) || NUMBER_WORDS.has(lower)) {
        continue;
      } else if (next === '(') {
        continue; // a function or an aggregation: its arguments are read as they come
      } else if (AGGREGATORS.has(lower) && /^(by|without)\b/i.test(expr.slice(i))) {
        continue; // sum by (x) (...)
      } else {
        addSelector(word);
      }
    } else if ('(),+-*/%^=!<>@'.includes(ch)) {
      i++;
    } else {
      fail(`unexpected ${JSON.stringify(ch)}`);
    }
  }

  const metrics = [...new Set(selectors.map((s) => s.metric).filter((m) => m !== ''))].sort();
  const groupingLabels = [...grouping].sort();
  const labels = [...new Set([...selectors.flatMap((s) => s.matchers.map((m) => m.label)), ...groupingLabels])].sort();
  return { selectors, metrics, groupingLabels, labels };
}
