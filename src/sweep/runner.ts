/**
 * runSweep(): every job of a sweep (or of one shard of it), each one `optimize` (through the cache) then `benchmark`
 * of the optimized model against that model's original, with the sweep's bench settings and gates. One result file
 * per job, `<out>/jobs/<id>.json`, written atomically; the journal (journal.ts) records starts and finishes; a rerun
 * skips the jobs whose result file carries the current key (except those that ended in an error, which it tries
 * again), so an interrupted sweep resumes where it stopped and never does a finished job twice.
 *
 * Verdicts: pass (every gate passed, or no gates and the candidate was measured), fail (a gate blocks), check-failed
 * (the optimize step's numeric self-check failed: nothing to bench), error (the recipe does not apply to the model,
 * or a step failed; the message says why). `jobs > 1` runs that many jobs at once in worker threads (job-worker.ts);
 * jobs that run together share the machine, which shows in their latencies: compare latency ratios within one
 * sweep's settings, and keep `jobs` at 1 (or one pod per shard) where latency is the question.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchmark } from '../bench/benchmark.js';
import { benchEnvironment } from '../bench/env.js';
import { failureSummary } from '../bench/report-format.js';
import { renderBenchJson } from '../bench/report-json.js';
import type { BenchResult } from '../bench/types.js';
import { AutoglmError } from '../errors.js';
import { loadModel, saveModel, writeFileAtomic } from '../onnx/io.js';
import type { OptimizeConfig } from '../optimize/config.js';
import { optimize, type OptimizeReport } from '../optimize/pipeline.js';
import { ModelCache, type CacheStats } from './cache.js';
import type { SweepBench, SweepConfig } from './config.js';
import { cacheKey, expandJobs, inShard, jobKey, modelHash, type Job, type Shard } from './jobs.js';
import { Journal, journalFile, readJournals } from './journal.js';

export const SWEEP_SCHEMA = 1 as const;

export type JobVerdict = 'pass' | 'fail' | 'check-failed' | 'error';

/** The headline numbers of a job (candidate / original), null when not measured. */
export interface JobMetrics {
  latencyRatio: number | null;
  latencyCI: { lo: number; hi: number } | null;
  latencyP50Ms: number | null;
  baselineP50Ms: number | null;
  sizeRatio: number | null;
  sizeBytes: number | null;
  paramsRatio: number | null;
  /** graphF1Score (the gate's value); null when inconclusive or not measured */
  graphF1: number | null;
  /** lowest output cosine */
  cosine: number | null;
}

/** One job's result file (`<out>/jobs/<id>.json`). */
export interface JobResult {
  schema: typeof SWEEP_SCHEMA;
  kind: 'autoglm-sweep-job';
  id: string;
  index: number;
  /** jobKey: what the result depends on; a rerun redoes a job whose key changed */
  key: string;
  model: { name: string; path: string; hash: string; dims: Record<string, number> };
  recipe: { name: string; config: OptimizeConfig };
  verdict: JobVerdict;
  /** why not pass: failed gates, the failed check, or the error */
  message: string | null;
  optimize: { cache: 'hit' | 'miss' | 'off'; cacheKey: string; ms: number; model: string | null; report: OptimizeReport | null };
  metrics: JobMetrics;
  gates: { gate: string; status: string; value: number | null; message: string }[];
  /** the bench result (BenchResult JSON, latency samples left out), null when there was nothing to bench */
  bench: BenchResult | null;
  host: string;
  autoglm: string;
  durationMs: number;
  finishedAt: string;
}

export interface RunContext {
  outDir: string;
  bench: SweepBench;
  /** null: no cache (optimized models go to <out>/models) */
  cacheDir: string | null;
  cacheCapBytes?: number;
  version: string;
}

export const resultFile = (outDir: string, id: string): string => path.join(outDir, 'jobs', `${id}.json`);

function metricsOf(b: BenchResult | null): JobMetrics {
  const c = b?.candidates[0];
  const cos = c?.fidelity?.outputs.map((o) => o.cosine).filter((x): x is number => x !== null) ?? [];
  return {
    latencyRatio: c?.latencyRatio?.ratio ?? null,
    latencyCI: c?.latencyRatio ? { lo: c.latencyRatio.lo, hi: c.latencyRatio.hi } : null,
    latencyP50Ms: c?.latency?.p50 ?? null,
    baselineP50Ms: b?.baseline.latency?.p50 ?? null,
    sizeRatio: c?.ratios.size ?? null,
    sizeBytes: c?.static.fileSize ?? null,
    paramsRatio: c?.ratios.params ?? null,
    graphF1: c?.fidelity?.graphF1?.score ?? null,
    cosine: cos.length ? Math.min(...cos) : null,
  };
}

