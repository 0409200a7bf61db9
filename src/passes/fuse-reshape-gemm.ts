/**
 * fuse-reshape-gemm: the flatten-Gemm-unflatten that torch exports for `torch.addmm` linear layers (Hugging Face
 * Conv1D: GPT-2's c_attn, c_proj, c_fc) becomes MatMul + Add on the N-D input, the form the transformer fusions
 * (fuse-attention, fuse-bias-gelu, fuse-skip-layer-norm) match.
 *
 *   x [.., K] ─Reshape([-1, K])─> a [M, K] ─Gemm(W, b)─> g [M, N] ─Reshape(x's leading dims + [N])─> y [.., N]
 *   ──>  y = Add(MatMul(x, W'), b')          W' = W, or Wᵀ as a new constant when transB = 1; b' = b as [N] (or [1])
 *
 * Why it is the same computation: Reshape keeps row-major order, so a = x viewed as [prod(lead), K] and row i of
 * Gemm is x_i·W + b; reshaping back to x's leading dims + [N] is exactly what MatMul broadcasts over the leading
 * dims. The second Reshape is what proves it: its target restores x's leading dims (M = prod(lead)), so the first
 * Reshape can only have made [prod(lead), K] with K the last dim of x.
 * Fires when:
 *   - the first target is a 2-element constant [-1 | P, K] or torch's Concat([-1], Unsqueeze(Gather(Shape(x), i)));
 *     when x's last dim or rank is known it must be K (i must be -1 or rank - 1); or any target whose values
 *     util/infer.ts derives as [-1, K] (torch 1.13 writes x.size(-1) as Squeeze(Slice(Shape(x), -1, MAX)));
 *   - the Gemm has transA = 0, alpha = beta = 1 (other values are a near miss; Conv1D exports have 1 and folding
 *     them would round differently), W a constant matrix (K = its rows, or columns with transB = 1), C absent or a
 *     constant of one element or of shape [N] / [1, N]; opset >= 7 (Gemm-6 broadcasts C only with `broadcast`);
 *   - the second target is Concat(Slice(Shape(x), 0, -1), [N]) (any rank of x), Concat(Unsqueeze(Gather(Shape(x),
 *     0)), .., Unsqueeze(Gather(Shape(x), r - 2)), [N]) with the rank r of x known, or a constant equal to x's known
 *     static leading dims + [N] (one -1 allowed when x's last dim is statically K), or any target whose inferred
 *     values are x's inferred leading dims (numbers, or the same symbolic dims, e.g. [batch, sequence]) + [N];
 *   - x's shape and rank: declared, or inferred by util/infer.ts from its producers (exports carry no value_info);
 *   - neither Reshape has allowzero = 1, and every intermediate (the flattened x, the Gemm output, the Shape
 *     arithmetic) is read only inside the match and is not a graph output (the driver checks).
 * Lossless: MatMul + Add compute the same products and sums as Gemm. fuse-matmul-add cannot undo it (it needs A of
 * rank 2; a rank-2 x gives Gemm(x, W', b') without the Reshapes, which is what it should be).
 * Recurses into subgraphs and function bodies.
 */
import { DataType, dtypeBits, dtypeName, isIntegerType } from '../ir/dtype.js';
import type { Node } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { constantInts, numbersOf } from '../rewrite/constant.js';
import { rule, rulePass, type Match, type Rule } from '../rewrite/driver.js';
import { anyConst, anyScalar, attrIs, constWhere, oneOf, op, reshape, type CheckResult, type Pattern, type PatternLike } from '../rewrite/pattern.js';
import { unsqueeze } from './util/attention.js';
import { fusedName, squeezeLeading } from './util/fusion.js';
import { Inference, type IDim, type IVal } from './util/infer.js';

const MATMUL_TYPES = new Set<number>([
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.FLOAT16,
  DataType.BFLOAT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT32,
  DataType.UINT64,
]);

