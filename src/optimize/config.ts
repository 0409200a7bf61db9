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
 *     "quantize": { "dtype": "fp16", "keepIoTypes": true },
 *     "bench": { "dims": { "batch": 1, "sequence": 64 }, "runs": 50, "gates": ["latency.p50 <= 1.05x", "graphF1 >= 0.95"] }
 *   }
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import type { ConvertOptions } from '../quantize/index.js';
import type { PruneOptions } from '../prune/index.js';
import type { Target } from '../pass/pass.js';

export type PresetName = 'transformer' | 'cnn' | 'web';

export interface QuantizeConfig extends Omit<ConvertOptions, 'keepNodeKeys' | 'nodeBlockList'> {
  nodeBlockList?: readonly string[];
  /** accuracy-guided mixed precision: keep the fewest nodes in float32 that hold outputs within `tolerance` */
  mixed?: boolean;
  tolerance?: number;
}

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
  if (q && q.dtype !== 'fp16' && q.dtype !== 'bf16') throw new UsageError(`${label}: quantize.dtype must be fp16 or bf16`);
  const b = c.bench as Record<string, unknown> | undefined;
  if (b) strList('bench.gates', b.gates);
  return c as OptimizeConfig;
}
