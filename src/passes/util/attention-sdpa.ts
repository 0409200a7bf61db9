/**
 * fuse-attention's rule for scaled dot-product attention over heads that are already split (rule attention-sdpa):
 * what a LLaMA-style export writes after its rotary embeddings and repeat_kv, where q, k and v are no longer the
 * plain projections the attention rule needs.
 *
 *   q [B,N,S,D] ────────────────────────────────┐
 *   k [B,N,T,D] ─Transpose(0,1,3,2)─────────────MatMul─Div(c)|Mul(c)─[Add(bias)]─Softmax(-1)─┐
 *   v [B,N,T,D] ─────────────────────────────────────────────────────────────────────────MatMul─Transpose(0,2,1,3)
 *       ─Reshape[B,S,N·D]─> y
 *   ──>  y = MultiHeadAttention(Reshape(Transpose(q, [0,2,1,3]), [0,0,N·D]), k, v, attention_bias = bias,
 *                               num_heads = N, scale = 1/c | c)
 *
 * MultiHeadAttention (com.microsoft) takes the query as [B,S,N·D] and the key and value as [B,N,T,D] (BNSH, no
 * bias) and computes softmax(scale · Q·Kᵀ + attention_bias) · V per head, which is the subgraph above: the additive
 * mask (causal + padding, finfo.min where masked) is passed as it is as attention_bias, so masked scores get exactly
 * the value they had. The bias must be rank 4 ([B|1, N|1, S|1, T|1] as the original Add broadcasts it); where its
 * last two dims are not proven to be S and T it is expanded to them first (attentionBias). N and D are read (by util/infer.ts) from q, k and v, which must agree;
 * q, k and v must be proven to share the batch dim, k and v the length; the output must be reshaped to [B, S, N·D].
 * Fires with --target ort, float or float16 values.
 */
import { DataType } from '../../ir/dtype.js';
import { f, type Value } from '../../ir/graph.js';
import type { Match, Rule } from '../../rewrite/driver.js';
import { add, anyScalar, div, matmul, mul, oneOf, op, reshape, transpose } from '../../rewrite/pattern.js';
import type { Rewriter } from '../../rewrite/rewriter.js';
import { fusedName } from './fusion.js';
import { Inference, type IDim } from './infer.js';

const scores = matmul('q', transpose('k', { attrs: { perm: [0, 1, 3, 2] } }));
const scaled = oneOf(div(scores, anyScalar('scale'), { as: 'div' }), mul(scores, anyScalar('scale')), scores);
const probs = oneOf(op('Softmax', [add(scaled, 'bias')], { as: 'softmax' }), op('Softmax', [scaled], { as: 'softmax' }));
const pattern = reshape(transpose(matmul(probs, 'v'), { attrs: { perm: [0, 2, 1, 3] } }), 'tout');

const show = (t: IDim[] | undefined) => (t ? `[${t.map((d) => d ?? '?')}]` : 'unknown');

function sizes(m: Match): { n: number; d: number } | string {
  const inf = new Inference();
  const [q, k, v] = (['q', 'k', 'v'] as const).map((x) => inf.shape(m.value(x)));
  const n = q?.[1];
  const d = q?.[3];
  if (q?.length !== 4 || typeof n !== 'number' || typeof d !== 'number')
    return `q has shape ${show(q)}, not [batch, heads, sequence, head size] with known heads and head size`;
  if (k?.length !== 4 || k[1] !== n || k[3] !== d) return `k has shape ${show(k)}, not [batch, ${n}, sequence, ${d}]`;
  if (v?.length !== 4 || v[1] !== n || v[3] !== d) return `v has shape ${show(v)}, not [batch, ${n}, sequence, ${d}]`;
  // MatMul would broadcast a batch of 1 (or k and v of different lengths); MultiHeadAttention does not
  const same = (a: IDim | undefined, b: IDim | undefined) => a !== null && a !== undefined && a === b;
  if (!same(q[0], k[0]) || !same(k[0], v[0])) return `q, k and v are not proven to share the batch dim (${show(q)}, ${show(k)}, ${show(v)})`;
  if (!same(k[2], v[2])) return `k and v are not proven to have the same length (${show(k)}, ${show(v)})`;
  for (const x of ['q', 'k', 'v'] as const) {
    const t = inf.elemType(m.value(x));
    if (t !== DataType.FLOAT && t !== DataType.FLOAT16) return `${x} is not float or float16`;
  }
  return { n, d };
}

