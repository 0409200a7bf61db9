/**
 * The weights unstructured pruning works on: constant float weights of MatMul (right operand), Gemm (B) and Conv (W),
 * in every graph (subgraphs included: zeroing a value changes no shape). Each is listed once however many nodes read
 * it, with the axis its reduction runs along (for N:M groups and activation-aware scores) and the activation the
 * first reader multiplies it with.
 *
 *   MatMul  W [.., K, N]   reduction axis rank-2, activation A's last axis
 *   Gemm    B [K, N]       axis 0 (transB = 0) or 1 (transB = 1), activation A's last axis (transA = 0)
 *   Conv    W [O, I/g, k..] axis 1 (input channels), activation X's channel axis
 *
 * Embedding tables, biases, normalisation parameters and 1-element constants are left alone.
 */
import type { Node, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { isStandardDomain } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { constantOf } from '../rewrite/constant.js';
import { describe } from './shape-spec.js';
import { isPrunableFloat } from './tensors.js';

export interface PrunableWeight {
  value: Value;
  tensor: Tensor;
  node: Node;
  /** axis the node sums over (input features / input channels) */
  reductionAxis: number;
  /** the activation the first reader multiplies the weight with; channel axis counted from the end */
  activation?: { value: Value; axisFromEnd: number };
}

export function findPrunableWeights(model: Model): { weights: PrunableWeight[]; skipped: { name: string; reason: string }[] } {
  const seen = new Map<Value, PrunableWeight>();
  const skipped: { name: string; reason: string }[] = [];
  const skippedSet = new Set<Value>();
  for (const n of model.allNodes()) {
    if (!isStandardDomain(n.domain)) continue;
    let w: Value | undefined;
    let axis = -1;
    let act: PrunableWeight['activation'];
    if (n.opType === 'MatMul') {
      w = n.input(1);
      const t = constantOf(w);
      if (!t || t.rank < 2 || constantOf(n.input(0))) continue;
      axis = t.rank - 2;
      act = { value: n.input(0)!, axisFromEnd: 1 };
    } else if (n.opType === 'Gemm') {
      w = n.input(1);
      const t = constantOf(w);
      if (t?.rank !== 2 || constantOf(n.input(0))) continue;
      axis = n.getInt('transB', 0) ? 1 : 0;
      if (!n.getInt('transA', 0)) act = { value: n.input(0)!, axisFromEnd: 1 };
    } else if (n.opType === 'Conv') {
      w = n.input(1);
      const t = constantOf(w);
      if (!t || t.rank < 3) continue;
      axis = 1;
      act = n.getInt('group', 1) === 1 ? { value: n.input(0)!, axisFromEnd: t.rank - 1 } : undefined;
    } else continue;
    if (!w || seen.has(w) || skippedSet.has(w)) continue;
    const t = constantOf(w)!;
    if (!w.initializer && !(w.producer?.opType === 'Constant' && w.producer.getTensor('value') === t)) {
      skippedSet.add(w);
      skipped.push({ name: w.name, reason: `the weight of ${describe(n)} is a Constant in a form other than a tensor` });
      continue;
    }
    if (!isPrunableFloat(t)) {
      skippedSet.add(w);
      skipped.push({ name: w.name, reason: `the weight of ${describe(n)} is not a floating-point tensor` });
      continue;
    }
    seen.set(w, { value: w, tensor: t, node: n, reductionAxis: axis, activation: act });
  }
  return { weights: [...seen.values()], skipped };
}

/** Scores |w| (or |w| * ||x_j|| with activation energy per reduction index j). A fresh array. */
export function weightScores(w: PrunableWeight, actEnergy?: Float64Array): Float32Array {
  const v = w.tensor.toFloat32();
  const out = new Float32Array(v.length);
  if (!actEnergy) {
    for (let i = 0; i < v.length; i++) out[i] = Math.abs(v[i]);
    return out;
  }
  const dims = w.tensor.dims;
  const size = dims[w.reductionAxis];
  let inner = 1;
  for (let i = w.reductionAxis + 1; i < dims.length; i++) inner *= dims[i];
  const norm = Float32Array.from(actEnergy, (e) => Math.sqrt(e));
  for (let i = 0; i < v.length; i++) out[i] = Math.abs(v[i]) * norm[Math.floor(i / inner) % size];
  return out;
}
