/**
 * prune(): what `autoglm prune` does, as a function. Prunes the model in place and returns a report (data
 * first: the CLI's table and --json are renderings of it).
 *
 *   1. graph pruning (always; lossless): --outputs extraction, constant-condition If inlining, dead nodes, unused
 *      initializers and inputs (graph.ts);
 *   2. the lossy method, if any: magnitude (per layer or global), nm, or structured (ffn, heads, channels), with
 *      l1/l2/activation importance; with --target-f1 / --max-error / --target-latency a search picks the sparsity per
 *      layer group (search.ts) on the calibration inputs;
 *   3. clean-up (eliminate-dead-nodes) and IR verification;
 *   4. measurements: parameters (removed vs zeroed), non-zero count, FLOPs estimate and graph F1 from onnxruntime
 *      runs on the calibration inputs (when the model can run), per-layer sparsity.
 *
 * The F1 reference is the graph-pruned model, which computes exactly what the original does on the outputs kept.
 */
import { synthesizeInputs } from '../inputs/synthesize.js';
import { nowMs } from '../measure/timing.js';
import { OperationError, UsageError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { checkModel } from '../ir/verify.js';
import { encodeModel } from '../onnx/encode.js';
import { runPassList } from '../pass/manager.js';
import eliminateDeadNodes from '../passes/eliminate-dead-nodes.js';
import type { Feeds } from '../runtime/session.js';
import { Checkpoint, fingerprint } from './checkpoint.js';
import { compareProbes, type FidelityReference } from '../measure/fidelity-probe.js';
import { pruneGraph } from './graph.js';
import { unitScores } from './importance.js';
import { pruneMagnitude, type UnstructuredResult } from './magnitude.js';
import { parseNM, pruneNM } from './nm.js';
import { checkOptions, type PruneOptions, type PruneProgress } from './options.js';
import { formatEdgeRule, parseEdgeRule } from '../measure/graph-f1.js';
import { probeModel, type ProbeResult } from '../measure/probe.js';
import { fmtCosine, worstOutputOf } from '../measure/divergence.js';
import type { OutputFidelity } from '../measure/types.js';
import { encodedSize, layerReports, modelStats, snapshotWeights, type PruneReport } from './report.js';
import { searchSparsity, type SearchSpace } from './search.js';
import { analyzeUnits, canonicalizeForStructured, pruneStructured } from './structured.js';
import { UNIT_KINDS, type PruneMethod, type UnitKind } from './types.js';
import { findPrunableWeights } from './weights.js';

export { checkOptions, type PruneOptions, type PruneProgress } from './options.js';
export type { ModelStats, PruneReport } from './report.js';

export const DEFAULT_LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
export const ZEROS_NOTE =
  'zeros do not make dense runtimes faster: onnxruntime runs this model with the same FLOPs and latency as before; the zeros pay off with sparse kernels, compression, or as a step before structured pruning';

/** Prunes `model` in place. */
export async function prune(model: Model, opts: PruneOptions = {}): Promise<{ model: Model; report: PruneReport }> {
  checkOptions(opts);
  const t0 = nowMs();
  const method = opts.method ?? 'graph';
  const lossy = method !== 'graph';
  const search = opts.targetF1 !== undefined || opts.maxError !== undefined || opts.targetLatency !== undefined;
  const criterion = lossy ? (opts.criterion ?? 'l2') : null;
  const units = method === 'structured' ? [...(opts.units ?? UNIT_KINDS)] : null;
  const nm = method === 'nm' ? (typeof opts.nm === 'string' ? parseNM(opts.nm)! : (opts.nm ?? { n: 2, m: 4 })) : null;
  const measure = opts.measure ?? true;
  const progress = (phase: PruneProgress['phase'], message: string) => opts.onProgress?.({ phase, message });
  const notes: string[] = [];

  // calibration inputs (synthesized from the original, so they cover every input it has)
  const needRuns = search || criterion === 'activation';
  let feeds: Feeds[] | null = opts.calibration ?? null;
  if (!feeds && (needRuns || measure)) {
    try {
      feeds = synthesizeInputs(model, { dims: opts.dims, seed: opts.seed ?? 0, count: opts.calibrationSets ?? (lossy ? 4 : 1) });
    } catch (e) {
      if (needRuns || !(e instanceof UsageError)) throw e;
      notes.push(`no onnxruntime measurements (FLOPs, graph F1): ${e.message}`);
    }
  }
  if (feeds && !feeds.length) throw new UsageError('no calibration input sets');
  const runnable = async <T>(what: string, f: () => Promise<T>): Promise<T | null> => {
    try {
      return await f();
    } catch (e) {
      if (needRuns) throw e;
      notes.push(`${what} not measured: ${(e as Error).message}`);
      return null;
    }
  };

  // before
  const sizeBefore = model.source ? model.source.fileSize + model.source.externalBytes : encodedSize(model);
  progress('measure', 'measuring the original model');
  const fidelityWanted = lossy && (measure || search);
  const refFromOriginal = fidelityWanted && !opts.outputs;
  let probeA: ProbeResult | null = null;
  if (feeds && (measure || refFromOriginal)) {
    const f = feeds;
    probeA = await runnable('FLOPs of the original', () => probeModel(model, f, { flops: measure, attention: refFromOriginal, outputs: refFromOriginal }));
  }
  const before = modelStats(model, sizeBefore, probeA?.flops ?? null);

  // 1. graph pruning
  progress('graph', 'graph pruning');
  const graph = pruneGraph(model, { outputs: opts.outputs });
  if (method === 'structured') {
    const n = canonicalizeForStructured(model);
    if (n) notes.push(`${n} Reshape-Gemm-Reshape linear${n === 1 ? '' : 's'} rewritten to MatMul + Add first (lossless), so their units can be pruned`);
  }

  const report: PruneReport = {
    schema: 1,
    method,
    settings: {
      units,
      sparsity: lossy && !search && method !== 'nm' ? (opts.sparsity ?? 0.5) : null,
      global: !!opts.global,
      nm: nm ? `${nm.n}:${nm.m}` : null,
      roundTo: opts.roundTo ?? 1,
      criterion,
      outputs: opts.outputs ? [...opts.outputs] : null,
      calibration: feeds ? { sets: feeds.length, source: opts.calibration ? 'given' : 'synthesized' } : null,
    },
    before,
    after: before,
    parameters: { before: 0, after: 0, removed: 0, zeroed: 0, nonZeroBefore: 0, nonZeroAfter: 0 },
    graph,
    layers: [],
    groups: [],
    skipped: [],
    skippedWeights: [],
    search: null,
    fidelity: null,
    check: null,
    flops: { before: probeA?.flops ?? null, after: null },
    ok: true,
    notes,
    ms: { total: 0, prune: 0, search: null },
  };

  let reference: FidelityReference | null = null;
  const threshold = parseEdgeRule(opts.graphThreshold, opts.graphEdges);
  if (lossy) {
    const weightsBefore = snapshotWeights(model);
    let actNorms: Map<string, Float64Array> | undefined;
    // the F1 reference and activation statistics of the graph-pruned model
    const acts = criterion === 'activation' ? activationTargets(model, method, units ?? []) : [];
    if (feeds && (acts.length || (fidelityWanted && !refFromOriginal))) {
      progress('importance', acts.length ? 'measuring activations' : 'running the reference');
      const f = feeds;
      const probeB = await runnable('graph F1', () =>
        probeModel(model, f, { activations: acts, attention: fidelityWanted && !refFromOriginal, outputs: fidelityWanted && !refFromOriginal }),
      );
      if (probeB && fidelityWanted && !refFromOriginal) reference = { feeds: f, probe: probeB, threshold };
      if (probeB && acts.length) actNorms = probeB.activations;
    }
    if (probeA && refFromOriginal && feeds) reference = { feeds, probe: probeA, threshold };
    if (criterion === 'activation' && !actNorms?.size) notes.push('no activation statistics could be measured: units ranked by L2 norm');

    const tp = nowMs();
    let config: Record<string, number> | null = null;
    let scores: Record<string, number[]> | undefined;
    if (method === 'structured') {
      const analysis = analyzeUnits(model, { units: units! });
      scores = Object.fromEntries(analysis.groups.map((g) => [g.id, Array.from(unitScores(g, criterion!, actNorms))]));
    }
    const apply = (
      m: Model,
      perGroup: Record<string, number> | null,
    ): { structured?: ReturnType<typeof pruneStructured>; unstructured?: UnstructuredResult } => {
      if (method === 'structured')
        return {
          structured: pruneStructured(m, {
            units: units!,
            sparsity: perGroup ? 0 : (opts.sparsity ?? 0.5),
            perGroup: perGroup ?? undefined,
            roundTo: opts.roundTo,
            scores,
          }),
        };
      if (method === 'magnitude')
        return {
          unstructured: pruneMagnitude(m, {
            sparsity: perGroup ? 0 : (opts.sparsity ?? 0.5),
            global: opts.global,
            criterion: criterion!,
            activations: actNorms,
            perLayer: perGroup ?? undefined,
          }),
        };
      const only = perGroup ? new Set(Object.keys(perGroup).filter((k) => perGroup[k] > 0)) : undefined;
      return { unstructured: pruneNM(m, { n: nm!.n, m: nm!.m, criterion: criterion!, activations: actNorms, only }) };
    };

    if (search) {
      if (!reference || !feeds) throw new OperationError('the search needs the model to run in onnxruntime on the calibration inputs');
      const space = searchSpace(model, method, units ?? [], nm, opts.levels ?? DEFAULT_LEVELS, apply);
      const bytes = encodeModel(model);
      const fp = fingerprint(bytes, feeds, {
        method,
        units,
        nm,
        criterion,
        roundTo: opts.roundTo ?? 1,
        levels: space.levels,
        targetF1: opts.targetF1,
        maxError: opts.maxError,
        targetLatency: opts.targetLatency,
        threshold: formatEdgeRule(threshold),
        f1: 'min(last,all)',
        minTop1: opts.minTop1,
        minCosine: opts.minCosine,
      });
      const ck = Checkpoint.open(opts.checkpoint, fp);
      progress('search', `searching ${space.groups.length} layer group(s)${ck.resumed ? ` (resuming: ${ck.resumed} result(s) in the checkpoint)` : ''}`);
      const sr = await searchSparsity(model, bytes, space, {
        targetF1: opts.targetF1,
        maxError: opts.maxError,
        targetLatency: opts.targetLatency,
        minTop1: opts.minTop1,
        minCosine: opts.minCosine,
        reference,
        checkpoint: ck,
        latencyRuns: opts.latencyRuns,
        onProgress: (p) => opts.onProgress?.({ phase: 'search', message: p.label, search: p }),
      });
      report.search = sr;
      report.ms.search = sr.ms;
      report.ok = sr.met;
      notes.push(...sr.notes);
      if (sr.met) config = sr.config;
    }
    if (!search || config) {
      progress('prune', `${method} pruning`);
      const r = apply(model, config);
      if (r.structured) {
        report.groups = r.structured.groups.map(({ keep: _keep, ...g }) => g);
        report.skipped = r.structured.skipped;
        if (!report.groups.length) notes.push(`no ${units!.join('/')} unit group could be pruned safely${report.skipped.length ? '' : ' (none found)'}`);
      }
      if (r.unstructured) {
        report.skippedWeights = r.unstructured.skipped;
        notes.push(...r.unstructured.notes);
        notes.push(ZEROS_NOTE);
      }
    }
    report.ms.prune = nowMs() - tp - (report.ms.search ?? 0);
    runPassList(model, [eliminateDeadNodes]);
    report.layers = layerReports(weightsBefore, model);
  }

  progress('verify', 'verifying');
  const problems = checkModel(model);
  if (problems.length) throw new OperationError(`pruning left an inconsistent model: ${problems[0]}`);

  // after
  let probeC: ProbeResult | null = null;
  const changed = lossy && (report.ok || !search);
  if (feeds && (measure || (changed && reference))) {
    const f = feeds;
    probeC = await runnable('the pruned model', () =>
      probeModel(model, f, { flops: measure, attention: !!reference && changed, outputs: !!reference && changed }),
    );
  }
  report.flops.after = probeC?.flops ?? null;
  if (reference && probeC && changed) {
    const m = compareProbes(probeC, reference);
    report.fidelity = { graphF1: m.graphF1, maxError: m.maxError };
    if (!search && opts.check !== false) {
      report.check = judgePruned(m.outputs, opts.minCosine ?? null, opts.minTop1 ?? null);
      if (!report.check.passed) {
        report.ok = false;
        notes.push(`self-check failed: ${report.check.failures.join('; ')}; worst output: ${report.check.worstOutput}`);
      }
    }
  }
  // a lossy prune whose self-check could not run is not written silently (give sizes or inputs, or --no-check)
  if (lossy && changed && report.layers.length > 0 && measure && !search && opts.check !== false && report.check === null) {
    report.ok = false;
    const why = notes.filter((n) => /not measured|no onnxruntime measurements/.test(n)).at(-1) ?? 'the pruned model was not compared with the original';
    notes.push(`self-check could not run (${why}): give --dim sizes or --inputs, or pass --no-check to write it unchecked`);
  }
  report.after = modelStats(model, encodedSize(model), report.flops.after);
  const pb = before;
  const pa = report.after;
  report.parameters = {
    before: pb.parameters,
    after: pa.parameters,
    removed: pb.parameters - pa.parameters,
    zeroed: Math.max(0, pa.parameters - pa.nonZero - (pb.parameters - pb.nonZero)),
    nonZeroBefore: pb.nonZero,
    nonZeroAfter: pa.nonZero,
  };
  report.ms.total = nowMs() - t0;
  return { model, report };
}

/** The self-check of a lossy prune: non-finite or uncomparable outputs always fail; cosine and top-1 when given. */
export function judgePruned(outputs: readonly OutputFidelity[], minCosine: number | null, minTop1: number | null): NonNullable<PruneReport['check']> {
  const failures: string[] = [];
  for (const o of outputs) {
    if (o.error !== null) failures.push(`${o.name}: ${o.error}`);
    if (o.nonFinite > 0) failures.push(`${o.name}: ${o.nonFinite} non-finite value(s) where the original's are finite`);
    if (minCosine && o.cosine !== null && o.cosine < minCosine) failures.push(`${o.name}: cosine ${fmtCosine(o.cosine)} < ${minCosine}`);
    if (minTop1 && o.top1 !== null && o.top1 < minTop1) failures.push(`${o.name}: top-1 agreement ${o.top1.toFixed(4)} < ${minTop1}`);
  }
  return { passed: !failures.length, minCosine, minTop1, failures, worstOutput: failures.length ? worstOutputOf(outputs) : null };
}

/** The activations whose per-channel energy activation-aware importance needs. */
function activationTargets(model: Model, method: PruneMethod, units: readonly UnitKind[]) {
  if (method === 'structured')
    return analyzeUnits(model, { units }).groups.flatMap((g) => g.sinks.map((s) => ({ value: s.value, axisFromEnd: s.axisFromEnd })));
  return findPrunableWeights(model).weights.flatMap((w) => (w.activation ? [w.activation] : []));
}

function searchSpace(
  model: Model,
  method: PruneMethod,
  units: readonly UnitKind[],
  nm: { n: number; m: number } | null,
  levels: number[],
  apply: (m: Model, c: Record<string, number>) => unknown,
): SearchSpace {
  const sorted = [...new Set(levels)].sort((a, b) => a - b);
  if (!sorted.length || sorted.some((l) => !(l > 0 && l < 1))) throw new UsageError('search levels must be in (0, 1)');
  if (method === 'structured') {
    const groups = analyzeUnits(model, { units }).groups.map((g) => ({ id: g.id, label: `${g.kind} ${g.label}`, nodes: g.nodes }));
    return { groups, levels: sorted, apply: (m, c) => void apply(m, c) };
  }
  const weights = findPrunableWeights(model).weights.map((w) => ({ id: w.value.name, label: `${w.node.opType} ${w.node.name || w.value.name}` }));
  if (method === 'nm') return { groups: weights, levels: [1 - nm!.n / nm!.m], apply: (m, c) => void apply(m, c) };
  return { groups: weights, levels: sorted, apply: (m, c) => void apply(m, c) };
}
