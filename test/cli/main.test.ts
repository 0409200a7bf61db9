import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/cli/exit.js';
import { buildProgram, main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';

const ALL = ['inspect', 'fuse', 'quantize', 'prune', 'optimize', 'bench', 'graph', 'demo', 'sweep', 'report'];
const names = async (only?: string) => (await buildProgram(captureIO(process.cwd()), new ExitCode(), only)).commands.map((c) => c.name());

describe('cli/main', () => {
  it('registers every command for top-level help, and only the named one when a command is given (faster start)', async () => {
    expect(await names()).toEqual(ALL);
    expect(await names('--help')).toEqual(ALL);
    expect(await names('help')).toEqual(ALL);
    expect(await names('qunatize')).toEqual(ALL);
    for (const c of ALL) expect(await names(c)).toEqual([c]);
  });

  it('lists every command in the top-level help, and suggests the right one for a typo (exit 2)', async () => {
    const io = captureIO(process.cwd());
    expect(await main(['--help'], io)).toBe(0);
    for (const c of ALL) expect(io.stdout()).toContain(c);
    const typo = captureIO(process.cwd());
    expect(await main(['qunatize', 'm.onnx'], typo)).toBe(2);
    expect(typo.stderr()).toMatch(/unknown command 'qunatize'[\s\S]*quantize/);
  });

  it('prints a usage error as one line naming the command help, exit 2 (not the whole help)', async () => {
    for (const argv of [
      ['bench', 'fixtures/bert-tiny.onnx'],
      ['bench', 'fixtures/bert-tiny.onnx', '-b', 'fixtures/bert-tiny.onnx', '--no-such-flag'],
      ['inspect'],
    ]) {
      const io = captureIO(process.cwd());
      expect(await main(argv, io)).toBe(2);
      const lines = io.stderr().trimEnd().split('\n');
      expect(lines, io.stderr()).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^autoglm: .*\\(see 'autoglm ${argv[0]} --help'\\)$`));
      expect(io.stderr()).not.toContain('Usage:');
      expect(io.stdout()).toBe('');
    }
  });

  it('bare autoglm prints the help on stdout (exit 0); every --help ends with examples and the exit codes', async () => {
    const io = captureIO(process.cwd());
    expect(await main([], io)).toBe(0);
    expect(io.stdout()).toMatch(/Usage: autoglm/);
    expect(io.stderr()).toBe('');
    for (const c of [undefined, ...ALL]) {
      const h = captureIO(process.cwd());
      expect(await main(c ? [c, '--help'] : ['--help'], h)).toBe(0);
      const text = h.stdout();
      expect(text, c).toMatch(/Examples:\n( {2}autoglm .*\n){2,}/);
      expect(text.trimEnd(), c).toMatch(/Exit codes: 0 ok, 1 .*, 2 .*$/);
      expect(text, c).not.toContain('(default: [])');
      expect(text, c).toMatch(/--no-color/);
      // a default stated in the description is not stated again by commander
      for (const line of text.split('\n')) expect((line.match(/default/g) ?? []).length, line).toBeLessThan(2);
    }
  });
});
