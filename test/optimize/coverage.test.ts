import { describe, expect, it } from 'vitest';
import { createModel, scalar } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { blockCounts, fusionCoverage } from '../../src/optimize/coverage.js';

const F = DataType.FLOAT;

describe('fusion coverage', () => {
  it('counts blocks by their markers (Softmax, variance ReduceMean, Erf/Tanh/SiLU) and fused ops, and groups near misses by block', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2, 4]);
    const sm = b.op('Softmax', [x], { axis: -1 });
    const d = b.op('Sub', [sm, b.op('ReduceMean', [sm], { axes: [-1] })]);
    const v = b.op('ReduceMean', [b.op('Pow', [d, b.const('two', scalar(2))])], { axes: [-1] }); // the variance: a norm
    const g = b.op('Erf', [b.op('Add', [d, v])]);
    const silu = b.op('Mul', [g, b.op('Sigmoid', [g])]);
    const notSilu = b.op('Sigmoid', [x]);
    b.output(b.op('Add', [silu, notSilu]), 'y', F, [2, 4]);
    const counts = blockCounts(model);
    expect(counts.attention).toMatchObject({ unfused: 1, fused: 0 });
    expect(counts.normalization).toMatchObject({ unfused: 1, fused: 0 });
    expect(counts.activation).toMatchObject({ unfused: 2, fused: 0, silu: 1 });
    const rows = fusionCoverage(counts, model, [
      { pass: 'fuse-attention', rule: 'attention', node: 'sm', reason: 'why' },
      { pass: 'fuse-attention', rule: 'attention', node: 'sm2', reason: 'why' },
      { pass: 'fuse-skip-layer-norm', rule: 'skip', node: 'n', reason: 'not about the unfused norm' },
    ]);
    expect(rows.map((r) => [r.block, r.found, r.fused, r.left])).toEqual([
      ['attention', 1, 0, 1],
      ['normalization', 1, 0, 1],
      ['activation', 2, 0, 2],
    ]);
    expect(rows[0]!.reasons).toEqual([{ pass: 'fuse-attention', reason: 'why', count: 2, nodes: ['sm', 'sm2'] }]);
    expect(rows[1]!.reasons).toEqual([]);
    expect(rows[2]!.reasons.map((r) => r.reason)).toEqual([
      'x·sigmoid(x) (SiLU, e.g. of a gated MLP): onnxruntime has no CPU fusion of the gated MLP; left as is',
    ]);
  });
});
