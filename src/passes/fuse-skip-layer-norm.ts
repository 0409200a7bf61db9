/**
 * fuse-skip-layer-norm (--target ort): a residual Add feeding a LayerNormalization becomes onnxruntime's
 * SkipLayerNormalization, with the projection's bias Add folded in when there is one; a residual Add feeding
 * onnxruntime's SimplifiedLayerNormalization (RMSNorm, as fuse-layer-norm writes it) becomes
 * SkipSimplifiedLayerNormalization(x, skip, γ[, b]) likewise.
 *
 *   h ──Add(b)──> p ──Add(skip)──> s ──LayerNormalization(γ, β, ε)──> y
 *       ──>   SkipLayerNormalization(h, skip, γ, β, b, epsilon=ε) ──> y          (with the bias: bias form)
 *   a ──Add(skip)──> s ──LayerNormalization(γ, β, ε)──> y
 *       ──>   SkipLayerNormalization(a, skip, γ, β, epsilon=ε) ──> y             (plain form)
 *
 * SkipLayerNormalization(x, skip, γ, β, b) = LayerNorm(x + skip + b) over the last axis. Fires with --target ort only
 * (com.microsoft), on a LayerNormalization over the last axis (axis -1, or r-1 for a known rank r) with the default
 * stash_type, its Mean / InvStdDev outputs unused, γ and β (if any) and the bias b 1-D float constants of one size,
 * neither Add operand a constant (other than b), and every other intermediate read only inside the match. In a
 * pre-LN block the residual sum s is also read by the next residual: its readers then take the fused node's 4th
 * output, input_skip_bias_sum (= x + skip + b, the same sum; Rule.escapes). Shapes: the kernel takes x of rank 3 (or 2) and a
 * skip of x's shape, [1, S, H] or [S, H]. The bias form is the transformer's residual (a projection plus the stream
 * it came from) and is accepted unless a known rank says otherwise; the plain form needs both shapes known and
 * equal, so a broadcasting Add (position embeddings) is left alone. Recurses into subgraphs and function bodies.
 */
import { f } from '../ir/graph.js';
import type { Value } from '../ir/graph.js';
import { isConstant } from '../rewrite/constant.js';
import { rule, rulePass, type Match, type Rule } from '../rewrite/driver.js';
import { add, anyConst, oneOf, op, type PatternLike } from '../rewrite/pattern.js';
import type { Rewriter } from '../rewrite/rewriter.js';
import { foldableType, fusedName, inferRank } from './util/fusion.js';
import { Inference } from './util/infer.js';

const ln = (input: PatternLike) =>
  oneOf(
    op('LayerNormalization', [input, anyConst('gamma')], { as: 'ln', rest: true }),
    op('SimplifiedLayerNormalization', [input, anyConst('gamma')], { as: 'ln', rest: true }),
  );

function oneD(m: Match, name: string, size: number | undefined): string | number {
  const t = m.tensor(name);
  const ok = foldableType(t, name);
  if (ok !== true) return ok as string;
  if (t.rank !== 1) return `${name} of shape [${t.dims}] is not 1-D`;
  if (size !== undefined && t.size !== size) return `${name} has ${t.size} values, γ ${size}`;
  return t.size;
}

function check(m: Match, withBias: boolean): true | string {
  if (m.ctx.target !== 'ort') return 'SkipLayerNormalization is an onnxruntime contrib operator: use --target ort';
  const n = m.node('ln');
  const beta = n.input(2);
  if (n.inputs.length > (n.opType === 'LayerNormalization' ? 3 : 2)) return `${n.label} has unexpected inputs`;
  if (n.outputs.slice(1).some((o) => o && (o.uses.length || o.isGraphOutput))) return `${n.label}'s mean or inverse deviation output is read`;
  if (beta && !isConstant(beta)) return `β ${beta} is not a constant`;
  const x = m.value('x');
  const skip = m.value('skip');
  const rank = inferRank(x) ?? inferRank(skip);
  const axis = n.getInt('axis', -1);
  if (axis !== -1 && (rank === undefined || axis !== rank - 1)) return `${n.label} normalises axis ${axis}, not the last axis`;
  if (n.getInt('stash_type', 1) !== 1) return `${n.label} has stash_type ${n.getInt('stash_type')}`;
  if (rank !== undefined && rank !== 2 && rank !== 3) return `the residual has rank ${rank}; SkipLayerNormalization takes rank 2 or 3`;
  if (isConstant(x) || isConstant(skip)) return 'an operand of the residual Add is a constant';
  const c = oneD(m, 'gamma', undefined);
  if (typeof c === 'string') return c;
  if (beta) {
    const t = beta.constTensor() ?? m.tensor('gamma');
    if (t.rank !== 1 || t.size !== c) return `β of shape [${t.dims}] does not match γ`;
  }
  if (withBias) {
    const b = oneD(m, 'bias', c);
    if (typeof b === 'string') return b;
  } else {
    const inf = new Inference();
    const [xs, ss] = [inf.shape(x), inf.shape(skip)];
    if (!xs || !ss) return `the shapes of ${x} and ${skip} are unknown, so the residual Add may broadcast`;
    if (xs.length !== ss.length || xs.some((d, i) => d === null || d !== ss[i]))
      return `the residual operands have shapes [${xs.map((d) => d ?? '?')}] and [${ss.map((d) => d ?? '?')}]`;
  }
  return true;
}

function fuse(m: Match, r: Rewriter, withBias: boolean): Value {
  const n = m.node('ln');
  const simplified = n.opType === 'SimplifiedLayerNormalization';
  const inputs = simplified ? [m.value('x'), m.value('skip'), m.value('gamma')] : [m.value('x'), m.value('skip'), m.value('gamma'), n.input(2) ?? null];
  if (withBias) inputs.push(m.value('bias'));
  while (!inputs[inputs.length - 1]) inputs.pop();
  const opType = simplified ? 'SkipSimplifiedLayerNormalization' : 'SkipLayerNormalization';
  const sum = m.node('sum').output(0)!;
  const escapes = sum.isGraphOutput || sum.uses.some((u) => u.node !== n);
  const outs = r.ops(opType, inputs, escapes ? 4 : 1, { epsilon: f(n.getFloat('epsilon', 1e-5)) }, { domain: 'com.microsoft', name: fusedName(n, opType) });
  if (escapes) r.replaceAlso(sum, outs[3]!);
  return outs[0]!;
}

export const rules: Rule[] = [
  rule({
    name: 'skip-layer-norm-bias',
    count: 'skip-layer-norm',
    pattern: ln(add(add('x', anyConst('bias')), 'skip', { as: 'sum' })),
    escapes: ['sum'],
    condition: (m) => check(m, true),
    rewrite: (m, r) => fuse(m, r, true),
  }),
  rule({
    name: 'skip-layer-norm',
    pattern: ln(add('x', 'skip', { as: 'sum' })),
    escapes: ['sum'],
    condition: (m) => check(m, false),
    rewrite: (m, r) => fuse(m, r, false),
  }),
];

export default rulePass({
  name: 'fuse-skip-layer-norm',
  description: 'fuse residual Add (+ projection bias) + (Simplified)LayerNormalization into com.microsoft Skip(Simplified)LayerNormalization; --target ort',
  kind: 'fusion',
  rules,
});
