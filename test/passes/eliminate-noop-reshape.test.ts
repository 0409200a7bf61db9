import { describe, expect, it } from 'vitest';
import { createModel, ints } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Dim } from '../../src/ir/types.js';
import { expectNoChange, expectPass, ops } from './helpers.js';

const F = DataType.FLOAT;

function reshapeOf(shape: Dim[], target: number[], attrs: Record<string, unknown> = {}) {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', F, shape);
  b.output(b.op('Relu', [b.op('Reshape', [x, b.const('shape', ints(target))], attrs)]), 'y', F, shape);
  return model;
}

describe('eliminate-noop-reshape: noop-reshape', () => {
  it('removes a Reshape to the same static shape, and its shape constant', async () => {
    const { model: after } = await expectPass('eliminate-noop-reshape', reshapeOf([2, 3, 4], [2, 3, 4]), { removed: 1 });
    expect(ops(after)).toEqual(['Relu']);
    expect(after.graph.initializers.size).toBe(0);
  });

  it('removes [0, 0, -1] and [0, 3, -1] on a symbolic batch (copies and the inferred last dim)', async () => {
    await expectPass('eliminate-noop-reshape', reshapeOf(['b', 't', 4], [0, 0, -1]), { removed: 1 }, { equivalence: { dims: { b: 2, t: 5 } } });
    await expectPass('eliminate-noop-reshape', reshapeOf(['b', 3, 4], [0, 3, -1]), { removed: 1 }, { equivalence: { dims: { b: 2 } } });
  });

  it('keeps Reshapes that change the shape, quietly', () => {
    expect(expectNoChange('eliminate-noop-reshape', reshapeOf([2, 3, 4], [6, 4])).nearMisses).toEqual([]);
    expect(expectNoChange('eliminate-noop-reshape', reshapeOf([2, 3, 4], [3, 2, 4])).nearMisses).toEqual([]);
  });

  it('cannot prove a symbolic dimension equal to a number', () => {
    const { nearMisses } = expectNoChange('eliminate-noop-reshape', reshapeOf(['b', 3, 4], [2, 3, 4]));
    expect(nearMisses[0].reason).toBe('dimension 0 of %x is b, not provably 2');
  });

  it('treats 0 literally under allowzero=1, and refuses an ambiguous -1 next to a zero-sized dim', () => {
    expect(expectNoChange('eliminate-noop-reshape', reshapeOf(['b', 3], [0, 3], { allowzero: 1 })).nearMisses[0].reason).toMatch(/dimension 0 of %x is b/);
    expect(expectNoChange('eliminate-noop-reshape', reshapeOf([0, 3], [0, -1])).nearMisses[0].reason).toMatch(/ambiguous/);
  });

  it('leaves Reshape-1..4 (shape as an attribute) alone', () => {
    const { model, b } = createModel({ opset: 4 });
    const x = b.input('x', F, [2, 3]);
    b.output(b.op('Reshape', [x], { shape: [2, 3] }), 'y', F, [2, 3]);
    expectNoChange('eliminate-noop-reshape', model);
  });

  it('needs a constant target shape and a known input shape', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3]);
    const s = b.input('s', DataType.INT64, [2]);
    b.output(b.op('Reshape', [x, s]), 'y');
    b.output(b.op('Reshape', [b.op('Relu', [x]), b.const('c', ints([2, 3]))]), 'z');
    const { nearMisses } = expectNoChange('eliminate-noop-reshape', model);
    expect(nearMisses.map((m) => m.reason)).toEqual(['the shape of %Relu_out is unknown']);
  });
});

describe('eliminate-noop-reshape: reshape-chain', () => {
  it('collapses Reshape of Reshape into one', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, ['b', 12]);
    const r1 = b.op('Reshape', [x, b.const('s1', ints([-1, 3, 4]))]);
    b.output(b.op('Reshape', [r1, b.const('s2', ints([-1, 6]))]), 'y', F, [null, 6]);
    const { model: after } = await expectPass('eliminate-noop-reshape', model, { collapsed: 1 }, { equivalence: { dims: { b: 2 } } });
    expect(ops(after)).toEqual(['Reshape']);
    expect([...after.graph.initializers.keys()]).toEqual(['s2']);
    expect(after.graph.outputs[0].name).toBe('y');
  });

  it('collapses and then removes a chain that ends where it started', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 12]);
    const r1 = b.op('Reshape', [x, b.const('s1', ints([2, 3, 4]))]);
    b.output(b.op('Relu', [b.op('Reshape', [r1, b.const('s2', ints([2, 12]))])]), 'y', F, [2, 12]);
    const { model: after } = await expectPass('eliminate-noop-reshape', model, { collapsed: 1, removed: 1 });
    expect(ops(after)).toEqual(['Relu']);
  });

  it('keeps a chain whose outer shape copies dims (0) from the intermediate, or whose intermediate is shared', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 12]);
    const r1 = b.op('Reshape', [x, b.const('s1', ints([4, 6]))]);
    b.output(b.op('Reshape', [r1, b.const('s2', ints([0, 3, 2]))]), 'y', F, [4, 3, 2]);
    const r2 = b.op('Reshape', [x, b.const('s3', ints([3, 8]))]);
    b.output(b.op('Reshape', [r2, b.const('s4', ints([24]))]), 'z', F, [24]);
    b.output(b.op('Neg', [r2]), 'w', F, [3, 8]);
    const reasons = expectNoChange('eliminate-noop-reshape', model).nearMisses.map((m) => m.reason);
    expect(reasons).toContain('the outer target shape copies dimensions (0) from the intermediate');
    expect(reasons.some((r) => /also used by Neg/.test(r))).toBe(true);
  });
});
