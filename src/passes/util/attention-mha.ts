/**
 * fuse-attention's rule for torch's nn.MultiheadAttention as torch.onnx.export writes it (F.multi_head_attention_
 * forward, batch_first input turned sequence-first; nn.TransformerEncoder layers):
 *
 *   xs = Transpose(x, [1,0,2]) [S,B,E] ─MatMul(W [E,3E])─Add(b)─Slice(last axis) into q | k | v ([0:E], [E:2E], [2E:3E])
 *   q ─Reshape[S, B·H, D]─Transpose(1,0,2)─Div(√D)──────────┐
 *   k ─Reshape[S, B·H, D]─Transpose(1,2,0)──────────────────MatMul─[Mul(1)]─Add([Mul(1)] Where(pad, −inf, 0))─Softmax─┐
 *   v ─Reshape[S, B·H, D]─Transpose(1,0,2)──────────────────────────────────────────────────────────────────────MatMul─┘
 *       ─Transpose(1,0,2)─Reshape[S·B, E]─> y                 (then out_proj: Gemm, Reshape, Transpose, unchanged)
 *   ──>  y = Reshape(Transpose(Attention(x, W, b, mask_index = Cast(Not(pad), int32), num_heads = H), [1,0,2]), ·)
 *
 * pad is the boolean key padding mask [B, S] (True = padding), spread over the heads as torch does:
 * Reshape(pad, [B,1,1,S]), Expand to [B,H,1,S], Reshape to [B·H,1,S] (row b·H + h, the same order in which the
 * Reshape of q/k/v to [S, B·H, D] numbers the heads). The targets are torch's shape arithmetic, read from the
 * heads themselves (so those Shape nodes are part of the match); their values are checked by util/infer.ts: each
 * heads target keeps q's dim 0 and ends in D (the middle is then B·E/D by element count), the mask targets are
 * [B,1,1,S], [B|1,H,1,S|1] and [·,1,S] in the mask's own dims. The padded keys get float32 lowest instead of −inf
 * (mask_filter_value): both absorb every score, so rows with an unpadded key are the same; only rows whose every
 * key is padded differ (NaN in torch). The scale is 1/c for Div(q, c), c for Mul(q, c); alpha/beta Muls must be 1.
 */
import { DataType } from '../../ir/dtype.js';
import { f, type Value } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { constantInts, numbersOf } from '../../rewrite/constant.js';
import type { Match, Rule } from '../../rewrite/driver.js';
import { _, add, anyConst, anyScalar, attrIs, c, div, matmul, mul, oneOf, op, reshape, transpose, type Pattern } from '../../rewrite/pattern.js';
import type { Rewriter } from '../../rewrite/rewriter.js';
import { F32_LOWEST, unsqueeze } from './attention.js';
import { fusedName } from './fusion.js';
import { Inference, type IVal } from './infer.js';

const qkv = add(matmul('xs', anyConst('wqkv')), anyConst('bqkv'));
const part = (i: number) => op('Slice', [qkv, _, _, _], { as: `slice${i}`, rest: true });
/** torch's [q.shape[0], B·H, D] read from the part itself, or any target (values checked by inference) */
const headsTarget = (p: Pattern, k: string) =>
  oneOf(
    op('Concat', [unsqueeze(op('Gather', [op('Shape', [p]), c(0)], { attrs: { axis: attrIs(0, 0) } }), [0]), _, _], { attrs: { axis: 0 }, as: `ct${k}` }),
    `t${k}`,
  );
const kr = reshape(part(1), headsTarget(part(1), 'k'), { as: 'kr' });
const qh = transpose(reshape(part(0), 'tq', { as: 'qr' }), { attrs: { perm: [1, 0, 2] } });
const qScaled = oneOf(div(qh, anyScalar('scale'), { as: 'div' }), mul(qh, anyScalar('scale')), qh);
const scores = matmul(qScaled, transpose(kr, { attrs: { perm: [1, 2, 0] } }));
const alpha = oneOf(mul(scores, anyScalar('alpha')), scores);

