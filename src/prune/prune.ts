/**
 * pruneModel(): what `autoglm prune` does, as a function. Prunes the model in place and returns a report (data
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
import { synthesizeInputs } from '../bench/inputs.js';
import type { FlopsEstimate, GraphF1Report } from '../bench/types.js';
import { nowMs } from '../bench/timing.js';
import { OperationError, UsageError } from '../errors.js';
import { countParameters } from '../inspect.js';
import type { Model } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { checkModel } from '../ir/verify.js';
import { encodeModel } from '../onnx/encode.js';
import { forEachTensor } from '../onnx/io.js';
import { messageSize } from '../onnx/schema.js';
import { modelToMsg } from '../onnx/serde.js';
import { runPasses } from '../passes/manager.js';
import type { Feeds } from '../runtime/session.js';
import { Checkpoint, fingerprint } from './checkpoint.js';
import { compareProbes, type FidelityReference } from './fidelity-probe.js';
import { pruneGraph, type GraphPruneReport } from './graph.js';
import { unitScores } from './importance.js';
import { pruneMagnitude, type UnstructuredResult } from './magnitude.js';
import { parseNM, pruneNM } from './nm.js';
import { probeModel, type ProbeResult } from './probe.js';
import { searchSparsity, type SearchProgress, type SearchReport, type SearchSpace } from './search.js';
import { analyzeUnits, pruneStructured, type GroupDecision } from './structured.js';
import { UNIT_KINDS, type Criterion, type LayerReport, type PruneMethod, type SkippedUnit, type UnitKind } from './types.js';
import { findPrunableWeights } from './weights.js';

export interface PruneOptions {
  /** default 'graph' (lossless only) */
  method?: PruneMethod;
  /** structured: which units (default all: ffn, heads, channels) */
  units?: readonly UnitKind[];
  /** fraction removed (magnitude: of weights; structured: of units per group); default 0.5 */
  sparsity?: number;
  /** magnitude: one threshold over all layers */
  global?: boolean;
  /** nm: the pattern, `{ n: 2, m: 4 }` or '2:4' (default) */
  nm?: { n: number; m: number } | string;
  /** structured: kept channels per group rounded to a multiple of this */
  roundTo?: number;
  /** default 'l2' */
  criterion?: Criterion;
  /** graph outputs after pruning (sub-model extraction) */
  outputs?: readonly string[];
  /** calibration input sets; default: synthesized from the model's input types */
  calibration?: Feeds[];
  /** sizes of symbolic input dimensions for synthesized inputs */
  dims?: Record<string, number>;
  /** synthesized calibration sets (default 4) */
  calibrationSets?: number;
  seed?: number;
  targetF1?: number;
  maxError?: number;
  targetLatency?: number;
  /** resumable search state */
  checkpoint?: string;
  /** search levels (default 0.1 .. 0.9) */
  levels?: number[];
  latencyRuns?: number;
  /** edge threshold of graph F1 (default 0.2) */
  graphThreshold?: number;
  /** measure FLOPs and graph F1 with onnxruntime (default true; off: no runs unless a search or activations need them) */
  measure?: boolean;
  onProgress?: (p: PruneProgress) => void;
}

export interface PruneProgress {
  phase: 'measure' | 'graph' | 'importance' | 'search' | 'prune' | 'verify';
  message: string;
  search?: SearchProgress;
}

export interface ModelStats {
  parameters: number;
  nonZero: number;
  /** bytes of the weights */
  weightBytes: number;
  /** encoded model size (the CLI replaces the output's with the written file's size) */
  fileSize: number;
  nodes: number;
  /** estimated FLOPs of one run on the first calibration set (MatMul/Gemm/Conv), null when not measured */
  flops: number | null;
}

