/**
 * fuse-attention: BERT-style and causal (GPT-2-style) multi-head self-attention becomes one
 * com.microsoft Attention with --target ort (the standard Attention with --target onnx, below); so does torch's
 * nn.MultiheadAttention export (rule attention-mha: util/attention-mha.ts, --target ort only). With --target ort,
 * attention over heads already split and rotated (LLaMA-style: rotary q/k, repeat_kv for grouped-query attention)
 * becomes com.microsoft MultiHeadAttention (rule attention-sdpa: util/attention-sdpa.ts), and its rotate_half rotary
 * embeddings com.microsoft RotaryEmbedding (rule rotary: util/rotary.ts).
 *
 *   x ─MatMul(Wq)─Add(bq)─Reshape[B,S,H,D]─Transpose(0,2,1,3)────────────┐ q
 *   x ─MatMul(Wk)─Add(bk)─Reshape[B,S,H,D]─Transpose(0,2,3,1)─────────────MatMul─Div(√D)─Add(mask)─Softmax(-1)─┐
 *   x ─MatMul(Wv)─Add(bv)─Reshape[B,S,H,D]─Transpose(0,2,1,3)───────────────────────────────────────────────MatMul─┘
 *       ─Transpose(0,2,1,3)─Reshape[B,S,H·D]─> y
 *   ──>  y = Attention(x, W = [Wq | Wk | Wv] : [Din, 3·H·D], b = [bq | bk | bv], mask_index, num_heads = H)
 *
 *   causal:  x ─MatMul(W [Din, 3·H·D])─Add(b)─Split─> q, k, v as above ... Div(√D)─Where(tril, ·, minv)─[Add(mask)]─Softmax
 *   ──>  y = Attention(x, W, b, [mask_index], num_heads = H, unidirectional = 1)
 *
 * Attention computes softmax(scale · Q·Kᵀ + mask) · V per head with Q = x·Wq + bq (likewise K, V), which is the
 * subgraph above; scale is 1/c for Div(·, c), c for Mul(·, c), 1 without either (written as an attribute only when it
 * is not 1/√D). The reshape targets are matched as torch writes them (Concat(Unsqueeze(Gather(Shape(t), 0)),
 * Unsqueeze(Gather(Shape(t), 1)), H, D), or Concat(Slice(Shape(t), 0, -1), H, D)) or as constants ([0, 0, H, D]);
 * H and D are read from them. Kᵀ may also be Transpose(0,1,3,2) of a Transpose(0,2,1,3).
 * Packed projection (GPT-2's c_attn): x─MatMul(W [Din, 3·H·D])─Add(b [3·H·D])─Split(last axis) into q, k, v, three
 * equal parts (sizes as an input, the `split` attribute, or none); W and b are already Attention's weight and bias
 * and are reused as they are. Unequal parts (which would need qkv_hidden_sizes) are a near miss.
 * Causal mask: Where(causal, scores, minv) between the scaling and the mask Add (or the Softmax), where causal is a
 * bool constant (or a Cast of one) that is torch's slice of GPT-2's buffer, bias[:, :, kl − ql : kl, :kl] with kl, ql
 * read by Shape/Gather (or Shape/Slice/Squeeze) from K, Kᵀ, Q or the scores, or is already folded to [1, 1, S, S] /
 * [S, S]; it becomes unidirectional = 1. The constant must be lower-triangular over all of it (nonzero exactly on and
 * below the diagonal: without past the slice is its top-left S×S block for every S) and minv ≤ −10000 (finfo.min,
 * −1e4 or −inf); anything else is a near miss.
 * Mask: the HF extended mask (1 − Unsqueeze(Unsqueeze(Cast(m), 1), 2)) · fill (or Unsqueeze axes [1, 2]; the Cast on
 * either side) becomes mask_index = Cast(m, int32), the raw [batch, sequence] mask (1 attend, 0 masked; shared by
 * all layers), with mask_filter_value = fill, so masked scores get exactly the value they had; this matches the
 * original for 0/1 masks. Without a mask Add there is no mask_index; another mask is a near miss.
 * Causal with a mask: onnxruntime's CPU kernel writes mask_filter_value at padded keys and float32 lowest at future
 * keys (whatever mask_filter_value is), where the original has s + fill and minv (+ fill). mask_filter_value = fill
 * again gives padded keys exactly their original score; future keys differ (lowest for minv) but vanish either way,
 * so every row with an unpadded key it may see — every real token, with right or left padding — is the same. The
 * rows of padding tokens under left padding (every key they may see is padded) cannot match in general: the kernel
 * has one value for all future keys, the original two (minv unpadded, minv + fill padded). With minv = −inf both are
 * −inf, and then a fill of float32 lowest becomes lowest / 2 (it still absorbs the scores) so that those rows stay
 * uniform over the keys they may see, as in the original.
 * With --target ort it fires when the weights are float constants (Wq, Wk, Wv of one shape [Din, H·D], biases, if
 * any, [H·D]; a missing one is zeros), the projections read the same x (rank 3 when known), Softmax is over the last
 * axis, and every intermediate is read only inside the match (so the attention probabilities must not be a graph
 * output). Recurses into subgraphs and function bodies.
 * --target onnx (util/attention-standard.ts): the same BERT and causal forms become the standard Attention of opset 23
 * on the three projections, when the opset can be raised to 23 (else a near miss names the blocking node); any
 * additive mask of rank <= 4 becomes attn_mask. Past/present and nn.MultiheadAttention stay --target ort only.
 */
