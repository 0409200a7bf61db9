import { stripVTControlCharacters } from 'node:util';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { displayWidth, renderTable } from '../../src/util/table.js';

const c = new Chalk({ level: 1 });
/** Column start offsets of each line as the terminal shows it (two spaces separate columns). */
const rightEdges = (text: string) =>
  stripVTControlCharacters(text)
    .trimEnd()
    .split('\n')
    .map((l) => [...l].reduce((w, ch) => w + displayWidth(ch), 0));

describe('util/table', () => {
  it('keeps colour codes in cells as colour (not escaped text) and aligns on what the terminal shows', () => {
    const t = renderTable(
      ['model', 'size'],
      [
        ['a', c.green('120.9 KiB (0.87x)')],
        ['b', '1 KiB'],
        ['c', c.red('9 B')],
      ],
    );
    expect(t).not.toContain('\\x1b');
    expect(t).toContain('\x1b[32m120.9 KiB (0.87x)\x1b[39m');
    // right-aligned last column: every line ends at the same column
    expect(new Set(rightEdges(t)).size).toBe(1);
  });

  it('still escapes control characters that are not colour (names from model files)', () => {
    const t = renderTable(['name'], [['evil\x1b]0;title\x07\nname']]);
    expect(t).toContain('evil\\x1b]0;title\\x07\\nname');
    expect(t.split('\n')).toHaveLength(4);
  });

  it('measures wide characters as two columns and combining marks as none', () => {
    expect(displayWidth('模型')).toBe(4);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth(c.bold('模型'))).toBe(4);
    const t = renderTable(
      ['name', 'n'],
      [
        ['模型', 1],
        ['model', 22],
      ],
    );
    expect(new Set(rightEdges(t)).size).toBe(1);
  });
});
