/**
 * What a user sees on a real terminal: colour codes reach it as colour (never as escaped text), tables stay aligned,
 * and FORCE_COLOR / NO_COLOR / --color / --no-color decide colour the way chalk, npm and vitest do. Run through a
 * pseudo-terminal (`script`) as well as through a pipe.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { colorWanted } from '../../src/cli/ui/io.js';
import { displayWidth } from '../../src/util/table.js';

const root = path.resolve(__dirname, '../..');
const entry = path.join(root, 'test/helpers/cli-entry.ts');
const hasScript = spawnSync('script', ['--version']).status === 0;
const BENCH = [
  'bench',
  'fixtures/bert-tiny.onnx',
  '-b',
  'fixtures/bert-tiny.onnx',
  '--runs',
  '2',
  '--warmup',
  '0',
  '--session-repeats',
  '1',
  '--dim',
  'batch=1',
  '--dim',
  'sequence=8',
];
const env = (extra: Record<string, string>) => {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['FORCE_COLOR', 'NO_COLOR', 'CI']) if (!(k in extra)) delete e[k];
  return e;
};
const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;

/** stdout (and stderr) of the CLI on a pseudo-terminal. */
function onTerminal(args: string[], extra: Record<string, string> = {}): string {
  const cmd = ['node', '--import', 'tsx', entry, ...args].map(quote).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: root, encoding: 'utf8', env: env({ TERM: 'xterm', ...extra }) });
  expect(r.status).toBe(0);
  return r.stdout.replace(/\r/g, '');
}
function throughPipe(args: string[], extra: Record<string, string> = {}): string {
  const r = spawnSync('node', ['--import', 'tsx', entry, ...args], { cwd: root, encoding: 'utf8', env: env(extra) });
  expect(r.status).toBe(0);
  return r.stdout;
}
/** The bench table's rows (from the header line to the last row), as the terminal shows them. */
function tableLines(out: string): string[] {
  const lines = stripVTControlCharacters(out).split('\n');
  const start = lines.findIndex((l) => /^-+ {2}-+/.test(l)) - 1;
  const end = lines.findIndex((l, i) => i > start && l.trim() === '');
  return lines.slice(start, end);
}
const COLOUR = /\x1b\[3\dm/;

describe('cli on a terminal', () => {
  it.skipIf(!hasScript)(
    'prints coloured bench cells as colour, aligned, on a pseudo-terminal',
    () => {
      const out = onTerminal(BENCH);
      expect(out).toMatch(COLOUR);
      expect(out).not.toContain('\\x1b');
      const rows = tableLines(out);
      expect(rows.length).toBeGreaterThan(10);
      // every column is right-aligned after the first: all rows end at the same column
      expect(new Set(rows.map((l) => displayWidth(l.trimEnd()))).size).toBe(1);
    },
    60_000,
  );

  it.skipIf(!hasScript)(
    'NO_COLOR and --no-color turn colour off on a terminal',
    () => {
      expect(onTerminal(['inspect', 'fixtures/bert-tiny.onnx'])).toMatch(/\x1b\[1m/);
      expect(onTerminal(['inspect', 'fixtures/bert-tiny.onnx'], { NO_COLOR: '1' })).not.toMatch(/\x1b\[/);
      expect(onTerminal(['inspect', 'fixtures/bert-tiny.onnx', '--no-color'])).not.toMatch(/\x1b\[/);
    },
    60_000,
  );

  it('has no colour through a pipe unless FORCE_COLOR or --color asks for it', () => {
    expect(throughPipe(['inspect', 'fixtures/bert-tiny.onnx'])).not.toMatch(/\x1b/);
    expect(throughPipe(['inspect', 'fixtures/bert-tiny.onnx'], { FORCE_COLOR: '1' })).toMatch(/\x1b\[1m/);
    expect(throughPipe(['inspect', 'fixtures/bert-tiny.onnx', '--color'])).toMatch(/\x1b\[1m/);
    const bench = throughPipe([...BENCH, '--color']);
    expect(bench).toMatch(COLOUR);
    expect(new Set(tableLines(bench).map((l) => displayWidth(l.trimEnd()))).size).toBe(1);
  }, 60_000);

  it('decides colour in the order chalk does: flag, FORCE_COLOR, NO_COLOR, terminal', () => {
    expect(colorWanted(true, {})).toBe(true);
    expect(colorWanted(false, {})).toBe(false);
    expect(colorWanted(true, { TERM: 'dumb' })).toBe(false);
    expect(colorWanted(true, { NO_COLOR: '1' })).toBe(false);
    expect(colorWanted(true, { NO_COLOR: '' })).toBe(true);
    expect(colorWanted(false, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorWanted(false, { FORCE_COLOR: '' })).toBe(true);
    expect(colorWanted(true, { FORCE_COLOR: '0' })).toBe(false);
    expect(colorWanted(true, { FORCE_COLOR: 'false' })).toBe(false);
    expect(colorWanted(false, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(true);
    expect(colorWanted(false, { NO_COLOR: '1' }, true)).toBe(true);
    expect(colorWanted(true, { FORCE_COLOR: '1' }, false)).toBe(false);
  });
});
