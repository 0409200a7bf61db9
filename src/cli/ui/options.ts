/** Option parsing shared by the commands (one place for the --dim syntax and repeatable flags). */
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
