/**
 * benchmark(): compares candidates against a baseline on the same inputs, in one run, and returns one BenchResult
 * (types.ts) that every report renders. `autoglm bench` is a thin layer over it.
 *
 *   1. static: parameters (total, non-zero), file size, node count of every model
 *   2. inputs: synthesized from the baseline's input metadata (seeded) or loaded from files; every model gets the
 *      same sets (converted to a candidate's declared input type, e.g. float16, when it differs; the report says so)
 *   3+4. sessions, in `sessionRepeats` rounds; in each round every model, in an order shuffled per round (seeded),
 *      creates a session and runs the first input set while the RSS sampler watches (memory.ts): creation time and
 *      memory growth per repeat, paired by round, so neither carries an order bias and gates decide on an interval.
 *      The last round's sessions are kept: one run per input set whose outputs are kept for fidelity, then timing.
 *      A model the execution provider cannot run (bf16 compute on CPU) becomes a "not runnable" row; the others
 *      are still measured.
 *   5. timing: warm-up, then interleaved rounds (timing.ts)
 *   6. instrumented pass per model: attention probabilities (graph F1) and shapes (FLOPs)
 *   7. fidelity per candidate; 8. load test (--concurrency); 9. --profile; 10. gates
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { OperationError, UsageError } from '../errors.js';
import { countParameters } from '../inspect.js';
import { DataType } from '../ir/dtype.js';
import { createModel } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { elemTypeOf } from '../ir/types.js';
import { encodeModel } from '../onnx/encode.js';
import { encodeMessage } from '../onnx/schema.js';
import { modelToMsg } from '../onnx/serde.js';
import { forEachTensor, loadModel } from '../onnx/io.js';
import { createSession, runSession, toOrtTensor, type Feeds, type SessionOptions } from '../runtime/session.js';
import { pairedRatioCI } from '../measure/bootstrap.js';
import { benchEnvironment } from './env.js';
import { compareOutputs, computeGraphF1, matchOutputs, toOutputSet, type AttentionCapture, type OutputSet } from '../measure/fidelity.js';
import { adaptFeeds } from '../inputs/adapt.js';
import { evaluateGates, gateBlocks, loadBudget, parseBudget, parseGate, type Gate } from './gates.js';
import { type EdgeRule, formatEdgeRule, parseEdgeRule } from '../measure/graph-f1.js';
import { Rng } from '../util/rng.js';
import { loadInputs } from '../inputs/load.js';
import { synthesizeInputs } from '../inputs/synthesize.js';
import { probeModel } from '../measure/probe.js';
import { RssSampler } from './memory.js';
import { profileModel } from './profile.js';
import { isNoisy, outlierCount, ratioOfMediansCI, summarize } from '../measure/stats.js';
import { timeInterleaved } from '../measure/timing.js';
import {
  BENCH_SCHEMA,
  type BenchResult,
  type BenchSettings,
  type CandidateReport,
  type ExecutionProvider,
  type InputsSummary,
  type LatencyComparison,
  type ModelReport,
  type OptLevel,
} from './types.js';
import { measureUnderLoad } from './workers.js';
import { parseBatching } from './batching.js';
import { batchAxisProblem, parseSlo, runServerScenario } from './server.js';
import { type DecodeOptions, decoderSignature, runDecodeBenchmark } from './decode.js';

export interface ServerScenarioOptions {
  /** request rate of a fixed-load run */
  qps?: number;
  /** search the highest rate that holds `slo` */
  findMaxQps?: boolean;
  /** 'p99 <= 50ms' */
  slo?: string;
  /** none (default), fixed:N, adaptive */
  batching?: string;
  maxBatch?: number;
  maxWaitMs?: number;
  /** seconds of arrivals per load point (default 2) */
  duration?: number;
  /** worker threads (default: --concurrency when > 1, else the number of cores) */
  workers?: number;
  /** probes per model of the search (default 8) */
  maxSteps?: number;
}
import { median } from '../util/numerics.js';
import { checkDims } from '../inputs/dims.js';