// the padding mask spread over the heads; the source length read from k's heads (Transpose(kr, [1,0,2]))
const srcLen = unsqueeze(op('Gather', [op('Shape', [transpose(kr, { attrs: { perm: [1, 0, 2] } })]), c(1)], { attrs: { axis: attrIs(0, 0) } }), [0]);
const mt1 = oneOf(op('Concat', [_, _, _, srcLen], { attrs: { axis: 0 }, as: 'cmt1' }), 'mt1');
const mt3 = oneOf(op('Concat', [_, _, srcLen], { attrs: { axis: 0 }, as: 'cmt3' }), 'mt3');
const mr = reshape(op('Expand', [reshape('pad', mt1), 'mt2']), mt3, { as: 'mr' });
const zeros = oneOf(op('ConstantOfShape', [op('Shape', [mr])], { as: 'zeros' }), anyScalar('zero'));
const maskF = op('Where', [mr, anyScalar('fill'), zeros]);
const maskTerm = oneOf(mul(maskF, anyScalar('beta')), maskF);
const probs = oneOf(op('Softmax', [add(alpha, maskTerm)], { as: 'softmax' }), op('Softmax', [alpha], { as: 'softmax' }));
const vh = transpose(reshape(part(2), headsTarget(part(2), 'v')), { attrs: { perm: [1, 0, 2] } });
const pattern = reshape(transpose(matmul(probs, vh), { attrs: { perm: [1, 0, 2] } }), 'tout');

/** a target bound as a value (`t…`), or as the Concat node that computes it (`c…`) */
const target = (m: Match, k: string): Value => (m.has(`c${k}`) ? m.node(`c${k}`).output(0)! : m.value(k));
const show = (t: IVal[] | undefined) => (t ? `[${t.map((d) => d ?? '?')}]` : 'unknown');
const same = (a: IVal | undefined, b: IVal | undefined) => a !== null && a !== undefined && a === b;

function sizes(m: Match): { e: number; h: number; d: number } | string {
  const w = m.tensor('wqkv');
  const e = w.dims[0];
  if (w.rank !== 2 || w.dims[1] !== 3 * e || m.tensor('bqkv').size !== 3 * e) return `the in_proj weight [${w.dims}] is not [E, 3E] with 3E biases`;
  if (![DataType.FLOAT, DataType.FLOAT16].includes(w.dataType) || m.tensor('bqkv').dataType !== w.dataType) return 'Attention takes float or float16 weights';
  for (let i = 0; i < 3; i++) {
    const s = m.node(`slice${i}` as never);
    const [st, en, ax] = [1, 2, 3].map((j) => constantInts(s.input(j)));
    const step = s.input(4) ? constantInts(s.input(4)) : [1];
    const end = en?.[0] !== undefined && en[0] >= 3 * e ? 3 * e : en?.[0];
    if (String(st) !== String(i * e) || end !== (i + 1) * e || !ax || !['-1', '2'].includes(String(ax)) || String(step) !== '1')
      return `q/k/v are not the slices [0:${e}], [${e}:${2 * e}], [${2 * e}:${3 * e}] of the in_proj output's last axis`;
  }
  const inf = new Inference();
  const tq = inf.values(target(m, 'tq'));
  const d = tq?.[2];
  if (typeof d !== 'number' || !(d > 0) || e % d !== 0) return `q is reshaped to ${show(tq)}, not [S, B·H, D] with D dividing ${e}`;
  for (const [k, i] of [
    ['tq', 0],
    ['tk', 1],
    ['tv', 2],
  ] as const) {
    const t = inf.values(target(m, k));
    const s0 = inf.shape(m.node(`slice${i}` as never).output(0))?.[0];
    if (t?.length !== 3 || t[2] !== d || !same(t[0], s0)) return `part ${i} of q/k/v is reshaped to ${show(t)}, not [${s0 ?? '?'}, B·H, ${d}]`;
  }
  return { e, h: e / d, d };
}