import { DataType } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { f, type Value } from '../ir/graph.js';
import { constantInts } from '../rewrite/constant.js';
import type { Match, Rule } from '../rewrite/driver.js';
import { add, anyConst, anyScalar, attrIs, c, constWhere, div, matmul, mul, oneOf, op, reshape, transpose, type Pattern } from '../rewrite/pattern.js';
import type { Rewriter } from '../rewrite/rewriter.js';
import { causalMaskFilter, causalWhere, checkCausal, maskIndex, packedProjection, rawMask, unsqueeze } from './util/attention.js';
import { checkPast, pastConcat, withPast } from './util/attention-past.js';
import { mhaRule } from './util/attention-mha.js';
import { attnMask, fuseStandard } from './util/attention-standard.js';
import { sdpaRule } from './util/attention-sdpa.js';
import { rotaryRule } from './util/rotary.js';
import { concatRows } from './util/concat-rows.js';
import { fusedName, fusionPass, inferRank, tensorOf, type FusionEnv } from './util/fusion.js';

const dim = (t: Pattern, i: number) => unsqueeze(op('Gather', [op('Shape', [t]), c(i)], { attrs: { axis: attrIs(0, 0) } }), [0]);
const leading = (t: Pattern, end: number) =>
  op('Slice', [op('Shape', [t]), c(0), c(end)], {
    rest: true,
    where: (n) =>
      (n.input(3) && String(constantInts(n.input(3))) !== '0') || (n.input(4) && String(constantInts(n.input(4))) !== '1') ? 'not shape[:end]' : true,
  });

/** The target shape of a split into heads: torch's shape arithmetic on t, or a constant [., ., H, D]. */
const headsShape = (t: Pattern, k: string) =>
  oneOf(
    op('Concat', [dim(t, 0), dim(t, 1), anyScalar(`h${k}`), anyScalar(`d${k}`)], { attrs: { axis: 0 } }),
    op('Concat', [leading(t, -1), anyScalar(`h${k}`), anyScalar(`d${k}`)], { attrs: { axis: 0 } }),
    constWhere(`s${k}`, (s) => (s.rank === 1 && s.size === 4 ? true : 'not a 4-element shape')),
  );

/** x·W + b with packed weights [Din, 3·hidden], split into q, k, v: output i of one Split */
const packed = oneOf(add(matmul('x', anyConst('wqkv')), anyConst('bqkv')), matmul('x', anyConst('wqkv')));
const splitOut = (i: number) => op('Split', [packed], { output: i, as: 'split', rest: true });

