/**
 * `autoglm sweep --init <models...>`: a starter sweep config for those models that runs as it is. Each model's
 * symbolic input dimensions get sizes (1 for a batch-like one, 32 for any other, as the optimize self-check uses),
 * and four recipes that apply to any model: every fusion with standard ops, fp16 with float32 inputs and outputs,
 * dynamic int8, and fusion with int8. The bench gates keep the output close to the original (cosine) and refuse a
 * slowdown beyond 10%; both are meant to be edited.
 */
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { symbolicDims } from '../inputs/describe.js';
import { loadModel } from '../onnx/io.js';
import { expandGlob } from './config.js';

export function initSweepConfig(models: string[], cwd: string): Record<string, unknown> {
  if (!models.length) throw new UsageError('sweep --init needs the models to sweep, e.g. autoglm sweep --init models/*.onnx > sweep.json');
  const entries: Record<string, unknown>[] = [];
  const names = new Set<string>();
  for (const m of models) {
    const files = expandGlob(path.resolve(cwd, m));
    if (!files.length) throw new UsageError(`${m}: no such file`);
    for (const f of files) {
      const model = loadModel(f);
      const dims: Record<string, number> = {};
      for (const d of symbolicDims(model)) dims[d] = /batch|^n$/i.test(d) ? 1 : 32;
      let name = path.basename(f).replace(/\.onnx$/i, '');
      for (let i = 2; names.has(name); i++) name = `${path.basename(f).replace(/\.onnx$/i, '')}-${i}`;
      names.add(name);
      const rel = path.relative(cwd, f);
      entries.push({ path: rel.startsWith('..') ? f : rel, name, ...(Object.keys(dims).length ? { dims } : {}) });
    }
  }
  return {
    description: 'autoglm sweep: every model x every recipe, each optimized then benchmarked against its original',
    models: entries,
    recipes: [
      { name: 'fused', passes: ['transformer', 'cnn'] },
      { name: 'fp16', quantize: { dtype: 'fp16', keepIoTypes: true } },
      { name: 'int8', quantize: { dtype: 'int8' } },
      { name: 'fused-int8', passes: ['transformer', 'cnn'], quantize: { dtype: 'int8' } },
    ],
    bench: { runs: 20, warmup: 3, gates: ['cosine >= 0.99', 'latency.p50 <= 1.10x'] },
  };
}
