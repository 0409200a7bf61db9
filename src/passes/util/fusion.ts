/**
 * Shared pieces of the fusion passes: a Pass builder whose rules may raise the opset (util/opset.ts), constant
 * arithmetic in the weights' own float type, per-channel constants, output-channel scaling of Conv/ConvTranspose
 * weights, and a rank inference that reads only what the model states or what one node implies.
 */
import { DataType, dtypeName } from '../../ir/dtype.js';
import { float32ToBFloat16, float32ToFloat16 } from '../../ir/float-codecs.js';
import type { Node, Value } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { Tensor } from '../../ir/tensor.js';
import { applyRules, type Rule } from '../../rewrite/driver.js';
import type { CheckResult } from '../../rewrite/pattern.js';
import type { NearMiss, Pass, PassContext, PassResult } from '../../pass/pass.js';
import { OpsetRaise } from './opset.js';
import { Inference } from './infer.js';

export interface FusionEnv {
  raise: OpsetRaise;
}

/** A fusion Pass whose rules are built per run (so they can share an OpsetRaise); the opset is raised after them. */
export function fusionPass(spec: { name: string; description: string; rules: (env: FusionEnv) => Rule[]; recurse?: boolean }): Pass {
  const recurse = spec.recurse ?? true;
  return {
    name: spec.name,
    description: spec.description,
    kind: 'fusion',
    lossless: true,
    recursesIntoSubgraphs: recurse,
    run(model: Model, ctx: PassContext): PassResult {
      const opts = { pass: spec.name, subgraphs: recurse, functions: recurse };
      // near misses of the first run wait: a second run (matches that block each other's raise) reports its own
      const held: NearMiss[] = [];
      const raise = new OpsetRaise(model);
      const res = applyRules(model, spec.rules({ raise }), { ...opts, ctx: ctx.explain ? { ...ctx, explain: (m) => held.push(m) } : ctx });
      const ignore = raise.retry();
      if (!ignore) {
        for (const m of held) ctx.explain?.(m);
        const to = raise.apply(res.applied);
        return { modified: res.applied > 0, counts: res.counts, notes: to ? [`raised the default opset to ${to}`] : undefined };
      }
      const second = new OpsetRaise(model, ignore);
      const res2 = applyRules(model, spec.rules({ raise: second }), { ...opts, ctx });
      const to = second.apply(res.applied + res2.applied, raise.version);
      const counts = { ...res.counts };
      for (const [k, n] of Object.entries(res2.counts)) counts[k] = (counts[k] ?? 0) + n;
      const applied = res.applied + res2.applied;
      return { modified: applied > 0, counts, notes: to ? [`raised the default opset to ${to}`] : undefined };
    },
  };
}

/** A name for a fused node: the root's scope (torch names nodes `/scope/Op`) followed by the new op type. */
export function fusedName(root: Node, opType: string): string {
  const i = root.name.lastIndexOf('/');
  return i > 0 ? `${root.name.slice(0, i)}/${opType}` : opType;
}

// ------------------------------------------------------------------------------------------------ constants

const FOLDABLE = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** The values of a float constant as float64 (a copy), or a reason it cannot be folded. */
export function floatValues(t: Tensor): Float64Array | string {
  if (!FOLDABLE.has(t.dataType)) return `${dtypeName(t.dataType)} weights are not folded`;
  return t.dataType === DataType.DOUBLE ? Float64Array.from(t.data() as Float64Array) : Float64Array.from(t.toFloat32());
}

/** A tensor of `dataType` (a float type) holding `values`. */
export function tensorOf(dataType: number, dims: readonly number[], values: Float32Array | Float64Array): Tensor {
  if (dataType === DataType.FLOAT && values instanceof Float32Array) return Tensor.fromArray(dataType, dims, values);
  const f32 = values instanceof Float32Array ? values : new Float32Array(values);
  switch (dataType) {
    case DataType.DOUBLE:
      return Tensor.fromArray(dataType, dims, values instanceof Float64Array ? values : new Float64Array(values));
    case DataType.FLOAT16:
      return Tensor.fromArray(dataType, dims, float32ToFloat16(f32));
    case DataType.BFLOAT16:
      return Tensor.fromArray(dataType, dims, float32ToBFloat16(f32));
    default:
      return Tensor.fromArray(DataType.FLOAT, dims, f32);
  }
}

/** Dims with leading 1s removed ([1, 1, 768] -> [768]). */
export function squeezeLeading(dims: readonly number[]): number[] {
  let i = 0;
  while (i < dims.length && dims[i] === 1) i++;
  return dims.slice(i);
}

/**
 * A constant that broadcasts against an output of rank `rank` along axis `axis` only (per channel), as `channels`
 * values; a one-element constant is repeated. Otherwise a reason (it would broadcast along another axis or grow the
 * output).
 */
export function perChannel(t: Tensor, rank: number, axis: number, channels: number): Float64Array | string {
  const vals = floatValues(t);
  if (typeof vals === 'string') return vals;
  if (t.size === 1 && t.rank <= rank) return new Float64Array(channels).fill(vals[0]);
  if (t.rank > rank) return `constant of rank ${t.rank} would grow the rank-${rank} output`;
  const at = axis - (rank - t.rank);
  const ok = t.dims.every((d, i) => (i === at ? d === channels : d === 1));
  if (!ok) return `constant of shape [${t.dims}] is not per-channel for axis ${axis} of ${channels} channels in a rank-${rank} output`;
  return vals;
}

/**
 * Multiplies output channel o of a Conv (W: [C_out, C_in/group, k...]) or ConvTranspose (W: [C_in, C_out/group,
 * k...]; output channel o = g * C_out/group + j is held by W[g * C_in/group + i, j, ...]) by scale[o].
 */
export function scaleOutputChannels(w: Float64Array, dims: readonly number[], opType: string, group: number, scale: ArrayLike<number>): Float64Array {
  const out = new Float64Array(w.length);
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  if (opType === 'Conv') {
    const per = w.length / dims[0];
    for (let o = 0; o < dims[0]; o++) for (let k = 0; k < per; k++) out[o * per + k] = w[o * per + k] * scale[o];
    return out;
  }
  const cinG = dims[0] / group;
  const coutG = dims[1];
  for (let ci = 0; ci < dims[0]; ci++) {
    const g = Math.floor(ci / cinG);
    for (let j = 0; j < coutG; j++) {
      const s = scale[g * coutG + j];
      const base = (ci * coutG + j) * inner;
      for (let k = 0; k < inner; k++) out[base + k] = w[base + k] * s;
    }
  }
  return out;
}

/** Output channels of a Conv / ConvTranspose weight. */
export function outputChannels(dims: readonly number[], opType: string, group: number): number {
  return opType === 'Conv' ? dims[0] : dims[1] * group;
}

// ------------------------------------------------------------------------------------------------ ranks

/**
 * The rank of a value when the model states it or its producers imply it (Flatten and Gemm give 2, elementwise ops
 * keep their input's rank, Reshape to a target whose length is known, ...): util/infer.ts's shape inference.
 */
export function inferRank(v: Value | null | undefined, inference = new Inference()): number | undefined {
  return inference.rank(v);
}

/** True or a reason: the value is a float tensor type that can be folded. */
export function foldableType(t: Tensor, what: string): CheckResult {
  return FOLDABLE.has(t.dataType) ? true : `${what} is ${dtypeName(t.dataType)}; only float weights are folded`;
}
