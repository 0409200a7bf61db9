/**
 * Pass options: `ctx.options` may hold a flat key (`{ maxFoldBytes: 65536 }`) or a per-pass object
 * (`{ 'fold-constants': { maxFoldBytes: 65536 } }`); the per-pass object wins.
 */
import { UsageError } from '../../errors.js';
import type { PassContext } from '../../pass/pass.js';

export function passOption<T>(ctx: PassContext, pass: string, key: string, dflt: T, check?: (v: unknown) => boolean): T {
  const scoped = ctx.options[pass];
  let v: unknown;
  if (scoped && typeof scoped === 'object' && key in (scoped as Record<string, unknown>)) v = (scoped as Record<string, unknown>)[key];
  else if (key in ctx.options) v = ctx.options[key];
  if (v === undefined) return dflt;
  const ok = check ? check(v) : typeof v === typeof dflt;
  if (!ok) throw new UsageError(`option ${key} of ${pass}: ${JSON.stringify(v)} is not a valid value`);
  return v as T;
}