/** Runs one job to its result (does not write it). Errors of the job become an 'error' verdict, not a throw. */
export async function runJob(job: Job, ctx: RunContext, cache?: ModelCache<OptimizeReport>): Promise<JobResult> {
  const t0 = performance.now();
  const base = {
    schema: SWEEP_SCHEMA,
    kind: 'autoglm-sweep-job' as const,
    id: job.id,
    index: job.index,
    key: jobKey(job, ctx.bench, ctx.version),
    model: { name: job.model.name, path: job.model.path, hash: modelHash(job.model.path), dims: job.model.dims },
    recipe: { name: job.recipe.name, config: job.recipe.config },
    host: os.hostname(),
    autoglm: ctx.version,
  };
  const ckey = cacheKey(job, ctx.version);
  const opt: JobResult['optimize'] = { cache: cache ? 'miss' : 'off', cacheKey: ckey, ms: 0, model: null, report: null };
  const finish = (verdict: JobVerdict, message: string | null, bench: BenchResult | null): JobResult => ({
    ...base,
    verdict,
    message,
    optimize: opt,
    metrics: metricsOf(bench),
    gates: (bench?.gates ?? []).map((g) => ({ gate: g.gate, status: g.status, value: g.value, message: g.message })),
    bench,
    durationMs: performance.now() - t0,
    finishedAt: new Date().toISOString(),
  });
  try {
    const t1 = performance.now();
    const hit = cache?.get(ckey);
    if (hit) {
      opt.cache = 'hit';
      opt.model = hit.model;
      opt.report = hit.meta;
    } else {
      const { model, report } = await optimize(loadModel(job.model.path), job.optimize);
      opt.report = report;
      if (report.check && !report.check.passed) {
        opt.ms = performance.now() - t1;
        return finish('check-failed', `self-check failed: ${report.check.failures.join('; ')}`, null);
      }
      if (cache) opt.model = cache.put(ckey, model, report).model;
      else {
        const file = path.join(ctx.outDir, 'models', `${job.id}.onnx`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        saveModel(model, file, { externalData: 'auto', overwriteInput: false });
        opt.model = file;
      }
    }
    opt.ms = performance.now() - t1;
    const b = ctx.bench;
    const result = await benchmark({
      baseline: { model: job.model.path, label: 'original' },
      candidates: [{ model: opt.model!, label: job.recipe.name }],
      dims: job.model.dims,
      inputs: job.model.inputs,
      runs: b.runs,
      warmup: b.warmup,
      threads: b.threads,
      sessionRepeats: b.sessionRepeats,
      seed: b.seed,
      gates: b.gates,
      budget: b.budget,
      allowSkipped: b.allowSkipped,
    });
    const bench = JSON.parse(renderBenchJson(result, { samples: false })) as BenchResult;
    return finish(result.passed ? 'pass' : 'fail', result.passed ? null : failureSummary(result), bench);
  } catch (e) {
    const msg = e instanceof AutoglmError ? e.message : `internal error: ${(e as Error)?.message ?? e}`;
    return finish('error', msg, null);
  }
}

export interface SweepOptions {
  outDir: string;
  shard?: Shard;
  /** jobs at once (worker threads); default 1 */
  jobs?: number;
  /** cache folder (default <out>/cache); null turns the cache off */
  cacheDir?: string | null;
  cacheCapBytes?: number;
  /** stop after this many jobs were run (tests and --max-jobs) */
  maxJobs?: number;
  onJob?: (e: { job: Job; phase: 'start' | 'done' | 'skipped'; result?: JobResult; done: number; total: number }) => void;
}

export interface SweepJobSummary {
  id: string;
  index: number;
  model: string;
  recipe: string;
  verdict: JobVerdict;
  /** this run ran it, or it was already finished (resumed) */
  ran: boolean;
  cache: 'hit' | 'miss' | 'off';
  message: string | null;
  metrics: JobMetrics;
  file: string;
}

export interface SweepSummary {
  schema: typeof SWEEP_SCHEMA;
  kind: 'autoglm-sweep';
  config: string | null;
  outDir: string;
  shard: Shard | null;
  autoglm: string;
  jobs: SweepJobSummary[];
  counts: { total: number; ran: number; resumed: number; interrupted: number; pass: number; fail: number; checkFailed: number; error: number };
  /** optimize steps of this run: hits and misses (a job finished earlier is counted in neither) */
  cache: (Omit<CacheStats, 'evicted'> & { evicted: number; bytes: number }) | null;
  passed: boolean;
  durationMs: number;
}

const readResult = (file: string): JobResult | undefined => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as JobResult;
  } catch {
    return undefined;
  }
};

