/**
 * Sensitivity-driven sparsity search.
 *
 *   1. sensitivity: for each layer group alone, the largest sparsity level whose pruned model keeps graph F1 against
 *      the original (micro-average over all attention layers and calibration sets) at or above the target, and/or
 *      the output error at or below --max-error (binary search over the levels, assuming fidelity falls as sparsity
 *      grows);
 *   2. combination: all groups at their levels together; while that misses the target, every group steps one level
 *      down (the last configuration, all dense, always meets it). The first configuration that meets it is the result
 *      and its measured F1 is the one reported;
 *   3. latency (--target-latency r): the result must also measure at most r times the original's median latency in
 *      interleaved runs on onnxruntime; stepping down cannot make it faster, so a miss is reported as such. With a
 *      latency target alone, groups share one level and the smallest level that is fast enough wins.
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
import { measureFidelity, type FidelityReference } from '../measure/fidelity-probe.js';
import { median } from '../util/numerics.js';

export interface SearchGroup {
  id: string;
  label: string;
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
  reference: FidelityReference;
  checkpoint: Checkpoint;
  /** timed rounds per latency measurement (default 20) */
  latencyRuns?: number;
  onProgress?: (p: SearchProgress) => void;
}

export interface SearchReport {
  target: { f1: number | null; maxError: number | null; latency: number | null };
  /** what F1 gates: the micro-average over all attention layers and calibration sets */
  metric: string;
  met: boolean;
  /** chosen sparsity per group (0 = left dense) */
  config: Record<string, number>;
  perGroup: { id: string; label: string; sensitivity: number; chosen: number }[];
  reached: { f1: number; lastLayerF1: number; maxError: number; source: string; latencyRatio: number | null };
  steps: { config: string; f1: number; maxError: number; latencyRatio: number | null; ok: boolean }[];
  evaluations: number;
  fromCheckpoint: number;
  ms: number;
  notes: string[];
}

export async function searchSparsity(original: Model, originalBytes: Uint8Array, space: SearchSpace, opts: SearchOptions): Promise<SearchReport> {
  const t0 = nowMs();
  const { checkpoint: ck, reference } = opts;
  const fidelityGate = opts.targetF1 !== undefined || opts.maxError !== undefined;
  const L = space.levels.length;
  const perGroupSteps = fidelityGate ? Math.ceil(Math.log2(L + 1)) : 0;
  let total = space.groups.length * perGroupSteps + 1 + (opts.targetLatency !== undefined ? 1 : 0);
  let done = 0;
  let evaluations = 0;
  let fromCheckpoint = 0;
  const notes: string[] = [];
  const tick = (phase: SearchProgress['phase'], label: string, cached: boolean) => {
    done++;
    if (done > total) total = done;
    if (cached) fromCheckpoint++;
    else evaluations++;
    opts.onProgress?.({ phase, done, total, label, cached });
  };
  const ok = (e: Evaluation) => (opts.targetF1 === undefined || e.f1 >= opts.targetF1) && (opts.maxError === undefined || e.maxError <= opts.maxError);

  const evaluate = async (key: string, config: Record<string, number>, phase: SearchProgress['phase'], label: string): Promise<Evaluation> => {
    const hit = ck.get(key);
    if (hit) {
      tick(phase, label, true);
      return hit;
    }
    const copy = candidate(originalBytes, original, space, config);
    const m = await measureFidelity(copy, reference);
    const e: Evaluation = { f1: m.graphF1.allLayers, lastLayerF1: m.graphF1.lastLayer, maxError: m.maxError, source: m.graphF1.source };
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
  let reached: Evaluation = { f1: 1, lastLayerF1: 1, maxError: 0, source: 'none' };
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
        const e =
          key === '[]'
            ? { f1: 1, lastLayerF1: 1, maxError: 0, source: 'unchanged' }
            : await evaluate(`c:${key}`, config, 'combine', `combined step ${steps.length + 1}`);
        const pass = ok(e);
        steps.push({ config: key, f1: e.f1, maxError: e.maxError, latencyRatio: null, ok: pass });
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
        steps.push({ config: key, f1: e.f1, maxError: e.maxError, latencyRatio: r, ok: pass });
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
    target: { f1: opts.targetF1 ?? null, maxError: opts.maxError ?? null, latency: opts.targetLatency ?? null },
    metric: 'graph F1, micro-average over all attention layers (or outputs) and calibration sets',
    met,
    config: chosen,
    perGroup,
    reached: { f1: reached.f1, lastLayerF1: reached.lastLayerF1, maxError: reached.maxError, source: reached.source, latencyRatio: latencyReached },
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