/** x·W + b (separate weights, or part i of the packed projection) split into heads and transposed by `perm` */
function heads(k: string, i: number, perm: number[]): Pattern {
  const proj = oneOf(add(matmul('x', anyConst(`w${k}`)), anyConst(`b${k}`)), matmul('x', anyConst(`w${k}`)), splitOut(i));
  return transpose(reshape(proj, headsShape(proj, k), { as: `r${k}` }), { attrs: { perm } });
}

const qHeads = heads('q', 0, [0, 2, 1, 3]);
const kHeads = heads('k', 1, [0, 2, 1, 3]);
const presentK = pastConcat('pastk', kHeads, 'catk');
const keyT = oneOf(heads('k', 1, [0, 2, 3, 1]), transpose(oneOf(kHeads, presentK), { attrs: { perm: [0, 1, 3, 2] } }));
const scores = matmul(qHeads, keyT);
const scaled = oneOf(div(scores, anyScalar('scale'), { as: 'div' }), mul(scores, anyScalar('scale')), scores);
const masked = oneOf(causalWhere(qHeads, oneOf(kHeads, presentK), keyT, scaled), scaled);
const probs = oneOf(op('Softmax', [add(masked, 'mask')], { as: 'softmax' }), op('Softmax', [masked], { as: 'softmax' }));
const vHeads = heads('v', 2, [0, 2, 1, 3]);
const ctxT = transpose(matmul(probs, oneOf(vHeads, pastConcat('pastv', vHeads, 'catv'))), { attrs: { perm: [0, 2, 1, 3] } });
const outShape = oneOf(
  op('Concat', [dim(ctxT, 0), dim(ctxT, 1), anyScalar('hid')], { attrs: { axis: 0 } }),
  op('Concat', [leading(ctxT, -2), anyScalar('hid')], { attrs: { axis: 0 } }),
  constWhere('outs', (s) => (s.rank === 1 && s.size === 3 ? true : 'not a 3-element shape')),
);
const attention = reshape(ctxT, outShape);

function sizes(m: Match, k: string): [number, number] | undefined {
  if (m.has(`h${k}`)) return [m.scalar(`h${k}`), m.scalar(`d${k}`)];
  const s = m.numbers(`s${k}`);
  return [s[2], s[3]];
}

interface Projection {
  packed: boolean;
  din: number;
  hidden: number;
  dataType: number;
}

function projection(m: Match): Projection | string {
  if (m.has('split')) {
    const p = packedProjection(m);
    return typeof p === 'string' ? p : { packed: true, ...p };
  }
  if (!['q', 'k', 'v'].every((k) => m.has(`w${k}`))) return 'q, k and v do not all come from one packed projection';
  const w = ['q', 'k', 'v'].map((k) => m.tensor(`w${k}`));
  if (w.some((t) => t.rank !== 2 || t.dataType !== w[0].dataType || String(t.dims) !== String(w[0].dims)))
    return 'Wq, Wk and Wv are not matrices of one shape and type';
  const [din, hidden] = w[0].dims;
  for (const k of ['q', 'k', 'v'])
    if (m.has(`b${k}`) && (m.tensor(`b${k}`).size !== hidden || m.tensor(`b${k}`).dataType !== w[0].dataType)) return `b${k} does not hold ${hidden} values`;
  return { packed: false, din, hidden, dataType: w[0].dataType };
}

