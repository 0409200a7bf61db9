/**
 * Where the CLI writes. The only place that prints: commands get a CliIO and never touch process.stdout directly,
 * so tests run commands in-process and capture what they print.
 */
import { Chalk, type ChalkInstance } from 'chalk';

export interface CliIO {
  out: (s: string) => void;
  /** errors and warnings (stderr) */
  err: (s: string) => void;
  /** progress and informational lines (stderr too; kept apart so tests and wrappers can tell them from errors) */
  info: (s: string) => void;
  /** stdout is a terminal: tables may use colour */
  isTTY: boolean;
  /** stderr is a terminal: progress bars may be drawn */
  errIsTTY: boolean;
  color: ChalkInstance;
  cwd: string;
}

/**
 * Whether stdout gets colour, in the order chalk, npm and vitest decide it: `--color` / `--no-color` first, then
 * FORCE_COLOR (`0` or `false` turn colour off, anything else on), then NO_COLOR (set and non-empty: off), then a
 * terminal that is not `TERM=dumb`.
 */
export function colorWanted(isTTY: boolean, env: NodeJS.ProcessEnv = process.env, flag?: boolean): boolean {
  if (flag !== undefined) return flag;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR) return false;
  return isTTY && env.TERM !== 'dumb';
}

/** A chalk instance that colours or not (basic 16 colours: what every terminal and CI log viewer shows). */
export const makeColor = (on: boolean): ChalkInstance => new Chalk({ level: on ? 1 : 0 });

export function processIO(): CliIO {
  const isTTY = !!process.stdout.isTTY;
  const useColor = colorWanted(isTTY);
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    info: (s) => void process.stderr.write(s),
    isTTY,
    errIsTTY: !!process.stderr.isTTY,
    color: makeColor(useColor),
    cwd: process.cwd(),
  };
}

/** An in-memory CliIO for tests. */
export function captureIO(cwd = process.cwd()): CliIO & { stdout: () => string; stderr: () => string; infoText: () => string } {
  let o = '';
  let e = '';
  let i = '';
  return {
    out: (s) => void (o += s),
    err: (s) => void (e += s),
    info: (s) => void (i += s),
    infoText: () => i,
    isTTY: false,
    errIsTTY: false,
    color: new Chalk({ level: 0 }),
    cwd,
    stdout: () => o,
    stderr: () => e,
  };
}

export { printable } from '../../util/text.js';
