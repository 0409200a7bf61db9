/**
 * The sweep's configuration (`sweep.json`): models x recipes, and the bench settings and gates every job is judged by.
 *
 *   {
 *     "models": [
 *       "models/*.onnx",                                                   // a file or a glob (in the last segment)
 *       { "path": "bert.onnx", "name": "bert", "dims": { "sequence": 64 }, "inputs": "bert-inputs/" }
 *     ],
 *     "recipes": [
 *       { "name": "fused", "preset": "transformer" },                      // each recipe is an `optimize` config
 *       { "name": "int8", "quantize": { "dtype": "int8" } },
 *       { "name": "ffn", "prune": { "method": "structured", "units": ["ffn"] },
 *         "grid": { "prune.sparsity": [0.25, 0.5] } }                     // grid: one recipe per combination
 *     ],
 *     "dims": { "batch": 1, "sequence": 32 },          // sizes of symbolic dims (a model's own win; default 1 for a
 *                                                      // batch-like dim, 32 for others)
 *     "bench": { "runs": 20, "warmup": 3, "gates": ["latency.p50 <= 1.05x", "cosine >= 0.99"] }
 *   }
 *
 * Paths are relative to the config file. A recipe is checked as `optimize` checks its config (checkConfig), so a
 * recipe that `autoglm optimize -c` refuses is refused here, before any job runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { symbolicDims } from '../inputs/describe.js';
import { defaultDimSize } from '../inputs/dims.js';
import { loadModel } from '../onnx/io.js';
import { checkConfig, type OptimizeConfig } from '../optimize/config.js';
import { passListFor } from '../optimize/pipeline.js';

export interface SweepModel {
  /** unique short name (default: the file name without .onnx) */
  name: string;
  /** absolute path */
  path: string;
  dims: Record<string, number>;
  /** bench input file or folder (absolute), or undefined: synthesized */
  inputs?: string;
}

export interface SweepRecipe {
  /** unique name; grid recipes are named `name[key=value,...]` */
  name: string;
  /** the optimize config of this recipe, without dims (those come from the model) and without bench */
  config: OptimizeConfig;
}

export interface SweepBench {
  runs?: number;
  warmup?: number;
  threads?: number;
  sessionRepeats?: number;
  seed?: number;
  gates?: string[];
  /** a budget file (absolute) */
  budget?: string;
  /** skipped gates do not fail a job */
  allowSkipped?: boolean;
}

export interface SweepConfig {
  /** the config file (absolute), or null when built in code */
  file: string | null;
  models: SweepModel[];
  recipes: SweepRecipe[];
  bench: SweepBench;
}

const TOP_KEYS = ['models', 'recipes', 'dims', 'bench', '$schema', 'description'];
const MODEL_KEYS = ['path', 'name', 'dims', 'inputs'];
const BENCH_KEYS = ['runs', 'warmup', 'threads', 'sessionRepeats', 'seed', 'gates', 'budget', 'allowSkipped'];

