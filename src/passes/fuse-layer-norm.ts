/**
 * fuse-layer-norm: decomposed LayerNorm and RMSNorm become one node.
 *
 *   d = x − ReduceMean(x, -1)                                        (layer-norm)
 *   y = d / sqrt(ReduceMean(d², -1) + ε) * γ + β          ──>   LayerNormalization(x, γ, β, axis=-1, epsilon=ε)
 *   y = x / sqrt(ReduceMean(x², -1) + ε) * γ              ──>   SimplifiedLayerNormalization (--target ort)   (rms-norm)
 *                                                               RMSNormalization (opset 23, --target onnx)
 *
 * Exporter spellings matched: d² as Pow(d, 2) or Mul(d, d); "/ sqrt(v)" as Div(d, Sqrt(v)), Mul(d, Reciprocal(Sqrt(v))),
 * Mul(d, Div(1, Sqrt(v))) or Mul(d, Pow(v, -0.5)); ReduceMean axes as an attribute (opset < 18) or an input; no β
 * (LayerNormalization's B is optional); Casts that exporters insert: on x where both readers cast it the same way (the
 * Cast moves in front of the fused node), on d before the square (a no-op by ONNX typing), and on the normalised value
 * before γ (then the fused node computes in d's type and a Cast follows; γ, β are converted to d's type).
 * Fires only when both means reduce the last axis alone with keepdims=1 (axes [-1], or [r-1] for a known rank r), ε
 * is a one-element constant, γ and β are constants holding one value per normalised element ([C], or [1, .., C]; a
 * one-element γ needs the last dimension of x to be known), and the intermediates are read only inside the match.
 * An RMS candidate whose x is itself x' − mean(x') is left to the layer-norm rule; a β-less LayerNorm followed by a
 * constant Add is left for the Add. Opset: LayerNormalization needs 17 and RMSNormalization 23; a lower opset is
 * raised when no other node changes meaning (util/opset.ts), else it is a near miss, except with --target ort, where
 * onnxruntime's own LayerNormalization / SimplifiedLayerNormalization (default domain, any opset) is emitted.
 */
import { AttrType, f, type Node, type Value } from '../ir/graph.js';
import { constantInts } from '../rewrite/constant.js';
import { rule, type Match, type Rule } from '../rewrite/driver.js';
import {
  optCast,
  add,
  anyConst,
  anyScalar,
  c,
  div,
  mul,
  oneOf,
  op,
  pow,
  reciprocal,
  sqrt,
  sub,
  type CheckResult,
  type Pattern,
  type PatternLike,
} from '../rewrite/pattern.js';
import type { Rewriter } from '../rewrite/rewriter.js';
import { floatValues, fusedName, fusionPass, inferRank, squeezeLeading, tensorOf, type FusionEnv } from './util/fusion.js';
import { knownElemType, knownShape } from './util/types.js';

function lastAxisOnly(n: Node): CheckResult {
  if (n.getInt('keepdims', 1) !== 1) return 'keepdims=0';
  const axes = n.getInts('axes') ?? constantInts(n.input(1));
  if (axes?.length !== 1) return `reduces over ${axes ? `axes [${axes}]` : 'every axis'}, not the last axis alone`;
  if (axes[0] === -1) return true;
  const r = inferRank(n.input(0));
  if (r !== undefined && axes[0] === r - 1) return true;
  return `reduces over axis ${axes[0]}, not the last axis${r === undefined ? ' (input rank unknown)' : ''}`;
}

const meanLast = (x: PatternLike): Pattern => oneOf(op('ReduceMean', [x], { where: lastAxisOnly }), op('ReduceMean', [x, anyConst()], { where: lastAxisOnly }));
/** p, or Cast(p): the plain form first, so a missing Cast never hides the real reason of a near miss */

/** d / sqrt(v + ε) in its spellings, with v = mean(sq) */
function normalise(d: PatternLike, sq: Pattern): Pattern {
  const vEps = add(meanLast(sq), anyScalar('eps'));
  return oneOf(div(d, sqrt(vEps)), mul(d, reciprocal(sqrt(vEps))), mul(d, div(c(1), sqrt(vEps))), mul(d, pow(vEps, c(-0.5))));
}

const xin = optCast('x', { as: 'xcast' });
const centred = sub(xin, meanLast(xin), { as: 'd' });
const lnNormed = optCast(normalise(centred, oneOf(pow(optCast(centred), c(2)), mul(centred, centred))), { as: 'ncast' });
const rmsNormed = optCast(normalise(xin, oneOf(pow(xin, c(2)), mul(xin, xin))), { as: 'ncast' });

const lnWithBeta = add(mul(lnNormed, anyConst('gamma')), anyConst('beta'));
const lnNoBeta = mul(lnNormed, anyConst('gamma'));
const rms = mul(rmsNormed, anyConst('gamma'));

/** The dtype the normalisation computes in (d's type): the x Cast's `to`, else x's known type; undefined if unknown. */
function computeType(m: Match): number | undefined {
  return m.has('xcast') ? m.node('xcast').getInt('to') : knownElemType(m.value('x'));
}

interface Affine {
  size: number;
  /** the normalisation's element type */
  dtype: number;
}

