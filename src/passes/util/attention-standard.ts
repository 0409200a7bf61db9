/**
 * fuse-attention's --target onnx form: the standard Attention operator (opset 23) in place of the matched BERT or
 * causal GPT-2 self-attention (see fuse-attention.ts for the pattern and its checks). onnxruntime-node's behaviour
 * with this operator is pinned by test/passes/opset23-ops.test.ts.
 */
import { DataType } from '../../ir/dtype.js';
import { f, type Value } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { Match } from '../../rewrite/driver.js';
import type { Rewriter } from '../../rewrite/rewriter.js';
import { fusedName, inferRank, type FusionEnv } from './fusion.js';

/**
 * --target onnx: the additive mask goes to attn_mask as it is (after an Expand), when it broadcasts to [B, H, S, T].
 * Its element type is the scores' (Add takes one type), which is Q's, as attn_mask needs.
 */
export function attnMask(m: Match): true | string {
  if (!m.has('mask')) return true;
  const mask = m.value('mask');
  const r = inferRank(mask);
  if (r === undefined || r > 4)
    return `the mask ${mask} has ${r === undefined ? 'an unknown rank' : `rank ${r}`}; attn_mask broadcasts to [batch, heads, queries, keys]`;
  return true;
}

/**
 * --target onnx: the standard Attention (opset 23) on the 3-D projections, [B, S, H·D] each, with q_num_heads =
 * kv_num_heads = H: it splits them into heads, computes softmax(scale · Q·Kᵀ [+ causal] [+ attn_mask]) · V and merges
 * the heads back, which is what the matched subgraph does. The causal Where becomes is_causal = 1 (without past the
 * query and key lengths are equal, so its upper-left alignment is torch's slice). A mask goes to attn_mask expanded to
 * [B, 1, S, T]: onnxruntime 1.30's CPU kernel refuses a mask that broadcasts over the query axis
 * (test/passes/opset23-ops.test.ts pins it); expanding copies values and changes nothing.
 */
export function fuseStandard(m: Match, r: Rewriter, env: FusionEnv, H: number): Value {
  const [q, k, v] = ['rq', 'rk', 'rv'].map((n) => m.node(n).input(0)!);
  const scale = !m.has('scale') ? 1 : m.has('div') ? 1 / m.scalar('scale') : m.scalar('scale');
  const attrs: Record<string, unknown> = { q_num_heads: H, kv_num_heads: H, scale: f(scale) };
  if (m.has('where')) attrs.is_causal = 1;
  const inputs: Value[] = [q, k, v];
  if (m.has('mask')) {
    const dimsOf = (t: Value, start: number, end: number) => r.op('Shape', [t], { start, end });
    const shape = r.op(
      'Concat',
      [dimsOf(q, 0, 1), r.constant('one', Tensor.fromArray(DataType.INT64, [1], BigInt64Array.of(1n))), dimsOf(q, 1, 2), dimsOf(k, 1, 2)],
      {
        axis: 0,
      },
    );
    inputs.push(r.op('Expand', [m.value('mask'), shape]));
  }
  env.raise.want(m, 23);
  return r.op('Attention', inputs, attrs, { name: fusedName(m.root, 'Attention') });
}
