/**
 * `autoglm report merge <folders...>`: the result files of one or more sweep output folders (shards that ran apart,
 * or one sweep run in several goes) merged into one report object (report.ts renders it as a table, JSON, Markdown
 * and HTML).
 *
 * Per model, the Pareto front over (latency ratio, size ratio, graph F1): a measured job is on it when no other job
 * of the same model is at least as good on all three and better on one (lower latency, smaller file, higher graph
 * F1; a graph F1 that is inconclusive or not measured counts as the worst). The best recipe of a model is the one
 * with the lowest latency ratio (then the smaller file) among the jobs that passed every gate; none when none did.
 * The same job found twice (a shard folder given twice, a job rerun elsewhere) is kept once: the one finished last.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { type JobMetrics, type JobResult, type JobVerdict, SWEEP_SCHEMA } from './runner.js';

export interface MergedJob {
  id: string;
  index: number;
  model: string;
  recipe: string;
  verdict: JobVerdict;
  message: string | null;
  cache: 'hit' | 'miss' | 'off';
  metrics: JobMetrics;
  gates: JobResult['gates'];
  /** on its model's Pareto front */
  pareto: boolean;
  /** its model's best recipe under the gates */
  best: boolean;
  host: string;
  file: string;
}

export interface ModelSummary {
  model: string;
  jobs: number;
  passed: number;
  /** the best recipe under the gates, or null */
  best: string | null;
  front: string[];
}

export interface SweepReport {
  schema: typeof SWEEP_SCHEMA;
  kind: 'autoglm-sweep-report';
  createdAt: string;
  sources: string[];
  jobs: MergedJob[];
  models: ModelSummary[];
  counts: { total: number; pass: number; fail: number; checkFailed: number; error: number; cacheHits: number; cacheMisses: number };
  /** the gates the jobs were judged by (from their results) */
  gates: string[];
  /** every job passed */
  passed: boolean;
  warnings: string[];
}

/** The result files of a sweep output folder (its jobs/ folder) or of a folder of result files. */
export function readResults(folder: string): { file: string; result: JobResult }[] {
  const dir = fs.existsSync(path.join(folder, 'jobs')) ? path.join(folder, 'jobs') : folder;
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch (e) {
    throw new UsageError(`${folder}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  const out: { file: string; result: JobResult }[] = [];
  for (const n of names.sort()) {
    const file = path.join(dir, n);
    let r: JobResult;
    try {
      r = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new UsageError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    if (r?.kind !== 'autoglm-sweep-job') continue; // not a job result (a summary saved beside them)
    if (r.schema !== SWEEP_SCHEMA) throw new UsageError(`${file}: sweep result schema ${r.schema}, this autoglm reads ${SWEEP_SCHEMA}`);
    out.push({ file, result: r });
  }
  return out;
}

type Point = { lat: number; size: number; f1: number };
const pointOf = (m: JobMetrics): Point | null =>
  m.latencyRatio === null || m.sizeRatio === null ? null : { lat: m.latencyRatio, size: m.sizeRatio, f1: m.graphF1 ?? -1 };
const dominates = (a: Point, b: Point): boolean => a.lat <= b.lat && a.size <= b.size && a.f1 >= b.f1 && (a.lat < b.lat || a.size < b.size || a.f1 > b.f1);

/** Indices of the points no other point dominates. */
export function paretoFront(points: (Point | null)[]): Set<number> {
  const front = new Set<number>();
  points.forEach((p, i) => {
    if (p && !points.some((q, j) => j !== i && q && dominates(q, p))) front.add(i);
  });
  return front;
}

export function mergeResults(folders: string[]): SweepReport {
  if (!folders.length) throw new UsageError('report merge needs at least one sweep output folder');
  const warnings: string[] = [];
  const byId = new Map<string, { file: string; result: JobResult }>();
  for (const f of folders) {
    const found = readResults(path.resolve(f));
    if (!found.length) warnings.push(`${f}: no job results`);
    for (const x of found) {
      const prev = byId.get(x.result.id);
      if (prev && prev.result.key !== x.result.key)
        warnings.push(`${x.result.id}: results of different settings in ${prev.file} and ${x.file}; keeping the one finished last`);
      if (!prev || prev.result.finishedAt < x.result.finishedAt) byId.set(x.result.id, x);
    }
  }
  return buildReport([...byId.values()], folders, warnings);
}

/** The report of a set of job results (one per job). */
export function buildReport(found: { file: string; result: JobResult }[], folders: string[], warnings: string[] = []): SweepReport {
  const results = [...found].sort((a, b) => a.result.index - b.result.index || a.result.id.localeCompare(b.result.id));
  const jobs: MergedJob[] = results.map(({ file, result: r }) => ({
    id: r.id,
    index: r.index,
    model: r.model.name,
    recipe: r.recipe.name,
    verdict: r.verdict,
    message: r.message,
    cache: r.optimize.cache,
    metrics: r.metrics,
    gates: r.gates,
    pareto: false,
    best: false,
    host: r.host,
    file,
  }));
  const models: ModelSummary[] = [];
  for (const name of [...new Set(jobs.map((j) => j.model))]) {
    const mine = jobs.filter((j) => j.model === name);
    const measured = mine.map((j) => (j.verdict === 'pass' || j.verdict === 'fail' ? pointOf(j.metrics) : null));
    for (const i of paretoFront(measured)) mine[i]!.pareto = true;
    const best = mine
      .filter((j) => j.verdict === 'pass')
      .sort(
        (a, b) =>
          (a.metrics.latencyRatio ?? Infinity) - (b.metrics.latencyRatio ?? Infinity) || (a.metrics.sizeRatio ?? Infinity) - (b.metrics.sizeRatio ?? Infinity),
      )[0];
    if (best) best.best = true;
    models.push({
      model: name,
      jobs: mine.length,
      passed: mine.filter((j) => j.verdict === 'pass').length,
      best: best?.recipe ?? null,
      front: mine.filter((j) => j.pareto).map((j) => j.recipe),
    });
  }
  const count = (v: JobVerdict) => jobs.filter((j) => j.verdict === v).length;
  return {
    schema: SWEEP_SCHEMA,
    kind: 'autoglm-sweep-report',
    createdAt: new Date().toISOString(),
    sources: folders.map((f) => path.resolve(f)),
    jobs,
    models,
    counts: {
      total: jobs.length,
      pass: count('pass'),
      fail: count('fail'),
      checkFailed: count('check-failed'),
      error: count('error'),
      cacheHits: jobs.filter((j) => j.cache === 'hit').length,
      cacheMisses: jobs.filter((j) => j.cache === 'miss').length,
    },
    gates: [...new Set(jobs.flatMap((j) => j.gates.map((g) => g.gate)))],
    passed: jobs.length > 0 && jobs.every((j) => j.verdict === 'pass'),
    warnings,
  };
}
