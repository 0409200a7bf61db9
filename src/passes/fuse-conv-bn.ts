/**
 * fuse-conv-bn: folds an inference BatchNormalization into the Conv, ConvTranspose or Gemm that feeds it.
 *
 *     x ──Conv(W, b?)──> t ──BatchNormalization(γ, β, μ, σ², ε)──> y          x ──Conv(W', b')──> y
 *
 *   s[o]  = γ[o] / sqrt(σ²[o] + ε)                            per output channel o
 *   W'    = W * s        Conv: W[o, ...] * s[o];   ConvTranspose (W: [C_in, C_out/group, k...]): W[i, j, ...] * s[g·C_out/group + j]
 *   b'[o] = (b[o] − μ[o]) * s[o] + β[o]                       (b = 0 when the Conv has no bias)
 *   Gemm (y = α·A·B + βg·C, BatchNormalization over axis 1 of [M, N]):
 *         B' = B * s per column n (per row with transB = 1),  C' = βg·C·s + β − μ·s,  βg' = 1
 *
 * Fires when W, b, γ, β, μ, σ² are float constants (initializers or Constant nodes, as paddle2onnx writes them), the
 * statistics hold one value per output channel, t is read only by the BatchNormalization, and the BatchNormalization
 * runs in inference mode: training_mode absent or 0 (opset 14+), a single output (opset < 14, where the output count
 * selects the mode), is_test = 1 (opset < 7), spatial = 1 (opset < 9). The original weights are removed when nothing else reads them. A Gemm's C must
 * be per-column ([N], [1, N] or one element). Recurses into subgraphs and function bodies.
 */
import type { Node, Value } from '../ir/graph.js';
import { rule, rulePass, type Match, type Rule } from '../rewrite/driver.js';
import { anyConst, oneOf, op, type Pattern } from '../rewrite/pattern.js';
import type { Rewriter } from '../rewrite/rewriter.js';
import { floatValues, outputChannels, perChannel, scaleOutputChannels, tensorOf } from './util/fusion.js';

/** The producer with or without its optional bias / C input. */
const linear = (opType: string): Pattern =>
  oneOf(op(opType, ['x', anyConst('w'), anyConst('b')], { as: 'lin' }), op(opType, ['x', anyConst('w')], { as: 'lin' }));

const bn = (opType: string): Pattern =>
  op('BatchNormalization', [linear(opType), anyConst('gamma'), anyConst('beta'), anyConst('mean'), anyConst('var')], { as: 'bn' });

function inferenceMode(m: Match): true | string {
  const n = m.node('bn');
  if (n.getInt('training_mode', 0) !== 0) return 'BatchNormalization runs in training mode';
  if (m.opset() < 14 && n.outputs.filter((o) => o).length > 1)
    return `BatchNormalization-${m.opset()} with ${n.outputs.filter((o) => o).length} outputs runs in training mode`;
  if (m.opset() < 7 && n.getInt('is_test', 0) !== 1) return `BatchNormalization-${m.opset()} without is_test=1 runs in training mode`;
  if (n.getInt('spatial', 1) !== 1) return 'BatchNormalization with spatial=0 normalises per activation, not per channel';
  return true;
}

interface Folded {
  scale: Float64Array;
  shift: Float64Array;
}

/** s = γ / sqrt(σ² + ε) and shift = β − μ·s, or a reason. */
function statistics(m: Match, channels: number): Folded | string {
  const eps = m.node('bn').getFloat('epsilon', 1e-5);
  const vals: Float64Array[] = [];
  for (const name of ['gamma', 'beta', 'mean', 'var']) {
    const t = m.tensor(name);
    if (t.size !== channels) return `${name} of ${m.node('bn').label} has ${t.size} values for ${channels} output channels`;
    const v = floatValues(t);
    if (typeof v === 'string') return v;
    vals.push(v);
  }
  const [g, b, mu, v] = vals;
  const scale = g.map((x, i) => x / Math.sqrt(v[i] + eps));
  return { scale, shift: b.map((x, i) => x - mu[i] * scale[i]) };
}

function convGroup(n: Node): number {
  return n.getInt('group', 1);
}

