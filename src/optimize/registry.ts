/**
 * The registry of every pass: the graph passes (clean-up, fusion) and the conversion and pruning passes that wrap
 * quantize and prune (src/optimize/passes), with the presets. Names are accepted wherever a pass list is: the public
 * `runPasses(model, ['cleanup', 'transformer'])` resolves them here and runs the list through the pass manager.
 */
import { runPassList, type RunOptions, type RunReport } from '../pass/manager.js';
import type { Pass, Target } from '../pass/pass.js';
import { PassRegistry } from '../pass/registry.js';
import type { Model } from '../ir/model.js';
import { DEFAULT_FUSE, graphPasses, graphPresets } from '../passes/index.js';
import convertBfloat16 from './passes/convert-bfloat16.js';
import convertFloat16 from './passes/convert-float16.js';
import pruneMagnitude from './passes/prune-magnitude.js';
import pruneNm from './passes/prune-nm.js';
import pruneStructured from './passes/prune-structured.js';

/** The conversion and pruning passes (one file each under src/optimize/passes, named as the pass). */
export const wrapperPasses: readonly Pass[] = [convertFloat16, convertBfloat16, pruneMagnitude, pruneNm, pruneStructured];

export const allPasses: readonly Pass[] = [...graphPasses, ...wrapperPasses];
export const presets: Readonly<Record<string, readonly string[]>> = graphPresets;

const registry = new PassRegistry(allPasses, presets);

export const hasPass = (name: string): boolean => registry.has(name);
/** The pass called `name`; an unknown name raises a UsageError listing the passes and presets (closest first). */
export const getPass = (name: string): Pass => registry.get(name);
/** Expands preset names and resolves pass names, keeping order (a preset's passes appear where it is named). */
export const resolvePasses = (list: readonly (Pass | string)[]): Pass[] => registry.resolve(list);

/**
 * Runs passes given by name, preset or object (see src/pass/manager.ts for the options and the report):
 *
 *   const report = runPasses(model, ['cleanup'], { verify: true, explain: true });
 */
export function runPasses(model: Model, passes: readonly (Pass | string)[], opts: RunOptions = {}): RunReport {
  return runPassList(model, resolvePasses(passes), opts);
}

/**
 * Every pass name, as a type: a misspelt name in `fuse(model, { passes: [...] })` fails to compile
 * (test/passes/registry.test.ts checks this list against the registry).
 */
export const PASS_NAMES = [
  'eliminate-identity',
  'eliminate-dropout',
  'eliminate-noop-cast',
  'eliminate-cast-pairs',
  'eliminate-noop-transpose',
  'fuse-consecutive-transposes',
  'eliminate-noop-reshape',
  'eliminate-noop-expand',
  'fold-constants',
  'eliminate-duplicate-initializers',
  'eliminate-dead-nodes',
  'fuse-layer-norm',
  'fuse-gelu',
  'fuse-reshape-gemm',
  'fuse-attention',
  'fuse-skip-layer-norm',
  'fuse-bias-gelu',
  'fuse-matmul-add',
  'fuse-conv-bn',
  'fuse-conv-add-mul',
  'fuse-hard-swish',
  'convert-float16',
  'convert-bfloat16',
  'prune-magnitude',
  'prune-nm',
  'prune-structured',
] as const;
export type PassName = (typeof PASS_NAMES)[number];
/** The named pass lists of the graph passes. */
export type PassPresetName = 'cleanup' | 'transformer' | 'cnn';

export interface FuseOptions {
  /** a pass list (default: clean-up and every fusion, what `autoglm fuse` runs) */
  preset?: PassPresetName;
  /** passes and presets to run, in order, instead of `preset` */
  passes?: readonly (PassName | PassPresetName)[];
  /** 'onnx' (standard ops only, default) or 'ort' (may emit onnxruntime contrib ops: Attention, SkipLayerNormalization, ...) */
  target?: Target;
  /** check the IR after every pass */
  verify?: boolean;
  /** collect near misses (why a rewrite did not fire) in the report */
  explain?: RunOptions['explain'];
}

/**
 * Clean-up and operator fusion, in place (synchronous: nothing runs the model), like `autoglm fuse`:
 *
 *   fuse(model);                                                  // clean-up and every fusion, standard ops
 *   fuse(model, { preset: 'transformer', target: 'ort' });        // may emit com.microsoft Attention, ...
 */
export function fuse(model: Model, opts: FuseOptions = {}): RunReport {
  if (opts.preset && opts.passes) throw new TypeError('fuse: give preset or passes, not both');
  const list = opts.passes ?? (opts.preset ? [opts.preset] : DEFAULT_FUSE);
  return runPasses(model, list, { target: opts.target ?? 'onnx', verify: opts.verify, explain: opts.explain });
}
