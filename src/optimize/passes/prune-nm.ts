/**
 * prune-nm: N:M semi-structured sparsity (lossy). In every group of M consecutive weights along the reduction axis
 * (MatMul/Gemm input features, Conv input channels) keeps the N highest-scoring and zeroes the rest.
 *
 *     2:4, one output column along K:   [0.9, -0.1, 0.4, 0.05]  ->  [0.9, 0, 0.4, 0]
 *
 * Fires on every MatMul/Gemm/Conv float weight whose reduction axis is a multiple of M; others (a stem Conv with 3
 * input channels, a depthwise Conv) are left alone and --explain says why. Shapes never change; sparse tensor cores run
 * the pattern faster, onnxruntime's CPU kernels do not. A second run changes nothing (each group already has M - N
 * zeros, which rank lowest). Recurses into subgraphs and function bodies.
 * Options: n (default 2), m (default 4) or nm ('2:4'), criterion ('l2' | 'l1' | 'activation'), activations.
 * Counts: zeroed, layers. The logic lives in src/prune/nm.ts.
 */
import { UsageError } from '../../errors.js';
import { countZeroWeights } from '../../inspect.js';
import type { Model } from '../../ir/model.js';
import { parseNM, pruneNM } from '../../prune/nm.js';
import type { Criterion } from '../../prune/types.js';
import type { Pass, PassContext, PassResult } from '../../pass/pass.js';
import { passOption } from '../../passes/util/options.js';

const NAME = 'prune-nm';

const pass: Pass = {
  name: NAME,
  description: 'N:M sparsity (default 2:4) along the reduction axis of MatMul/Gemm/Conv weights (lossy, shapes unchanged)',
  kind: 'pruning',
  lossless: false,
  recursesIntoSubgraphs: true,
  run(model: Model, ctx: PassContext): PassResult {
    const spec = passOption<string | undefined>(ctx, NAME, 'nm', undefined, (v) => typeof v === 'string');
    let n = passOption(ctx, NAME, 'n', 2);
    let m = passOption(ctx, NAME, 'm', 4);
    if (spec !== undefined) {
      const p = parseNM(spec);
      if (!p) throw new UsageError(`option nm of ${NAME}: '${spec}' is not N:M with 1 <= N < M`);
      ({ n, m } = p);
    }
    if (!(Number.isInteger(n) && Number.isInteger(m) && n >= 1 && n < m))
      throw new UsageError(`options n, m of ${NAME}: need integers 1 <= n < m, got ${n}:${m}`);
    const criterion = passOption<Criterion>(ctx, NAME, 'criterion', 'l2', (v) => v === 'l1' || v === 'l2' || v === 'activation');
    const activations = passOption<ReadonlyMap<string, Float64Array> | undefined>(ctx, NAME, 'activations', undefined, (v) => v instanceof Map);
    const before = countZeroWeights(model);
    const r = pruneNM(model, { n, m, criterion, activations });
    const zeroed = countZeroWeights(model) - before;
    for (const s of r.skipped) ctx.explain?.({ pass: NAME, rule: `${n}:${m}`, node: s.name, reason: s.reason });
    return { modified: zeroed > 0, counts: zeroed > 0 ? { zeroed, layers: r.layers.length } : {}, notes: r.notes };
  },
};

export default pass;
