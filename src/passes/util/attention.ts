/**
 * Pieces of fuse-attention that its causal (GPT-2) and packed-projection forms add: the pattern of torch's causal
 * mask, Where(bias[:, :, kl - ql : kl, :kl], scores, minv) with the lengths read from q, k or the scores by
 * Shape/Gather (or Shape/Slice/Squeeze) arithmetic, or an already folded constant; the checks that the mask is
 * really lower-triangular and its fill really masks; the mask_filter_value of the causal form; and the checks of a
 * packed q/k/v projection split into three equal parts.
 */
import { DataType } from '../../ir/dtype.js';
import type { Node, Value } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { constantInts, constantOf, numbersOf } from '../../rewrite/constant.js';
import { Matcher } from '../../rewrite/matcher.js';
import type { Rewriter } from '../../rewrite/rewriter.js';
import { inferRank } from './fusion.js';
import { knownElemType } from './types.js';
import type { Match } from '../../rewrite/driver.js';
import {
  anyConst,
  anyScalar,
  attrIs,
  c,
  constWhere,
  mul,
  oneOf,
  op,
  optCast,
  sub,
  type CheckResult,
  type Pattern,
  type PatternLike,
} from '../../rewrite/pattern.js';

export const intsEq = (want: number[]) =>
  constWhere(undefined, (t) => (String(numbersOf(t)) === String(want) ? true : `constant is [${numbersOf(t)}], expected [${want}]`));
export const unsqueeze = (p: PatternLike, axes: number[]) => oneOf(op('Unsqueeze', [p, intsEq(axes)]), op('Unsqueeze', [p], { attrs: { axes } }));

const oneIn = (allowed: number[]) =>
  constWhere(undefined, (t) => {
    const v = numbersOf(t);
    return t.size === 1 && v && allowed.includes(v[0]) ? true : `constant is [${v}], expected one of ${allowed.join(', ')}`;
  });
const squeeze0 = (p: PatternLike) =>
  oneOf(op('Squeeze', [p, intsEq([0])]), op('Squeeze', [p], { attrs: { axes: (a) => (a === undefined || String(a) === '0' ? true : `axes [${a}]`) } }));

/** Slice(shape, i, i + 1) along axis 0 with step 1, as torch writes shape[i:i+1] (shape[-1:] ends at INT64_MAX). */
function oneElementSlice(n: Node): CheckResult {
  const [start, end] = [constantInts(n.input(1)), constantInts(n.input(2))];
  if (!start || !end || start.length !== 1 || end.length !== 1) return 'not a one-element slice of a shape';
  if (n.input(3) && String(constantInts(n.input(3))) !== '0') return 'not a slice along axis 0';
  if (n.input(4) && String(constantInts(n.input(4))) !== '1') return 'not a slice with step 1';
  return end[0] === start[0] + 1 || (start[0] === -1 && end[0] >= 2 ** 31 - 1) ? true : `slice [${start[0]}:${end[0]}] is not one element`;
}

/** shape[i] of t as a scalar: Gather(Shape(t), i) or Squeeze(Slice(Shape(t), i, i + 1)); i one of `idx` */
const shapeDim = (t: Pattern, idx: number[]) =>
  oneOf(
    op('Gather', [op('Shape', [t]), oneIn(idx)], { attrs: { axis: attrIs(0, 0) } }),
    squeeze0(op('Slice', [op('Shape', [t]), oneIn(idx), anyScalar()], { rest: true, where: oneElementSlice })),
  );

/**
 * Where(causal, scaled, minv) as torch writes GPT-2's masking, given the patterns of the query heads [B,H,S,D], the
 * key heads [B,H,S,D] (of the Kᵀ = Transpose(0,1,3,2) form), Kᵀ [B,H,D,S] and the scaled scores [B,H,S,S]. Binds
 * 'bias' (the sliced buffer) or 'cmask' (a folded constant), 'minv', and the node 'where'.
 */
export function causalWhere(qHeads: Pattern, kHeads: Pattern, keyT: Pattern, scaled: Pattern): Pattern {
  const queryLen = oneOf(shapeDim(qHeads, [2, -2]), shapeDim(scaled, [2, -2]));
  const keyLen = oneOf(shapeDim(kHeads, [2, -2]), shapeDim(keyT, [3, -1]), shapeDim(scaled, [3, -1]));
  const vec1 = (p: PatternLike) => oneOf(unsqueeze(p, [0]), p);
  const sliceOn = (data: PatternLike, start: PatternLike, end: PatternLike, axes: number[]) =>
    oneOf(op('Slice', [data, start, end, oneIn(axes)]), op('Slice', [data, start, end, oneIn(axes), c(1)]));
  const tril = sliceOn(sliceOn(anyConst('bias'), vec1(sub(keyLen, queryLen)), vec1(keyLen), [2, -2]), c(0), vec1(keyLen), [3, -1]);
  const toBool = (p: PatternLike) => optCast(p, { to: DataType.BOOL });
  return op('Where', [oneOf(toBool(tril), toBool(anyConst('cmask'))), scaled, anyScalar('minv')], { as: 'where' });
}

export const F32_LOWEST = -3.4028234663852886e38;
const triangular = new WeakMap<Tensor, CheckResult>();

