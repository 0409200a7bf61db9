/**
 * Plain-text tables for the terminal. Cells may already be coloured (chalk's SGR sequences): those are kept as they
 * are, everything else a cell holds is made printable, and widths are measured on what the terminal shows
 * (`util.stripVTControlCharacters`, then string-width: East Asian wide characters take two columns, combining marks
 * none).
 */
import { stripVTControlCharacters } from 'node:util';
import stringWidth from 'string-width';
import { printable } from './text.js';

export type Align = 'left' | 'right';

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

/** The columns `s` takes on a terminal (colour codes take none). */
export function displayWidth(s: string): number {
  return stringWidth(stripVTControlCharacters(s));
}

/** A cell made printable on one line, keeping its colour (SGR) sequences and escaping every other control character. */
export function printableCell(s: string): string {
  let out = '';
  let last = 0;
  for (const m of s.matchAll(SGR)) {
    out += printable(s.slice(last, m.index)) + m[0];
    last = m.index + m[0].length;
  }
  return out + printable(s.slice(last));
}

export function renderTable(headers: string[], rows: (string | number)[][], opts: { align?: Align[]; indent?: string } = {}): string {
  const head = headers.map(printableCell);
  const cells = rows.map((r) => r.map((c) => printableCell(String(c))));
  const widths = head.map((h, i) => Math.max(displayWidth(h), ...cells.map((r) => displayWidth(r[i] ?? ''))));
  const align = opts.align ?? headers.map((_, i) => (i === 0 ? 'left' : 'right'));
  const pad = (s: string, i: number) => {
    const gap = ' '.repeat(Math.max(0, widths[i] - displayWidth(s)));
    return align[i] === 'right' ? gap + s : s + gap;
  };
  const ind = opts.indent ?? '';
  const line = (r: string[]) =>
    ind +
    r
      .map((c, i) => pad(c, i))
      .join('  ')
      .trimEnd();
  return [line(head), ind + widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n') + '\n';
}
