import { describe, expect, it } from 'vitest';
import { createModel, int64Tensor, ints, scalar } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Inference } from '../../../src/passes/util/infer.js';

const F = DataType.FLOAT;

describe('util/infer: what untyped exports imply', () => {
  it("derives element types, shapes and torch's shape arithmetic, symbolic dims by name", () => {
    const { b } = createModel({ opset: 17 });
    const x = b.input('x', F, ['batch', 'seq', 64]);
    const split = b.op('Reshape', [
      x,
      b.op(
        'Concat',
        [
          b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [x]), b.const('i0', int64Tensor([], [0]))], { axis: 0 }), b.const('a0', ints([0]))]),
          b.const('rest', ints([-1, 4, 16])),
        ],
        { axis: 0 },
      ),
    ]);
    const heads = b.op('Transpose', [split], { perm: [0, 2, 1, 3] });
    const d = b.op('Squeeze', [
      b.op('Slice', [b.op('Shape', [heads]), b.const('s', ints([-1])), b.const('e', ints([2 ** 53])), b.const('ax', ints([0]))]),
      b.const('sq', ints([0])),
    ]);
    const scale = b.op('Pow', [b.op('Cast', [d], { to: F }), b.const('half', scalar(0.5))]);
    const inf = new Inference();
    expect(inf.values(split.producer!.input(1))).toEqual(['batch', -1, 4, 16]);
    // -1 stands for seq, which 64 = 4·16 would prove; inference does not factor products: unknown, not guessed
    expect(inf.shape(split)).toEqual(['batch', null, 4, 16]);
    expect(inf.shape(heads)).toEqual(['batch', 4, null, 16]);
    expect(inf.values(b.op('Shape', [heads]))).toEqual(['batch', 4, null, 16]);
    expect(inf.shape(b.op('Reshape', [x, b.const('t2', ints([0, 0, 4, 16]))]))).toEqual(['batch', 'seq', 4, 16]);
    expect(inf.scalar(scale)).toBe(4);
    expect(inf.elemType(b.op('Softmax', [b.op('Relu', [heads])]))).toBe(F);
    expect(inf.elemType(b.op('Shape', [x]))).toBe(DataType.INT64);
    expect(inf.elemType(b.op('Equal', [x, x]))).toBe(DataType.BOOL);
  });

  it('does not guess: a Squeeze without axes of a symbolic dim, an unknown op, a Reshape target it cannot read', () => {
    const { b } = createModel({ opset: 17 });
    const x = b.input('x', F, ['batch', 1, 8]);
    const inf = new Inference();
    expect(inf.shape(b.op('Squeeze', [x]))).toBeUndefined(); // batch may be 1 at run time
    expect(inf.shape(b.op('Squeeze', [b.input('y', F, [3, 1, 8])]))).toEqual([3, 8]);
    expect(inf.elemType(b.op('Hardmax', [x]))).toBeUndefined();
    expect(inf.shape(b.op('Reshape', [x, b.input('t', DataType.INT64, [3])]))).toEqual([null, null, null]);
  });
});
