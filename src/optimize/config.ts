/**
 * The optimize pipeline's configuration: what `autoglm.config.json` holds and what the CLI flags build. One object
 * for the whole CI job: which passes, pruning, conversion, and the bench gates the result must pass.
 *
 *   {
 *     "preset": "transformer",            // transformer | cnn | web  (see presets.ts)
 *     "target": "onnx",                   // onnx | ort (ort may emit com.microsoft contrib ops)
 *     "passes": ["cleanup", "fuse-gelu"], // instead of / on top of the preset's passes
 *     "disable": ["fold-constants"],
 *     "prune": { "method": "structured", "units": ["ffn"], "sparsity": 0.5 },
 *     "quantize": { "dtype": "fp16", "keepIoTypes": true },   // or { "dtype": "int8" }, { "dtype": "int4", "blockSize": 32 }
 *     "bench": { "dims": { "batch": 1, "sequence": 64 }, "runs": 50, "gates": ["latency.p50 <= 1.05x", "graphF1 >= 0.95"] }
 *   }
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import type { ConvertOptions } from '../quantize/index.js';
import type { PruneOptions } from '../prune/index.js';
import type { Target } from '../pass/pass.js';

export type PresetName = 'transformer' | 'cnn' | 'web';

/** float16 / bfloat16 conversion (src/quantize/convert.ts) */
export interface FloatQuantizeConfig extends Omit<ConvertOptions, 'keepNodeKeys' | 'nodeBlockList'> {
  nodeBlockList?: readonly string[];
  /** accuracy-guided mixed precision: keep the fewest nodes in float32 that hold outputs within `tolerance` */
  mixed?: boolean;
  /** with mixed: the search's target; and the self-check's largest range-relative error (default 1e-2 fp16, 5e-2 bf16) */
  tolerance?: number;
  /** the self-check's smallest output cosine (default 0.999 fp16, 0.99 bf16) */
  minCosine?: number;
  /** the numeric self-check after conversion (default true) */
  check?: boolean;
}

/**
 * Integer quantization (src/quantize/int8): int8 dynamic (MatMul/Gemm -> DynamicQuantizeMatMul, the default), int8
 * static QDQ (`static: true`, calibrated on synthesized inputs of `dims`), or int4 weights-only (MatMulNBits). The
 * result is checked against the float model (`check`, default true) and the pipeline fails when it is beyond
 * `minCosine` (default 0.99 int8, 0.98 int4) or `tolerance` (range-relative error).
 */
export interface IntQuantizeConfig {
  dtype: 'int8' | 'int4';
  static?: boolean;
  method?: 'minmax' | 'percentile';
  /** int8: one scale per output channel (default true) */
  perChannel?: boolean;
  /** node names left float */
  exclude?: string[];
  /** int4 */
  blockSize?: 32 | 64 | 128;
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /** keep the most sensitive layers float until within minCosine / tolerance */
  mixed?: boolean;
  minCosine?: number;
  tolerance?: number;
  /** the numeric self-check after quantization (default true) */
  check?: boolean;
}

export type QuantizeConfig = FloatQuantizeConfig | IntQuantizeConfig;

export const isIntQuantize = (q: QuantizeConfig): q is IntQuantizeConfig => q.dtype === 'int8' || q.dtype === 'int4';

export interface BenchConfig {
  dims?: Record<string, number>;
  runs?: number;
  warmup?: number;
  threads?: number;
  gates?: string[];
  /** a budget file (JSON gates), relative to the config file */
  budget?: string;
  inputs?: string;
}

export interface OptimizeConfig {
  preset?: PresetName;
  target?: Target;
  passes?: string[];
  disable?: string[];
  prune?: Omit<PruneOptions, 'onProgress' | 'calibration'> | false;
  quantize?: QuantizeConfig | false;
  bench?: BenchConfig;
  /** symbolic dimension sizes used by every step that runs the model (calibration, --mixed, bench) */
  dims?: Record<string, number>;
  externalData?: boolean;
}

const KEYS = ['preset', 'target', 'passes', 'disable', 'prune', 'quantize', 'bench', 'dims', 'externalData', '$schema', 'description'];

/** Reads and checks a config file; unknown keys and wrong types are usage errors naming the key. */
export function loadConfig(file: string): OptimizeConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`config ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`config ${file}: not valid JSON (${(e as Error).message})`);
  }
  return checkConfig(doc, `config ${file}`);
}

export function checkConfig(doc: unknown, label = 'config'): OptimizeConfig {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`${label}: must be a JSON object`);
  const c = doc as Record<string, unknown>;
  for (const k of Object.keys(c))
    if (!KEYS.includes(k)) throw new UsageError(`${label}: unknown key '${k}' (known: ${KEYS.filter((x) => !x.startsWith('$')).join(', ')})`);
  const strList = (k: string, v: unknown) => {
    if (v !== undefined && (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))) throw new UsageError(`${label}: '${k}' must be a list of strings`);
  };
  if (c.preset !== undefined && !['transformer', 'cnn', 'web'].includes(c.preset as string))
    throw new UsageError(`${label}: preset must be transformer, cnn or web`);
  if (c.target !== undefined && c.target !== 'onnx' && c.target !== 'ort') throw new UsageError(`${label}: target must be onnx or ort`);
  strList('passes', c.passes);
  strList('disable', c.disable);
  for (const k of ['prune', 'quantize', 'bench', 'dims'])
    if (c[k] !== undefined && c[k] !== false && (typeof c[k] !== 'object' || Array.isArray(c[k]))) throw new UsageError(`${label}: '${k}' must be an object`);
  const q = c.quantize as Record<string, unknown> | undefined;
  if (q && !['fp16', 'bf16', 'int8', 'int4'].includes(q.dtype as string)) throw new UsageError(`${label}: quantize.dtype must be fp16, bf16, int8 or int4`);
  if (q && (q.dtype === 'int8' || q.dtype === 'int4')) {
    const known = ['dtype', 'static', 'method', 'perChannel', 'exclude', 'blockSize', 'accuracyLevel', 'mixed', 'minCosine', 'tolerance', 'check'];
    for (const k of Object.keys(q))
      if (!known.includes(k)) throw new UsageError(`${label}: quantize.${k} does not apply to ${q.dtype} (known: ${known.join(', ')})`);
    if (q.dtype === 'int4' && q.static) throw new UsageError(`${label}: quantize.static applies to int8 (int4 is weights-only)`);
    if (q.blockSize !== undefined && ![32, 64, 128].includes(q.blockSize as number)) throw new UsageError(`${label}: quantize.blockSize must be 32, 64 or 128`);
    if (q.method !== undefined && q.method !== 'minmax' && q.method !== 'percentile')
      throw new UsageError(`${label}: quantize.method must be minmax or percentile`);
    strList('quantize.exclude', q.exclude);
  }
  const b = c.bench as Record<string, unknown> | undefined;
  if (b) strList('bench.gates', b.gates);
  return c as OptimizeConfig;
}
