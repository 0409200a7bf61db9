/**
 * The registry of every pass: the graph passes (clean-up, fusion) and the conversion and pruning passes that wrap
 * quantize and prune (src/optimize/passes), with the presets. Names are accepted wherever a pass list is: the public
 * `runPasses(model, ['cleanup', 'transformer'])` resolves them here and runs the list through the pass manager.
 */
import { runPassList, type RunOptions, type RunReport } from '../pass/manager.js';
import type { Pass } from '../pass/pass.js';
import { PassRegistry } from '../pass/registry.js';
import type { Model } from '../ir/model.js';
import { graphPasses, graphPresets } from '../passes/index.js';
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