/** True when the constant is [..., N, N] (leading 1s) with nonzeros exactly on and below the diagonal. */
export function lowerTriangular(t: Tensor): CheckResult {
  const known = triangular.get(t);
  if (known !== undefined) return known;
  const n = t.dims[t.rank - 1];
  const vals = t.rank >= 2 && t.rank <= 4 && t.dims[t.rank - 2] === n && t.dims.slice(0, -2).every((d) => d === 1) ? numbersOf(t) : undefined;
  const lower = (k: number) => k % n <= Math.floor(k / n);
  let r: CheckResult = true;
  if (!vals) r = `its shape [${t.dims}] is not [.., N, N]`;
  else {
    const k = vals.findIndex((x, i) => (x !== 0) !== lower(i));
    if (k >= 0) {
      const upper = vals.every((x, i) => (x !== 0) === i % n >= Math.floor(i / n));
      r = upper ? 'it is upper-triangular' : `it is not lower-triangular (entry [${Math.floor(k / n)}, ${k % n}] is ${vals[k]})`;
    }
  }
  triangular.set(t, r);
  return r;
}

/**
 * The causal Where: its mask must be tril over the whole buffer (without past the slice is the top-left S×S block,
 * for any S up to N), and what it writes at future keys must vanish in the Softmax.
 */
export function checkCausal(m: Match): CheckResult {
  if (!m.has('where')) return true;
  const name = m.has('bias') ? 'bias' : 'cmask';
  const tri = lowerTriangular(m.tensor(name));
  if (tri !== true) return `the causal mask ${m.value(name)} is not a lower-triangular constant: ${tri}`;
  const minv = m.scalar('minv');
  if (!(minv <= -1e4)) return `the causal Where writes ${minv} at future keys; a value ≤ -10000 is needed for them to vanish in the Softmax`;
  return true;
}

/**
 * mask_filter_value of the causal form with a padding mask of fill `fill` (see fuse-attention's header): fill, except
 * with minv = -inf and fill = float32 lowest, where padded keys get lowest / 2 (it still absorbs every score: s +
 * lowest/2 == lowest/2 for |s| < 2^102) so that they stay above the kernel's lowest at future keys, as in the original
 * they stay above -inf.
 */
export function causalMaskFilter(fill: number, minv: number): number {
  return minv === -Infinity && Math.fround(fill) === F32_LOWEST ? F32_LOWEST / 2 : fill;
}

/** The packed q/k/v projection: sizes, or why it cannot be Attention's weight as it is. */
export function packedProjection(m: Match): { din: number; hidden: number; dataType: number } | string {
  if (['q', 'k', 'v'].some((k) => m.has(`w${k}`))) return 'q, k and v do not all come from one packed projection';
  const w = m.tensor('wqkv');
  if (w.rank !== 2) return `the packed q/k/v weight has shape [${w.dims}], not a matrix`;
  const split = m.node('split');
  const axis = split.getInt('axis', 0);
  if (axis !== -1 && axis !== 2) return `the q/k/v Split is over axis ${axis}, not the last axis`;
  if (split.outputs.length !== 3) return `the Split makes ${split.outputs.length} parts, not q, k and v`;
  const third = w.dims[1] / 3;
  const parts = split.input(1) ? constantInts(split.input(1)) : (split.getInts('split') ?? [third, third, third]);
  if (!parts) return 'the sizes of the q/k/v Split are not constant';
  if (parts.some((p) => p !== parts[0]) || !Number.isInteger(parts[0]))
    return `q, k and v are split into unequal parts [${parts}] (Attention would need qkv_hidden_sizes)`;
  if (3 * parts[0] !== w.dims[1]) return `the q/k/v Split takes [${parts}] of ${w.dims[1]} columns`;
  if (m.has('bqkv') && (m.tensor('bqkv').size !== w.dims[1] || m.tensor('bqkv').dataType !== w.dataType))
    return `the packed bias does not hold ${w.dims[1]} values`;
  return { din: w.dims[0], hidden: parts[0], dataType: w.dataType };
}

// the HF extended mask: (1 - mask[:, None, None, :].to(float)) * fill
const ext = (p: PatternLike) => oneOf(unsqueeze(unsqueeze(p, [1]), [2]), unsqueeze(p, [1, 2]));
const maskChain = mul(sub(c(1), oneOf(ext(optCast('am')), op('Cast', [ext('am')]))), anyScalar('fill'));

export interface MaskInfo {
  input: Value;
  fill: number;
}

/** The raw [batch, sequence] mask and fill of the HF extended mask bound to 'mask', or why it is not one. */
export function rawMask(m: Match): MaskInfo | string | undefined {
  if (!m.has('mask')) return undefined;
  const mask = m.value('mask');
  const p = mask.producer;
  const why = `the mask ${mask} is not the extended attention mask (1 − mask[:, None, None, :]) · fill`;
  if (!p || p.graph !== m.graph) return why;
  const mt = new Matcher(m.graph, p);
  if (!mt.matchRoot(maskChain as Pattern, () => true)) return `${why}: ${mt.failure?.reason ?? ''}`;
  const fill = numbersOf(constantOf(mt.values.get('fill'))!)![0];
  const input = mt.values.get('am')!;
  const r = inferRank(input);
  if (r !== undefined && r !== 2) return `the raw mask ${input} has rank ${r}, expected [batch, sequence]`;
  if (!(fill < 0)) return `the mask fill value ${fill} is not negative`;
  return { input, fill };
}

/** The int32 raw mask: an earlier rewrite's Cast before the root when there is one, else a new Cast. */
export function maskIndex(m: Match, r: Rewriter, input: Value): Value {
  if (knownElemType(input) === DataType.INT32) return input;
  const at = m.graph.nodes.indexOf(m.root);
  const prev = input.uses.find(
    (u) => u.node.opType === 'Cast' && u.node.graph === m.graph && u.node.getInt('to') === DataType.INT32 && m.graph.nodes.indexOf(u.node) < at,
  );
  return prev ? prev.node.output(0) : r.op('Cast', [input], { to: DataType.INT32 }, { name: `${input.name}_int32` });
}
