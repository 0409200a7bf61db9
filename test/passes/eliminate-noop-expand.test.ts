import { describe, expect, it } from 'vitest';
import { createModel, ints } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Dim } from '../../src/ir/types.js';
import { expectNoChange, expectPass, ops } from './helpers.js';

const F = DataType.FLOAT;

function expandOf(shape: Dim[], target: number[]) {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', F, shape);
  b.output(b.op('Neg', [b.op('Expand', [x, b.const('shape', ints(target))])]), 'y');
  return model;
}

describe('eliminate-noop-expand', () => {
  it.each([
    ['[2,3] to [1,1]', [2, 3], [1, 1]],
    ['[2,3] to [3]', [2, 3], [3]],
    ['[2,3] to [2,3]', [2, 3], [2, 3]],
    ['[n,3] to [1,3]', ['n', 3], [1, 3]],
    ['[n,3] to []', ['n', 3], []],
  ] as [string, Dim[], number[]][])('removes an Expand of %s', async (_, shape, target) => {
    const { model: after } = await expectPass('eliminate-noop-expand', expandOf(shape, target), { removed: 1 }, { equivalence: { dims: { n: 2 } } });
    expect(ops(after)).toEqual(['Neg']);
  });

  it('keeps Expands that broadcast, quietly', () => {
    expect(expectNoChange('eliminate-noop-expand', expandOf([1, 3], [2, 3])).nearMisses).toEqual([]);
    expect(expectNoChange('eliminate-noop-expand', expandOf([2, 3], [1, 2, 3])).nearMisses).toEqual([]);
  });

  it('keeps an Expand whose symbolic dimension could be 1', () => {
    const { nearMisses } = expectNoChange('eliminate-noop-expand', expandOf(['n', 3], [4, 3]));
    expect(nearMisses[0].reason).toBe('dimension 0 of %x is n; it could be 1 and broadcast to 4');
  });

  it('needs a constant shape and a known input shape', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3]);
    b.output(b.op('Expand', [x, b.input('s', DataType.INT64, [2])]), 'y');
    b.output(b.op('Expand', [b.op('Relu', [x]), b.const('c', ints([1]))]), 'z');
    expect(expectNoChange('eliminate-noop-expand', model).nearMisses.map((m) => m.reason)).toEqual(['the shape of %Relu_out is unknown']);
  });
});
