/**
 * The fusion passes as a group: their order, the `transformer` and `cnn` presets, the default list of `autoglm fuse`,
 * and name resolution that works whether or not the registry (src/passes/index.ts) lists them yet.
 *
 * Order matters in one place: fuse-layer-norm runs before fuse-gelu, because an opset-13..17 model keeps
 * ReduceMean-13 nodes (axes as an attribute) until its LayerNorms are fused, and those block raising to opset 20 for
 * Gelu; fuse-skip-layer-norm and fuse-bias-gelu consume what fuse-layer-norm and fuse-gelu produce. The pass manager
 * repeats the list to a fixed point, so a later pass enabling an earlier one is caught in the next round.
 */
import { UsageError } from '../errors.js';
import fuseAttention from '../passes/fuse-attention.js';
import fuseBiasGelu from '../passes/fuse-bias-gelu.js';
import fuseConvAddMul from '../passes/fuse-conv-add-mul.js';
import fuseConvBn from '../passes/fuse-conv-bn.js';
import fuseGelu from '../passes/fuse-gelu.js';
import fuseHardSwish from '../passes/fuse-hard-swish.js';
import fuseLayerNorm from '../passes/fuse-layer-norm.js';
import fuseMatmulAdd from '../passes/fuse-matmul-add.js';
import fuseSkipLayerNorm from '../passes/fuse-skip-layer-norm.js';
import { allPasses, hasPass, getPass, presets } from '../passes/index.js';
import type { Pass } from '../passes/pass.js';

/** Every fusion pass, in the order the default list runs them. */
export const fusionPasses: readonly Pass[] = [fuseLayerNorm, fuseGelu, fuseAttention, fuseSkipLayerNorm, fuseBiasGelu, fuseMatmulAdd, fuseConvBn, fuseConvAddMul, fuseHardSwish];

/** Presets of fusion passes on top of the clean-up preset. */
export const fusionPresets: Readonly<Record<string, readonly string[]>> = {
  transformer: ['cleanup', 'fuse-layer-norm', 'fuse-gelu', 'fuse-attention', 'fuse-skip-layer-norm', 'fuse-bias-gelu', 'fuse-matmul-add'],
  cnn: ['cleanup', 'fuse-matmul-add', 'fuse-conv-bn', 'fuse-conv-add-mul', 'fuse-hard-swish'],
};

/** What `autoglm fuse` runs without --passes: clean-up, then every fusion pass. */
export const DEFAULT_FUSE: readonly string[] = ['cleanup', ...fusionPasses.map((p) => p.name)];

const local = new Map(fusionPasses.map((p) => [p.name, p]));

function presetList(name: string): readonly string[] | undefined {
  return presets[name] ?? fusionPresets[name];
}

/** Every pass `fuse` can run (registry and fusion passes, each once). */
export function fusePassCatalog(): Pass[] {
  const out = [...allPasses.filter((p) => p.kind === 'cleanup' || p.kind === 'fusion')];
  for (const p of fusionPasses) if (!out.some((q) => q.name === p.name)) out.push(p);
  return out;
}

/** Resolves pass names and presets (registry first, then the fusion passes), keeping order. */
export function resolveFusePasses(list: readonly (string | Pass)[], seen = new Set<string>()): Pass[] {
  const out: Pass[] = [];
  for (const item of list) {
    if (typeof item !== 'string') out.push(item);
    else if (hasPass(item)) out.push(getPass(item));
    else if (local.has(item)) out.push(local.get(item)!);
    else if (presetList(item) && !seen.has(item)) out.push(...resolveFusePasses(presetList(item)!, new Set([...seen, item])));
    else {
      const names = fusePassCatalog().map((p) => p.name);
      const presetNames = [...new Set([...Object.keys(presets), ...Object.keys(fusionPresets)])];
      throw new UsageError(`unknown pass '${item}'. Passes: ${names.join(', ')}. Presets: ${presetNames.join(', ')}.`);
    }
  }
  return out;
}

/** The names of a list after expanding presets (for --disable). */
export function expandNames(list: readonly string[]): string[] {
  return resolveFusePasses(list).map((p) => p.name);
}
