/**
 * The autoglm command line: commander wiring only. Each command lives in commands/<name>.ts and prints through the
 * CliIO it is given. Exit codes: 0 ok, 1 a gate or an operation failed, 2 bad usage or bad input.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { AutoglmError, UsageError } from '../errors.js';
import { makeColor, printable, processIO, type CliIO } from './ui/io.js';
import { configureUsageHelp, EXIT_CODES, outputFor, usageLine } from './ui/usage.js';

type Register = (program: Command, io: CliIO, exit: ExitCode) => void;
/** Each command's module, loaded only when needed: `autoglm quantize ...` does not load what fuse or bench use. */
const COMMANDS: [name: string, load: () => Promise<{ register: Register }>][] = [
  ['inspect', () => import('./commands/inspect.js')],
  ['fuse', () => import('./commands/fuse.js')],
  ['quantize', () => import('./commands/quantize.js')],
  ['prune', () => import('./commands/prune.js')],
  ['optimize', () => import('./commands/optimize.js')],
  ['bench', () => import('./commands/bench.js')],
  ['graph', () => import('./commands/graph.js')],
  ['demo', () => import('./commands/demo.js')],
  ['sweep', () => import('./commands/sweep.js')],
  ['report', () => import('./commands/report.js')],
];

const require = createRequire(import.meta.url);
const pkg = require('../../package.json') as { version: string };

import { ExitCode } from './exit.js';
export { ExitCode };

/**
 * The commander program with every command registered, or, when `only` names a command, with just that one (what
 * `main` does when the first argument is a command: a faster start). Top-level help and unknown commands get all.
 */
export async function buildProgram(io: CliIO, exit: ExitCode, only?: string): Promise<Command> {
  const program = new Command();
  program
    .name('autoglm')
    .description('Make ONNX models smaller and faster, and prove it.')
    .version(pkg.version, '-V, --version')
    .option('--color', 'colour tables even when stdout is not a terminal (also FORCE_COLOR=1)')
    .option('--no-color', 'never colour (also NO_COLOR=1)')
    .exitOverride()
    .configureOutput(outputFor(io, 'autoglm'))
    .addHelpText(
      'after',
      `
Examples:
  autoglm demo
  autoglm inspect fixtures/bert-tiny.onnx
  autoglm optimize model.onnx -o out.onnx --preset transformer --dtype fp16 --gate 'graphF1 >= 0.95'
${EXIT_CODES}`,
    );
  configureUsageHelp(program);
  const chosen = COMMANDS.filter(([name]) => name === only);
  for (const [, load] of chosen.length ? chosen : COMMANDS) (await load()).register(program, io, exit);
  return program;
}

/** `--color` / `--no-color` anywhere before `--` (they apply to every command): the last one wins. */
function colorFlag(argv: string[]): boolean | undefined {
  let flag: boolean | undefined;
  for (const a of argv) {
    if (a === '--') break;
    if (a === '--color') flag = true;
    else if (a === '--no-color') flag = false;
  }
  return flag;
}

/** Runs the CLI in-process and returns the exit code (tests call this directly). */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const exit = new ExitCode();
  const flag = colorFlag(argv);
  if (flag !== undefined) io.color = makeColor(flag);
  const program = await buildProgram(io, exit, argv[0]);
  for (const c of program.commands) c.exitOverride().configureOutput(outputFor(io, `autoglm ${c.name()}`));
  // bare `autoglm`: the help, on stdout (asked for, not an error)
  if (argv.filter((a) => a !== '--color' && a !== '--no-color').length === 0) {
    program.outputHelp();
    return 0;
  }
  const command = program.commands.find((c) => c.name() === argv[0]);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof UsageError && e.help) {
      io.err(usageLine(e.message, command ? `autoglm ${command.name()}` : 'autoglm'));
      return e.exitCode;
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
