import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { expectNoChange, expectPass, ops } from './helpers.js';

const F = DataType.FLOAT;

describe('eliminate-noop-transpose', () => {
  it('removes identity permutations, and an absent perm on a rank-1 input', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3, 4]);
    const v = b.input('v', F, [5]);
    const t = b.op('Transpose', [b.op('Relu', [x])], { perm: [0, 1, 2] });
    b.output(b.op('Transpose', [t], { perm: [2, 0, 1] }), 'y', F, [4, 2, 3]);
    b.output(b.op('Neg', [b.op('Transpose', [v])]), 'w', F, [5]);
    const { model: after } = await expectPass('eliminate-noop-transpose', model, { removed: 2 });
    expect(ops(after)).toEqual(['Relu', 'Transpose', 'Neg']);
  });

  it('keeps real permutations quietly, and says when the rank is unknown', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3]);
    b.output(b.op('Transpose', [x], { perm: [1, 0] }), 'a', F, [3, 2]);
    b.output(b.op('Transpose', [x]), 'b', F, [3, 2]); // absent perm reverses: not an identity for rank 2
    b.output(b.op('Transpose', [b.op('Relu', [x])]), 'c'); // absent perm, Relu's rank unknown
    const { nearMisses } = expectNoChange('eliminate-noop-transpose', model);
    expect(nearMisses.map((m) => m.reason)).toEqual(['Transpose has no perm and the rank of %Relu_out is unknown']);
  });

  it('keeps the graph output name when the identity Transpose produced it', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3]);
    b.output(b.op('Transpose', [b.op('Sigmoid', [x])], { perm: [0, 1] }), 'y', F, [2, 3]);
    const { model: after } = await expectPass('eliminate-noop-transpose', model, { removed: 1 });
    expect(after.graph.outputs[0].name).toBe('y');
  });
});
