/**
 * Accuracy-guided integer quantization (`autoglm quantize --dtype int8 --mixed`): quantize everything, and when the
 * outputs drift beyond the tolerance, keep the most sensitive layers float until they do not.
 *
 *   1. all quantized: measured on the feeds against the float model's outputs (computed once). Within: done.
 *   2. sensitivity, all-but-one: for each quantized node c, the model with every node but c quantized; the better
 *      that model, the more c costs. With more candidates than the evaluation budget allows, neighbouring nodes (in
 *      graph order) are measured as groups, and the report says so.
 *   3. the k most sensitive stay float, k = 1, 2, 4, ... until within, then a bisection for the smallest such k.
 *
 * "Within" is the badness max(error / maxError, (1 - cosine) / (1 - minCosine)) <= 1 over every output, from the
 * thresholds that are set (minCosine 0.99 when neither is). Every evaluation copies the float model, quantizes it
 * with an exclude list, creates a session and runs the feeds; `maxEvaluations` (default 48) bounds the total.
 * The model passed in is quantized in place, once, with the chosen exclude list.
 */
import type * as ort from 'onnxruntime-node';
import type { Model } from '../../ir/model.js';
import { compareRuns } from '../../measure/compare-models.js';
import { worstError } from '../../measure/fidelity.js';
import type { OutputFidelity } from '../../measure/types.js';
import { encodeModel } from '../../onnx/encode.js';
import { decodeModelBytes } from '../../onnx/io.js';
import { createSession, runSession, type Feeds } from '../../runtime/session.js';
import { quantizeDynamic, type DynamicQuantizeOptions } from './dynamic.js';
import { quantizeInt4, type Int4Options } from './int4.js';
import type { IntQuantizeReport } from './report.js';
import { adaptFeeds } from '../../inputs/adapt.js';

export interface GuidedOptions {
  dtype: 'int8' | 'int4';
  /** options of quantizeDynamic (int8) or quantizeInt4 (int4); their `exclude` is kept float in every trial */
  options?: DynamicQuantizeOptions | Int4Options;
  /** input sets to measure on (calibration inputs) */
  feeds: readonly Feeds[];
  /** smallest accepted output cosine; default 0.99 when maxError is not set either */
  minCosine?: number;
  /** largest accepted range-relative error max|c - b| / max|b| */
  maxError?: number;
  /** total evaluations allowed (default 48, at least 3) */
  maxEvaluations?: number;
  log?: (message: string) => void;
}

export interface GuidedKept {
  /** node names kept float (one, or a group when the budget forced groups) */
  nodes: string[];
  opType: string;
  /** fidelity of the model with everything but these quantized: what keeping them float buys */
  cosineWithoutIt: number;
  errorWithoutIt: number;
  /** bytes the float weights keep over their quantized form (the size it costs) */
  bytesCost: number;
}

export interface GuidedReport {
  minCosine: number | null;
  maxError: number | null;
  within: boolean;
  candidates: number;
  /** nodes per sensitivity group (1: measured one by one) */
  groupSize: number;
  evaluations: number;
  maxEvaluations: number;
  /** everything quantized */
  cosineAllQuantized: number;
  errorAllQuantized: number;
  /** the chosen model */
  cosine: number;
  error: number;
  kept: GuidedKept[];
  ms: number;
}

type Measured = { fidelity: OutputFidelity[]; cosine: number; error: number; badness: number; report: IntQuantizeReport };

const copy = (m: Model): Model => decodeModelBytes(encodeModel(m));