const noAllowZero = (n: Node): CheckResult => (n.getInt('allowzero', 0) === 1 ? 'allowzero = 1' : true);
const shapeOf = (x: PatternLike) => op('Shape', [x], { where: (n) => (n.attributes.has('start') || n.attributes.has('end') ? 'Shape with start/end' : true) });
const intConst = (want: number) =>
  constWhere(undefined, (t) =>
    isIntegerType(t.dataType) && t.size === 1 && numbersOf(t)![0] === want ? true : `constant is [${numbersOf(t)}], expected ${want}`,
  );

/** shape(x)[i] as a 1-element vector: Unsqueeze(Gather(Shape(x), i)) */
const dim = (i: number) => unsqueeze(op('Gather', [shapeOf('x'), intConst(i)], { attrs: { axis: attrIs(0, 0) } }), [0]);
/** shape(x)[:-1] */
const lead = op('Slice', [shapeOf('x'), intConst(0), intConst(-1)], {
  rest: true,
  where: (n) =>
    (n.input(3) && String(constantInts(n.input(3))) !== '0') || (n.input(4) && String(constantInts(n.input(4))) !== '1') ? 'not shape[:-1]' : true,
});

const firstShape = oneOf(
  constWhere('s1', (t) => (t.rank === 1 && t.size === 2 ? true : `target of shape [${t.dims}] is not [-1, K]`)),
  op('Concat', [intConst(-1), unsqueeze(op('Gather', [shapeOf('x'), anyScalar('kidx')], { attrs: { axis: attrIs(0, 0) } }), [0])], { attrs: { axis: 0 } }),
  't1',
);
const secondShape = oneOf(
  op('Concat', [lead, anyScalar('n')], { attrs: { axis: 0 } }),
  ...[1, 2, 3, 4].map((j) => op('Concat', [...Array.from({ length: j }, (_, i) => dim(i)), anyScalar('n')], { attrs: { axis: 0 }, as: `gathered${j}` })),
  constWhere('s2', (t) => (t.rank === 1 ? true : `target of shape [${t.dims}] is not a shape`)),
  't2',
);
const flat = reshape('x', firstShape, { as: 'first', where: noAllowZero });
const gemmP: Pattern = oneOf(op('Gemm', [flat, anyConst('w'), anyConst('b')], { as: 'gemm' }), op('Gemm', [flat, anyConst('w')], { as: 'gemm' }));
const pattern = reshape(gemmP, secondShape, { as: 'second', where: noAllowZero });

interface Sizes {
  k: number;
  n: number;
}

function sizes(m: Match): Sizes | string {
  const w = m.tensor('w');
  if (w.rank !== 2) return `W has shape [${w.dims}], not a matrix`;
  const tb = m.node('gemm').getInt('transB', 0) === 1;
  return tb ? { k: w.dims[1], n: w.dims[0] } : { k: w.dims[0], n: w.dims[1] };
}

type Shape = IDim[] | undefined;

/** A target whose values inference knows: [-1 | P, K], K a number or x's own last dim. */
function checkInferredFirst(t: IVal[] | undefined, k: number, xs: Shape): CheckResult {
  if (!t) return 'the first Reshape target is not a constant and its values could not be inferred';
  const [p, kk] = t;
  if (t.length !== 2 || !(kk === k || (kk !== null && kk === xs?.at(-1) && typeof xs?.at(-1) === 'string')))
    return `the first Reshape targets [${t.map((d) => d ?? '?')}], not [-1, ${k}]`;
  if (p === -1) return true;
  const lead = xs?.slice(0, -1);
  return typeof p === 'number' && lead?.every((d) => typeof d === 'number') && lead.reduce<number>((a, d) => a * (d as number), 1) === p
    ? true
    : `the first Reshape targets [${t.map((d) => d ?? '?')}]: ${p} rows are not provably x's leading dims`;
}

