/**
 * fuse-attention's KV-cache form (GPT-2 with past key/values, one decode step): the key and value heads are
 * concatenated after the past ones along the sequence axis, and those concatenations are the model's `present`
 * outputs:
 *
 *   present_k = Concat(past_k [B,H,P,D], k heads [B,H,S,D], axis −2)   (likewise v)
 *   scores = q heads · Transpose(present_k, (0,1,3,2)) ... Where(bias[:, :, T−S:T, :T]) ... Softmax · present_v
 *   ──>  out, present = Attention(x, W, b, [mask_index [B, T]], past = Concat(Unsqueeze(past_k, 0), Unsqueeze(past_v, 0)),
 *                                 unidirectional = 1)
 *        present_k = Gather(present, 0), present_v = Gather(present, 1)          (T = P + S)
 *
 * com.microsoft Attention takes the past as one [2, B, H, P, D] tensor and returns [2, B, H, T, D], so the two are
 * packed and unpacked around it (a copy of the cache each step; MultiHeadAttention, which takes them apart, needs the
 * projections outside it). Its unidirectional mask with a past lets query i (at position P + i) see keys 0..P + i,
 * which is the slice of GPT-2's lower-triangular buffer above. The present outputs keep their names (the rule lets
 * the two Concats escape the match and replaces their outputs: Rule.escapes).
 */
import { DataType } from '../../ir/dtype.js';
import type { Value } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { Match } from '../../rewrite/driver.js';
import { op, type Pattern, type PatternLike } from '../../rewrite/pattern.js';
import type { Rewriter } from '../../rewrite/rewriter.js';
import { Inference } from './infer.js';

/** Concat(past, heads) along the sequence axis of [B, H, S, D] */
export const pastConcat = (past: string, heads: PatternLike, as: string): Pattern =>
  op('Concat', [past, heads], { attrs: { axis: (a) => (a === -2 || a === 2 ? true : `axis ${a}, not the sequence axis`) }, as });

export function checkPast(m: Match): true | string {
  if (m.has('catk') !== m.has('catv')) return 'only one of the key and the value heads is concatenated to a past';
  if (!m.has('catk')) return true;
  if (!m.has('where')) return 'a past without the causal mask: only unidirectional attention with a past is fused';
  const inf = new Inference();
  for (const k of ['pastk', 'pastv'] as const) {
    const s = inf.shape(m.value(k));
    const t = inf.elemType(m.value(k));
    if (s?.length !== 4) return `the past ${m.value(k)} is not [batch, heads, past_sequence, head_size]`;
    if (t !== inf.elemType(m.value('x'))) return `the past ${m.value(k)} has another element type than the input`;
  }
  return true;
}

/** The Attention with past: packs the past, unpacks the present, and replaces the two present Concats. */
export function withPast(m: Match, r: Rewriter, inputs: (Value | null)[], attrs: Record<string, unknown>, name: string): Value {
  const axes = r.constant(`${name}.axis0`, Tensor.fromArray(DataType.INT64, [1], BigInt64Array.from([0n])));
  const unsq = (v: Value) =>
    m.opset() >= 13 ? r.op('Unsqueeze', [v, axes], {}, { name: `${name}_past` }) : r.op('Unsqueeze', [v], { axes: [0] }, { name: `${name}_past` });
  const past = r.op('Concat', [unsq(m.value('pastk')), unsq(m.value('pastv'))], { axis: 0 }, { name: `${name}_past` });
  while (inputs.length < 4) inputs.push(null);
  const [out, present] = r.ops('Attention', [...inputs, past], 2, attrs, { domain: 'com.microsoft', name });
  ['catk', 'catv'].forEach((k, i) => {
    const idx = r.constant(`${name}.present${i}`, Tensor.fromArray(DataType.INT64, [], BigInt64Array.from([BigInt(i)])));
    r.replaceAlso(m.node(k).output(0)!, r.op('Gather', [present!, idx], { axis: 0 }, { name: `${name}_present` }));
  });
  return out!;
}
