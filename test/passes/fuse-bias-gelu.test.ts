import { describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/index.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import fuseBiasGelu from '../../src/passes/fuse-bias-gelu.js';
import fuseGelu from '../../src/passes/fuse-gelu.js';
import { Rng } from '../../src/util/rng.js';
import { expectFusion, expectNoFusion, histogram, opsOf, runFusion } from './fusion-helpers.js';

const F = DataType.FLOAT;
const MS = { domain: 'com.microsoft' };
const rng = new Rng(13);
const w = (dims: number[]) => floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((a, b) => a * b, 1)), 0.5));

describe('fuse-bias-gelu', () => {
  it('fuses the feed-forward bias into BiasGelu on the BERT fixture (--target ort)', async () => {
    const gelu = runFusion(fuseGelu, buildBert(), 'ort').model;
    const { model } = await expectFusion(fuseBiasGelu, gelu, { 'bias-gelu': 2 }, { target: 'ort', equivalence: { dims: { batch: 2, sequence: 16 } } });
    expect(histogram(model)['com.microsoft:BiasGelu']).toBe(2);
    expect(histogram(model)['com.microsoft:Gelu']).toBeUndefined();
  });

  it('fuses Gelu-20 (both approximations) and com.microsoft FastGelu; a [1, 1, C] bias becomes 1-D', async () => {
    const { model, b } = createModel({ opset: 20, domains: { 'com.microsoft': 1 } });
    const x = b.op('MatMul', [b.input('x', F, [2, 3, 4]), b.const('w', w([4, 6]))]);
    const g1 = b.op('Gelu', [b.op('Add', [b.const('b', w([1, 1, 6])), x])]);
    const g2 = b.op('Gelu', [b.op('Add', [g1, b.const('b', w([6]))])], { approximate: 'tanh' });
    const g3 = b.op('FastGelu', [b.op('Add', [g2, b.const('b', w([6]))])], {}, MS);
    b.output(g3, 'y', F);
    const { model: after } = await expectFusion(fuseBiasGelu, model, { 'bias-gelu': 1, 'bias-fast-gelu': 2 }, { target: 'ort' });
    expect(opsOf(after)).toEqual(['MatMul', 'com.microsoft:BiasGelu', 'com.microsoft:FastGelu', 'com.microsoft:FastGelu']);
    expect(after.graph.nodes[1].input(1)!.initializer!.dims).toEqual([6]);
  });

  it('needs --target ort, a last-axis bias, and a bias Add read only by the GELU', () => {
    const { model, b } = createModel({ opset: 20 });
    const x = b.input('x', F, [2, 3, 6]);
    b.output(b.op('Gelu', [b.op('Add', [x, b.const('b', w([6]))])]), 'o1', F);
    expect(expectNoFusion(fuseBiasGelu, model)[0].reason).toMatch(/use --target ort/);
    const m2 = createModel({ opset: 20 });
    const x2 = m2.b.input('x', F, [2, 3, 6]);
    const t2 = m2.b.op('Add', [x2, m2.b.const('b', w([6]))]);
    m2.b.output(m2.b.op('Gelu', [t2]), 'o1', F);
    m2.b.output(m2.b.op('Neg', [t2]), 'o2', F);
    m2.b.output(m2.b.op('Gelu', [m2.b.op('Add', [x2, m2.b.const('b', w([3, 1]))])]), 'o3', F);
    m2.b.output(m2.b.op('Gelu', [m2.b.op('Add', [x2, m2.b.const('b', w([4]))])]), 'o4', F);
    const t5 = m2.b.op('Add', [x2, m2.b.const('b', w([6]))]);
    m2.b.output(m2.b.op('Gelu', [t5]), 'o5', F);
    m2.b.output(t5, 'o6', F);
    const reasons = expectNoFusion(fuseBiasGelu, m2.model, 'ort').map((n) => n.reason);
    expect(reasons).toContainEqual(expect.stringMatching(/also used by Neg/));
    expect(reasons).toContainEqual(expect.stringMatching(/shape \[3,1\] is not one value per element of the last axis/));
    expect(reasons).toContainEqual(expect.stringMatching(/has 4 values, the last dimension of %x is 6/));
    expect(reasons).toContainEqual(expect.stringMatching(/is a graph output/));
  });
});
