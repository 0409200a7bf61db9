/**
 * `quantize(model, opts)`: the one entry point of the quantize layer, as a user reaches for it. float16 / bfloat16
 * conversion in place; with `mixed: true` the accuracy-guided search (needs `tolerance`).
 */
import type { Model } from '../ir/model.js';
import { convertFloat } from './convert.js';
import { convertMixed, type MixedOptions } from './mixed.js';
import type { ConvertOptions } from './options.js';
import type { QuantizeReport } from './report.js';

export type QuantizeOptions = ConvertOptions & Partial<Omit<MixedOptions, keyof ConvertOptions>> & { mixed?: boolean };

export async function quantize(model: Model, opts: QuantizeOptions): Promise<QuantizeReport> {
  if (opts.mixed) return convertMixed(model, { ...opts, tolerance: opts.tolerance ?? NaN });
  return convertFloat(model, opts);
}