function check(m: Match, env: FusionEnv): true | string {
  const onnx = m.ctx.target !== 'ort';
  if (onnx && m.has('catk')) return 'with a KV cache (past/present), attention is fused for --target ort only';
  const proj = projection(m);
  if (typeof proj === 'string') return proj;
  if (![DataType.FLOAT, DataType.FLOAT16].includes(proj.dataType)) return 'Attention takes float or float16 weights';
  const { din, hidden } = proj;
  const hd = ['q', 'k', 'v'].map((k) => sizes(m, k)!);
  const [H, D] = hd[0];
  if (hd.some(([h, d]) => h !== H || d !== D) || H * D !== hidden || H < 1)
    return `heads split [${hd.map((x) => x.join('x'))}] does not match a hidden size of ${hidden}`;
  const out = m.has('hid') ? m.scalar('hid') : m.numbers('outs')[2];
  if (out !== hidden) return `the output is reshaped to ${out}, not ${hidden}`;
  const axis = m.node('softmax').getInt('axis', m.opset() >= 13 ? -1 : 1);
  if (axis !== -1 && axis !== 3) return `Softmax over axis ${axis}, not the last axis`;
  const r = inferRank(m.value('x'));
  if (r !== undefined && r !== 3) return `the input has rank ${r}; Attention takes [batch, sequence, ${din}]`;
  const causal = checkCausal(m);
  if (causal !== true) return causal || 'not a causal mask';
  const mask = onnx ? attnMask(m) : rawMask(m);
  if (typeof mask === 'string') return mask;
  if (m.has('scale') && !(m.scalar('scale') > 0)) return `scale ${m.scalar('scale')} is not positive`;
  if (!onnx) return checkPast(m);
  // last: a match refused only for the opset may be retried (util/opset.ts OpsetRaise.retry)
  const need = env.raise.need(m, 23, 'the standard Attention operator');
  return need === true ? true : `${need} (--target ort emits com.microsoft Attention at any opset)`;
}

function fuse(m: Match, r: Rewriter): Value {
  const proj = projection(m) as Projection;
  const { din, hidden, dataType: dtype } = proj;
  const [H, D] = sizes(m, 'q')!;
  const name = fusedName(m.root, 'Attention');
  let weight: Value;
  let bias: Value;
  if (proj.packed) {
    // already [Wq | Wk | Wv] and [bq | bk | bv]: the constants are reused as they are
    weight = m.value('wqkv');
    const b = m.has('bqkv') ? m.tensor('bqkv') : undefined;
    bias =
      b?.rank === 1
        ? m.value('bqkv')
        : r.constant(`${name}.qkv_bias`, b ? Tensor.fromRaw(dtype, [3 * hidden], b.rawBytes()) : tensorOf(dtype, [3 * hidden], new Float32Array(3 * hidden)));
  } else {
    const w = ['q', 'k', 'v'].map((k) => m.tensor(`w${k}`));
    const zeros = tensorOf(dtype, [1, hidden], new Float32Array(hidden));
    const b = ['q', 'k', 'v'].map((k) => (m.has(`b${k}`) ? m.tensor(`b${k}`) : zeros));
    weight = r.constant(`${name}.qkv_weight`, concatRows(w, din, hidden));
    bias = r.constant(`${name}.qkv_bias`, concatRows(b, 1, hidden, [3 * hidden]));
  }
  const inputs: (Value | null)[] = [m.value('x'), weight, bias];
  const attrs: Record<string, unknown> = { num_heads: H };
  const causal = m.has('where');
  if (causal) attrs.unidirectional = 1;
  const mask = rawMask(m);
  if (mask && typeof mask !== 'string') {
    inputs.push(maskIndex(m, r, mask.input));
    attrs.mask_filter_value = f(causal ? causalMaskFilter(mask.fill, m.scalar('minv')) : mask.fill);
  }
  const scale = !m.has('scale') ? 1 : m.has('div') ? 1 / m.scalar('scale') : m.scalar('scale');
  if (Math.abs(scale * Math.sqrt(D) - 1) > 1e-6) attrs.scale = f(scale);
  if (!m.has('catk')) return r.op('Attention', inputs, attrs, { domain: 'com.microsoft', name });
  return withPast(m, r, inputs, attrs, name);
}

function rules(env: FusionEnv): Rule[] {
  const main: Rule = {
    name: 'attention',
    pattern: attention,
    explainMinDepth: 6,
    condition: (m) => check(m, env),
    rewrite: (m, r) => (m.ctx.target === 'ort' ? fuse(m, r) : fuseStandard(m, r, env, sizes(m, 'q')![0])),
    escapes: ['catk', 'catv'],
  };
  return [main, mhaRule, sdpaRule, rotaryRule];
}

export default fusionPass({
  name: 'fuse-attention',
  description:
    'fuse BERT-, GPT-2- (causal) and nn.MultiheadAttention self-attention into com.microsoft Attention, LLaMA-style attention into MultiHeadAttention + RotaryEmbedding (--target ort); BERT and GPT-2 forms into the standard Attention (--target onnx, opset 23)',
  rules,
});