/** A model to bench: a file path, an IR Model, or either with a label for the reports. */
export type ModelInput = string | Model | { model: string | Model; label?: string };

export type BenchPhase = 'prepare' | 'sessions' | 'timing' | 'analysis' | 'load' | 'server' | 'decode' | 'profile';
export interface BenchProgress {
  phase: BenchPhase;
  done: number;
  total: number;
  label?: string;
}

export interface BenchOptions {
  baseline: ModelInput;
  candidates?: ModelInput[];
  /** sizes of symbolic input dimensions (`--dim k=v`) */
  dims?: Record<string, number>;
  /** input file or folder (`--inputs`), or ready input sets; default: synthesized */
  inputs?: string | Feeds[];
  /** number of synthesized input sets (default 1) */
  inputSets?: number;
  seed?: number;
  warmup?: number;
  runs?: number;
  /** seconds of timed rounds at least */
  minTime?: number;
  /** intra-op threads (0 or unset: onnxruntime's choice) */
  threads?: number;
  optLevel?: OptLevel;
  ep?: ExecutionProvider;
  concurrency?: number;
  /** graph F1 edge threshold: absolute (0.2, the default) or relative to uniform attention ('4/T') */
  graphThreshold?: number | string;
  /** graph F1 edges: 'threshold' (default) or 'topk:K' (the K largest entries of every row) */
  graphEdges?: string;
  /** skipped and inconclusive gates do not fail the run */
  allowSkipped?: boolean;
  /** gate expressions or parsed gates */
  gates?: (string | Gate)[];
  /** a budget file path or its parsed JSON */
  budget?: string | object;
  profile?: boolean;
  /** runs profiled per model with --profile (default min(runs, 20)) */
  profileRuns?: number;
  /** a latency cv above this marks the measurement noisy (default 0.1) */
  cvThreshold?: number;
  /** confidence level of intervals (default 0.95) */
  confidence?: number;
  /** session creations per model, interleaved, for creation time and memory (default 3; 5 with a session or memory gate) */
  sessionRepeats?: number;
  /** skip the instrumented pass (graph F1, FLOPs) */
  analysis?: boolean;
  /** measure memory with the RSS sampler thread (default true) */
  memory?: boolean;
  /** `--scenario server`: Poisson arrivals on a pool of sessions (server.ts) */
  server?: ServerScenarioOptions;
  /** `--decode`: prefill then token-by-token decoding with the KV cache (decode.ts) */
  decode?: DecodeOptions;
  onProgress?: (p: BenchProgress) => void;
}

interface Entry {
  index: number;
  label: string;
  path: string | null;
  model: Model;
  /** what the runtime is given: the file path when the model came from one, else its bytes */
  source: string | Uint8Array | Model;
  report: ModelReport;
  session: ort.InferenceSession | null;
  feeds: Feeds[];
  outputs: OutputSet[];
  capture: AttentionCapture | null;
  whyNoAttention: string | null;
}

const EMPTY_RATIOS = { params: null, nonZeroParams: null, size: null, flops: null, sessionCreate: null, memory: null, throughput: null, loadThroughput: null };

function positiveInt(name: string, v: number | undefined, def: number, min = 1): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min) throw new UsageError(`${name} must be an integer >= ${min}, got ${v}`);
  return x;
}

