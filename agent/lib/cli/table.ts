// Plain-text tables for the CLI: a header row, then one row per item, columns padded to
// their widest cell, numbers right-aligned so their digits line up.
export type Cell = string | number | bigint;

export function formatTable(headers: string[], rows: Cell[][]): string {
  const text = [headers, ...rows.map((row) => row.map(String))];
  const numeric = headers.map((_, column) => rows.length > 0 && rows.every((row) => typeof row[column] !== 'string'));
  const widths = headers.map((_, column) => Math.max(...text.map((row) => row[column].length)));
  return text
    .map((row) => row.map((cell, column) => (numeric[column] ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ').trimEnd())
    .join('\n');
}

const RATE_UNITS: Array<[number, string]> = [
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/** 10000000 → "10Mbit/s", as the Kubernetes annotations write rates (decimal units). */
function formatRate(bitsPerSecond: number): string {
  const [scale, unit] = RATE_UNITS.find(([size]) => bitsPerSecond >= size) ?? [1, ''];
  return `${Number((bitsPerSecond / scale).toPrecision(4))}${unit}bit/s`;
}

/** A bandwidth limit as the CLI shows it: the rate and the burst the datapath allows, as time at the rate; "-" for none. */
export function formatLimit(limit: { rate: number; burstNs: number } | undefined): string {
  return limit ? `${formatRate(limit.rate)} (burst ${Math.round(limit.burstNs / 1e6)} ms)` : '-';
}
