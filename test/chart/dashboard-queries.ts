// The PromQL queries of the chart's Grafana dashboards, what each references, and the
// metrics the agent exports. Tests use it two ways: offline (every query names only
// exported metrics and labels: test/unit/chart.test.ts) and against a live agent (every
// metric a dashboard needs appears in a real /metrics scrape).
import fs from 'node:fs';
import path from 'node:path';

import { REFUSALS } from '../../agent/lib/http-endpoints';
import { counterLabel } from '../../bpf/counters';
import { DIRECTIONS, REASONS, type DirectionName, type ReasonName } from '../../bpf/layouts';

const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const DASHBOARDS_DIR = path.join(repoRoot, 'charts', 'twill', 'dashboards');

/**
 * Every series the agent exports, as it appears in /metrics (histograms as their
 * _bucket, _sum and _count series), with its label names. Prometheus adds the target
 * labels (TARGET_LABELS) to each.
 */
export const EXPORTED_METRICS: Readonly<Record<string, readonly string[]>> = {
  twill_datapath_packets_total: ['reason', 'direction'],
  twill_datapath_bytes_total: ['reason', 'direction'],
  twill_bpf_map_entries: ['map'],
  twill_bpf_map_capacity: ['map'],
  twill_node_source_events_total: ['source', 'event'],
  twill_node_source_errors_total: ['source'],
  twill_nodes: [],
  twill_nodes_refused: ['reason'],
  twill_node_sync_duration_seconds_bucket: ['le'],
  twill_node_sync_duration_seconds_sum: [],
  twill_node_sync_duration_seconds_count: [],
  twill_node_sync_lag_seconds_bucket: ['le'],
  twill_node_sync_lag_seconds_sum: [],
  twill_node_sync_lag_seconds_count: [],
  twill_node_sync_errors_total: [],
  twill_node_sync_last_success_timestamp_seconds: [],
  twill_cni_operations_total: ['command', 'result'],
  twill_cni_operation_duration_seconds_bucket: ['command', 'le'],
  twill_cni_operation_duration_seconds_sum: ['command'],
  twill_cni_operation_duration_seconds_count: ['command'],
  twill_http_connections_refused_total: ['cap'],
  twill_agent_ready: [],
  twill_agent_info: ['version', 'mode'],
  // prom-client's default metrics (the ones the dashboards use)
  process_start_time_seconds: [],
  process_resident_memory_bytes: [],
  process_cpu_seconds_total: [],
  nodejs_eventloop_lag_p99_seconds: [],
  nodejs_heap_size_used_bytes: [],
};

/** Labels Prometheus attaches to every scraped series. */
export const TARGET_LABELS: readonly string[] = ['instance', 'job'];

/** The values of the labels with a closed set (result is open: error names); the datapath's from its enums. */
export const LABEL_VALUES: Readonly<Record<string, readonly string[]>> = {
  reason: Object.keys(REASONS).map((name) => counterLabel(name as ReasonName)),
  direction: Object.keys(DIRECTIONS).map((name) => counterLabel(name as DirectionName)),
  map: ['endpoints', 'node_subnets'],
  source: ['static', 'kubernetes'],
  event: ['add', 'update', 'delete', 'reload', 'relist'],
  command: ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'],
  cap: REFUSALS,
};

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
  const all: Record<string, string> = { __rate_interval: '1m', __interval: '30s', __range: '1h', instance: '.*', ...values };
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
