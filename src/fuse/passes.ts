/**
 * The fusion passes as a group, as `autoglm fuse` sees them: the registry's passes of kind 'fusion' (in registry
 * order, where fuse-layer-norm runs before fuse-gelu: an opset-13..17 model keeps ReduceMean-13 nodes (axes as an
 * attribute) until its LayerNorms are fused, and those block raising to opset 20 for Gelu), the default list, and
 * name resolution. Presets and name lookup live in the registry (src/passes/index.ts); this module only selects.
 */
import { allPasses, presets, resolvePasses } from '../passes/index.js';
import type { Pass } from '../passes/pass.js';

/** Every fusion pass, in the order the default list runs them. */
export const fusionPasses: readonly Pass[] = allPasses.filter((p) => p.kind === 'fusion');

/** The registry presets that `fuse` offers (clean-up alone, and the fusion presets built on it). */
export const fusionPresets: Readonly<Record<string, readonly string[]>> = { transformer: presets.transformer, cnn: presets.cnn };

/** What `autoglm fuse` runs without --passes: clean-up, then every fusion pass. */
export const DEFAULT_FUSE: readonly string[] = ['cleanup', ...fusionPasses.map((p) => p.name)];

/** Every pass `fuse` can run. */
export function fusePassCatalog(): Pass[] {
  return allPasses.filter((p) => p.kind === 'cleanup' || p.kind === 'fusion');
}

/** Resolves pass names and presets through the registry, keeping order. */
export const resolveFusePasses = (list: readonly (string | Pass)[]): Pass[] => resolvePasses(list);

/** The names of a list after expanding presets (for --disable). */
export function expandNames(list: readonly string[]): string[] {
  return resolvePasses(list).map((p) => p.name);
}
