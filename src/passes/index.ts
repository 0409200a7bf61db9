/**
 * The pass registry. Every pass lives in its own file under src/passes, named exactly as the pass, and is listed here
 * (test/passes/registry.test.ts keeps that true). Presets are named pass lists that `runPasses` and the CLI accept
 * wherever a pass name is accepted.
 */
import { UsageError } from '../errors.js';
import convertBfloat16 from './convert-bfloat16.js';
import convertFloat16 from './convert-float16.js';
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
import pruneMagnitude from './prune-magnitude.js';
import pruneNm from './prune-nm.js';
import pruneStructured from './prune-structured.js';
import type { Pass } from './pass.js';

export const allPasses: readonly Pass[] = [
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
  convertFloat16,
  convertBfloat16,
  pruneMagnitude,
  pruneNm,
  pruneStructured,
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
export const presets: Readonly<Record<string, readonly string[]>> = {
  cleanup: CLEANUP,
  transformer: [...CLEANUP, 'fuse-layer-norm', 'fuse-gelu', 'fuse-reshape-gemm', 'fuse-attention', 'fuse-skip-layer-norm', 'fuse-bias-gelu', 'fuse-matmul-add'],
  cnn: [...CLEANUP, 'fuse-matmul-add', 'fuse-conv-bn', 'fuse-conv-add-mul', 'fuse-hard-swish'],
};

const byName = new Map(allPasses.map((p) => [p.name, p]));

export function hasPass(name: string): boolean {
  return byName.has(name);
}

/** The pass called `name`; an unknown name raises a UsageError listing the passes and presets (closest first). */
export function getPass(name: string): Pass {
  const p = byName.get(name);
  if (p) return p;
  const names = [...byName.keys()];
  const close = names
    .map((n) => ({ n, d: editDistance(name, n) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(name.length / 3)))
    .sort((a, b) => a.d - b.d)
    .map((x) => x.n);
  const hint = close.length ? ` Did you mean ${close.slice(0, 3).map((n) => `'${n}'`).join(' or ')}?` : '';
  const preset = presets[name] ? ` ('${name}' is a preset: use it where a list of passes is accepted.)` : '';
  throw new UsageError(`unknown pass '${name}'.${hint}${preset} Passes: ${names.join(', ')}. Presets: ${Object.keys(presets).join(', ')}.`);
}

/** Expands preset names and resolves pass names, keeping order (a preset's passes appear where it is named). */
export function resolvePasses(list: readonly (Pass | string)[]): Pass[] {
  const out: Pass[] = [];
  for (const item of list) {
    if (typeof item !== 'string') out.push(item);
    else if (!byName.has(item) && presets[item]) out.push(...presets[item].map(getPass));
    else out.push(getPass(item));
  }
  return out;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

export type { Pass };