function convCondition(m: Match): true | string {
  const mode = inferenceMode(m);
  if (mode !== true) return mode;
  const lin = m.node('lin');
  const w = m.tensor('w');
  if (w.rank < 3) return `${lin.label} weight has rank ${w.rank}`;
  const c = outputChannels(w.dims, lin.opType, convGroup(lin));
  if (m.has('b') && m.tensor('b').size !== c) return `${lin.label} bias has ${m.tensor('b').size} values for ${c} output channels`;
  const s = statistics(m, c);
  return typeof s === 'string' ? s : typeof floatValues(w) === 'string' ? (floatValues(w) as string) : true;
}

function attrsOf(n: Node): Record<string, unknown> {
  return Object.fromEntries(n.attributes);
}

function foldConv(m: Match, r: Rewriter): Value {
  const lin = m.node('lin');
  const w = m.tensor('w');
  const c = outputChannels(w.dims, lin.opType, convGroup(lin));
  const { scale, shift } = statistics(m, c) as Folded;
  const w2 = scaleOutputChannels(floatValues(w) as Float64Array, w.dims, lin.opType, convGroup(lin), scale);
  const b = m.has('b') ? (floatValues(m.tensor('b')) as Float64Array) : new Float64Array(c);
  const b2 = b.map((x, o) => x * scale[o] + shift[o]);
  const base = lin.name || lin.opType;
  const wv = r.constant(`${base}.weight_bn`, tensorOf(w.dataType, w.dims, w2));
  const bv = r.constant(`${base}.bias_bn`, tensorOf(w.dataType, [c], b2));
  return r.op(lin.opType, [m.value('x'), wv, bv], attrsOf(lin), { name: base });
}

function gemmCondition(m: Match): true | string {
  const mode = inferenceMode(m);
  if (mode !== true) return mode;
  const g = m.node('lin');
  const w = m.tensor('w');
  if (w.rank !== 2) return `${g.label} B has rank ${w.rank}`;
  const n = g.getInt('transB', 0) ? w.dims[0] : w.dims[1];
  if (m.has('b')) {
    const c = perChannel(m.tensor('b'), 2, 1, n);
    if (typeof c === 'string') return `C of ${g.label}: ${c}`;
  }
  const s = statistics(m, n);
  return typeof s === 'string' ? s : typeof floatValues(w) === 'string' ? (floatValues(w) as string) : true;
}

function foldGemm(m: Match, r: Rewriter): Value {
  const g = m.node('lin');
  const w = m.tensor('w');
  const transB = g.getInt('transB', 0) === 1;
  const n = transB ? w.dims[0] : w.dims[1];
  const { scale, shift } = statistics(m, n) as Folded;
  const wv = floatValues(w) as Float64Array;
  const w2 = wv.map((x, i) => x * scale[transB ? Math.floor(i / w.dims[1]) : i % n]);
  const betaG = g.getFloat('beta', 1);
  const c = m.has('b') ? (perChannel(m.tensor('b'), 2, 1, n) as Float64Array) : new Float64Array(n);
  const c2 = c.map((x, o) => betaG * x * scale[o] + shift[o]);
  const base = g.name || 'Gemm';
  const attrs = { ...attrsOf(g), beta: undefined };
  return r.op(
    'Gemm',
    [m.value('x'), r.constant(`${base}.weight_bn`, tensorOf(w.dataType, w.dims, w2)), r.constant(`${base}.bias_bn`, tensorOf(w.dataType, [n], c2))],
    attrs,
    {
      name: base,
    },
  );
}

export const rules: Rule[] = [
  rule({ name: 'conv-bn', pattern: bn('Conv'), condition: convCondition, rewrite: foldConv }),
  rule({ name: 'conv-transpose-bn', pattern: bn('ConvTranspose'), condition: convCondition, rewrite: foldConv }),
  rule({ name: 'gemm-bn', pattern: bn('Gemm'), condition: gemmCondition, rewrite: foldGemm }),
];

export default rulePass({
  name: 'fuse-conv-bn',
  description: 'fold inference BatchNormalization into the Conv, ConvTranspose or Gemm before it',
  kind: 'fusion',
  rules,
});