export async function runSweep(config: SweepConfig, opts: SweepOptions): Promise<SweepSummary> {
  const t0 = performance.now();
  const outDir = path.resolve(opts.outDir);
  fs.mkdirSync(path.join(outDir, 'jobs'), { recursive: true });
  const version = benchEnvironment().autoglm;
  const cacheDir = opts.cacheDir === null ? null : path.resolve(opts.cacheDir ?? path.join(outDir, 'cache'));
  const ctx: RunContext = { outDir, bench: config.bench, cacheDir, cacheCapBytes: opts.cacheCapBytes, version };
  const cache = cacheDir ? new ModelCache<OptimizeReport>(cacheDir, opts.cacheCapBytes) : undefined;
  const jobs = expandJobs(config).filter((j) => inShard(j, opts.shard));
  const journal = new Journal(journalFile(outDir, opts.shard));
  const events = readJournals(outDir);
  const started = new Set(events.filter((e) => e.event === 'start').map((e) => `${e.job}\0${e.key}`));
  const finished = new Set(events.filter((e) => e.event === 'done').map((e) => `${e.job}\0${e.key}`));

  const summaries = new Map<string, SweepJobSummary>();
  const summarize = (r: JobResult, ran: boolean): SweepJobSummary => ({
    id: r.id,
    index: r.index,
    model: r.model.name,
    recipe: r.recipe.name,
    verdict: r.verdict,
    ran,
    cache: r.optimize.cache,
    message: r.message,
    metrics: r.metrics,
    file: resultFile(outDir, r.id),
  });
  let interrupted = 0;
  const todo: Job[] = [];
  for (const job of jobs) {
    const key = jobKey(job, config.bench, version);
    const prev = readResult(resultFile(outDir, job.id));
    // an 'error' is not a finished job: the rerun tries it again (a recipe that does not apply fails again at once)
    if (prev?.key === key && prev.verdict !== 'error') {
      // whole (written atomically) and current: finished before; journal it if the crash came between rename and journal
      if (!finished.has(`${job.id}\0${key}`)) journal.record({ event: 'done', job: job.id, key, verdict: prev.verdict });
      summaries.set(job.id, summarize(prev, false));
      opts.onJob?.({ job, phase: 'skipped', result: prev, done: summaries.size, total: jobs.length });
      continue;
    }
    if (started.has(`${job.id}\0${key}`)) interrupted++;
    todo.push(job);
  }
  const limit = Math.min(todo.length, opts.maxJobs ?? todo.length);
  const queue = todo.slice(0, limit);
  const parallel = Math.max(1, Math.min(opts.jobs ?? 1, queue.length));
  const hitsMisses = { hits: 0, misses: 0, evicted: 0 };

  const record = (job: Job, r: JobResult) => {
    writeFileAtomic(resultFile(outDir, job.id), [Buffer.from(JSON.stringify(r, null, 1) + '\n', 'utf8')]);
    journal.record({ event: 'done', job: job.id, key: r.key, verdict: r.verdict });
    if (r.optimize.cache === 'hit') hitsMisses.hits++;
    if (r.optimize.cache === 'miss') hitsMisses.misses++;
    summaries.set(job.id, summarize(r, true));
    opts.onJob?.({ job, phase: 'done', result: r, done: summaries.size, total: jobs.length });
  };
  const start = (job: Job) => {
    journal.record({ event: 'start', job: job.id, key: jobKey(job, config.bench, version) });
    opts.onJob?.({ job, phase: 'start', done: summaries.size, total: jobs.length });
  };

  if (parallel === 1) {
    for (const job of queue) {
      start(job);
      record(job, await runJob(job, ctx, cache));
    }
  } else {
    const { JobPool } = await import('./pool.js');
    const pool = new JobPool(parallel, ctx);
    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: parallel }, async (_, w) => {
          while (next < queue.length) {
            const job = queue[next++]!;
            start(job);
            const r = await pool.run(w, job);
            hitsMisses.evicted += r.evicted;
            record(job, r.result);
          }
        }),
      );
    } finally {
      await pool.close();
    }
  }

  const list = jobs.map((j) => summaries.get(j.id)).filter((s): s is SweepJobSummary => !!s);
  const count = (v: JobVerdict) => list.filter((s) => s.verdict === v).length;
  return {
    schema: SWEEP_SCHEMA,
    kind: 'autoglm-sweep',
    config: config.file,
    outDir,
    shard: opts.shard ?? null,
    autoglm: version,
    jobs: list,
    counts: {
      total: jobs.length,
      ran: list.filter((s) => s.ran).length,
      resumed: list.filter((s) => !s.ran).length,
      interrupted,
      pass: count('pass'),
      fail: count('fail'),
      checkFailed: count('check-failed'),
      error: count('error'),
    },
    cache: cache
      ? {
          dir: cache.dir,
          capBytes: cache.stats.capBytes,
          hits: hitsMisses.hits,
          misses: hitsMisses.misses,
          evicted: cache.stats.evicted + hitsMisses.evicted,
          bytes: cache.totalBytes(),
        }
      : null,
    passed: list.length === jobs.length && list.every((s) => s.verdict === 'pass'),
    durationMs: performance.now() - t0,
  };
}
