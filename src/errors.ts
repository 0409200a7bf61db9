/**
 * Errors users see. Each carries the exit code the CLI uses: 2 for bad usage or bad input (the user can fix the
 * command or the file), 1 for an operation that failed or a gate that did not pass.
 */
import { printable } from './util/text.js';

export class AutoglmError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number, options?: { cause?: unknown }) {
    // messages quote names from model files: never let those carry control characters to a terminal
    super(printable(message), options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** The input model or file is unusable: not ONNX, truncated, inconsistent, unsafe. Exit code 2. */
export class ModelFormatError extends AutoglmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 2, options);
  }
}

/** Bad flags or arguments. Exit code 2. `help`: the CLI adds "see autoglm <command> --help" (a flag misused). */
export class UsageError extends AutoglmError {
  readonly help: boolean;
  constructor(message: string, options?: { help?: boolean }) {
    super(message, 2);
    this.help = !!options?.help;
  }
}

/** An operation could not be completed (a pass failed, a model could not run). Exit code 1. */
export class OperationError extends AutoglmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
  }
}

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;
