/**
 * The graph passes: clean-up and fusion, each in its own file under src/passes named exactly as the pass (the
 * meta-test test/passes/registry.test.ts keeps that true), their presets, and the fusion catalog that `autoglm fuse`
 * offers. These sit below prune and quantize, which run them; the full registry, with the conversion and pruning
 * passes that wrap quantize and prune, is src/optimize/registry.ts.
 *
 * Fusion order: fuse-layer-norm runs before fuse-gelu (an opset-13..17 model keeps ReduceMean-13 nodes, axes as an
 * attribute, until its LayerNorms are fused, and those block raising to opset 20 for Gelu).
 */
import { PassRegistry } from '../pass/registry.js';
import type { Pass } from '../pass/pass.js';
import eliminateCastPairs from './eliminate-cast-pairs.js';
import eliminateDeadNodes from './eliminate-dead-nodes.js';
import eliminateDropout from './eliminate-dropout.js';
import eliminateDuplicateInitializers from './eliminate-duplicate-initializers.js';
import eliminateIdentity from './eliminate-identity.js';
import eliminateNoopCast from './eliminate-noop-cast.js';
import eliminateNoopExpand from './eliminate-noop-expand.js';
import eliminateNoopReshape from './eliminate-noop-reshape.js';
import eliminateNoopTranspose from './eliminate-noop-transpose.js';
import foldConstants from './fold-constants.js';
import fuseAttention from './fuse-attention.js';
import fuseBiasGelu from './fuse-bias-gelu.js';
import fuseConsecutiveTransposes from './fuse-consecutive-transposes.js';
import fuseConvAddMul from './fuse-conv-add-mul.js';
import fuseConvBn from './fuse-conv-bn.js';
import fuseGelu from './fuse-gelu.js';
import fuseHardSwish from './fuse-hard-swish.js';
import fuseLayerNorm from './fuse-layer-norm.js';
import fuseMatmulAdd from './fuse-matmul-add.js';
import fuseReshapeGemm from './fuse-reshape-gemm.js';
import fuseSkipLayerNorm from './fuse-skip-layer-norm.js';

export const graphPasses: readonly Pass[] = [
  eliminateIdentity,
  eliminateDropout,
  eliminateNoopCast,
  eliminateCastPairs,
  eliminateNoopTranspose,
  fuseConsecutiveTransposes,
  eliminateNoopReshape,
  eliminateNoopExpand,
  foldConstants,
  eliminateDuplicateInitializers,
  eliminateDeadNodes,
  fuseLayerNorm,
  fuseGelu,
  fuseReshapeGemm,
  fuseAttention,
  fuseSkipLayerNorm,
  fuseBiasGelu,
  fuseMatmulAdd,
  fuseConvBn,
  fuseConvAddMul,
  fuseHardSwish,
];

const CLEANUP = [
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
];

/**
 * Named pass lists (flat). LayerNorm comes before GELU: a ReduceMean of opset 13 left behind would block raising the
 * opset to 20 for Gelu. fuse-reshape-gemm (torch's Reshape-Gemm-Reshape linear layers back to MatMul + Add) comes
 * before the fusions that match MatMul + Add (attention, skip-layer-norm, bias-gelu, matmul-add). The contrib-op
 * fusions (attention, skip-layer-norm, bias-gelu) fire only with target 'ort'.
 */
export const graphPresets: Readonly<Record<string, readonly string[]>> = {
  cleanup: CLEANUP,
  transformer: [...CLEANUP, 'fuse-layer-norm', 'fuse-gelu', 'fuse-reshape-gemm', 'fuse-attention', 'fuse-skip-layer-norm', 'fuse-bias-gelu', 'fuse-matmul-add'],
  cnn: [...CLEANUP, 'fuse-matmul-add', 'fuse-conv-bn', 'fuse-conv-add-mul', 'fuse-hard-swish'],
};

export const graphRegistry = new PassRegistry(graphPasses, graphPresets);

/** Every fusion pass, in the order the default list runs them. */
export const fusionPasses: readonly Pass[] = graphPasses.filter((p) => p.kind === 'fusion');

/** The presets that `fuse` offers besides clean-up (the fusion presets built on it). */
export const fusionPresets: Readonly<Record<string, readonly string[]>> = { transformer: graphPresets.transformer, cnn: graphPresets.cnn };

/** What `autoglm fuse` runs without --passes: clean-up, then every fusion pass. */
export const DEFAULT_FUSE: readonly string[] = ['cleanup', ...fusionPasses.map((p) => p.name)];

/** Every pass `fuse` can run. */
export function fusePassCatalog(): Pass[] {
  return graphPasses.filter((p) => p.kind === 'cleanup' || p.kind === 'fusion');
}

/** Resolves graph-pass names and presets, keeping order. */
export const resolveFusePasses = (list: readonly (string | Pass)[]): Pass[] => graphRegistry.resolve(list);

/** The names of a list after expanding presets (for --disable). */
export function expandNames(list: readonly string[]): string[] {
  return graphRegistry.resolve(list).map((p) => p.name);
}
