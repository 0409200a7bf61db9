/**
 * prune-structured: removes whole units (lossy), so tensors and compute shrink.
 *
 *     ffn       x ─MatMul(W1)─Add(b1)─GELU─MatMul(W2)─>        neuron i: W1[:, i], b1[i], W2[i, :]
 *     channels  Conv(W1)─BN─Relu─Conv(W2), residual groups     channel c: W1[c], BN[c], W2[:, c] (all members agree)
 *     heads     Q/K/V projections, Reshape[.., H, D] .. Wo     head h: columns of Wq/Wk/Wv, rows of Wo, and H in the
 *                                                              Reshape constants (also Concat-built shapes)
 *
 * Fires on every group src/prune/channels.ts and heads.ts prove safe; a unit that cannot be pruned without breaking a
 * shape (read by another branch, a graph output, a Reshape that is not understood, a LayerNorm over its axis) is left
 * alone and --explain gives the reason. Units are ranked by L1/L2 norm of their weights or, with criterion
 * 'activation' and `activations`, by ||W_row|| * ||x||. Main graph only (units inside If/Loop bodies are not pruned).
 * The sparsity is a fraction of each group's units as they were when the pass first saw this model, so the pass
 * manager's second round changes nothing. Options: units (['ffn', 'heads', 'channels']), sparsity (0.5), roundTo (1),
 * criterion ('l2'), activations, shapes (value name -> dims, from a runtime probe). Counts: groups (cut), units
 * (removed), params (weight elements removed).
 */
import type { Model } from '../../ir/model.js';
import { pruneStructured } from '../../prune/structured.js';
import { UNIT_KINDS, type Criterion, type UnitKind } from '../../prune/types.js';
import type { Pass, PassContext, PassResult } from '../../pass/pass.js';
import { passOption } from '../../passes/util/options.js';

const NAME = 'prune-structured';
/** unit counts of each group before this pass first pruned the model (keeps the fixed point a no-op) */
const firstSeen = new WeakMap<Model, Map<string, number>>();

const pass: Pass = {
  name: NAME,
  description: 'remove whole FFN neurons, attention heads and Conv channels (lossy; tensors and FLOPs shrink)',
  kind: 'pruning',
  lossless: false,
  recursesIntoSubgraphs: false,
  run(model: Model, ctx: PassContext): PassResult {
    const units = passOption<UnitKind[]>(ctx, NAME, 'units', [...UNIT_KINDS], (v) => Array.isArray(v) && v.every((u) => UNIT_KINDS.includes(u as UnitKind)));
    const sparsity = passOption(ctx, NAME, 'sparsity', 0.5, (v) => typeof v === 'number' && v >= 0 && v < 1);
    const roundTo = passOption(ctx, NAME, 'roundTo', 1, (v) => Number.isInteger(v) && (v as number) >= 1);
    const criterion = passOption<Criterion>(ctx, NAME, 'criterion', 'l2', (v) => v === 'l1' || v === 'l2' || v === 'activation');
    const activations = passOption<ReadonlyMap<string, Float64Array> | undefined>(ctx, NAME, 'activations', undefined, (v) => v instanceof Map);
    const shapes = passOption<ReadonlyMap<string, readonly number[]> | undefined>(ctx, NAME, 'shapes', undefined, (v) => v instanceof Map);
    const originalUnits = firstSeen.get(model) ?? firstSeen.set(model, new Map()).get(model)!;
    const r = pruneStructured(model, { units, sparsity, roundTo, criterion, activations, shapes, originalUnits });
    for (const s of r.skipped) ctx.explain?.({ pass: NAME, rule: s.kind, node: s.where, reason: s.reason });
    const removedUnits = r.groups.reduce((a, g) => a + g.units - g.kept, 0);
    const groups = r.groups.filter((g) => g.kept < g.units).length;
    // the lossless canonicalization before the cut (Reshape-Gemm-Reshape linears, folded shapes) changes the model too
    return {
      modified: removedUnits > 0 || r.canonicalized,
      counts: removedUnits > 0 ? { groups, units: removedUnits, params: r.removedParams } : r.canonicalized ? { canonicalized: 1 } : {},
    };
  },
};

export default pass;
