/**
 * fuse-conv-add-mul: folds a per-channel constant Add / Sub / Mul / Div after a Conv or ConvTranspose into its
 * weights and bias.
 *
 *     x ──Conv(W, b?)──> t ──Add(c)──> y          x ──Conv(W, b + c)──> y
 *     x ──Conv(W, b?)──> t ──Sub(c)──> y          x ──Conv(W, b − c)──> y              (t − c only, not c − t)
 *     x ──Conv(W, b?)──> t ──Mul(s)──> y          x ──Conv(W·s, b·s)──> y
 *     x ──Conv(W, b?)──> t ──Div(s)──> y          x ──Conv(W/s, b/s)──> y              (t / s only, no zero in s)
 *
 * Conv(x)[n, o, ...] = Σ W[o, ...]·x + b[o], so adding c[o] moves into the bias and scaling by s[o] scales output
 * channel o of W (ConvTranspose layout: see util/fusion.ts) and b; an absent bias is 0. Fires when W (and b) are float
 * constants, the constant is per output channel for the Conv's output rank (W's rank): one element, or shape
 * [C, 1, ..., 1] / [1, C, 1, ..., 1] that broadcasts along axis 1 only and does not grow the output; it has W's element
 * type; and t is read only by the Add/Mul (driver). Recurses into subgraphs and function bodies.
 */
import type { Value } from '../ir/graph.js';
import { rulePass, type Match, type Rule } from '../rewrite/driver.js';
import { anyConst, oneOf, op, type Pattern } from '../rewrite/pattern.js';
import type { Rewriter } from '../rewrite/rewriter.js';
import { floatValues, outputChannels, perChannel, scaleOutputChannels, tensorOf } from './util/fusion.js';

type Kind = 'add' | 'sub' | 'mul' | 'div';
const OP: Record<Kind, string> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div' };

const conv = (t: string): Pattern => oneOf(op(t, ['x', anyConst('w'), anyConst('b')], { as: 'conv' }), op(t, ['x', anyConst('w')], { as: 'conv' }));

function channelValues(m: Match, kind: Kind): Float64Array | string {
  const cv = m.node('conv');
  const w = m.tensor('w');
  if (w.rank < 3) return `${cv.label} weight has rank ${w.rank}`;
  const k = m.tensor('k');
  if (k.dataType !== w.dataType) return `the constant's element type differs from the weight's`;
  const wv = floatValues(w);
  if (typeof wv === 'string') return wv;
  const vals = perChannel(k, w.rank, 1, outputChannels(w.dims, cv.opType, cv.getInt('group', 1)));
  if (typeof vals !== 'string' && kind === 'div' && vals.some((x) => x === 0)) return 'the divisor has a zero';
  return vals;
}

function fold(m: Match, r: Rewriter, kind: Kind): Value {
  const cv = m.node('conv');
  const w = m.tensor('w');
  const group = cv.getInt('group', 1);
  const c = outputChannels(w.dims, cv.opType, group);
  const k = channelValues(m, kind) as Float64Array;
  const b = m.has('b') ? (floatValues(m.tensor('b')) as Float64Array) : undefined;
  const base = cv.name || cv.opType;
  let wv: Value = m.value('w');
  let b2: Float64Array | undefined;
  if (kind === 'add' || kind === 'sub') {
    const sign = kind === 'add' ? 1 : -1;
    b2 = (b ?? new Float64Array(c)).map((x, o) => x + sign * k[o]);
  } else {
    const s = kind === 'mul' ? k : k.map((x) => 1 / x);
    wv = r.constant(`${base}.weight_${kind}`, tensorOf(w.dataType, w.dims, scaleOutputChannels(floatValues(w) as Float64Array, w.dims, cv.opType, group, s)));
    b2 = b?.map((x, o) => x * s[o]);
  }
  const bv = b2 ? r.constant(`${base}.bias_${kind}`, tensorOf(w.dataType, [c], b2)) : null;
  return r.op(cv.opType, bv ? [m.value('x'), wv, bv] : [m.value('x'), wv], Object.fromEntries(cv.attributes), { name: base });
}

export const rules: Rule[] = (['Conv', 'ConvTranspose'] as const).flatMap((t) =>
  (['add', 'sub', 'mul', 'div'] as const).map(
    (kind): Rule => ({
      name: `${t === 'Conv' ? 'conv' : 'conv-transpose'}-${kind}`,
      pattern: op(OP[kind], [conv(t), anyConst('k')]),
      explainMinDepth: 2,
      condition: (m) => {
        const v = channelValues(m, kind);
        return typeof v === 'string' ? v : true;
      },
      rewrite: (m, r) => fold(m, r, kind),
    }),
  ),
);

export default rulePass({
  name: 'fuse-conv-add-mul',
  description: 'fold a per-channel constant Add/Sub/Mul/Div after Conv or ConvTranspose into its weights and bias',
  kind: 'fusion',
  rules,
});