/** A target whose values inference knows: x's leading dims (each proven equal, or one -1 with K static) + [N]. */
function checkInferredSecond(t: IVal[] | undefined, k: number, n: number, xs: Shape): CheckResult {
  if (!t) return 'the second Reshape target is not a constant and its values could not be inferred';
  const show = `[${t.map((d) => d ?? '?')}]`;
  if (t.at(-1) !== n) return `the second Reshape targets ${show}, whose last dimension is not ${n}`;
  if (!xs || xs.length !== t.length) return `the second Reshape targets ${show}, which does not provably restore x's leading dimensions`;
  const minus = t.slice(0, -1).filter((d) => d === -1).length;
  if (minus > 1 || (minus === 1 && xs.at(-1) !== k)) return `the second Reshape targets ${show}: -1 is not provably x's dimension`;
  for (let i = 0; i < t.length - 1; i++)
    if (t[i] !== -1 && (t[i] === null || t[i] === 0 || t[i] !== xs[i]))
      return `the second Reshape targets ${show}, x has shape [${xs.map((d) => d ?? '?')}]: it does not provably restore x's leading dimensions`;
  return true;
}

function checkFirst(m: Match, { k }: Sizes, xs: Shape, rank: number | undefined, inf: Inference): CheckResult {
  if (m.has('t1')) return checkInferredFirst(inf.values(m.value('t1')), k, xs);
  const last = xs?.at(-1);
  if (typeof last === 'number' && last !== k)
    return `x has last dimension ${last}, the Gemm reads rows of ${k}: the first Reshape does not keep the last dimension`;
  if (m.has('s1')) {
    const [p, kk] = m.numbers('s1');
    if (kk !== k) return `the first Reshape targets [${p}, ${kk}], not [-1, ${k}]: it does not keep the last dimension`;
    if (p !== -1 && !(p > 0)) return `the first Reshape targets [${p}, ${kk}]`;
    const known = xs?.slice(0, -1);
    if (p > 0 && known?.every((d) => typeof d === 'number') && known.reduce<number>((a, d) => a * (d as number), 1) !== p)
      return `the first Reshape targets ${p} rows, x has ${known.join('x')}`;
  } else {
    const i = m.scalar('kidx');
    if (i !== -1 && (rank === undefined ? false : i !== rank - 1)) return `the first Reshape keeps dimension ${i} of x, not its last`;
  }
  return true;
}

function checkSecond(m: Match, { k, n }: Sizes, xs: Shape, rank: number | undefined, inf: Inference): CheckResult {
  if (m.has('t2')) return checkInferredSecond(inf.values(m.value('t2')), k, n, xs);
  if (m.has('s2')) {
    const t = m.numbers('s2');
    if (t.at(-1) !== n) return `the second Reshape targets [${t}], whose last dimension is not ${n}`;
    if (!xs) return `the second Reshape targets the constant [${t}] and the shape of ${m.value('x')} is unknown`;
    if (t.length !== xs.length) return `the second Reshape targets [${t}], x has rank ${xs.length}: it does not restore x's leading dimensions`;
    const minus = t.slice(0, -1).filter((d) => d === -1).length;
    if (minus > 1 || (minus === 1 && xs.at(-1) !== k)) return `the second Reshape targets [${t}]: -1 is not provably x's dimension`;
    for (let i = 0; i < t.length - 1; i++) {
      if (t[i] === -1) continue;
      if (xs[i] !== t[i]) return `the second Reshape targets [${t}], x has shape [${xs.map((d) => d ?? '?')}]: it does not restore x's leading dimensions`;
    }
    return true;
  }
  if (m.scalar('n') !== n) return `the second Reshape ends in ${m.scalar('n')}, the Gemm makes ${n} columns`;
  const j = [1, 2, 3, 4].find((x) => m.has(`gathered${x}`));
  if (j !== undefined) {
    if (rank === undefined) return `the second Reshape restores ${j} leading dimensions of ${m.value('x')}, whose rank is unknown`;
    if (rank !== j + 1) return `the second Reshape restores ${j} leading dimensions of x, which has rank ${rank}`;
  }
  return true;
}