export function loadSweepConfig(file: string): SweepConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`sweep config ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`sweep config ${file}: not valid JSON (${(e as Error).message})`);
  }
  return checkSweepConfig(doc, path.dirname(path.resolve(file)), path.resolve(file));
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function checkDims(v: unknown, label: string): Record<string, number> {
  if (v === undefined) return {};
  if (!isObject(v)) throw new UsageError(`${label} must be an object of name: size`);
  for (const [k, x] of Object.entries(v))
    if (!Number.isInteger(x) || (x as number) < 1) throw new UsageError(`${label}.${k} must be a positive integer, got ${JSON.stringify(x)}`);
  return v as Record<string, number>;
}

/** Checks a parsed sweep config; `baseDir` resolves its relative paths. */
export function checkSweepConfig(doc: unknown, baseDir: string, file: string | null = null): SweepConfig {
  const label = `sweep config${file ? ` ${path.basename(file)}` : ''}`;
  if (!isObject(doc)) throw new UsageError(`${label}: must be a JSON object`);
  for (const k of Object.keys(doc)) if (!TOP_KEYS.includes(k)) throw new UsageError(`${label}: unknown key '${k}' (known: models, recipes, dims, bench)`);
  const dims = checkDims(doc.dims, `${label}: dims`);
  if (!Array.isArray(doc.models) || doc.models.length === 0) throw new UsageError(`${label}: 'models' must be a non-empty list`);
  if (!Array.isArray(doc.recipes) || doc.recipes.length === 0) throw new UsageError(`${label}: 'recipes' must be a non-empty list`);

  const models: SweepModel[] = [];
  doc.models.forEach((m, i) => {
    const spec = typeof m === 'string' ? { path: m } : m;
    const where = `${label}: models[${i}]`;
    if (!isObject(spec) || typeof spec.path !== 'string') throw new UsageError(`${where} must be a path or { "path": ... }`);
    for (const k of Object.keys(spec)) if (!MODEL_KEYS.includes(k)) throw new UsageError(`${where}: unknown key '${k}' (known: ${MODEL_KEYS.join(', ')})`);
    if (spec.name !== undefined && typeof spec.name !== 'string') throw new UsageError(`${where}.name must be a string`);
    if (spec.inputs !== undefined && typeof spec.inputs !== 'string') throw new UsageError(`${where}.inputs must be a path`);
    const own = checkDims(spec.dims, `${where}.dims`);
    const files = expandGlob(path.resolve(baseDir, spec.path));
    if (!files.length) throw new UsageError(`${where}: '${spec.path}' matches no file`);
    if (spec.name !== undefined && files.length > 1) throw new UsageError(`${where}: a name applies to one file, but '${spec.path}' matches ${files.length}`);
    for (const f of files)
      models.push({
        name: (spec.name as string | undefined) ?? path.basename(f).replace(/\.onnx$/i, ''),
        path: f,
        dims: { ...defaultDims(f, dims), ...own },
        inputs: spec.inputs ? path.resolve(baseDir, spec.inputs as string) : undefined,
      });
  });
  unique(
    models.map((m) => m.name),
    `${label}: two models are named`,
  );

  const recipes: SweepRecipe[] = [];
  doc.recipes.forEach((r, i) => {
    const where = `${label}: recipes[${i}]`;
    if (!isObject(r) || typeof r.name !== 'string' || !r.name.trim()) throw new UsageError(`${where} must be an object with a "name"`);
    const { name, grid, ...rest } = r;
    if ('bench' in rest) throw new UsageError(`${where} (${name}): bench settings belong to the sweep's "bench", not to a recipe`);
    if ('dims' in rest) throw new UsageError(`${where} (${name}): dims belong to the sweep or to a model, not to a recipe`);
    for (const variant of expandGrid(name as string, rest, grid, where)) {
      const config = checkConfig(variant.config, `${where} (${variant.name})`);
      try {
        passListFor(config); // unknown pass names are usage errors now, not failed jobs later
      } catch (e) {
        throw new UsageError(`${where} (${variant.name}): ${(e as Error).message}`);
      }
      recipes.push({ name: variant.name, config });
    }
  });
  unique(
    recipes.map((r) => r.name),
    `${label}: two recipes are named`,
  );

  const b = doc.bench === undefined ? {} : doc.bench;
  if (!isObject(b)) throw new UsageError(`${label}: 'bench' must be an object`);
  for (const k of Object.keys(b)) if (!BENCH_KEYS.includes(k)) throw new UsageError(`${label}: unknown key bench.${k} (known: ${BENCH_KEYS.join(', ')})`);
  for (const k of ['runs', 'warmup', 'threads', 'sessionRepeats', 'seed'])
    if (b[k] !== undefined && (!Number.isInteger(b[k]) || (b[k] as number) < 0)) throw new UsageError(`${label}: bench.${k} must be a non-negative integer`);
  if (b.gates !== undefined && (!Array.isArray(b.gates) || !b.gates.every((g) => typeof g === 'string')))
    throw new UsageError(`${label}: bench.gates must be a list of gate expressions`);
  if (b.budget !== undefined && typeof b.budget !== 'string') throw new UsageError(`${label}: bench.budget must be a path`);
  if (b.allowSkipped !== undefined && typeof b.allowSkipped !== 'boolean') throw new UsageError(`${label}: bench.allowSkipped must be true or false`);
  const bench: SweepBench = { ...(b as SweepBench) };
  if (bench.budget) bench.budget = path.resolve(baseDir, bench.budget);
  return { file, models, recipes, bench };
}

