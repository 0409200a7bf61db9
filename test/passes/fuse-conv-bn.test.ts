import { describe, expect, it } from 'vitest';
import { buildCnn, buildPaddleStyle } from '../../fixtures/models/index.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { f, type Value } from '../../src/ir/graph.js';
import type { GraphBuilder } from '../../src/ir/builder.js';
import fuseConvBn from '../../src/passes/fuse-conv-bn.js';
import fuseMatmulAdd from '../../src/passes/fuse-matmul-add.js';
import { Rng } from '../../src/util/rng.js';
import { expectFusion, expectNoFusion, histogram, opsOf, runFusion } from './fusion-helpers.js';

const F = DataType.FLOAT;
const rng = new Rng(7);
const w = (dims: number[], std = 0.5, mean = 0) => floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((a, b) => a * b, 1)), std, mean));
const pos = (n: number) => floatTensor([n], rng.fillUniform(new Float32Array(n), 0.5, 2));

function bn(b: GraphBuilder, x: Value, c: number, attrs: Record<string, unknown> = {}): Value {
  return b.op('BatchNormalization', [x, b.const('g', w([c], 0.3, 1)), b.const('b', w([c], 0.3)), b.const('m', w([c], 0.3)), b.const('v', pos(c))], {
    epsilon: f(1e-3),
    ...attrs,
  });
}

describe('fuse-conv-bn', () => {
  it('folds every BatchNormalization of the CNN fixture into its Conv', async () => {
    const model = buildCnn();
    expect(histogram(model).BatchNormalization).toBe(6);
    const { model: after } = await expectFusion(fuseConvBn, model, { 'conv-bn': 6 }, { equivalence: { dims: { batch: 2 } } });
    expect(histogram(after).BatchNormalization).toBeUndefined();
    expect(histogram(after).Conv).toBe(6);
  });

  it('folds into a Conv without bias, a grouped ConvTranspose and a 1-D Conv', async () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.input('x', F, [2, 4, 5, 5]);
    const c1 = bn(b, b.op('Conv', [x, b.const('w1', w([6, 2, 3, 3]))], { group: 2, pads: [1, 1, 1, 1] }), 6);
    const ct = bn(b, b.op('ConvTranspose', [c1, b.const('w2', w([6, 2, 2, 2])), b.const('b2', w([4]))], { group: 2, strides: [2, 2] }), 4);
    b.output(ct, 'y', F);
    const x1 = b.input('x1', F, [2, 3, 7]);
    b.output(bn(b, b.op('Conv', [x1, b.const('w3', w([5, 3, 3])), b.const('b3', w([5]))]), 5), 'z', F);
    const { model: after } = await expectFusion(fuseConvBn, model, { 'conv-bn': 2, 'conv-transpose-bn': 1 });
    expect(opsOf(after)).toEqual(['Conv', 'ConvTranspose', 'Conv']);
    expect(after.graph.nodes[1].getInt('group')).toBe(2);
  });

  it('folds into a Gemm (transB 0 and 1, with and without C)', async () => {
    const { model, b } = createModel({ opset: 11, irVersion: 6 });
    const x = b.input('x', F, [3, 4]);
    const g1 = b.op('Gemm', [x, b.const('w1', w([4, 5])), b.const('c1', w([5]))], { alpha: f(0.5), beta: f(2) });
    const y1 = bn(b, g1, 5);
    const g2 = b.op('Gemm', [y1, b.const('w2', w([6, 5]))], { transB: 1 });
    b.output(bn(b, g2, 6), 'y', F);
    await expectFusion(fuseConvBn, model, { 'gemm-bn': 2 });
  });

  it('reads the opset-7 form (spatial = 1) and refuses spatial = 0', async () => {
    const { model, b } = createModel({ opset: 7, irVersion: 3 });
    const x = b.input('x', F, [1, 2, 3, 3]);
    b.output(bn(b, b.op('Conv', [x, b.const('w', w([2, 2, 1, 1])), b.const('c', w([2]))]), 2, { spatial: 1 }), 'y', F);
    await expectFusion(fuseConvBn, model, { 'conv-bn': 1 });
    const bad = createModel({ opset: 7, irVersion: 3 });
    const x2 = bad.b.input('x', F, [1, 2, 3, 3]);
    bad.b.output(bn(bad.b, bad.b.op('Conv', [x2, bad.b.const('w', w([2, 2, 1, 1]))]), 2, { spatial: 0 }), 'y', F);
    expect(expectNoFusion(fuseConvBn, bad.model)[0].reason).toMatch(/spatial=0/);
  });

  it('refuses an opset-9..13 BatchNormalization with its training outputs declared', () => {
    const { model, b } = createModel({ opset: 9, irVersion: 4 });
    const x = b.input('x', F, [2, 2, 3, 3]);
    const c = b.op('Conv', [x, b.const('w', w([2, 2, 1, 1]))]);
    const outs = b.ops('BatchNormalization', [c, b.const('g', w([2], 0.3, 1)), b.const('b', w([2])), b.const('m', w([2])), b.const('v', pos(2))], 5);
    b.output(outs[0], 'y', F);
    expect(expectNoFusion(fuseConvBn, model)[0].reason).toMatch(/BatchNormalization-9 with 5 outputs runs in training mode/);
  });

  it('folds paddle-style Constant-node weights (opset 11), after MatMul+Add became a Gemm', async () => {
    const model = buildPaddleStyle();
    const m = runFusion(fuseMatmulAdd, model).model;
    expect(histogram(m).Gemm).toBe(2);
    const { model: after } = await expectFusion(fuseConvBn, m, { 'conv-bn': 1, 'gemm-bn': 1 }, { equivalence: { dims: { batch: 2 } } });
    expect(histogram(after).BatchNormalization).toBeUndefined();
  });

  it('does not fire on a shared or graph-output intermediate, non-constant weights, training mode or per-activation statistics', () => {
    const { model, b } = createModel({ opset: 15 });
    const x = b.input('x', F, [1, 2, 4, 4]);
    const shared = b.op('Conv', [x, b.const('w', w([2, 2, 1, 1]))]);
    b.output(bn(b, shared, 2), 'o1', F);
    b.output(b.op('Relu', [shared]), 'o2', F);
    const out = b.op('Conv', [x, b.const('w', w([2, 2, 1, 1]))]);
    b.output(out, 'o3', F);
    b.output(bn(b, out, 2), 'o4', F);
    const wIn = b.input('w_in', F, [2, 2, 1, 1]);
    b.output(bn(b, b.op('Conv', [x, wIn]), 2), 'o5', F);
    b.output(bn(b, b.op('Conv', [x, b.const('w', w([2, 2, 1, 1]))]), 2, { training_mode: 1 }), 'o6', F);
    b.output(bn(b, b.op('Conv', [x, b.const('w', w([3, 2, 1, 1]))]), 2), 'o7', F);
    const reasons = expectNoFusion(fuseConvBn, model).map((n) => n.reason);
    expect(reasons.some((r) => /also used by Relu/.test(r))).toBe(true);
    expect(reasons.some((r) => /is a graph output/.test(r))).toBe(true);
    expect(reasons.some((r) => /w_in is not a constant/.test(r))).toBe(true);
    expect(reasons.some((r) => /training mode/.test(r))).toBe(true);
    expect(reasons.some((r) => /2 values for 3 output channels/.test(r))).toBe(true);
  });
});
