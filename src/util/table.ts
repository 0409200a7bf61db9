/** Plain-text tables for the terminal (ANSI colour codes are ignored when measuring widths). */
import { printable } from './text.js';

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
  const line = (r: string[]) =>
    ind +
    r
      .map((c, i) => pad(c, i))
      .join('  ')
      .trimEnd();
  return [line(headers), ind + widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n') + '\n';
}
