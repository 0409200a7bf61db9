/** Option parsing shared by the commands (one place for the --dim syntax and repeatable flags). */
import { Option } from 'commander';
import { UsageError } from '../../errors.js';

/** commander accumulator for a repeatable option. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** `--dim batch=1 --dim sequence=128` -> { batch: 1, sequence: 128 } */
export function parseDims(specs: string[]): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const s of specs) {
    const m = /^\s*([^=]+?)\s*=\s*(.*?)\s*$/.exec(s);
    if (!m) throw new UsageError(`--dim '${s}': write name=size, e.g. --dim batch=1 --dim sequence=32`, { help: true });
    if (!/^\d+$/.test(m[2]!) || Number(m[2]) < 1) throw new UsageError(`--dim ${m[1]}=${m[2]}: a size must be a positive integer`, { help: true });
    dims[m[1]!] = Number(m[2]);
  }
  return dims;
}

/**
 * `--inputs <path>`: the one name of input data in every command (bench, prune, quantize, optimize); `--calibration`
 * is kept as a hidden alias (`calibrationAlias()`). Read the path with `inputsPath(flags)`.
 */
export const inputsOption = (description: string): Option => new Option('--inputs <path>', `${description} (also --calibration)`);
export const calibrationAlias = (): Option => new Option('--calibration <path>').hideHelp();

/** The path given by `--inputs` or its alias `--calibration` (a usage error when both name different paths). */
export function inputsPath(flags: { inputs?: string; calibration?: string }): string | undefined {
  if (flags.inputs !== undefined && flags.calibration !== undefined && flags.inputs !== flags.calibration)
    throw new UsageError('--inputs and --calibration are the same option (--calibration is its old name); give one', { help: true });
  return flags.inputs ?? flags.calibration;
}
