/**
 * Unstructured magnitude pruning: zero the weights with the lowest scores (|w|, or |w| * ||x_j|| activation-aware),
 * either the fraction `sparsity` of each layer (per weight tensor) or one threshold over all layers (`global`).
 *
 *   W = [ 0.9 -0.1  0.4 ]   sparsity 0.5    [ 0.9  0    0.4 ]
 *       [ 0.05 0.7 -0.3 ]   ------------>   [ 0    0.7  0   ]
 *
 * Shapes do not change: the zeros save nothing on a dense runtime (same FLOPs, same latency, same file size unless
 * compressed); they are what sparse kernels, compression and later structured pruning build on. Existing zeros rank
 * lowest, so a layer ends with exactly the requested fraction of zeros (or more, if it had more already).
 * The selection is exact and linear (a two-pass radix select on the float bits), so --global on 100M weights needs
 * no sort.
 */
import type { Model } from '../ir/model.js';
import { zeroElements } from './tensors.js';
import type { Criterion } from './types.js';
import { findPrunableWeights, weightScores, type PrunableWeight } from './weights.js';

export interface MagnitudeOptions {
  /** fraction of each layer's (or, with global, all layers') weights set to zero */
  sparsity: number;
  global?: boolean;
  criterion?: Criterion;
  /** per-channel activation energy by activation value (for criterion 'activation') */
  activations?: ReadonlyMap<string, Float64Array>;
  /** per-weight sparsity by weight name (a search result); weights not listed use `sparsity` */
  perLayer?: Record<string, number>;
}

export interface UnstructuredLayer {
  name: string;
  node: string;
  size: number;
  /** elements that are zero after pruning */
  zeros: number;
}

export interface UnstructuredResult {
  layers: UnstructuredLayer[];
  skipped: { name: string; reason: string }[];
  notes: string[];
}

export function scoresFor(w: PrunableWeight, criterion: Criterion | undefined, acts?: ReadonlyMap<string, Float64Array>): Float32Array {
  const e = criterion === 'activation' && w.activation ? acts?.get(w.activation.value.name) : undefined;
  return weightScores(w, e && e.length === w.tensor.dims[w.reductionAxis] ? e : undefined);
}

export function pruneMagnitude(model: Model, opts: MagnitudeOptions): UnstructuredResult {
  const { weights, skipped } = findPrunableWeights(model);
  const notes: string[] = [];
  if (opts.criterion === 'activation' && !opts.activations) notes.push('no activation statistics: weights ranked by |w|');
  const layers: UnstructuredLayer[] = [];
  if (opts.global) {
    const scores = weights.map((w) => scoresFor(w, opts.criterion, opts.activations));
    const total = scores.reduce((a, s) => a + s.length, 0);
    const masks = lowestMasks(scores, Math.round(opts.sparsity * total));
    weights.forEach((w, i) => layers.push(apply(w, masks[i])));
  } else {
    for (const w of weights) {
      const s = opts.perLayer?.[w.value.name] ?? opts.sparsity;
      const scores = scoresFor(w, opts.criterion, opts.activations);
      layers.push(apply(w, lowestMasks([scores], Math.round(s * scores.length))[0]));
    }
  }
  return { layers, skipped, notes };
}

function apply(w: PrunableWeight, mask: Uint8Array): UnstructuredLayer {
  let any = false;
  for (let i = 0; i < mask.length && !any; i++) if (mask[i]) any = true;
  if (any) w.tensor.setData(zeroElements(w.tensor, mask).rawBytes());
  return { name: w.value.name, node: w.node.name || w.node.opType, size: w.tensor.size, zeros: w.tensor.size - w.tensor.countNonZero() };
}

/**
 * Masks (1 = zero it) of the `k` lowest scores over all arrays together; ties at the threshold go to the earliest
 * elements. Scores must be non-negative (their float bits then sort like unsigned integers); NaN ranks highest.
 */
export function lowestMasks(scores: readonly Float32Array[], k: number): Uint8Array[] {
  const masks = scores.map((s) => new Uint8Array(s.length));
  const total = scores.reduce((a, s) => a + s.length, 0);
  if (k <= 0) return masks;
  if (k >= total) {
    masks.forEach((m) => m.fill(1));
    return masks;
  }
  const bits = scores.map((s) => new Uint32Array(s.buffer, s.byteOffset, s.length));
  const hi = new Float64Array(65536);
  for (const b of bits) for (let i = 0; i < b.length; i++) hi[b[i] >>> 16]++;
  let below = 0;
  let bucket = 0;
  while (below + hi[bucket] < k) below += hi[bucket++];
  const lo = new Float64Array(65536);
  for (const b of bits) for (let i = 0; i < b.length; i++) if (b[i] >>> 16 === bucket) lo[b[i] & 0xffff]++;
  let low = 0;
  while (below + lo[low] < k) below += lo[low++];
  const threshold = ((bucket << 16) | low) >>> 0;
  let ties = k - below;
  bits.forEach((b, j) => {
    const m = masks[j];
    for (let i = 0; i < b.length; i++) {
      const u = b[i];
      if (u < threshold) m[i] = 1;
      else if (u === threshold && ties > 0) {
        m[i] = 1;
        ties--;
      }
    }
  });
  return masks;
}