export interface PruneReport {
  schema: 1;
  method: PruneMethod;
  settings: {
    units: UnitKind[] | null;
    sparsity: number | null;
    global: boolean;
    nm: string | null;
    roundTo: number;
    criterion: Criterion | null;
    outputs: string[] | null;
    calibration: { sets: number; source: 'given' | 'synthesized' } | null;
  };
  before: ModelStats;
  after: ModelStats;
  parameters: { before: number; after: number; removed: number; zeroed: number; nonZeroBefore: number; nonZeroAfter: number };
  graph: GraphPruneReport;
  layers: LayerReport[];
  /** structured: every group and how many units it kept */
  groups: Omit<GroupDecision, 'keep'>[];
  /** units left alone, with the reason */
  skipped: SkippedUnit[];
  /** weights unstructured pruning left alone */
  skippedWeights: { name: string; reason: string }[];
  search: SearchReport | null;
  fidelity: { graphF1: GraphF1Report; maxError: number } | null;
  flops: { before: FlopsEstimate | null; after: FlopsEstimate | null };
  /** false when a search could not meet its targets (the model is then left as graph pruning made it) */
  ok: boolean;
  notes: string[];
  ms: { total: number; prune: number; search: number | null };
}

export const DEFAULT_LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
export const ZEROS_NOTE =
  'zeros do not make dense runtimes faster: onnxruntime runs this model with the same FLOPs and latency as before; the zeros pay off with sparse kernels, compression, or as a step before structured pruning';

export function checkOptions(o: PruneOptions): void {
  const method = o.method ?? 'graph';
  if (!['graph', 'magnitude', 'nm', 'structured'].includes(method)) throw new UsageError(`unknown method '${method}'; use graph, magnitude, nm or structured`);
  if (o.sparsity !== undefined && !(o.sparsity >= 0 && o.sparsity < 1)) throw new UsageError(`--sparsity must be in [0, 1), got ${o.sparsity}`);
  if (o.sparsity !== undefined && method !== 'magnitude' && method !== 'structured') throw new UsageError(`--sparsity applies to --method magnitude or structured${method === 'nm' ? ' (N:M fixes the sparsity at 1 - N/M)' : ''}`);
  if (o.global && method !== 'magnitude') throw new UsageError('--global applies to --method magnitude');
  if (o.roundTo !== undefined && !(Number.isInteger(o.roundTo) && o.roundTo >= 1)) throw new UsageError(`--round-to must be a positive integer, got ${o.roundTo}`);
  if (o.roundTo !== undefined && o.roundTo > 1 && method !== 'structured') throw new UsageError('--round-to applies to --method structured');
  if (o.units && method !== 'structured') throw new UsageError('--units applies to --method structured');
  for (const u of o.units ?? []) if (!UNIT_KINDS.includes(u)) throw new UsageError(`unknown unit '${u}'; use ${UNIT_KINDS.join(', ')}`);
  if (o.nm !== undefined && method !== 'nm') throw new UsageError('--nm applies to --method nm');
  if (typeof o.nm === 'string' && !parseNM(o.nm)) throw new UsageError(`--nm must be N:M with 1 <= N < M (e.g. 2:4), got '${o.nm}'`);
  if (o.criterion && !['l1', 'l2', 'activation'].includes(o.criterion)) throw new UsageError(`unknown criterion '${o.criterion}'; use l1, l2 or activation`);
  if (o.criterion && method === 'graph') throw new UsageError('--criterion applies to the lossy methods (magnitude, nm, structured)');
  const search = o.targetF1 !== undefined || o.maxError !== undefined || o.targetLatency !== undefined;
  if (o.targetF1 !== undefined && o.maxError !== undefined) throw new UsageError('give either --target-f1 or --max-error, not both');
  if (o.targetF1 !== undefined && !(o.targetF1 > 0 && o.targetF1 <= 1)) throw new UsageError(`--target-f1 must be in (0, 1], got ${o.targetF1}`);
  if (o.maxError !== undefined && !(o.maxError >= 0)) throw new UsageError(`--max-error must be a non-negative number, got ${o.maxError}`);
  if (o.targetLatency !== undefined && !(o.targetLatency > 0)) throw new UsageError(`--target-latency must be a positive ratio, got ${o.targetLatency}`);
  if (search && method === 'graph') throw new UsageError('a search (--target-f1, --max-error, --target-latency) needs a lossy --method (magnitude, nm or structured)');
  if (search && o.global) throw new UsageError('--global does not combine with a search, which picks a sparsity per layer');
  if (search && o.sparsity !== undefined) throw new UsageError('--sparsity does not combine with a search, which picks the sparsity');
  if (o.checkpoint && !search) throw new UsageError('--checkpoint applies to a search (--target-f1, --max-error or --target-latency)');
  if (o.calibrationSets !== undefined && !(Number.isInteger(o.calibrationSets) && o.calibrationSets >= 1)) throw new UsageError('calibration sets must be a positive integer');
}