function resolveSettings(
  opts: BenchOptions,
  gates: readonly Gate[],
): Omit<BenchSettings, 'inputs'> & { inputSets: number; profileRuns: number; graphRule: EdgeRule } {
  const runs = positiveInt('runs', opts.runs, opts.minTime ? 10 : 50);
  const minTime = opts.minTime ?? 0;
  if (!(minTime >= 0) || !Number.isFinite(minTime)) throw new UsageError(`min-time must be a non-negative number of seconds, got ${opts.minTime}`);
  const graphRule = parseEdgeRule(opts.graphThreshold, opts.graphEdges);
  const repeatsGated = gates.some((g) => g.metric === 'session' || g.metric === 'memory');
  const confidence = opts.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new UsageError(`confidence must be in (0, 1), got ${opts.confidence}`);
  const cvThreshold = opts.cvThreshold ?? 0.1;
  if (!(cvThreshold > 0)) throw new UsageError(`cv threshold must be positive, got ${opts.cvThreshold}`);
  const optLevel = opts.optLevel ?? 'all';
  if (!['disabled', 'basic', 'extended', 'all'].includes(optLevel))
    throw new UsageError(`optimization level must be disabled, basic, extended or all, got '${optLevel}'`);
  const ep = opts.ep ?? 'cpu';
  if (ep !== 'cpu' && ep !== 'cuda') throw new UsageError(`execution provider must be cpu or cuda, got '${ep}'`);
  const seed = opts.seed ?? 0;
  if (!Number.isFinite(seed)) throw new UsageError(`seed must be a number, got ${opts.seed}`);
  return {
    executionProvider: ep,
    threads: positiveInt('threads', opts.threads, 0, 0),
    optimizationLevel: optLevel,
    warmup: positiveInt('warmup', opts.warmup, 5, 0),
    runs,
    minTime,
    concurrency: positiveInt('concurrency', opts.concurrency, 1),
    sessionRepeats: positiveInt('session repeats', opts.sessionRepeats, repeatsGated ? 5 : 3),
    seed,
    graphThreshold: graphRule.kind === 'absolute' ? graphRule.threshold : null,
    graphEdges: formatEdgeRule(graphRule),
    allowSkipped: !!opts.allowSkipped,
    graphRule,
    cvThreshold,
    confidence,
    inputSets: positiveInt('input sets', opts.inputSets, 1),
    profileRuns: positiveInt('profile runs', opts.profileRuns, Math.min(runs, 20)),
  };
}

function collectGates(opts: BenchOptions): Gate[] {
  const gates = (opts.gates ?? []).map((g) => (typeof g === 'string' ? parseGate(g) : g));
  if (opts.budget !== undefined) gates.push(...(typeof opts.budget === 'string' ? loadBudget(opts.budget) : parseBudget(opts.budget)));
  return gates;
}

// ------------------------------------------------------------------------------------------------ models

function openModel(
  input: ModelInput,
  fallbackLabel: string,
): { model: Model; path: string | null; label: string; source: string | Uint8Array | Model; fileSize: number } {
  const spec: { model: string | Model; label?: string } = typeof input === 'string' || input instanceof Model ? { model: input } : input;
  if (typeof spec.model === 'string') {
    const model = loadModel(spec.model);
    const src = model.source!;
    return { model, path: src.path, label: spec.label ?? path.basename(spec.model), source: src.path, fileSize: src.fileSize + src.externalBytes };
  }
  const model = spec.model;
  const label = spec.label ?? (model.source ? path.basename(model.source.path) : fallbackLabel);
  // an in-memory model may differ from any file it came from: its size is its encoding's. Encoded once, so session
  // creation times measure the runtime, not this tool's encoder (a model with external data goes as a Model)
  let externalBytes = 0;
  forEachTensor(model, (t) => {
    if (t.isExternal) externalBytes += t.byteLength;
  });
  if (externalBytes > 0) {
    const inline = encodeMessage('ModelProto', modelToMsg(model, { externalize: (t) => t.external?.entries })).size;
    return { model, path: model.source?.path ?? null, label, source: model, fileSize: inline + externalBytes };
  }
  const bytes = encodeModel(model);
  return { model, path: model.source?.path ?? null, label, source: bytes, fileSize: bytes.length };
}

function staticStats(model: Model, fileSize: number): ModelReport['static'] {
  const p = countParameters(model);
  return { fileSize, parameters: { total: p.total, nonZero: p.nonZero, bytes: p.bytes }, nodes: [...model.allNodes()].length, flops: null };
}