function check(m: Match): true | string {
  if (m.ctx.target !== 'ort') return 'MultiHeadAttention is an onnxruntime contrib operator: use --target ort';
  const s = sizes(m);
  if (typeof s === 'string') return s;
  const inf = new Inference();
  const out = inf.values(m.value('tout'));
  if (out?.length !== 3 || out[2] !== s.n * s.d) return `the context is reshaped to ${show(out)}, not [batch, sequence, ${s.n * s.d}]`;
  const axis = m.node('softmax').getInt('axis', m.opset() >= 13 ? -1 : 1);
  if (axis !== -1 && axis !== 3) return `Softmax over axis ${axis}, not the last axis`;
  if (m.has('scale') && !(m.scalar('scale') > 0)) return `scale ${m.scalar('scale')} is not positive`;
  if (m.has('bias')) {
    const b = inf.shape(m.value('bias'));
    if (b?.length !== 4) return `the additive mask ${m.value('bias')} has shape ${show(b)}, not [batch, heads, sequence, total sequence]`;
    if (typeof b[1] === 'number' && b[1] !== 1 && b[1] !== s.n) return `the additive mask has ${b[1]} heads, not 1 or ${s.n}`;
    if (inf.elemType(m.value('bias')) !== inf.elemType(m.value('q'))) return 'the additive mask is not of the type of the scores';
  }
  return true;
}

/**
 * The additive mask as attention_bias [B|1, N|1, S, T]: as it is when its last two dims are proven to be the
 * scores' (so it is not broadcast over them), else Expand(bias, [1, 1, S, T]) with S, T read from q and k at run
 * time (the original Add broadcast a dim of 1 there; MultiHeadAttention broadcasts only the first two).
 */
function attentionBias(m: Match, r: Rewriter, name: string): Value {
  const inf = new Inference();
  const bias = m.value('bias');
  const b = inf.shape(bias)!;
  const [q, k] = [inf.shape(m.value('q')), inf.shape(m.value('k'))];
  const proven = (x: IDim | undefined, want: IDim | undefined) => x !== null && x !== undefined && x === want;
  if (proven(b[2], q?.[2]) && proven(b[3], k?.[2])) return bias;
  const len = (x: Value, tag: string) =>
    r.op('Slice', [r.op('Shape', [x], {}, { name: `${name}_${tag}_shape` }), r.ints([2]), r.ints([3])], {}, { name: `${name}_${tag}_len` });
  const shape = r.op('Concat', [r.ints([1, 1]), len(m.value('q'), 'q'), len(m.value('k'), 'k')], { axis: 0 }, { name: `${name}_bias_shape` });
  return r.op('Expand', [bias, shape], {}, { name: `${name}_bias` });
}

function fuse(m: Match, r: Rewriter): Value {
  const { n, d } = sizes(m) as { n: number; d: number };
  const name = fusedName(m.root, 'MultiHeadAttention');
  const qt = r.op('Transpose', [m.value('q')], { perm: [0, 2, 1, 3] }, { name: `${name}_q_bsnh` });
  const query = r.op('Reshape', [qt, r.ints([0, 0, n * d])], {}, { name: `${name}_q` });
  const inputs: (Value | null)[] = [query, m.value('k'), m.value('v')];
  if (m.has('bias')) inputs.push(null, null, attentionBias(m, r, name));
  const attrs: Record<string, unknown> = { num_heads: n };
  const scale = !m.has('scale') ? 1 : m.has('div') ? 1 / m.scalar('scale') : m.scalar('scale');
  if (Math.abs(scale * Math.sqrt(d) - 1) > 1e-6) attrs.scale = f(scale);
  return r.op('MultiHeadAttention', inputs, attrs, { domain: 'com.microsoft', name });
}

export const sdpaRule: Rule = { name: 'attention-sdpa', pattern, explainMinDepth: 6, condition: check, rewrite: fuse };
