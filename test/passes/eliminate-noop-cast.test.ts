import { describe, expect, it } from 'vitest';
import { createModel, int64Tensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { Attribute } from '../../src/ir/graph.js';
import { expectNoChange, expectPass, ops } from './helpers.js';

const F = DataType.FLOAT;

describe('eliminate-noop-cast', () => {
  it('removes Casts to the type the input already has (declared, constant, or from a previous Cast)', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2, 3]);
    const a = b.op('Cast', [x], { to: F }); // declared float32
    const h = b.op('Cast', [a], { to: DataType.FLOAT16 }); // a real conversion
    const h2 = b.op('Cast', [h], { to: DataType.FLOAT16 }); // h's type is known from its Cast
    const shape = b.op('Cast', [b.const('shape', int64Tensor([2], [3, 2]))], { to: DataType.INT64 }); // constant int64
    b.output(b.op('Reshape', [b.op('Cast', [h2], { to: F }), shape]), 'y', F, [3, 2]);
    const { model: after } = await expectPass('eliminate-noop-cast', model, { removed: 3 });
    expect(ops(after)).toEqual(['Cast', 'Cast', 'Reshape']);
  });

  it('leaves real conversions alone, quietly', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2]);
    b.output(b.op('Cast', [x], { to: DataType.FLOAT16 }), 'y', DataType.FLOAT16, [2]);
    expect(expectNoChange('eliminate-noop-cast', model).nearMisses).toEqual([]);
  });

  it('does not guess an unknown input type', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2]);
    const r = b.op('Hardmax', [x]); // no value_info, and no type rule in util/infer.ts: type unknown
    b.output(b.op('Cast', [r], { to: F }), 'y', F, [2]);
    const { nearMisses } = expectNoChange('eliminate-noop-cast', model);
    expect(nearMisses[0].reason).toMatch(/element type of %Hardmax_out is unknown/);
  });

  it("infers an untyped value's type from its producers (torch's Cast after a float Softmax)", async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2]);
    const r = b.op('Softmax', [b.op('Relu', [x])]); // no value_info: float32 by the ops' type rules
    b.output(b.op('Abs', [b.op('Cast', [r], { to: F })]), 'y', F, [2]);
    const { model: after } = await expectPass('eliminate-noop-cast', model, { removed: 1 });
    expect(ops(after)).toEqual(['Relu', 'Softmax', 'Abs']);
    const { model: m2, b: b2 } = createModel();
    const r2 = b2.op('Relu', [b2.input('x', F, [2])]);
    b2.output(b2.op('Cast', [r2], { to: DataType.FLOAT16 }), 'y', DataType.FLOAT16, [2]);
    expect(expectNoChange('eliminate-noop-cast', m2).nearMisses).toEqual([]); // inferred float32: a real conversion
  });

  it('leaves opset < 6 Casts (string `to`) alone', () => {
    const { model, b } = createModel({ opset: 5 });
    const x = b.input('x', F, [2]);
    b.output(b.op('Cast', [x], { to: Attribute.string('to', 'FLOAT') }), 'y', F, [2]);
    expect(expectNoChange('eliminate-noop-cast', model).nearMisses[0].reason).toMatch(/opset < 6/);
  });
});
