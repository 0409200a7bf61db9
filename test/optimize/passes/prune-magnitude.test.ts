import { describe, expect, it } from 'vitest';
import { buildCnn } from '../../../fixtures/models/cnn.js';
import { buildControlFlow } from '../../../fixtures/models/control-flow.js';
import { countParameters } from '../../../src/inspect.js';
import { createModel } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { encodeModel } from '../../../src/onnx/encode.js';
import { runPasses } from '../../../src/optimize/registry.js';
import type { NearMiss } from '../../../src/pass/pass.js';
import { defaultContext } from '../../../src/pass/pass.js';
import pass from '../../../src/optimize/passes/prune-magnitude.js';
import { expectSameOutputs } from '../../helpers/equivalence.js';
import { clone } from '../../passes/helpers.js';

describe('prune-magnitude', () => {
  it('is a lossy pruning pass named after its file', () => {
    expect(pass.name).toBe('prune-magnitude');
    expect(pass.kind).toBe('pruning');
    expect(pass.lossless).toBe(false);
  });

  it('fires: zeroes half of each weight tensor, shapes unchanged, the model still runs', async () => {
    const original = buildCnn();
    const m = clone(original);
    const r = pass.run(m, defaultContext({ options: { sparsity: 0.5 } }));
    const before = countParameters(original);
    const after = countParameters(m);
    expect(r.modified).toBe(true);
    expect(r.counts.layers).toBe(7); // stem, 2 x 2 block convs, depthwise conv, Gemm head
    expect(after.total).toBe(before.total);
    expect(before.nonZero - after.nonZero).toBe(r.counts.zeroed);
    // lossy: outputs move, but stay finite and of the same shape
    await expect(expectSameOutputs(original, clone(m), { dims: { batch: 1 } })).rejects.toThrow(/differs/);
    await expectSameOutputs(original, clone(m), { dims: { batch: 1 }, atol: 1e3, rtol: 1e3 });
  });

  it('runs to a fixed point under the pass manager (a second round changes nothing), recursing into subgraphs', () => {
    const m = buildControlFlow();
    const report = runPasses(m, [pass], { verify: true, options: { 'prune-magnitude': { sparsity: 0.5 } } });
    expect(report.converged).toBe(true);
    expect(report.iterations).toBe(2);
    expect(report.passes[0].counts.layers).toBe(3); // W_in (main graph), W_then (If branch), W_loop (Loop body)
    const bytes = Buffer.from(encodeModel(m));
    expect(pass.run(m, defaultContext({ options: { sparsity: 0.5 } }))).toEqual({ modified: false, counts: {}, notes: [] });
    expect(Buffer.compare(Buffer.from(encodeModel(m)), bytes)).toBe(0);
  });

  it('does not fire on a model without weights; rejects a bad sparsity', () => {
    const { model, b } = createModel();
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [2])]), 'y');
    expect(pass.run(model, defaultContext()).modified).toBe(false);
    expect(() => pass.run(model, defaultContext({ options: { sparsity: 1.5 } }))).toThrow(/sparsity/);
  });

  it('explains the weights it leaves alone', () => {
    const m = buildCnn();
    const w = m.graph.initializers.get('layer1.conv1.weight')!.initializer!;
    w.setData(new Int16Array(w.size), DataType.INT16); // an integer weight: not pruned
    const misses: NearMiss[] = [];
    pass.run(m, defaultContext({ explain: (x) => misses.push(x), options: { sparsity: 0.5 } }));
    expect(misses).toEqual([
      { pass: 'prune-magnitude', rule: 'weight', node: 'layer1.conv1.weight', reason: expect.stringMatching(/not a floating-point tensor/) },
    ]);
  });
});