function condition(m: Match): CheckResult {
  if (m.opset() < 7) return `Gemm-${m.opset()} broadcasts C only with 'broadcast' (opset 7 needed)`;
  const g = m.node('gemm');
  if (g.getInt('transA', 0) !== 0) return `${g.label} has transA = ${g.getInt('transA')}`;
  for (const a of ['alpha', 'beta']) {
    const v = g.getFloat(a, 1);
    if (v !== 1) return `${g.label} has ${a} = ${v}; only alpha = beta = 1 is rewritten`;
  }
  const w = m.tensor('w');
  if (!MATMUL_TYPES.has(w.dataType)) return `W is ${dtypeName(w.dataType)}`;
  const s = sizes(m);
  if (typeof s === 'string') return s;
  if (m.has('b')) {
    const b = m.tensor('b');
    if (b.dataType !== w.dataType) return `C is ${dtypeName(b.dataType)}, W is ${dtypeName(w.dataType)}`;
    const bd = squeezeLeading(b.dims);
    if (b.rank > 2 || !(b.size === 1 || (bd.length === 1 && bd[0] === s.n)))
      return `C of shape [${b.dims}] is not one value per column ([${s.n}] or [1, ${s.n}])`;
  }
  const x = m.value('x');
  const inf = new Inference();
  const xs = inf.shape(x);
  const rank = xs?.length;
  const first = checkFirst(m, s, xs, rank, inf);
  return first === true ? checkSecond(m, s, xs, rank, inf) : first;
}

/** [R, C] -> [C, R], moving whole elements as bits (no float conversion), through an integer view of their width. */
function transposeMatrix(t: Tensor): Tensor {
  const [r, cols] = t.dims;
  const e = dtypeBits(t.dataType) / 8;
  // read once without keeping it on the tensor (a weight still in the file); copied only to align it
  const raw = t.lazyBytes()?.read() ?? t.rawBytes();
  const src = raw.byteOffset % e === 0 ? raw : raw.slice();
  const out = new Uint8Array(src.length);
  const View = e === 8 ? BigUint64Array : e === 4 ? Uint32Array : e === 2 ? Uint16Array : Uint8Array; // bits, not values: NaN payloads kept
  const a = new View(src.buffer as ArrayBuffer, src.byteOffset, r * cols);
  const b = new View(out.buffer, 0, r * cols);
  for (let i = 0; i < r; i++) for (let j = 0; j < cols; j++) b[j * r + i] = a[i * cols + j]!;
  return Tensor.fromRaw(t.dataType, [cols, r], out);
}

export const rules: Rule[] = [
  rule({
    name: 'reshape-gemm',
    pattern,
    condition,
    rewrite: (m, r) => {
      const g = m.node('gemm');
      const wv = m.value('w');
      const w = g.getInt('transB', 0) === 1 ? r.constant(`${wv.name}_transposed`, transposeMatrix(m.tensor('w'))) : wv;
      const mm = r.op('MatMul', [m.value('x'), w], {}, { name: fusedName(g, 'MatMul') });
      if (!m.has('b')) return mm;
      const b = m.tensor('b');
      const bias = b.rank === 1 ? m.value('b') : r.constant(`${m.value('b').name}_1d`, Tensor.fromRaw(b.dataType, [b.size], b.rawBytes()));
      return r.op('Add', [mm, bias], {}, { name: fusedName(g, 'Add') });
    },
  }),
];

export default rulePass({
  name: 'fuse-reshape-gemm',
  description: "rewrite torch's Reshape([-1, K]) -> Gemm -> Reshape(back) (HF Conv1D) as MatMul + Add on the N-D input",
  kind: 'fusion',
  rules,
});
