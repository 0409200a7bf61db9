/**
 * Sensitivity-driven sparsity search.
 *
 *   1. sensitivity: for each layer group alone, the largest sparsity level whose pruned model keeps graph F1 against
 *      the original at or above the target (THE graph F1: measure/fidelity.ts graphF1Score, the lower of last layer
 *      and all layers, the number `bench --gate 'graphF1 >= X'` reads), and/or the output error at or below
 *      --max-error, and the output co-limits (with --target-f1: worst top-1 agreement >= --min-top1, default 0.9,
 *      and worst cosine >= --min-cosine, default 0.99) (binary search over the levels, assuming fidelity falls as
 *      sparsity grows);
 *   2. combination: all groups at their levels together; while that misses the target, every group steps one level
 *      down (the last configuration, all dense, always meets it). The first configuration that meets it is the result
 *      and its measured F1 is the one reported;
 *   3. latency (--target-latency r): the result must also measure at most r times the original's median latency in
 *      interleaved runs on onnxruntime; stepping down cannot make it faster, so a miss is reported as such. With a
 *      latency target alone, groups share one level and the smallest level that is fast enough wins.
 *
 * Graph F1 sees attention only: units after the last attention Softmax (the last FFN, a pooler, a classifier
 * head) change nothing it measures. Those groups are constrained by the output co-limits; with the co-limits off
 * (both 0) and no --max-error, they are left dense and a note says so. A reference whose graph F1 is inconclusive
 * (too few baseline edges) cannot steer a --target-f1 search: it is refused with the reason.
 *
 * Every evaluation is a fresh copy of the original (decoded from its bytes), pruned with the configuration and run
 * on the calibration inputs; importance scores come from the original, so a configuration always prunes the same
 * units. Evaluations go to the checkpoint as they finish, so an interrupted search resumes where it stopped.
 */
import type * as ort from 'onnxruntime-node';
import { nowMs, timeInterleaved } from '../measure/timing.js';
import type { Model } from '../ir/model.js';
import { decodeModelBytes } from '../onnx/io.js';
import { createSession, type Feeds } from '../runtime/session.js';
import { type Checkpoint, configKey, type Evaluation } from './checkpoint.js';
import { compareProbes, measureFidelity, type FidelityReference } from '../measure/fidelity-probe.js';
import { graphF1Score } from '../measure/fidelity.js';
import { findAttentionSoftmax } from '../measure/attention.js';
import type { Node } from '../ir/graph.js';
import type { OutputFidelity } from '../measure/types.js';
import { OperationError } from '../errors.js';
import { median } from '../util/numerics.js';

/** Output co-limits of a --target-f1 search when not given: worst top-1 agreement and worst cosine over the outputs. */
export const DEFAULT_MIN_TOP1 = 0.9;
export const DEFAULT_MIN_COSINE = 0.99;

export interface SearchGroup {
  id: string;
  label: string;
  /** the nodes that read or write the units (`Op 'name'`, as structured analysis describes them), for visibility */
  nodes?: string[];
}

export interface SearchSpace {
  groups: SearchGroup[];
  /** candidate sparsities, ascending, all > 0 */
  levels: number[];
  /** prunes `model` (a fresh copy of the original) with per-group sparsities; groups not named stay dense */
  apply(model: Model, config: Record<string, number>): void;
}

export interface SearchProgress {
  phase: 'sensitivity' | 'combine' | 'latency';
  done: number;
  total: number;
  label: string;
  /** true when the result came from the checkpoint */
  cached: boolean;
}

export interface SearchOptions {
  targetF1?: number;
  maxError?: number;
  targetLatency?: number;
  /** worst top-1 agreement over the outputs the result must keep (default DEFAULT_MIN_TOP1 with targetF1; 0 = off) */
  minTop1?: number;
  /** worst cosine over the outputs the result must keep (default DEFAULT_MIN_COSINE with targetF1; 0 = off) */
  minCosine?: number;
  reference: FidelityReference;
  checkpoint: Checkpoint;
  /** timed rounds per latency measurement (default 20) */
  latencyRuns?: number;
  onProgress?: (p: SearchProgress) => void;
}

