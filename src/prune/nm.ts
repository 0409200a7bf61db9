/**
 * N:M semi-structured sparsity: in every group of M consecutive weights along the reduction axis (the input features
 * of a MatMul/Gemm, the input channels of a Conv), keep the N with the highest scores and zero the rest.
 *
 *   2:4 along K, one output column:   [0.9, -0.1, 0.4, 0.05 | 0.2, 0.7, -0.3, 0.6]  ->  [0.9, 0, 0.4, 0 | 0, 0.7, 0, 0.6]
 *
 * This is the pattern sparse tensor cores execute (2:4 on NVIDIA Ampere and later); onnxruntime's CPU kernels run
 * such a model at dense speed. A layer whose reduction axis is not a multiple of M is left alone and reported (so is
 * a depthwise Conv, whose reduction axis has one channel).
 */
import type { Model } from '../ir/model.js';
import { scoresFor, type UnstructuredLayer, type UnstructuredResult } from './magnitude.js';
import { zeroElements } from './tensors.js';
import type { Criterion } from './types.js';
import { findPrunableWeights } from './weights.js';

export interface NMOptions {
  n: number;
  m: number;
  criterion?: Criterion;
  activations?: ReadonlyMap<string, Float64Array>;
  /** only these weights (by name; a search result); all when absent */
  only?: ReadonlySet<string>;
}

export function parseNM(s: string): { n: number; m: number } | undefined {
  const r = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(s);
  if (!r) return undefined;
  const n = Number(r[1]);
  const m = Number(r[2]);
  return n >= 1 && m >= 2 && n < m ? { n, m } : undefined;
}

export function pruneNM(model: Model, opts: NMOptions): UnstructuredResult {
  const { n, m } = opts;
  const { weights, skipped } = findPrunableWeights(model);
  const layers: UnstructuredLayer[] = [];
  const notes: string[] = [];
  for (const w of weights) {
    if (opts.only && !opts.only.has(w.value.name)) continue;
    const dims = w.tensor.dims;
    const size = dims[w.reductionAxis];
    if (size % m !== 0) {
      skipped.push({ name: w.value.name, reason: `its reduction axis has ${size} entries, not a multiple of ${m}${size === 1 ? ' (depthwise)' : ''}` });
      continue;
    }
    const scores = scoresFor(w, opts.criterion, opts.activations);
    const mask = new Uint8Array(scores.length);
    let inner = 1;
    for (let i = w.reductionAxis + 1; i < dims.length; i++) inner *= dims[i];
    const outer = scores.length / (size * inner);
    for (let o = 0; o < outer; o++)
      for (let s = 0; s < inner; s++)
        for (let c = 0; c < size; c += m) {
          const base = (o * size + c) * inner + s;
          // zero the m - n lowest scores of the group (ties: the later element goes first, so earlier ones are kept)
          for (let r = 0; r < m - n; r++) {
            let best = -1;
            for (let j = 0; j < m; j++) {
              const i = base + j * inner;
              if (mask[i]) continue;
              if (best < 0 || !(scores[i] > scores[best])) best = i;
            }
            mask[best] = 1;
          }
        }
    w.tensor.setData(zeroElements(w.tensor, mask).rawBytes());
    layers.push({ name: w.value.name, node: w.node.name || w.node.opType, size: w.tensor.size, zeros: w.tensor.size - w.tensor.countNonZero() });
  }
  if (opts.criterion === 'activation' && !opts.activations) notes.push('no activation statistics: weights ranked by |w|');
  return { layers, skipped, notes };
}
