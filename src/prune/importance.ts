/**
 * Importance of units and weights.
 *
 *   l1          Σ|w| over the unit's slices of the producing and consuming weights (Li et al., filter pruning)
 *   l2          sqrt(Σw²) over the same slices
 *   activation  Σ over consuming weights and the unit's channels c of ||W[c, :]||₂ · ||X[c]||₂, where X[c] is the
 *               activation the consuming weight reads on channel c over every calibration position (Wanda-style
 *               "weight magnitude x input activation norm"); unstructured: |W[i, j]| · ||X[j]||₂ on the reduction
 *               axis j. The norms come from onnxruntime runs on the calibration inputs with those activations exposed
 *               as extra outputs (see activationNorms in probe.ts).
 *
 * For single weights l1 and l2 rank alike (|w|).
 */
import { constantOf } from '../rewrite/constant.js';
import { axisSums, blockSums } from '../util/numerics.js';
import { valuesOf } from './tensors.js';
import type { Criterion, UnitGroup } from './types.js';

/** Per-channel Σx² of activations, by value name (see probe.ts). */
export type ActivationNorms = ReadonlyMap<string, Float64Array>;

/** One score per unit of the group; higher is more important. */
export function unitScores(group: UnitGroup, criterion: Criterion, acts?: ActivationNorms): Float64Array {
  const scores = new Float64Array(group.units);
  if (criterion === 'activation' && acts && group.sinks.every((s) => acts.has(s.value.name))) {
    for (const s of group.sinks) {
      const t = constantOf(s.slice.node.input(s.slice.input))!;
      // ||W[c, :]|| for each channel c of the reduction axis
      const rowSq = axisSums(valuesOf(t), t.dims, s.slice.axis, 'l2sq');
      const act = acts.get(s.value.name)!;
      if (act.length !== rowSq.length) throw new Error(`activation of '${s.value.name}' has ${act.length} channels, its weight ${rowSq.length}`);
      const per = new Float64Array(rowSq.length);
      for (let c = 0; c < per.length; c++) per[c] = Math.sqrt(rowSq[c]) * Math.sqrt(act[c]);
      const b = blockSums(per, s.slice.width);
      for (let u = 0; u < scores.length; u++) scores[u] += b[u];
    }
    return scores;
  }
  const kind = criterion === 'l1' ? 'l1' : 'l2sq';
  for (const s of group.slices) {
    if (s.role === 'param') continue;
    const t = constantOf(s.node.input(s.input))!;
    const b = blockSums(axisSums(valuesOf(t), t.dims, s.axis, kind), s.width);
    const o = s.offset ?? 0;
    for (let u = 0; u < scores.length; u++) scores[u] += b[o + u];
  }
  if (kind === 'l2sq') for (let u = 0; u < scores.length; u++) scores[u] = Math.sqrt(scores[u]);
  return scores;
}

/**
 * How many units to keep of `units` when removing the fraction `sparsity`, with the kept channel count
 * (`kept * unitWidth`) a multiple of `roundTo` where that is possible; never fewer than one unit.
 */
export function keptCount(units: number, sparsity: number, unitWidth = 1, roundTo = 1): number {
  let keep = Math.max(1, Math.min(units, Math.round(units * (1 - sparsity))));
  if (roundTo > 1) {
    const ok = (k: number) => (k * unitWidth) % roundTo === 0;
    if (!ok(keep)) {
      let best: number | undefined;
      for (let d = 1; d <= units; d++) {
        if (keep + d <= units && ok(keep + d)) {
          best = keep + d;
          break;
        }
        if (keep - d >= 1 && ok(keep - d)) {
          best = keep - d;
          break;
        }
      }
      if (best !== undefined) keep = best;
    }
  }
  return keep;
}

/** Indices of the `keep` highest scores, in ascending index order (ties keep the lower index). */
export function topUnits(scores: Float64Array, keep: number): number[] {
  const idx = Array.from(scores, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, keep).sort((a, b) => a - b);
}
