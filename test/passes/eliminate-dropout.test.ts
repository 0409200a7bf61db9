import { describe, expect, it } from 'vitest';
import { boolTensor, createModel, scalar } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { expectNoChange, expectPass, ops, run, clone } from './helpers.js';

const F = DataType.FLOAT;

function dropoutModel(
  opset: number,
  inputs: (b: ReturnType<typeof createModel>['b']) => (import('../../src/ir/graph.js').Value | null)[],
  attrs: Record<string, unknown> = {},
  maskOut = false,
) {
  const { model, b } = createModel({ opset });
  const x = b.input('x', F, ['n', 4]);
  const r = b.op('Relu', [x]);
  const [y, mask] = b.ops('Dropout', [r, ...inputs(b)], 2, attrs);
  b.output(b.op('Mul', [y, x]), 'y', F, ['n', 4]);
  if (maskOut) b.output(mask, 'mask', DataType.BOOL, ['n', 4]);
  return model;
}

describe('eliminate-dropout', () => {
  it('removes an opset-13 Dropout without training_mode', async () => {
    const { model: after } = await expectPass(
      'eliminate-dropout',
      dropoutModel(13, () => []),
      { removed: 1 },
      { equivalence: { dims: { n: 2 } } },
    );
    expect(ops(after)).toEqual(['Relu', 'Mul']);
  });

  it('removes a Dropout whose training_mode is a constant false, and its now unused constants', async () => {
    const m = dropoutModel(13, (b) => [b.const('ratio', scalar(0.1)), b.const('training', boolTensor([], [false]))]);
    const { model: after } = await expectPass('eliminate-dropout', m, { removed: 1 }, { equivalence: { dims: { n: 2 } } });
    expect(ops(after)).toEqual(['Relu', 'Mul']);
    expect(after.graph.initializers.size).toBe(0);
  });

  it('removes opset 7-11 Dropout (ratio attribute; no training switch in the graph)', async () => {
    await expectPass(
      'eliminate-dropout',
      dropoutModel(10, () => [], { ratio: 0.3 }),
      { removed: 1 },
      { equivalence: { dims: { n: 2 } } },
    );
  });

  it('before opset 7 removes only a Dropout marked is_test=1', () => {
    expect(run('eliminate-dropout', clone(dropoutModel(6, () => [], { is_test: 1 }))).result.counts).toEqual({ removed: 1 });
    const { nearMisses } = expectNoChange(
      'eliminate-dropout',
      dropoutModel(6, () => []),
    );
    expect(nearMisses[0].reason).toMatch(/without is_test=1 runs in training mode/);
  });

  it('keeps a Dropout in training mode or with a non-constant training_mode', () => {
    const train = dropoutModel(13, (b) => [b.const('ratio', scalar(0.1)), b.const('training', boolTensor([], [true]))]);
    expect(expectNoChange('eliminate-dropout', train).nearMisses[0].reason).toBe('training_mode is true');
    const dyn = dropoutModel(13, (b) => [null, b.input('training', DataType.BOOL, [])]);
    expect(expectNoChange('eliminate-dropout', dyn).nearMisses[0].reason).toMatch(/training_mode %training is not a constant/);
  });

  it('keeps a Dropout whose mask output is used', () => {
    const { nearMisses } = expectNoChange(
      'eliminate-dropout',
      dropoutModel(13, () => [], {}, true),
    );
    expect(nearMisses[0].reason).toMatch(/mask output %mask is used/);
  });

  it('keeps the name of a graph output produced by Dropout', async () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.input('x', F, [4]);
    b.output(b.op('Dropout', [b.op('Relu', [x])]), 'y', F, [4]);
    const { model: after } = await expectPass('eliminate-dropout', model, { removed: 1 });
    expect(after.graph.outputs[0].name).toBe('y');
    expect(after.graph.outputs[0].producer!.opType).toBe('Relu');
  });
});
