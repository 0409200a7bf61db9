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

export function processIO(): CliIO {
  const isTTY = !!process.stdout.isTTY;
  const useColor = isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    info: (s) => void process.stderr.write(s),
    isTTY,
    errIsTTY: !!process.stderr.isTTY,
    color: new Chalk({ level: useColor ? 1 : 0 }),
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
