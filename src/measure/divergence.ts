/**
 * Where two models start to disagree: the first value, in the reference's topological order, whose candidate
 * counterpart is beyond a tolerance. Used to explain a failed self-check (quantize, optimize, prune): "the worst output
 * is logits, and the divergence first appears at /layers.0/attn/MatMul (MatMul)".
 *
 * The values compared are the float outputs of the reference's main-graph nodes that the candidate also has under the
 * same name (rewrites keep the names of the values they replace; values a rewrite removed or renamed are skipped).
 * Both models run once on one input set with those values exposed as extra outputs (restored before this returns) and
 * onnxruntime's graph optimisations disabled, so every value is what its own node computed.
 */
import type * as ort from 'onnxruntime-node';
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { adaptFeeds } from '../inputs/adapt.js';
import { createSession, runSession, type Feeds } from '../runtime/session.js';
import { compareOutputs, toOutputSet } from './fidelity.js';
import { exposeValues } from './probe.js';
import type { OutputFidelity } from './types.js';

export interface Divergence {
  /** the value's name */
  value: string;
  /** the reference node that computes it (name, or its output's name when unnamed) and its op type */
  node: string;
  opType: string;
  fidelity: OutputFidelity;
}

export interface DivergenceResult {
  /** the first value beyond the tolerance (null when every compared value is within it) */
  first: Divergence | null;
  /** values compared */
  compared: number;
}

/** Most values exposed in one run (a first divergence is usually early; this bounds memory on big models). */
export const MAX_DIVERGENCE_VALUES = 4000;

/** Whether a value's comparison is beyond the tolerance (the self-check's rule, applied to one value). */
export function beyondTolerance(o: OutputFidelity, tol: { minCosine: number; maxError: number | null }): boolean {
  if (o.nonFinite > 0) return true;
  if (o.cosine !== null && o.cosine < tol.minCosine) return true;
  return tol.maxError !== null && o.rangeError !== null && o.rangeError > tol.maxError;
}

/** Runs both models on `feeds` with their common intermediate values exposed and finds the first one beyond `tol`. */
export async function firstDivergence(
  reference: Model,
  candidate: Model,
  feeds: Feeds,
  tol: { minCosine: number; maxError: number | null },
  opts: { maxValues?: number } = {},
): Promise<DivergenceResult> {
  const max = opts.maxValues ?? MAX_DIVERGENCE_VALUES;
  const cand = new Map<string, Value>();
  for (const n of candidate.graph.nodes) for (const o of n.outputs) if (o) cand.set(o.name, o);
  const pairs: { ref: Value; cand: Value; node: string; opType: string }[] = [];
  for (const n of reference.graph.nodes) {
    for (const o of n.outputs) {
      const c = o && cand.get(o.name);
      if (o && c && pairs.length < max) pairs.push({ ref: o, cand: c, node: n.name || o.name, opType: n.opType });
    }
  }
  if (!pairs.length) return { first: null, compared: 0 };
  const run = async (model: Model, values: Value[], f: Feeds): Promise<Record<string, ort.Tensor>> => {
    const original = [...model.graph.outputs];
    let session: ort.InferenceSession;
    try {
      exposeValues(model, values);
      session = await createSession(model, { optimizationLevel: 'disabled' });
    } finally {
      model.graph.setOutputs(original);
    }
    try {
      return await runSession(session, f);
    } finally {
      await session.release();
    }
  };
  const ref = await run(
    reference,
    pairs.map((p) => p.ref),
    feeds,
  );
  const got = await run(
    candidate,
    pairs.map((p) => p.cand),
    adaptFeeds([feeds], candidate).feeds[0]!,
  );
  const isFloat = (t: ort.Tensor | undefined) => !!t && (t.type === 'float32' || t.type === 'float16' || t.type === 'float64');
  const comparable = pairs.filter((p) => isFloat(ref[p.ref.name]) && isFloat(got[p.cand.name]));
  const fid = compareOutputs(
    [toOutputSet(Object.fromEntries(comparable.map((p) => [p.cand.name, got[p.cand.name]!])))],
    [toOutputSet(Object.fromEntries(comparable.map((p) => [p.ref.name, ref[p.ref.name]!])))],
    comparable.map((p) => [p.cand.name, p.ref.name]),
  );
  for (let i = 0; i < comparable.length; i++) {
    const o = fid[i]!;
    if (o.error === null && beyondTolerance(o, tol)) {
      const p = comparable[i]!;
      return { first: { value: p.ref.name, node: p.node, opType: p.opType, fidelity: o }, compared: comparable.length };
    }
  }
  return { first: null, compared: comparable.length };
}

/** A cosine with enough digits to differ from 1 when it does (6 decimals, 9 above 0.9999995). */
export function fmtCosine(c: number): string {
  return c >= 0.9999995 && c < 1 ? c.toFixed(9) : c.toFixed(6);
}

/** One sentence: where the divergence first appears, with its measures. */
export function describeDivergence(d: DivergenceResult): string {
  if (!d.first) return d.compared ? `no intermediate value (of ${d.compared} compared) is beyond the tolerance` : 'no intermediate value could be compared';
  const o = d.first.fidelity;
  const m = [
    o.cosine !== null ? `cosine ${fmtCosine(o.cosine)}` : null,
    o.rangeError !== null ? `range error ${o.rangeError.toExponential(2)}` : null,
    o.nonFinite ? `${o.nonFinite} non-finite` : null,
  ]
    .filter(Boolean)
    .join(', ');
  return `the divergence first appears at node ${d.first.node} (${d.first.opType}), value ${d.first.value}: ${m}`;
}

/** The output furthest from the reference: one that could not be compared, else the lowest cosine, then range error. */
export function worstOutputOf(outputs: readonly OutputFidelity[]): string | null {
  let worst: OutputFidelity | null = null;
  const key = (o: OutputFidelity): [number, number] => [o.error !== null || o.nonFinite > 0 ? -2 : (o.cosine ?? -1), -(o.rangeError ?? 0)];
  for (const o of outputs) {
    if (!worst) worst = o;
    else {
      const [a, b] = [key(o), key(worst)];
      if (a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])) worst = o;
    }
  }
  return worst?.name ?? null;
}