/**
 * The sizes of the model's symbolic input dimensions: the sweep's `dims` where they name one, else 1 for a
 * batch-like dimension and 32 for any other (what optimize's self-check uses). Only dimensions the model has are
 * kept, so a job's key does not change with dims meant for other models. Loading reads no weights.
 */
function defaultDims(file: string, given: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of symbolicDims(loadModel(file))) out[d] = given[d] ?? defaultDimSize(d);
  return out;
}

function unique(names: string[], message: string): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new UsageError(`${message} '${n}' (give each a distinct "name")`);
    seen.add(n);
  }
}

/**
 * The grid form: `"grid": { "prune.sparsity": [0.25, 0.5], "quantize.dtype": ["fp16", "int8"] }` makes one recipe per
 * combination, each value set at its dotted path in a copy of the recipe, named `name[sparsity=0.25,dtype=fp16]`.
 */
export function expandGrid(name: string, base: Record<string, unknown>, grid: unknown, where = 'recipe'): { name: string; config: Record<string, unknown> }[] {
  if (grid === undefined) return [{ name, config: base }];
  if (!isObject(grid) || !Object.keys(grid).length) throw new UsageError(`${where}.grid must be an object of "dotted.key": [values]`);
  let combos: { label: string[]; config: Record<string, unknown> }[] = [{ label: [], config: base }];
  for (const [key, values] of Object.entries(grid)) {
    if (!Array.isArray(values) || !values.length) throw new UsageError(`${where}.grid['${key}'] must be a non-empty list of values`);
    const parts = key.split('.');
    if (parts.some((p) => !p)) throw new UsageError(`${where}.grid: '${key}' is not a dotted key`);
    combos = combos.flatMap((c) =>
      values.map((v) => ({
        label: [...c.label, `${parts[parts.length - 1]}=${typeof v === 'string' ? v : JSON.stringify(v)}`],
        config: setPath(c.config, parts, v),
      })),
    );
  }
  return combos.map((c) => ({ name: `${name}[${c.label.join(',')}]`, config: c.config }));
}

function setPath(obj: Record<string, unknown>, parts: string[], value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...obj };
  const [head, ...tail] = parts;
  if (!tail.length) copy[head!] = value;
  else {
    const inner = copy[head!];
    copy[head!] = setPath(isObject(inner) ? inner : {}, tail, value);
  }
  return copy;
}

/**
 * A path whose last segment may hold `*` and `?` (no recursive `**`): the matching .onnx files, sorted. A path without
 * wildcards is returned as it is if it exists (a missing one is the caller's error).
 */
export function expandGlob(abs: string): string[] {
  const dir = path.dirname(abs);
  const base = path.basename(abs);
  if (/[*?[\]]/.test(dir)) throw new UsageError(`'${abs}': wildcards are allowed in the file name only, not in folders`);
  if (!/[*?]/.test(base)) return fs.existsSync(abs) ? [abs] : [];
  const re = new RegExp(
    `^${base
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => re.test(n) && fs.statSync(path.join(dir, n)).isFile())
    .sort()
    .map((n) => path.join(dir, n));
}
