/**
 * Jobs: every (model, recipe) pair of a sweep, in a fixed order (model by model, recipes in config order), and the
 * keys that make a job's work content-addressed:
 *
 *   modelHash = sha256(model file, then each external-data file in the order the model names them)
 *   cacheKey  = sha256(canonical { modelHash, recipe's optimize config with the model's dims, autoglm version })
 *               -> the optimized model (cache.ts): the same model, recipe and version give the same bytes
 *   jobKey    = sha256(canonical { cacheKey, bench settings, model dims and inputs })
 *               -> a job's result: a result file whose key differs (the model, recipe or bench changed) is redone
 *
 * Sharding: shard i of n runs the jobs whose index is i mod n, so shards are disjoint, together cover every job, and
 * stay balanced when models differ in cost (each shard gets every n-th recipe of each model).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import type { OptimizeConfig } from '../optimize/config.js';
import { loadModel } from '../onnx/io.js';
import type { SweepBench, SweepConfig, SweepModel, SweepRecipe } from './config.js';

export interface Job {
  /** position in the full job list (0-based) */
  index: number;
  /** file-safe unique id: `<model>__<recipe>` */
  id: string;
  model: SweepModel;
  recipe: SweepRecipe;
  /** the optimize config this job runs: the recipe with the model's dims */
  optimize: OptimizeConfig;
}

export interface Shard {
  index: number;
  count: number;
}

/** JSON with object keys sorted at every level: equal values give equal text (and equal hashes). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

export const sha256 = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');

const safe = (s: string): string =>
  s
    .replace(/\[/g, '.')
    .replace(/\]$/, '')
    .replace(/[^A-Za-z0-9._=,+-]+/g, '_');

export function expandJobs(config: SweepConfig): Job[] {
  const jobs: Job[] = [];
  for (const model of config.models)
    for (const recipe of config.recipes) {
      const optimize: OptimizeConfig = { ...recipe.config };
      if (Object.keys(model.dims).length) optimize.dims = { ...model.dims };
      jobs.push({ index: jobs.length, id: `${safe(model.name)}__${safe(recipe.name)}`, model, recipe, optimize });
    }
  const ids = new Set<string>();
  for (const j of jobs) {
    if (ids.has(j.id)) throw new UsageError(`two jobs get the file name '${j.id}': rename a model or a recipe so they differ in letters and digits`);
    ids.add(j.id);
  }
  return jobs;
}

/** `--shard i/n` (0 <= i < n). */
export function parseShard(spec: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new UsageError(`--shard '${spec}': write i/n with 0 <= i < n, e.g. --shard 0/3`);
  return checkShard(Number(m[1]), Number(m[2]), `--shard ${spec}`);
}

export function checkShard(index: number, count: number, label: string): Shard {
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`${label}: the shard count must be a positive integer`);
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new UsageError(`${label}: the shard index must be in 0..${count - 1}, got ${index}`);
  return { index, count };
}

export const inShard = (job: Job, shard: Shard | undefined): boolean => !shard || job.index % shard.count === shard.index;

/** sha256 of the model file and its external data, kept within a process while none of those files changes. */
const modelHashes = new Map<string, { stamp: string; files: string[]; hash: string }>();
const stampOf = (files: string[]): string =>
  files
    .map((f) => {
      try {
        const st = fs.statSync(f);
        return `${st.size}:${st.mtimeMs}:${st.ino}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
export function modelHash(file: string): string {
  const known = modelHashes.get(file);
  if (known && known.stamp === stampOf([file, ...known.files])) return known.hash;
  const h = createHash('sha256');
  h.update(fs.readFileSync(file));
  const model = loadModel(file); // weights stay on disk: only the external-data file names are read here
  const files: string[] = [];
  for (const loc of model.source?.externalFiles ?? []) {
    const data = path.resolve(model.source!.baseDir, loc);
    h.update(`\0external:${loc}\0`);
    h.update(fs.readFileSync(data));
    files.push(data);
  }
  const hash = h.digest('hex');
  modelHashes.set(file, { stamp: stampOf([file, ...files]), files, hash });
  return hash;
}

export function cacheKey(job: Job, version: string): string {
  return sha256(canonicalJson({ model: modelHash(job.model.path), recipe: job.optimize, autoglm: version }));
}

export function jobKey(job: Job, bench: SweepBench, version: string): string {
  return sha256(canonicalJson({ optimized: cacheKey(job, version), bench, dims: job.model.dims, inputs: job.model.inputs ?? null }));
}
