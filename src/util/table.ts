/** Plain-text tables for the terminal (ANSI colour codes are ignored when measuring widths). */
import { printable } from './io.js';

export type Align = 'left' | 'right';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const width = (s: string) => s.replace(ANSI, '').length;

export function renderTable(headers: string[], rows: (string | number)[][], opts: { align?: Align[]; indent?: string } = {}): string {
  const cells = rows.map((r) => r.map((c) => printable(String(c))));
  const widths = headers.map((h, i) => Math.max(width(h), ...cells.map((r) => width(r[i] ?? ''))));
  const align = opts.align ?? headers.map((_, i) => (i === 0 ? 'left' : 'right'));
  const pad = (s: string, i: number) => {
    const gap = ' '.repeat(Math.max(0, widths[i] - width(s)));
    return align[i] === 'right' ? gap + s : s + gap;
  };
  const ind = opts.indent ?? '';
  const line = (r: string[]) => ind + r.map((c, i) => pad(c, i)).join('  ').trimEnd();
  return [line(headers), ind + widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n') + '\n';
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatCount(n: number): string {
  if (n < 1e3) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 2 : 1)}K`;
  if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)}M`;
  return `${(n / 1e9).toFixed(2)}B`;
}
