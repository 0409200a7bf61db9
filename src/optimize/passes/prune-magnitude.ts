/**
 * prune-magnitude: unstructured magnitude pruning (lossy). Zeroes the weights of MatMul/Gemm/Conv with the lowest
 * scores, the fraction `sparsity` of each layer or, with `global`, of all layers under one threshold.
 *
 *     W = [ 0.9 -0.1  0.4 ]     sparsity 0.5     [ 0.9  0    0.4 ]
 *         [ 0.05 0.7 -0.3 ]    ------------->    [ 0    0.7  0   ]
 *
 * Scores: |w| (criterion l1 or l2, which rank single weights alike), or |w| * ||x_j|| (criterion 'activation', with
 * `activations`: per-channel Σx² by activation name, as src/prune/probe.ts measures them). Shapes never change, so the
 * pass fires on any model with such weights; dense runtimes do not get faster from the zeros. Existing zeros rank
 * lowest, so a second run with the same options changes nothing (the fixed point of the pass manager).
 * Recurses into subgraphs and function bodies (every weight is listed once). Options (ctx.options or
 * ctx.options['prune-magnitude']): sparsity (default 0.5), global (false), criterion ('l2'), activations.
 * Counts: zeroed (elements newly zero), layers.
 * The logic lives in src/prune/magnitude.ts; this is its Pass face.
 */
import { countZeroWeights } from '../../inspect.js';
import type { Model } from '../../ir/model.js';
import { pruneMagnitude } from '../../prune/magnitude.js';
import type { Criterion } from '../../prune/types.js';
import type { Pass, PassContext, PassResult } from '../../pass/pass.js';
import { passOption } from '../../passes/util/options.js';

const NAME = 'prune-magnitude';

const pass: Pass = {
  name: NAME,
  description: 'zero the lowest-magnitude weights of MatMul/Gemm/Conv (per layer or global; lossy, shapes unchanged)',
  kind: 'pruning',
  lossless: false,
  recursesIntoSubgraphs: true,
  run(model: Model, ctx: PassContext): PassResult {
    const sparsity = passOption(ctx, NAME, 'sparsity', 0.5, (v) => typeof v === 'number' && v >= 0 && v < 1);
    const global = passOption(ctx, NAME, 'global', false);
    const criterion = passOption<Criterion>(ctx, NAME, 'criterion', 'l2', (v) => v === 'l1' || v === 'l2' || v === 'activation');
    const activations = passOption<ReadonlyMap<string, Float64Array> | undefined>(ctx, NAME, 'activations', undefined, (v) => v instanceof Map);
    const before = countZeroWeights(model);
    const r = pruneMagnitude(model, { sparsity, global, criterion, activations });
    const zeroed = countZeroWeights(model) - before;
    for (const s of r.skipped) ctx.explain?.({ pass: NAME, rule: 'weight', node: s.name, reason: s.reason });
    r.notes.forEach((n) => ctx.log(n));
    return { modified: zeroed > 0, counts: zeroed > 0 ? { zeroed, layers: r.layers.filter((l) => l.zeros > 0).length } : {}, notes: r.notes };
  },
};

export default pass;
