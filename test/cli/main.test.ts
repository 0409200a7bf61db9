import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/cli/exit.js';
import { buildProgram, main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';

const ALL = ['inspect', 'fuse', 'quantize', 'prune', 'optimize', 'bench', 'graph', 'demo'];
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
});