function emptyReport(label: string, p: string | null, model: Model, fileSize: number): ModelReport {
  return {
    label,
    path: p,
    status: 'ok',
    error: null,
    static: staticStats(model, fileSize),
    sessionCreateMs: [],
    sessionCreate: null,
    latency: null,
    throughput: null,
    memory: null,
    load: null,
    profile: null,
    notes: [],
  };
}

/** Nodes other than Cast that read a bfloat16 value (a Cast to bf16, a bf16 weight, or a value typed bf16). */
function bfloat16Nodes(model: Model): string[] {
  const isBf16 = (v: Value | null): boolean => {
    if (!v) return false;
    if (v.initializer?.dataType === DataType.BFLOAT16 || elemTypeOf(v.type) === DataType.BFLOAT16) return true;
    const p = v.producer;
    return !!p && p.opType === 'Cast' && p.getInt('to') === DataType.BFLOAT16;
  };
  const out: string[] = [];
  for (const n of model.allNodes()) if (n.opType !== 'Cast' && n.inputs.some(isBf16)) out.push(`${n.opType} '${n.name || n.outputs[0]?.name || '?'}'`);
  return out;
}

/** What onnxruntime says when the model or the provider itself cannot run here (kernels, dtypes, provider libraries). */
const NOT_RUNNABLE =
  /Could not find an implementation|NOT_IMPLEMENTED|Unsupported data type|execution provider|AppendExecutionProvider|providers_(shared|cuda)|Failed to load shared library|libcudart|libcublas|backend not found/i;

function classifyFailure(e: unknown, model: Model, ep: ExecutionProvider): { status: 'not-runnable' | 'failed'; message: string } {
  const msg = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();
  if (NOT_RUNNABLE.test(msg)) {
    const bf16 = bfloat16Nodes(model);
    const why = bf16.length
      ? `; ${bf16.length} node(s) compute in bfloat16 (${bf16.slice(0, 3).join(', ')}${bf16.length > 3 ? ', ...' : ''}), which the ${ep.toUpperCase()} execution provider has no kernels for`
      : '';
    return { status: 'not-runnable', message: `not runnable on this execution provider (${ep})${why}: ${msg}` };
  }
  return { status: 'failed', message: msg };
}

// ------------------------------------------------------------------------------------------------ inputs

function resolveInputs(opts: BenchOptions, baseline: Model, seed: number, sets: number): { feeds: Feeds[]; summary: Omit<InputsSummary, 'tensors'> } {
  const dims = opts.dims ?? {};
  if (Array.isArray(opts.inputs)) {
    if (!opts.inputs.length) throw new UsageError('no input sets given');
    return { feeds: opts.inputs, summary: { source: 'given', path: null, sets: opts.inputs.length, dims } };
  }
  if (typeof opts.inputs === 'string') {
    const p = opts.inputs;
    let isDir = false;
    try {
      isDir = fs.statSync(p).isDirectory();
    } catch {
      throw new UsageError(`--inputs ${p}: no such file or folder`);
    }
    const feeds = loadInputs(p, baseline);
    return { feeds, summary: { source: isDir ? 'folder' : 'file', path: path.resolve(p), sets: feeds.length, dims } };
  }
  checkDims(baseline, dims);
  const feeds = synthesizeInputs(baseline, { dims, seed, count: sets });
  return { feeds, summary: { source: 'synthesized', path: null, sets, dims } };
}

// ------------------------------------------------------------------------------------------------ main

