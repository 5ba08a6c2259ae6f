// The benchmark's report as Markdown: the machine, one table per group (medians, and
// in brackets the ratio to the group's baseline from the same run), the targets.
import type { Environment } from './environment';
import type { Result } from './results';
import type { TargetOutcome } from './targets';

function figure(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString('en');
  return value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function groupTable(group: string, results: Result[], baseline: string | undefined): string {
  const metrics = [...new Map(results.map((r) => [r.metric, r.unit])).entries()];
  const subjects = [...new Set(results.map((r) => r.subject))];
  const rows = subjects.map((subject) => [
    subject === baseline ? `**${subject}** (baseline)` : subject,
    ...metrics.map(([metric]) => {
      const result = results.find((r) => r.subject === subject && r.metric === metric);
      if (!result) return '';
      return result.ratio === undefined ? figure(result.median) : `${figure(result.median)} (${result.ratio.toFixed(2)}×)`;
    }),
  ]);
  return `### ${group}\n\n${table(['', ...metrics.map(([metric, unit]) => `${metric} (${unit})`)], rows)}`;
}

export function markdownReport(environment: Environment, results: Result[], baselines: Record<string, string>, targets: TargetOutcome[]): string {
  const groups = [...new Set(results.map((r) => r.group))];
  const machine = [
    `${environment.date}, ${environment.repetitions} repetitions (medians), ${environment.seconds} s per traffic measure`,
    `Linux ${environment.kernel}, ${environment.cpus} × ${environment.cpuModel}`,
    `Twill ${environment.twill}; ${Object.entries(environment.tools).map(([tool, version]) => `${tool} ${version}`).join(', ')}`,
    ...(environment.previousBuild ? [`the previous build measured beside it: ${environment.previousBuild}`] : []),
  ];
  const targetRows = targets.map((t) => [t.target, t.measured === undefined ? 'not measured' : `${figure(t.measured)}${t.unit}`, `${t.comparison} ${t.limit}${t.unit}`, t.met === undefined ? '' : t.met ? 'met' : '**missed**']);
  return [
    machine.map((line) => `- ${line}`).join('\n'),
    ...groups.map((group) => groupTable(group, results.filter((r) => r.group === group), baselines[group])),
    `### Targets\n\n${table(['target', 'measured', 'limit', ''], targetRows)}`,
  ].join('\n\n');
}