/** Bytes the model encodes to with every tensor inline (computed, not written). */
export function encodedSize(model: Model): number {
  return messageSize('ModelProto', modelToMsg(model), new Map());
}

const countNodes = (m: Model): number => {
  let n = 0;
  for (const _ of m.allNodes()) n++;
  return n;
};

function stats(model: Model, fileSize: number, flops: FlopsEstimate | null): ModelStats {
  const p = countParameters(model);
  return { parameters: p.total, nonZero: p.nonZero, weightBytes: p.bytes, fileSize, nodes: countNodes(model), flops: flops?.total ?? null };
}

/** Prunes `model` in place. */
export async function pruneModel(model: Model, opts: PruneOptions = {}): Promise<{ model: Model; report: PruneReport }> {
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
  const before = stats(model, sizeBefore, probeA?.flops ?? null);

  // 1. graph pruning
  progress('graph', 'graph pruning');
  const graph = pruneGraph(model, { outputs: opts.outputs });

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
    flops: { before: probeA?.flops ?? null, after: null },
    ok: true,
    notes,
    ms: { total: 0, prune: 0, search: null },
  };

  let reference: FidelityReference | null = null;
  const threshold = opts.graphThreshold ?? 0.2;
  if (lossy) {
    const weightsBefore = snapshotWeights(model);
    let actNorms: Map<string, Float64Array> | undefined;
    // the F1 reference and activation statistics of the graph-pruned model
    const acts = criterion === 'activation' ? activationTargets(model, method, units ?? []) : [];
    if (feeds && (acts.length || (fidelityWanted && !refFromOriginal))) {
      progress('importance', acts.length ? 'measuring activations' : 'running the reference');
      const f = feeds;
      const probeB = await runnable('graph F1', () => probeModel(model, f, { activations: acts, attention: fidelityWanted && !refFromOriginal, outputs: fidelityWanted && !refFromOriginal }));
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
    const apply = (m: Model, perGroup: Record<string, number> | null): { structured?: ReturnType<typeof pruneStructured>; unstructured?: UnstructuredResult } => {
      if (method === 'structured') return { structured: pruneStructured(m, { units: units!, sparsity: perGroup ? 0 : (opts.sparsity ?? 0.5), perGroup: perGroup ?? undefined, roundTo: opts.roundTo, scores }) };
      if (method === 'magnitude')
        return { unstructured: pruneMagnitude(m, { sparsity: perGroup ? 0 : (opts.sparsity ?? 0.5), global: opts.global, criterion: criterion!, activations: actNorms, perLayer: perGroup ?? undefined }) };
      const only = perGroup ? new Set(Object.keys(perGroup).filter((k) => perGroup[k] > 0)) : undefined;
      return { unstructured: pruneNM(m, { n: nm!.n, m: nm!.m, criterion: criterion!, activations: actNorms, only }) };
    };

    if (search) {
      if (!reference || !feeds) throw new OperationError('the search needs the model to run in onnxruntime on the calibration inputs');
      const space = searchSpace(model, method, units ?? [], nm, opts.levels ?? DEFAULT_LEVELS, apply);
      const bytes = encodeModel(model);
      const fp = fingerprint(bytes, feeds, { method, units, nm, criterion, roundTo: opts.roundTo ?? 1, levels: space.levels, targetF1: opts.targetF1, maxError: opts.maxError, targetLatency: opts.targetLatency, threshold });
      const ck = Checkpoint.open(opts.checkpoint, fp);
      progress('search', `searching ${space.groups.length} layer group(s)${ck.resumed ? ` (resuming: ${ck.resumed} result(s) in the checkpoint)` : ''}`);
      const sr = await searchSparsity(model, bytes, space, {
        targetF1: opts.targetF1,
        maxError: opts.maxError,
        targetLatency: opts.targetLatency,
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
    runPasses(model, ['eliminate-dead-nodes']);
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
    probeC = await runnable('the pruned model', () => probeModel(model, f, { flops: measure, attention: !!reference && changed, outputs: !!reference && changed }));
  }
  report.flops.after = probeC?.flops ?? null;
  if (reference && probeC && changed) {
    const m = compareProbes(probeC, reference);
    report.fidelity = { graphF1: m.graphF1, maxError: m.maxError };
  }
  report.after = stats(model, encodedSize(model), report.flops.after);
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

/** The activations whose per-channel energy activation-aware importance needs. */
function activationTargets(model: Model, method: PruneMethod, units: readonly UnitKind[]) {
  if (method === 'structured') return analyzeUnits(model, { units }).groups.flatMap((g) => g.sinks.map((s) => ({ value: s.value, axisFromEnd: s.axisFromEnd })));
  return findPrunableWeights(model).weights.flatMap((w) => (w.activation ? [w.activation] : []));
}

function searchSpace(model: Model, method: PruneMethod, units: readonly UnitKind[], nm: { n: number; m: number } | null, levels: number[], apply: (m: Model, c: Record<string, number>) => unknown): SearchSpace {
  const sorted = [...new Set(levels)].sort((a, b) => a - b);
  if (!sorted.length || sorted.some((l) => !(l > 0 && l < 1))) throw new UsageError('search levels must be in (0, 1)');
  if (method === 'structured') {
    const groups = analyzeUnits(model, { units }).groups.map((g) => ({ id: g.id, label: `${g.kind} ${g.label}` }));
    return { groups, levels: sorted, apply: (m, c) => void apply(m, c) };
  }
  const weights = findPrunableWeights(model).weights.map((w) => ({ id: w.value.name, label: `${w.node.opType} ${w.node.name || w.value.name}` }));
  if (method === 'nm') return { groups: weights, levels: [1 - nm!.n / nm!.m], apply: (m, c) => void apply(m, c) };
  return { groups: weights, levels: sorted, apply: (m, c) => void apply(m, c) };
}

interface WeightSnapshot {
  name: string;
  node: string;
  dims: number[];
  size: number;
}

function snapshotWeights(model: Model): WeightSnapshot[] {
  return findPrunableWeights(model).weights.map((w) => ({ name: w.value.name, node: `${w.node.opType} ${w.node.name || ''}`.trim(), dims: [...w.tensor.dims], size: w.tensor.size }));
}

function layerReports(before: WeightSnapshot[], model: Model): LayerReport[] {
  const byName = new Map<string, Tensor>();
  forEachTensor(model, (t) => {
    if (t.name) byName.set(t.name, t);
  });
  for (const n of model.allNodes()) if (n.opType === 'Constant' && n.outputs[0] && n.getTensor('value')) byName.set(n.output(0).name, n.getTensor('value')!);
  return before.map((b) => {
    const t = byName.get(b.name);
    const after = t?.size ?? 0;
    const nz = t ? t.countNonZero() : 0;
    return {
      name: b.name,
      node: b.node,
      shapeBefore: b.dims,
      shapeAfter: t ? [...t.dims] : [],
      paramsBefore: b.size,
      paramsAfter: after,
      nonZeroAfter: nz,
      sparsity: b.size ? 1 - nz / b.size : 0,
      removed: b.size ? 1 - after / b.size : 0,
    };
  });
}