export async function quantizeGuided(model: Model, opts: GuidedOptions): Promise<{ report: IntQuantizeReport; guided: GuidedReport }> {
  const t0 = performance.now();
  const minCosine = opts.minCosine ?? (opts.maxError === undefined ? 0.99 : undefined);
  const maxError = opts.maxError;
  const budget = Math.max(3, opts.maxEvaluations ?? 48);
  const log = opts.log ?? (() => {});
  const baseExclude = opts.options?.exclude ?? [];
  const reference = copy(model);
  const apply = (m: Model, exclude: readonly string[]): IntQuantizeReport =>
    opts.dtype === 'int4'
      ? quantizeInt4(m, { ...(opts.options as Int4Options), exclude: [...baseExclude, ...exclude] })
      : quantizeDynamic(m, { ...(opts.options as DynamicQuantizeOptions), exclude: [...baseExclude, ...exclude] });

  const s = await createSession(reference);
  const refOut: Record<string, ort.Tensor>[] = [];
  try {
    for (const f of opts.feeds) refOut.push(await runSession(s, f));
  } finally {
    await s.release();
  }
  let evaluations = 0;
  const badnessOf = (cos: number, err: number) =>
    Math.max(maxError !== undefined ? err / maxError : 0, minCosine !== undefined ? (1 - cos) / Math.max(1e-12, 1 - minCosine) : 0);
  const measure = async (exclude: readonly string[]): Promise<Measured> => {
    evaluations++;
    const m = copy(reference);
    const report = apply(m, exclude);
    const session = await createSession(m);
    try {
      const { feeds } = adaptFeeds(opts.feeds, m);
      const got = [];
      for (const f of feeds) got.push(await runSession(session, f));
      const fidelity = compareRuns(got, refOut);
      const cosine = fidelity.reduce((a, o) => Math.min(a, o.cosine ?? 0), 1);
      const error = worstError(fidelity);
      return { fidelity, cosine, error, badness: Number.isFinite(error) ? badnessOf(cosine, error) : Infinity, report };
    } finally {
      await session.release();
    }
  };

  const all = await measure([]);
  log(`guided: everything quantized -> cosine ${all.cosine.toFixed(6)}, range error ${all.error.toExponential(2)}`);
  const candidates = all.report.quantized.map((q) => q.name);
  const opOf = new Map(all.report.quantized.map((q) => [q.name, q.opType]));
  const bytesOf = new Map<string, number>();
  for (const q of all.report.quantized) {
    const w = all.report.weights.find((x) => x.name === q.weight);
    if (w) bytesOf.set(q.name, Math.round((w.bytesBefore - w.bytesAfter) / Math.max(1, w.users)));
  }
  const guided: GuidedReport = {
    minCosine: minCosine ?? null,
    maxError: maxError ?? null,
    within: all.badness <= 1,
    candidates: candidates.length,
    groupSize: 1,
    evaluations: 0,
    maxEvaluations: budget,
    cosineAllQuantized: all.cosine,
    errorAllQuantized: all.error,
    cosine: all.cosine,
    error: all.error,
    kept: [],
    ms: 0,
  };
  let exclude: string[] = [];
  if (!guided.within && candidates.length) {
    // sensitivity groups: leave about a third of the budget for the search
    const searchBudget = Math.min(budget - 1, Math.max(2, Math.ceil(2 * Math.log2(candidates.length + 1)) + 1));
    const groupCount = Math.max(1, Math.min(candidates.length, budget - 1 - searchBudget));
    const size = Math.ceil(candidates.length / groupCount);
    guided.groupSize = size;
    const groups: string[][] = [];
    for (let i = 0; i < candidates.length; i += size) groups.push(candidates.slice(i, i + size));
    const scored: { group: string[]; m: Measured }[] = [];
    for (const group of groups) {
      const m = await measure(group);
      scored.push({ group, m });
    }
    log(`guided: sensitivity of ${groups.length} group(s) of up to ${size} node(s) measured`);
    scored.sort((a, b) => a.m.badness - b.m.badness || b.m.cosine - a.m.cosine);
    const tried = new Map<number, Measured>();
    const tryK = async (k: number): Promise<Measured> => {
      const hit = tried.get(k);
      if (hit) return hit;
      const m = await measure(scored.slice(0, k).flatMap((s) => s.group));
      tried.set(k, m);
      log(`guided: ${k} group(s) kept float -> cosine ${m.cosine.toFixed(6)}, range error ${m.error.toExponential(2)}`);
      return m;
    };
    // doubling, then bisection between the last k that failed and the first that held
    let lo = 0;
    let hi = -1;
    for (let k = 1; evaluations < budget; k = Math.min(scored.length, k * 2)) {
      const m = await tryK(k);
      if (m.badness <= 1) {
        hi = k;
        break;
      }
      lo = k;
      if (k === scored.length) break;
    }
    while (hi > 0 && hi - lo > 1 && evaluations < budget) {
      const mid = (lo + hi) >> 1;
      if ((await tryK(mid)).badness <= 1) hi = mid;
      else lo = mid;
    }
    const k = hi > 0 ? hi : Math.max(0, ...[...tried.keys()].filter((x) => (tried.get(x)!.badness ?? Infinity) <= (tried.get(lo)?.badness ?? Infinity)));
    const best = k > 0 ? tried.get(k)! : all;
    guided.within = best.badness <= 1;
    guided.cosine = best.cosine;
    guided.error = best.error;
    guided.kept = scored.slice(0, k).map(({ group, m }) => ({
      nodes: group,
      opType: [...new Set(group.map((n) => opOf.get(n) ?? '?'))].join('/'),
      cosineWithoutIt: m.cosine,
      errorWithoutIt: m.error,
      bytesCost: group.reduce((a, n) => a + (bytesOf.get(n) ?? 0), 0),
    }));
    exclude = guided.kept.flatMap((x) => x.nodes);
  }
  guided.evaluations = evaluations;
  const report = apply(model, exclude);
  guided.ms = performance.now() - t0;
  return { report, guided };
}