export interface SearchReport {
  target: { f1: number | null; maxError: number | null; latency: number | null; minTop1: number | null; minCosine: number | null };
  /** what F1 gates: graphF1Score, the lower of last-layer and all-layer graph F1 (the bench's `graphF1`) */
  metric: string;
  met: boolean;
  /** chosen sparsity per group (0 = left dense) */
  config: Record<string, number>;
  perGroup: { id: string; label: string; sensitivity: number; chosen: number }[];
  reached: {
    /** graphF1Score of the result (min of last layer and all layers) */
    f1: number;
    lastLayerF1: number;
    allLayersF1: number;
    maxError: number;
    top1: number | null;
    cosine: number | null;
    source: string;
    latencyRatio: number | null;
  };
  /** groups no constraint could see, left dense (ids) */
  leftDense: string[];
  steps: { config: string; f1: number; maxError: number; top1: number | null; cosine: number | null; latencyRatio: number | null; ok: boolean }[];
  evaluations: number;
  fromCheckpoint: number;
  ms: number;
  notes: string[];
}

/** Worst top-1 agreement and cosine over the outputs (null when no output has one). */
export function worstOutputs(outputs: readonly OutputFidelity[]): { top1: number | null; cosine: number | null } {
  const ok = outputs.filter((o) => !o.error);
  const t = ok.map((o) => o.top1).filter((v): v is number => v !== null);
  const c = ok.map((o) => o.cosine).filter((v): v is number => v !== null);
  if (outputs.some((o) => o.error || o.nonFinite > 0)) return { top1: 0, cosine: 0 };
  return { top1: t.length ? Math.min(...t) : null, cosine: c.length ? Math.min(...c) : null };
}

/** Descriptions (`Op 'name'`) of the nodes an attention Softmax depends on, and the values they read. */
function attentionAncestors(model: Model): { nodes: Set<string>; values: Set<string> } {
  const nodes = new Set<string>();
  const values = new Set<string>();
  const seen = new Set<Node>();
  const stack: Node[] = findAttentionSoftmax(model.graph);
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    nodes.add(n.name ? `${n.opType} '${n.name}'` : `${n.opType}(${n.outputs.find((o) => o)?.name ?? '?'})`);
    for (const v of n.inputs) {
      if (!v) continue;
      values.add(v.name);
      if (v.producer) stack.push(v.producer);
    }
  }
  return { nodes, values };
}

/** Groups whose units no attention Softmax depends on (graph F1 cannot see them). */
export function invisibleToAttention(model: Model, groups: readonly SearchGroup[]): SearchGroup[] {
  const { nodes, values } = attentionAncestors(model);
  if (!nodes.size) return [];
  return groups.filter((g) => !(g.nodes ? g.nodes.some((d) => nodes.has(d)) : values.has(g.id)));
}

