/**
 * The autoglm command line: commander wiring only. Each command lives in commands/<name>.ts and prints through the
 * CliIO it is given. Exit codes: 0 ok, 1 a gate or an operation failed, 2 bad usage or bad input.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { AutoglmError } from '../errors.js';
import { printable, processIO, type CliIO } from './ui/io.js';
import { register as registerInspect } from './commands/inspect.js';
import { register as registerBench } from './commands/bench.js';
import { register as registerOptimize } from './commands/optimize.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerQuantize } from './commands/quantize.js';
import { register as registerFuse } from './commands/fuse.js';
import { register as registerPrune } from './commands/prune.js';

type Register = (program: Command, io: CliIO, exit: ExitCode) => void;
const COMMANDS: Register[] = [registerInspect, registerFuse, registerQuantize, registerPrune, registerOptimize, registerBench, registerDemo];

const require = createRequire(import.meta.url);
const pkg = require('../../package.json') as { version: string };

import { ExitCode } from './exit.js';
export { ExitCode };

export function buildProgram(io: CliIO, exit: ExitCode): Command {
  const program = new Command();
  program
    .name('autoglm')
    .description('Make ONNX models smaller and faster, and prove it.')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  for (const register of COMMANDS) register(program, io, exit);
  return program;
}

/** Runs the CLI in-process and returns the exit code (tests call this directly). */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const exit = new ExitCode();
  const program = buildProgram(io, exit);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof AutoglmError) {
      io.err(`autoglm: ${printable(e.message)}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    io.err(`autoglm: internal error: ${printable(err?.message ?? String(e))}\n`);
    if (process.env.AUTOGLM_DEBUG) io.err(`${err?.stack}\n`);
    return 1;
  }
}

/** Entry point of bin/autoglm.js. */
export async function run(): Promise<void> {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
}
