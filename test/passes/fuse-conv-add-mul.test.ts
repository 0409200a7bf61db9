import { describe, expect, it } from 'vitest';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import fuseConvAddMul from '../../src/passes/fuse-conv-add-mul.js';
import { Rng } from '../../src/util/rng.js';
import { expectFusion, expectNoFusion, opsOf } from './fusion-helpers.js';

const F = DataType.FLOAT;
const rng = new Rng(11);
const w = (dims: number[], std = 0.5, mean = 0) => floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((a, b) => a * b, 1)), std, mean));

describe('fuse-conv-add-mul', () => {
  it('folds Mul then Add (per-channel, both broadcast spellings) into one Conv', async () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.input('x', F, [2, 3, 6, 6]);
    const c = b.op('Conv', [x, b.const('w', w([4, 3, 3, 3])), b.const('bias', w([4]))], { pads: [1, 1, 1, 1] });
    const s = b.op('Mul', [b.const('s', w([4, 1, 1], 0.5, 1)), c]);
    b.output(b.op('Relu', [b.op('Add', [s, b.const('c', w([1, 4, 1, 1]))])]), 'y', F);
    const { model: after } = await expectFusion(fuseConvAddMul, model, { 'conv-mul': 1, 'conv-add': 1 });
    expect(opsOf(after)).toEqual(['Conv', 'Relu']);
  });

  it('folds Sub of a scalar into a Conv without bias, Div into a grouped ConvTranspose', async () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.input('x', F, [1, 4, 5, 5]);
    const c = b.op('Conv', [x, b.const('w', w([4, 4, 1, 1]))]);
    const y = b.op('Sub', [c, b.const('k', floatTensor([], [0.25]))]);
    const t = b.op('ConvTranspose', [y, b.const('w2', w([4, 3, 2, 2])), b.const('b2', w([6]))], { group: 2, strides: [2, 2] });
    b.output(b.op('Div', [t, b.const('d', w([6, 1, 1], 0.3, 1))]), 'y', F);
    const { model: after } = await expectFusion(fuseConvAddMul, model, { 'conv-sub': 1, 'conv-transpose-div': 1 });
    expect(opsOf(after)).toEqual(['Conv', 'ConvTranspose']);
  });

  it('does not fold constants that are not per channel, reversed Sub, non-constants or shared outputs', () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.input('x', F, [1, 4, 5, 5]);
    const conv = () => b.op('Conv', [x, b.const('w', w([4, 4, 1, 1]))]);
    b.output(b.op('Add', [conv(), b.const('k', w([4]))]), 'o1', F); // broadcasts along the last axis
    b.output(b.op('Mul', [conv(), b.const('k', w([1, 1, 1, 5]))]), 'o2', F);
    b.output(b.op('Sub', [b.const('k', w([4, 1, 1])), conv()]), 'o3', F);
    b.output(b.op('Mul', [conv(), b.input('s', F, [4, 1, 1])]), 'o4', F);
    const shared = conv();
    b.output(b.op('Add', [shared, b.const('k', w([4, 1, 1]))]), 'o5', F);
    b.output(shared, 'o6', F);
    b.output(b.op('Add', [conv(), b.const('k', w([2, 4, 1, 1]))]), 'o7', F); // grows the batch axis
    const reasons = expectNoFusion(fuseConvAddMul, model).map((n) => n.reason);
    expect(reasons.filter((r) => /not per-channel/.test(r))).toHaveLength(3);
    expect(reasons.some((r) => /is a graph output/.test(r))).toBe(true);
    expect(reasons.some((r) => /%s is a graph input, expected|%s is not a constant/.test(r))).toBe(true);
  });
});