export async function searchSparsity(original: Model, originalBytes: Uint8Array, space: SearchSpace, opts: SearchOptions): Promise<SearchReport> {
  const t0 = nowMs();
  const { checkpoint: ck, reference } = opts;
  const fidelityGate = opts.targetF1 !== undefined || opts.maxError !== undefined;
  const minTop1 = opts.minTop1 ?? (opts.targetF1 !== undefined ? DEFAULT_MIN_TOP1 : undefined);
  const minCosine = opts.minCosine ?? (opts.targetF1 !== undefined ? DEFAULT_MIN_COSINE : undefined);
  const notes: string[] = [];
  // the reference against itself: is its graph F1 evidence at all?
  if (opts.targetF1 !== undefined) {
    const self = compareProbes(reference.probe, reference).graphF1;
    if (self.score === null) throw new OperationError(`--target-f1 cannot steer this search: ${self.inconclusive} (or search on --max-error instead)`);
  }
  // units graph F1 cannot see: constrained by the outputs, or left dense
  const outputLimited = (minTop1 ?? 0) > 0 || (minCosine ?? 0) > 0 || opts.maxError !== undefined;
  const attentionSource = reference.probe.capture !== null && !reference.probe.whyNoAttention;
  const invisible = opts.targetF1 !== undefined && attentionSource ? invisibleToAttention(original, space.groups) : [];
  const leftDense: string[] = [];
  if (invisible.length && !outputLimited) {
    leftDense.push(...invisible.map((g) => g.id));
    space = { ...space, groups: space.groups.filter((g) => !leftDense.includes(g.id)) };
    notes.push(
      `${invisible.length} unit group(s) after the last attention Softmax (${invisible.map((g) => g.label).join(', ')}) are invisible to graph F1 and no output limit is set: left dense (set --min-top1 / --min-cosine or --max-error to prune them)`,
    );
  } else if (invisible.length)
    notes.push(
      `${invisible.length} unit group(s) after the last attention Softmax (${invisible.map((g) => g.label).join(', ')}) are invisible to graph F1: held by the output limits (${[minTop1 ? `top-1 >= ${minTop1}` : '', minCosine ? `cosine >= ${minCosine}` : '', opts.maxError !== undefined ? `max error <= ${opts.maxError}` : ''].filter((x) => x).join(', ')})`,
    );
  const L = space.levels.length;
  const perGroupSteps = fidelityGate ? Math.ceil(Math.log2(L + 1)) : 0;
  let total = space.groups.length * perGroupSteps + 1 + (opts.targetLatency !== undefined ? 1 : 0);
  let done = 0;
  let evaluations = 0;
  let fromCheckpoint = 0;
  const tick = (phase: SearchProgress['phase'], label: string, cached: boolean) => {
    done++;
    if (done > total) total = done;
    if (cached) fromCheckpoint++;
    else evaluations++;
    opts.onProgress?.({ phase, done, total, label, cached });
  };
  const ok = (e: Evaluation) =>
    (opts.targetF1 === undefined || e.f1 >= opts.targetF1) &&
    (opts.maxError === undefined || e.maxError <= opts.maxError) &&
    (!minTop1 || (e.top1 ?? 1) >= minTop1) &&
    (!minCosine || (e.cosine ?? 1) >= minCosine);

  const evaluate = async (key: string, config: Record<string, number>, phase: SearchProgress['phase'], label: string): Promise<Evaluation> => {
    const hit = ck.get(key);
    if (hit) {
      tick(phase, label, true);
      return hit;
    }
    const copy = candidate(originalBytes, original, space, config);
    const m = await measureFidelity(copy, reference);
    // graphF1Score: the one definition (min of last layer and all layers); inconclusive counts as missing the target
    const w = worstOutputs(m.outputs);
    const e: Evaluation = {
      f1: graphF1Score(m.graphF1).value ?? 0,
      lastLayerF1: m.graphF1.lastLayer,
      allLayersF1: m.graphF1.allLayers,
      maxError: m.maxError,
      top1: w.top1,
      cosine: w.cosine,
      source: m.graphF1.score === null ? `${m.graphF1.source} (inconclusive)` : m.graphF1.source,
    };
    ck.set(key, e);
    tick(phase, label, false);
    return e;
  };

  let baseSession: ort.InferenceSession | undefined;
  const latency = async (config: Record<string, number>, label: string): Promise<number> => {
    const key = configKey(config);
    const hit = ck.latency(key);
    if (hit !== undefined) {
      tick('latency', label, true);
      return hit;
    }
    baseSession ??= await createSession(original);
    const cand = await createSession(candidate(originalBytes, original, space, config));
    try {
      const r = await latencyRatio(baseSession, cand, reference.feeds, opts.latencyRuns ?? 20);
      ck.setLatency(key, r);
      tick('latency', label, false);
      return r;
    } finally {
      await cand.release();
    }
  };

  const steps: SearchReport['steps'] = [];
  const perGroup = space.groups.map((g) => ({ id: g.id, label: g.label, sensitivity: 0, chosen: 0 }));
  let chosen: Record<string, number> = {};
  const UNCHANGED: Evaluation = { f1: 1, lastLayerF1: 1, allLayersF1: 1, maxError: 0, top1: 1, cosine: 1, source: 'unchanged' };
  let reached: Evaluation = { ...UNCHANGED, source: 'none' };
  let latencyReached: number | null = null;
  let met = false;
  try {
    if (fidelityGate) {
      // 1. sensitivity per group
      const best: number[] = [];
      for (const [gi, g] of space.groups.entries()) {
        let lo = -1;
        let hi = L;
        while (hi - lo > 1) {
          const mid = (lo + hi) >> 1;
          const s = space.levels[mid];
          const e = await evaluate(`g:${g.id}@${s}`, { [g.id]: s }, 'sensitivity', `${g.label} @ ${s}`);
          if (ok(e)) lo = mid;
          else hi = mid;
        }
        best.push(lo);
        perGroup[gi].sensitivity = lo >= 0 ? space.levels[lo] : 0;
      }
      // 2. combination, stepping every group down until the target is met
      let idx = [...best];
      for (;;) {
        const config = Object.fromEntries(space.groups.map((g, i) => [g.id, idx[i] >= 0 ? space.levels[idx[i]] : 0]));
        const key = configKey(config);
        const e = key === '[]' ? UNCHANGED : await evaluate(`c:${key}`, config, 'combine', `combined step ${steps.length + 1}`);
        const pass = ok(e);
        steps.push({ config: key, f1: e.f1, maxError: e.maxError, top1: e.top1 ?? null, cosine: e.cosine ?? null, latencyRatio: null, ok: pass });
        if (pass) {
          chosen = config;
          reached = e;
          met = true;
          break;
        }
        idx = idx.map((i) => Math.max(-1, i - 1));
      }
      if (configKey(chosen) === '[]') notes.push('no sparsity level kept the target on any layer group: the model is left dense');
      // 3. latency of the result
      if (opts.targetLatency !== undefined) {
        latencyReached = configKey(chosen) === '[]' ? 1 : await latency(chosen, 'latency of the result');
        steps[steps.length - 1].latencyRatio = latencyReached;
        if (latencyReached > opts.targetLatency) {
          met = false;
          notes.push(
            `the sparsest configuration within the fidelity target measured ${latencyReached.toFixed(3)}x the original latency, above --target-latency ${opts.targetLatency}; pruning less cannot be faster`,
          );
        }
      }
    } else if (opts.targetLatency !== undefined) {
      // latency alone: one shared level, the smallest that is fast enough
      total = L * 2;
      for (const s of space.levels) {
        const config = Object.fromEntries(space.groups.map((g) => [g.id, s]));
        const key = configKey(config);
        const r = await latency(config, `all groups @ ${s}`);
        const e = await evaluate(`c:${key}`, config, 'combine', `all groups @ ${s}`);
        const pass = r <= opts.targetLatency;
        steps.push({ config: key, f1: e.f1, maxError: e.maxError, top1: e.top1 ?? null, cosine: e.cosine ?? null, latencyRatio: r, ok: pass });
        if (pass) {
          chosen = config;
          reached = e;
          latencyReached = r;
          met = true;
          break;
        }
      }
      if (!met) notes.push(`no sparsity level up to ${space.levels[L - 1]} measured at or below ${opts.targetLatency}x the original latency`);
    }
  } finally {
    await baseSession?.release();
  }
  for (const p of perGroup) p.chosen = chosen[p.id] ?? 0;
  return {
    target: {
      f1: opts.targetF1 ?? null,
      maxError: opts.maxError ?? null,
      latency: opts.targetLatency ?? null,
      minTop1: minTop1 ?? null,
      minCosine: minCosine ?? null,
    },
    metric: 'graph F1 = min(last layer, all layers) over the calibration sets (graphF1Score, as bench --gate graphF1 reads it)',
    met,
    config: chosen,
    perGroup,
    reached: {
      f1: reached.f1,
      lastLayerF1: reached.lastLayerF1,
      allLayersF1: reached.allLayersF1 ?? reached.f1,
      maxError: reached.maxError,
      top1: reached.top1 ?? null,
      cosine: reached.cosine ?? null,
      source: reached.source,
      latencyRatio: latencyReached,
    },
    leftDense,
    steps,
    evaluations,
    fromCheckpoint,
    ms: nowMs() - t0,
    notes,
  };
}

function candidate(bytes: Uint8Array, original: Model, space: SearchSpace, config: Record<string, number>): Model {
  const copy = decodeModelBytes(bytes, original.source?.baseDir, original.source?.path ?? 'model');
  copy.source = original.source;
  space.apply(copy, config);
  return copy;
}

/** Median latency of `cand` over median latency of `base`, interleaved runs on the same inputs. */
export async function latencyRatio(base: ort.InferenceSession, cand: ort.InferenceSession, feeds: readonly Feeds[], runs: number): Promise<number> {
  const run = (s: ort.InferenceSession) => (set: number) => s.run(pick(s, feeds[set]));
  const [b, c] = await timeInterleaved([run(base), run(cand)], { warmup: 3, runs, minTimeMs: 0, sets: feeds.length });
  return median(c) / median(b);
}

function pick(s: ort.InferenceSession, feeds: Feeds): Feeds {
  const out: Feeds = {};
  for (const n of s.inputNames) out[n] = feeds[n];
  return out;
}
