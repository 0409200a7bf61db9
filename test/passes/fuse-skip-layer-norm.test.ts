import { describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/index.js';
import { createModel, floatTensor, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { f, type Value } from '../../src/ir/graph.js';
import fuseLayerNorm from '../../src/passes/fuse-layer-norm.js';
import fuseSkipLayerNorm from '../../src/passes/fuse-skip-layer-norm.js';
import { Rng } from '../../src/util/rng.js';
import { expectFusion, expectNoFusion, histogram, opsOf, runFusion } from './fusion-helpers.js';

const F = DataType.FLOAT;
const rng = new Rng(17);
const w = (dims: number[], std = 0.5, mean = 0) => floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((a, b) => a * b, 1)), std, mean));
const ln = (b: GraphBuilder, x: Value, C: number, attrs: Record<string, unknown> = {}, beta = true) =>
  b.op('LayerNormalization', beta ? [x, b.const('g', w([C], 0.2, 1)), b.const('beta', w([C]))] : [x, b.const('g', w([C], 0.2, 1))], {
    axis: -1,
    epsilon: f(1e-6),
    ...attrs,
  });

describe('fuse-skip-layer-norm', () => {
  it('fuses the 4 residual LayerNorms of the BERT fixture with their dense bias; leaves the embeddings LayerNorm', async () => {
    const lnFused = runFusion(fuseLayerNorm, buildBert(), 'ort').model;
    const { model, nearMisses } = await expectFusion(
      fuseSkipLayerNorm,
      lnFused,
      { 'skip-layer-norm': 4 },
      { target: 'ort', equivalence: { dims: { batch: 2, sequence: 16 } } },
    );
    const h = histogram(model);
    expect(h['com.microsoft:SkipLayerNormalization']).toBe(4);
    expect(h.LayerNormalization).toBe(1);
    expect(nearMisses.find((n) => n.node === '/embeddings/LayerNorm/LayerNormalization')!.reason).toMatch(
      /shapes of .* are unknown|residual operands have shapes \[batch,sequence,32\] and \[1,/,
    );
    const sln = model.graph.nodes.find((n) => n.opType === 'SkipLayerNormalization')!;
    expect(sln.inputs).toHaveLength(5);
    expect(sln.getFloat('epsilon')).toBeCloseTo(1e-12, 18);
  });

  it('fuses a plain residual with known equal shapes and no β', async () => {
    const { model, b } = createModel({ opset: 17 });
    const a = b.input('a', F, [2, 3, 8]);
    const s = b.input('s', F, [2, 3, 8]);
    b.output(ln(b, b.op('Add', [a, s]), 8, {}, false), 'y', F);
    const { model: after } = await expectFusion(fuseSkipLayerNorm, model, { 'skip-layer-norm': 1 }, { target: 'ort' });
    expect(opsOf(after)).toEqual(['com.microsoft:SkipLayerNormalization']);
    expect(after.graph.nodes[0].inputs).toHaveLength(3);
  });

  it('fuses a pre-LN residual whose sum goes on to the next block: its readers take the 4th output', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2, 3, 8]);
    const h = b.op('MatMul', [x, b.const('w', w([8, 8]))]);
    const pre = b.op('Add', [b.op('Add', [h, b.const('bias', w([8]))]), x]);
    b.output(ln(b, pre, 8), 'o1', F);
    b.output(b.op('Add', [pre, x]), 'o2', F); // pre-LN: the residual sum goes on
    b.output(pre, 'sum', F); // and is a graph output too
    const { model: after } = await expectFusion(fuseSkipLayerNorm, model, { 'skip-layer-norm': 1 }, { target: 'ort' });
    const sln = after.graph.nodes.find((n) => n.opType === 'SkipLayerNormalization')!;
    expect(sln.outputs).toHaveLength(4);
    expect(after.graph.outputs.find((o) => o.name === 'sum')!.producer).toBe(sln);
    expect(sln.outputs[3]!.uses.map((u) => u.node.opType)).toEqual(['Add']);
  });

  it("fuses a residual feeding onnxruntime's SimplifiedLayerNormalization (RMSNorm) into SkipSimplifiedLayerNormalization", async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2, 3, 8]);
    const h = b.op('MatMul', [x, b.const('w', w([8, 8]))]);
    const pre = b.op('Add', [x, h]);
    b.output(b.op('SimplifiedLayerNormalization', [pre, b.const('g', w([8], 0.2, 1))], { axis: -1, epsilon: f(1e-6) }), 'o1', F);
    b.output(b.op('Add', [pre, h]), 'o2', F); // the sum goes on: 4th output
    const { model: after } = await expectFusion(fuseSkipLayerNorm, model, { 'skip-layer-norm': 1 }, { target: 'ort' });
    const sln = after.graph.nodes.find((n) => n.opType === 'SkipSimplifiedLayerNormalization')!;
    expect([sln.domain, sln.inputs.length, sln.outputs.length]).toEqual(['com.microsoft', 3, 4]);
  });

  it('needs --target ort; leaves other axes, other axes, broadcasting Adds and non-1-D biases alone', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2, 3, 8]);
    const h = b.op('MatMul', [x, b.const('w', w([8, 8]))]);
    const sum = b.op('Add', [b.op('Add', [h, b.const('bias', w([8]))]), x]);
    b.output(ln(b, sum, 8), 'o1', F);
    expect(expectNoFusion(fuseSkipLayerNorm, model)[0].reason).toMatch(/use --target ort/);
    const m2 = createModel({ opset: 17 });
    const x2 = m2.b.input('x', F, [2, 3, 8]);
    const p = m2.b.input('p', F, [1, 3, 8]);
    const h2 = m2.b.op('MatMul', [x2, m2.b.const('w', w([8, 8]))]);
    m2.b.output(ln(m2.b, m2.b.op('Add', [x2, p]), 8), 'o3', F);
    m2.b.output(ln(m2.b, m2.b.op('Add', [m2.b.op('Add', [h2, m2.b.const('bias', w([1, 8]))]), p]), 8), 'o4', F);
    const t = m2.b.op('Transpose', [x2], { perm: [0, 2, 1] });
    m2.b.output(
      ln(m2.b, m2.b.op('Add', [m2.b.op('Add', [m2.b.op('MatMul', [t, m2.b.const('w', w([3, 3]))]), m2.b.const('bias', w([3]))]), t]), 3, { axis: 1 }),
      'o5',
      F,
    );
    const reasons = expectNoFusion(fuseSkipLayerNorm, m2.model, 'ort').map((n) => n.reason);
    expect(reasons).toContainEqual(expect.stringMatching(/shapes \[2,3,8\] and \[1,3,8\]/));
    expect(reasons).toContainEqual(expect.stringMatching(/bias of shape \[1,8\] is not 1-D/));
    expect(reasons).toContainEqual(expect.stringMatching(/normalises axis 1, not the last axis/));
  });
});
