import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { composePerms } from '../../src/passes/util/perm.js';
import { expectNoChange, expectPass, ops } from './helpers.js';

const F = DataType.FLOAT;

describe('fuse-consecutive-transposes', () => {
  it('drops a pair that cancels', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [1, 2, 3, 4]);
    const t = b.op('Transpose', [b.op('Transpose', [x], { perm: [0, 2, 1, 3] })], { perm: [0, 2, 1, 3] });
    b.output(b.op('Relu', [t]), 'y', F, [1, 2, 3, 4]);
    const { model: after } = await expectPass('fuse-consecutive-transposes', model, { removed: 1 });
    expect(ops(after)).toEqual(['Relu']);
  });

  it('composes two permutations: y axis i is x axis p1[p2[i]]', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3, 4]);
    const t = b.op('Transpose', [b.op('Transpose', [x], { perm: [1, 0, 2] })], { perm: [0, 2, 1] });
    b.output(t, 'y', F, [3, 4, 2]);
    const { model: after } = await expectPass('fuse-consecutive-transposes', model, { fused: 1 });
    expect(after.graph.nodes[0].getInts('perm')).toEqual([1, 2, 0]);
    expect(composePerms([1, 0, 2], [0, 2, 1])).toEqual([1, 2, 0]);
  });

  it('composes a chain of three into one Transpose', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3, 4]);
    let v = b.op('Transpose', [x], { perm: [1, 0, 2] });
    v = b.op('Transpose', [v], { perm: [0, 2, 1] });
    v = b.op('Transpose', [v], { perm: [2, 1, 0] });
    b.output(v, 'y', F, [4, 2, 3]);
    const { model: after } = await expectPass('fuse-consecutive-transposes', model, { fused: 2 });
    expect(ops(after)).toEqual(['Transpose']);
    expect(after.graph.nodes[0].getInts('perm')).toEqual([0, 2, 1]);
    expect(after.graph.outputs[0].name).toBe('y');
  });

  it('reads an absent perm as the reversal when the input rank is known', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3, 4]);
    b.output(b.op('Neg', [b.op('Transpose', [b.op('Transpose', [x])])]), 'y', F, [2, 3, 4]);
    const { model: after } = await expectPass('fuse-consecutive-transposes', model, { removed: 1 });
    expect(ops(after)).toEqual(['Neg']);
  });

  it('keeps pairs whose intermediate is shared or a graph output', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3]);
    const t1 = b.op('Transpose', [x], { perm: [1, 0] });
    b.output(b.op('Transpose', [t1], { perm: [1, 0] }), 'y', F, [2, 3]);
    b.output(b.op('Relu', [t1]), 'z', F, [3, 2]);
    const o = b.op('Transpose', [x], { perm: [1, 0] });
    b.output(o, 'o', F, [3, 2]);
    b.output(b.op('Transpose', [o], { perm: [1, 0] }), 'p', F, [2, 3]);
    const reasons = expectNoChange('fuse-consecutive-transposes', model).nearMisses.map((m) => m.reason);
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toMatch(/also used by Relu/);
    expect(reasons[1]).toMatch(/is a graph output/);
  });

  it('needs both permutations: an absent perm on an input of unknown rank stops it', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3]);
    const r = b.op('Relu', [x]);
    b.output(b.op('Transpose', [b.op('Transpose', [r])], { perm: [1, 0] }), 'y');
    expect(expectNoChange('fuse-consecutive-transposes', model).nearMisses[0].reason).toMatch(/rank of its input is unknown/);
  });
});