export async function benchmark(opts: BenchOptions): Promise<BenchResult> {
  const t0 = Date.now();
  const gates = collectGates(opts);
  const s = resolveSettings(opts, gates);
  const progress = (phase: BenchPhase, done: number, total: number, label?: string) => opts.onProgress?.({ phase, done, total, label });
  const sv = opts.server;
  const policy = sv ? parseBatching(sv.batching, sv.maxBatch, sv.maxWaitMs) : null;
  const slo = sv?.slo !== undefined ? parseSlo(sv.slo) : null;
  if (sv) {
    if (sv.qps === undefined && !sv.findMaxQps) throw new UsageError('--scenario server needs --qps N or --find-max-qps with --slo');
    if (sv.qps !== undefined && !(sv.qps > 0 && Number.isFinite(sv.qps))) throw new UsageError(`--qps must be a positive number, got ${sv.qps}`);
    if (sv.findMaxQps && !slo) throw new UsageError("--find-max-qps needs --slo, e.g. --slo 'p99 <= 50ms'");
    if (sv.duration !== undefined && !(sv.duration > 0 && Number.isFinite(sv.duration)))
      throw new UsageError(`--duration must be a positive number of seconds, got ${sv.duration}`);
  }
  const sessionOptions: SessionOptions = {
    optimizationLevel: s.optimizationLevel,
    executionProviders: [s.executionProvider],
    ...(s.threads ? { intraOpThreads: s.threads } : {}),
  };

  // 1. models and their static stats
  const inputs = [opts.baseline, ...(opts.candidates ?? [])];
  progress('prepare', 0, inputs.length);
  const seen = new Map<string, number>();
  const entries: Entry[] = inputs.map((inp, i) => {
    const o = openModel(inp, i === 0 ? 'baseline' : `candidate-${i}`);
    let label = o.label;
    const k = seen.get(label) ?? 0;
    seen.set(label, k + 1);
    if (k > 0) label = `${label}#${k + 1}`;
    progress('prepare', i + 1, inputs.length, label);
    return {
      index: i,
      label,
      path: o.path,
      model: o.model,
      source: o.source,
      report: emptyReport(label, o.path, o.model, o.fileSize),
      session: null,
      feeds: [],
      outputs: [],
      capture: null,
      whyNoAttention: null,
    };
  });
  const baseline = entries[0]!;
  // --decode on a model without a KV cache is bad input: said before anything is measured
  if (opts.decode) for (const e of entries) decoderSignature(e.model);
  if (policy && policy.kind !== 'none') {
    const why = batchAxisProblem(baseline.model);
    if (why) throw new UsageError(`--batching ${sv!.batching} needs a batch axis (a symbolic first dimension on every input): ${why}`);
  }

  // 2. inputs, from the baseline
  const { feeds, summary } = resolveInputs(opts, baseline.model, s.seed, s.inputSets);
  const inputsSummary: InputsSummary = {
    ...summary,
    tensors: Object.entries(feeds[0]!).map(([name, t]) => ({ name, dtype: t.type, shape: t.dims.map(Number) })),
  };

  const notes: string[] = [];
  const sampler = opts.memory === false ? null : new RssSampler();
  try {
    // the runtime's one-time set-up (environment, thread pools) must not be charged to the first model measured
    await primeRuntime(sessionOptions);
    await sampler?.ready();
    // 3 + 4. sessions, in rounds: creation time and memory per repeat, every model in a shuffled order per round
    for (const e of entries) {
      const adapted = adaptFeeds(feeds, e.model);
      e.feeds = adapted.feeds;
      if (adapted.converted.length) e.report.notes.push(`inputs converted to this model's declared types: ${adapted.converted.join(', ')}`);
    }
    const peaks = new Map<Entry, number[]>();
    const retained = new Map<Entry, number[]>();
    const rng = new Rng((s.seed ^ 0x5e55) >>> 0);
    const rounds = s.sessionRepeats;
    let alive = [...entries];
    for (let round = 0; round < rounds; round++) {
      const order = [...alive];
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(0, i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const last = round === rounds - 1;
      for (const e of order) {
        progress('sessions', round * entries.length + order.indexOf(e), rounds * entries.length, e.label);
        const r = e.report;
        let stage: 'create' | 'run' = 'create';
        let session: ort.InferenceSession | null = null;
        try {
          sampler?.start();
          const c0 = process.hrtime.bigint();
          session = await createSession(e.source, sessionOptions);
          r.sessionCreateMs.push(Number(process.hrtime.bigint() - c0) / 1e6);
          stage = 'run';
          const first = await runSession(session, e.feeds[0]!);
          if (sampler) {
            const w = sampler.stop();
            (peaks.get(e) ?? peaks.set(e, []).get(e)!).push(Math.max(0, w.peak - w.before));
            (retained.get(e) ?? retained.set(e, []).get(e)!).push(w.after - w.before);
          }
          if (last) {
            e.session = session;
            e.outputs.push(toOutputSet(first));
            for (const f of e.feeds.slice(1)) e.outputs.push(toOutputSet(await runSession(session, f)));
          } else await session.release();
        } catch (err) {
          sampler?.stop();
          const c = classifyFailure(err, e.model, s.executionProvider);
          if (stage === 'run' && c.status === 'failed') c.message = `its first run failed: ${c.message}`;
          r.status = c.status;
          r.error = c.message;
          await session?.release().catch(() => undefined);
          e.session = null;
          alive = alive.filter((x) => x !== e);
          if (e === baseline) {
            throw new OperationError(`the baseline ${e.label} cannot be measured: ${c.message}`, { cause: err });
          }
        }
      }
    }
    const live = entries.filter((e) => e.session);
    for (const e of live) {
      e.report.sessionCreate = median(e.report.sessionCreateMs);
      const p = peaks.get(e);
      if (sampler && p?.length)
        e.report.memory = {
          peakDelta: median(p),
          peakDeltas: p,
          retainedDelta: median(retained.get(e)!),
          sampleIntervalMs: sampler.periodMs,
          samples: p.length,
        };
    }
    progress('sessions', rounds * entries.length, rounds * entries.length);
    // the sampler's thread is not needed any more: gone before anything is timed
    await sampler?.close();

    // 5. timing
    const runFns = live.map((e) => {
      const sess = e.session!;
      const f = e.feeds;
      return (set: number) => sess.run(f[set]!);
    });
    progress('timing', 0, s.runs);
    const samples = await timeInterleaved(runFns, {
      warmup: s.warmup,
      runs: s.runs,
      minTimeMs: s.minTime * 1000,
      sets: feeds.length,
      seed: s.seed,
      onRound: (done, expected) => progress('timing', done, expected),
    });
    live.forEach((e, i) => {
      const sm = samples[i]!;
      const sum = summarize(sm);
      e.report.latency = { ...sum, samples: sm, outliers: outlierCount(sm), noisy: isNoisy(sum, s.cvThreshold) };
      e.report.throughput = 1000 / sum.mean;
      if (e.report.latency.noisy)
        e.report.notes.push(
          `latency is noisy (cv ${(sum.cv * 100).toFixed(1)}% > ${(s.cvThreshold * 100).toFixed(0)}%): the machine was busy or the runs are too short; use more --runs or --min-time`,
        );
    });

    // 6. instrumented pass: attention probabilities and shapes
    if (opts.analysis !== false) {
      let i = 0;
      for (const e of live) {
        progress('analysis', i++, live.length, e.label);
        await analyse(e, sessionOptions).catch((err) => {
          e.report.notes.push(`instrumented pass failed (no graph F1 from attention, no FLOPs): ${(err as Error).message}`);
          e.whyNoAttention = `its instrumented run failed`;
        });
      }
      progress('analysis', live.length, live.length);
    }

    // 8. load test
    if (s.concurrency > 1 && live.length) {
      progress('load', 0, 2 * live.length);
      const perWorker = Math.max(3, Math.ceil(s.runs / (s.concurrency * 2)));
      const stats = await measureUnderLoad(
        live.map((e) => ({ source: e.source instanceof Model ? encodeModel(e.source) : e.source, feeds: e.feeds })),
        {
          concurrency: s.concurrency,
          sessionOptions,
          threadsPerWorker: s.threads || undefined,
          runsPerWorker: perWorker,
          phaseMs: (s.minTime * 1000) / 2,
          warmup: Math.max(1, Math.min(s.warmup, 5)),
          onPhase: (d, t) => progress('load', d, t),
        },
      );
      live.forEach((e, i) => (e.report.load = stats[i]!));
    }

    // 8b. server scenario
    if (sv && policy && live.length) {
      const workers = sv.workers ?? (s.concurrency > 1 ? s.concurrency : Math.max(1, os.availableParallelism()));
      const stats = await runServerScenario(
        live.map((e) => ({ source: e.source instanceof Model ? encodeModel(e.source) : e.source, feeds: e.feeds })),
        {
          workers,
          threadsPerWorker: s.threads || undefined,
          sessionOptions,
          policy,
          durationMs: (sv.duration ?? 2) * 1000,
          seed: s.seed,
          qps: sv.qps,
          findMaxQps: sv.findMaxQps,
          slo,
          maxSteps: sv.maxSteps,
          onStep: (d, t, what) => progress('server', d, t, what),
        },
      );
      live.forEach((e, i) => (e.report.server = stats[i]!));
    }

    // 8c. decode
    if (opts.decode && live.length) {
      const stats = await runDecodeBenchmark(
        live.map((e) => ({ label: e.label, model: e.model, source: e.source instanceof Model ? encodeModel(e.source) : e.source })),
        { ...opts.decode, seed: opts.decode.seed ?? s.seed, sessionOptions, onStep: (d, t, what) => progress('decode', d, t, what) },
      );
      live.forEach((e, i) => (e.report.decode = stats[i]!));
    }

    // 9. profile
    if (opts.profile) {
      let i = 0;
      for (const e of live) {
        progress('profile', i++, live.length, e.label);
        const src = e.source instanceof Model ? encodeModel(e.source) : e.source;
        e.report.profile = await profileModel(src, sessionOptions, e.feeds, Math.max(1, Math.min(s.warmup, 5)), s.profileRuns, e.report.latency?.p50 ?? null);
      }
      progress('profile', live.length, live.length);
    }
  } finally {
    for (const e of entries) await e.session?.release().catch(() => undefined);
    await sampler?.close();
  }

  // 7. fidelity and comparisons
  const candidates: CandidateReport[] = entries.slice(1).map((e) => compare(e, baseline, s));
  notes.push(
    `latency: ${s.runs}${s.minTime ? `+ (>= ${s.minTime}s)` : ''} interleaved rounds after ${s.warmup} warm-up runs; ratio interval: paired bootstrap of the median ratio at ${Math.round(s.confidence * 100)}%`,
    `session creation and memory: ${s.sessionRepeats} interleaved repeat(s) per model in a shuffled order per round, median shown; memory is the growth of process RSS during session creation and a first run, sampled every 2 ms by a helper thread (see docs/bench.md)`,
  );
  const result: BenchResult = {
    schema: BENCH_SCHEMA,
    createdAt: new Date(t0).toISOString(),
    durationMs: Date.now() - t0,
    environment: benchEnvironment(),
    settings: {
      executionProvider: s.executionProvider,
      threads: s.threads,
      optimizationLevel: s.optimizationLevel,
      warmup: s.warmup,
      runs: s.runs,
      minTime: s.minTime,
      concurrency: s.concurrency,
      sessionRepeats: s.sessionRepeats,
      seed: s.seed,
      graphThreshold: s.graphThreshold,
      graphEdges: s.graphEdges,
      allowSkipped: s.allowSkipped,
      cvThreshold: s.cvThreshold,
      confidence: s.confidence,
      inputs: inputsSummary,
    },
    baseline: baseline.report,
    candidates,
    gates: [],
    passed: true,
    notes,
  };
  result.gates = evaluateGates(gates, result);
  result.passed = !result.gates.some(gateBlocks) && !candidates.some((c) => c.status === 'failed');
  return result;
}

/** Creates, runs and releases a one-node session, so later creation times and memory growth exclude set-up. */
async function primeRuntime(options: SessionOptions): Promise<void> {
  const { model, b } = createModel({ opset: 13 });
  b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [1, 4])]), 'y');
  try {
    const session = await createSession(model, options);
    await session.run({ x: toOrtTensor(Tensor.fromArray(DataType.FLOAT, [1, 4], new Float32Array(4))) });
    await session.release();
  } catch {
    // an execution provider that cannot run even this shows up on the real models, with their names
  }
}

