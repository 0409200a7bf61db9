/**
 * The short names of the library's main operations, as a user reaches for them:
 *
 *   import { loadModel, runPasses, quantize, prune, benchmark, saveModel } from 'autoglm';
 *   const model = loadModel('model.onnx');
 *   runPasses(model, ['cleanup', 'transformer']);                        // fuse, in place
 *   const { model: small } = await prune(model, { method: 'structured', units: ['ffn'], sparsity: 0.5 });
 *   await quantize(small, { dtype: 'fp16', keepIoTypes: true });          // in place
 *   saveModel(small, 'model.opt.onnx');
 *   const result = await benchmark({ baseline: 'model.onnx', candidates: ['model.opt.onnx'], dims: { batch: 1, sequence: 128 }, gates: ['graphF1 >= 0.95'] });
 */
import type { Model } from './ir/model.js';
import { pruneModel } from './prune/index.js';
import { convertFloat, convertMixed, type ConvertOptions, type MixedOptions, type QuantizeReport } from './quantize/index.js';

export type QuantizeOptions = ConvertOptions & Partial<Omit<MixedOptions, keyof ConvertOptions>> & { mixed?: boolean };

/** float16 / bfloat16 conversion in place; with `mixed: true` the accuracy-guided search (needs `tolerance`). */
export async function quantize(model: Model, opts: QuantizeOptions): Promise<QuantizeReport> {
  if (opts.mixed) return convertMixed(model, { ...opts, tolerance: opts.tolerance ?? NaN });
  return convertFloat(model, opts);
}

/** Graph, magnitude, N:M or structured pruning; returns the pruned model and the report. */
export const prune = pruneModel;
