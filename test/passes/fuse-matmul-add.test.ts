import { describe, expect, it } from 'vitest';
import { buildBert, buildMlp, buildPaddleStyle } from '../../fixtures/models/index.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import fuseMatmulAdd from '../../src/passes/fuse-matmul-add.js';
import { Rng } from '../../src/util/rng.js';
import { expectFusion, expectNoFusion, histogram, opsOf } from './fusion-helpers.js';

const F = DataType.FLOAT;
const rng = new Rng(3);
const w = (dims: number[]) => floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((a, b) => a * b, 1)), 0.5));

describe('fuse-matmul-add', () => {
  it('turns both layers of the MLP fixture into Gemm (rank 2 read from the input, then through Relu)', async () => {
    const { model: after } = await expectFusion(fuseMatmulAdd, buildMlp(), { 'matmul-add': 2 }, { equivalence: { dims: { batch: 3 } } });
    expect(opsOf(after)).toEqual(['Gemm', 'Relu', 'Gemm']);
    expect(after.graph.outputs[0].name).toBe('y');
  });

  it('fuses the paddle-style model with Constant-node weights (opset 11): rank 2 implied by Flatten', async () => {
    const { model: after } = await expectFusion(fuseMatmulAdd, buildPaddleStyle(), { 'matmul-add': 2 }, { equivalence: { dims: { batch: 2 } } });
    expect(histogram(after).MatMul).toBeUndefined();
  });

  it('accepts a [1, N] or one-element bias, bias first or second', async () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.input('x', F, [4, 3]);
    const h = b.op('Add', [b.const('c', w([1, 5])), b.op('MatMul', [x, b.const('w', w([3, 5]))])]);
    b.output(b.op('Add', [b.op('MatMul', [h, b.const('w', w([5, 2]))]), b.const('c', w([1]))]), 'y', F);
    await expectFusion(fuseMatmulAdd, model, { 'matmul-add': 2 });
  });

  it('leaves 3-D activations (the BERT fixture), unknown ranks, non-constant B and bad biases alone', () => {
    // the BERT fixture declares no intermediate shapes: util/infer.ts derives that A has rank 3
    expect(expectNoFusion(fuseMatmulAdd, buildBert()).some((n) => /A has rank 3/.test(n.reason))).toBe(true);
    const { model, b } = createModel({ opset: 13 });
    const x3 = b.input('x3', F, [2, 4, 3]);
    b.output(b.op('Add', [b.op('MatMul', [x3, b.const('w', w([3, 5]))]), b.const('c', w([5]))]), 'o1', F);
    const x = b.input('x', F, [4, 3]);
    b.output(b.op('Add', [b.op('MatMul', [x, b.input('wi', F, [3, 5])]), b.const('c', w([5]))]), 'o2', F);
    b.output(b.op('Add', [b.op('MatMul', [x, b.const('w', w([3, 5]))]), b.const('c', w([4, 1]))]), 'o3', F);
    const shared = b.op('MatMul', [x, b.const('w', w([3, 5]))]);
    b.output(b.op('Add', [shared, b.const('c', w([5]))]), 'o4', F);
    b.output(b.op('Relu', [shared]), 'o5', F);
    const reasons = expectNoFusion(fuseMatmulAdd, model).map((n) => n.reason);
    expect(reasons).toContainEqual(expect.stringMatching(/A has rank 3/));
    expect(reasons).toContainEqual(expect.stringMatching(/%wi is a graph input|%wi is not a constant/));
    expect(reasons).toContainEqual(expect.stringMatching(/does not broadcast to \[5\]/));
    expect(reasons).toContainEqual(expect.stringMatching(/also used by Relu/));
  });
});