/** The instrumented run of one model: attention probabilities of every set, shapes of the first. */
/** The instrumented run of one model: FLOPs from its shapes, and its attention for graph F1. */
async function analyse(e: Entry, sessionOptions: SessionOptions): Promise<void> {
  const probe = await probeModel(e.model, e.feeds, { attention: true, flops: true, sessionOptions });
  e.report.static.flops = probe.flops!;
  if (probe.flops!.unknownNodes) e.report.notes.push(`FLOPs: ${probe.flops!.unknownNodes} node(s) without known shapes are not counted`);
  e.capture = probe.capture;
  e.whyNoAttention = probe.whyNoAttention;
}

function compare(e: Entry, b: Entry, s: ReturnType<typeof resolveSettings>): CandidateReport {
  const c = e.report;
  const br = b.report;
  const r = (x: number | null | undefined, y: number | null | undefined): number | null => (x == null || y == null || !(y > 0) ? null : x / y);
  const ratios = {
    ...EMPTY_RATIOS,
    params: r(c.static.parameters.total, br.static.parameters.total),
    nonZeroParams: r(c.static.parameters.nonZero, br.static.parameters.nonZero),
    size: r(c.static.fileSize, br.static.fileSize),
    flops: r(c.static.flops?.total, br.static.flops?.total),
    sessionCreate: r(c.sessionCreate, br.sessionCreate),
    memory: r(c.memory?.peakDelta, br.memory?.peakDelta),
    throughput: r(c.throughput, br.throughput),
    loadThroughput: r(c.load?.throughput, br.load?.throughput),
  };
  let latencyRatio: LatencyComparison | null = null;
  if (c.latency && br.latency) {
    const ci = ratioOfMediansCI(c.latency.samples, br.latency.samples, { level: s.confidence, seed: s.seed ^ 0x1a7e });
    const pr = pairedRatioCI(c.latency.samples, br.latency.samples, { level: s.confidence, seed: s.seed ^ 0x2b8f });
    const noisy = c.latency.noisy || br.latency.noisy;
    // faster / slower only when both intervals agree that 1 is outside
    const verdict = noisy ? 'noisy' : ci.hi < 1 && pr.hi < 1 ? 'faster' : ci.lo > 1 && pr.lo > 1 ? 'slower' : 'same';
    latencyRatio = { ratio: ci.ratio, lo: ci.lo, hi: ci.hi, level: ci.level, perRound: { ratio: pr.value, lo: pr.lo, hi: pr.hi }, noisy, verdict };
  }
  let fidelity: CandidateReport['fidelity'] = null;
  if (c.status === 'ok' && b.outputs.length && e.outputs.length) {
    const notes: string[] = [];
    const { pairs, note } = matchOutputs(Object.keys(e.outputs[0]!), Object.keys(b.outputs[0]!));
    if (note) notes.push(note);
    const outputs = compareOutputs(e.outputs, b.outputs, pairs);
    let graphF1 = null;
    try {
      graphF1 = computeGraphF1({
        threshold: s.graphRule,
        baselineCapture: b.capture,
        candidateCapture: e.capture,
        baselineWhyNot: b.whyNoAttention,
        candidateWhyNot: e.whyNoAttention,
        baselineOutputs: b.outputs,
        candidateOutputs: e.outputs,
        pairs,
      });
    } catch (err) {
      notes.push((err as Error).message);
    }
    fidelity = { outputs, graphF1, notes };
  }
  return { ...c, ratios, latencyRatio, fidelity };
}
