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