/** Checks the constants and Casts; the normalised size and compute type, or a reason. */
function affine(m: Match): Affine | string {
  const g = m.tensor('gamma');
  const b = m.has('beta') ? m.tensor('beta') : undefined;
  for (const [t, name] of [
    [g, 'γ'],
    [b, 'β'],
  ] as const) {
    if (t && t.size > 1 && squeezeLeading(t.dims).length !== 1) return `${name} of shape [${t.dims}] is not one value per normalised element`;
  }
  if (b && g.size > 1 && b.size > 1 && b.size !== g.size) return `γ has ${g.size} values, β ${b.size}`;
  const last = knownShape(m.value('x'))?.at(-1);
  const size = Math.max(g.size, b?.size ?? 1) > 1 ? Math.max(g.size, b?.size ?? 1) : typeof last === 'number' ? last : undefined;
  if (size === undefined) return 'γ and β hold one element and the last dimension of x is unknown';
  if (typeof last === 'number' && last !== size) return `γ has ${size} values, the last dimension of x is ${last}`;
  if (m.has('xcast') && m.node('xcast').attr('to')?.type !== AttrType.INT) return 'Cast without an integer `to`';
  let dtype = g.dataType;
  if (m.has('ncast')) {
    const t = computeType(m);
    if (t === undefined) return `a Cast follows the normalisation and the element type of ${m.value('x')} is unknown`;
    dtype = t;
  }
  const bad = [g, b].find((t) => t && typeof floatValues(t) === 'string');
  return bad ? (floatValues(bad) as string) : { size, dtype };
}

/** γ or β as a [size] constant of `dtype` (the original value when it already is one). */
function vector(m: Match, r: Rewriter, name: string, a: Affine): Value {
  const t = m.tensor(name);
  if (t.dims.length === 1 && t.dims[0] === a.size && t.dataType === a.dtype) return m.value(name);
  const v = floatValues(t) as Float64Array;
  return r.constant(`${m.value(name).name}_ln`, tensorOf(a.dtype, [a.size], t.size === 1 ? new Float64Array(a.size).fill(v[0]) : v));
}

function build(m: Match, r: Rewriter, env: FusionEnv, rmsForm: boolean): Value {
  const a = affine(m) as Affine;
  let x = m.value('x');
  if (m.has('xcast')) x = r.op('Cast', [x], { to: m.node('xcast').getInt('to') });
  const inputs = [x, vector(m, r, 'gamma', a), m.has('beta') ? vector(m, r, 'beta', a) : null];
  const attrs = { axis: -1, epsilon: f(m.scalar('eps')) };
  const [opType, version] = rmsForm ? (m.ctx.target === 'ort' ? ['SimplifiedLayerNormalization', 0] : ['RMSNormalization', 23]) : ['LayerNormalization', 17];
  if (version && env.raise.can(m, version)) env.raise.want(m, version);
  let y = r.op(opType, inputs[2] ? inputs : inputs.slice(0, 2), attrs, { name: fusedName(m.root, opType) });
  if (m.has('ncast') && m.node('ncast').getInt('to') !== a.dtype) y = r.op('Cast', [y], { to: m.node('ncast').getInt('to') });
  return y;
}

function opsetCheck(m: Match, env: FusionEnv, rmsForm: boolean): CheckResult {
  if (rmsForm && m.ctx.target === 'ort') return true;
  const [name, version] = rmsForm ? ['RMSNormalization', 23] : ['LayerNormalization', 17];
  const need = env.raise.need(m, version, name);
  return need === true || m.ctx.target === 'ort' ? true : `${need} (--target ort emits onnxruntime's LayerNormalization at any opset)`;
}

/** x is itself x' − mean(x'): an RMS match there is the tail of a LayerNorm. */
function isCentred(v: Value): boolean {
  const p = v.producer;
  return !!p && p.opType === 'Sub' && p.input(1)?.producer?.opType === 'ReduceMean' && p.input(1)?.producer?.input(0) === p.input(0);
}

/** A β-less match whose output only feeds a constant Add: the layer-norm rule will take the Add too. */
function betaFollows(m: Match): boolean {
  const y = m.root.output(0);
  const u = y.uses.length === 1 && !y.isGraphOutput ? y.uses[0].node : undefined;
  return !!u && u.opType === 'Add' && u.inputs.some((v) => v !== y && v?.constTensor() !== undefined);
}

/**
 * The β-less and RMS rules also see every LayerNorm tail and refuse it quietly (condition false); the driver would
 * still report their deepest structural failure as a near miss, so they report only full matches that failed a check.
 */
const QUIET = 100;

function rules(env: FusionEnv): Rule[] {
  const check = (rmsForm: boolean) => (m: Match) => {
    const a = affine(m);
    return typeof a === 'string' ? a : opsetCheck(m, env, rmsForm);
  };
  return [
    rule({ name: 'layer-norm', pattern: lnWithBeta, explainMinDepth: 4, condition: check(false), rewrite: (m, r) => build(m, r, env, false) }),
    rule({
      name: 'layer-norm',
      pattern: lnNoBeta,
      explainMinDepth: QUIET,
      condition: (m) => (betaFollows(m) ? false : check(false)(m)),
      rewrite: (m, r) => build(m, r, env, false),
    }),
    rule({
      name: 'rms-norm',
      pattern: rms,
      explainMinDepth: QUIET,
      condition: (m) => (isCentred(m.value('x')) ? false : check(true)(m)),
      rewrite: (m, r) => build(m, r, env, true),
    }),
  ];
}

export default fusionPass({
  name: 'fuse-layer-norm',
  description:
    'fuse decomposed LayerNorm into LayerNormalization and RMSNorm into RMSNormalization (--target onnx, opset 23) or SimplifiedLayerNormalization (--target ort)',
  rules,
});