function checkMask(m: Match, h: number): true | string {
  if (!m.has('pad')) return true;
  const inf = new Inference();
  const pad = m.value('pad');
  const ps = inf.shape(pad);
  if (inf.elemType(pad) !== DataType.BOOL || ps?.length !== 2) return `the key padding mask ${pad} is not a boolean [batch, sequence]`;
  const [t1, t2, t3] = (['mt1', 'mt2', 'mt3'] as const).map((k) => inf.values(target(m, k)));
  const ok1 = t1?.length === 4 && (same(t1[0], ps[0]) || t1[0] === -1) && t1[1] === 1 && t1[2] === 1 && same(t1[3], ps[1]);
  const ok2 = t2?.length === 4 && (t2[0] === 1 || same(t2[0], ps[0])) && t2[1] === h && t2[2] === 1 && (t2[3] === 1 || same(t2[3], ps[1]));
  const ok3 = t3?.length === 3 && t3[1] === 1 && same(t3[2], ps[1]);
  if (!ok1 || !ok2 || !ok3) return `the padding mask is reshaped ${show(t1)}, expanded ${show(t2)}, reshaped ${show(t3)}: not spread over ${h} heads`;
  if (!(m.scalar('fill') <= -1e4)) return `padded keys get ${m.scalar('fill')}, not a value ≤ -10000 that vanishes in the Softmax`;
  if (m.has('zero') && m.scalar('zero') !== 0) return 'the mask is not 0 at unpadded keys';
  const zero = m.has('zeros') ? m.node('zeros').attr('value')?.value : undefined;
  if (zero && numbersOf(zero as Tensor)?.[0] !== 0) return 'the mask is not 0 at unpadded keys';
  return true;
}

function check(m: Match): true | string {
  if (m.ctx.target !== 'ort') return 'Attention is an onnxruntime contrib operator: use --target ort';
  const s = sizes(m);
  if (typeof s === 'string') return s;
  const xs = m.value('xs').producer;
  if (xs?.opType !== 'Transpose' || String(xs.getInts('perm')) !== '1,0,2') return 'the projections do not read a batch-first input turned sequence-first';
  const inf = new Inference();
  if (inf.rank(xs.input(0)) !== 3) return `the input ${xs.input(0)} is not [batch, sequence, ${s.e}]`;
  const out = inf.values(m.value('tout'));
  if (out?.length !== 2 || out[1] !== s.e) return `the context is reshaped to ${show(out)}, not [S·B, ${s.e}]`;
  const axis = m.node('softmax').getInt('axis', m.opset() >= 13 ? -1 : 1);
  if (axis !== -1 && axis !== 2) return `Softmax over axis ${axis}, not the last axis`;
  for (const k of ['alpha', 'beta'] as const) if (m.has(k) && m.scalar(k) !== 1) return `the scores are scaled by ${k} = ${m.scalar(k)}`;
  if (m.has('scale') && !(m.scalar('scale') > 0)) return `scale ${m.scalar('scale')} is not positive`;
  return checkMask(m, s.h);
}

function fuse(m: Match, r: Rewriter): Value {
  const { h, d } = sizes(m) as { e: number; h: number; d: number };
  const name = fusedName(m.root, 'Attention');
  const x = m.value('xs').producer!.input(0)!;
  const inputs: Value[] = [x, m.value('wqkv'), m.value('bqkv')];
  const attrs: Record<string, unknown> = { num_heads: h };
  if (m.has('pad')) {
    inputs.push(r.op('Cast', [r.op('Not', [m.value('pad')], {}, { name: `${name}_keep` })], { to: DataType.INT32 }, { name: `${name}_mask_index` }));
    attrs.mask_filter_value = f(Math.max(m.scalar('fill'), F32_LOWEST));
  }
  const scale = !m.has('scale') ? 1 : m.has('div') ? 1 / m.scalar('scale') : m.scalar('scale');
  if (Math.abs(scale * Math.sqrt(d) - 1) > 1e-6) attrs.scale = f(scale);
  const a = r.op('Attention', inputs, attrs, { domain: 'com.microsoft', name });
  return r.op('Reshape', [r.op('Transpose', [a], { perm: [1, 0, 2] }, { name: `${name}_seq_first` }), m.value('tout')]);
}

export const mhaRule: Rule = { name: 'attention-mha', pattern, explainMinDepth: 8, condition: check, rewrite: fuse };
