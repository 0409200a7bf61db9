import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/ir/builder.js';
import { DataType as T } from '../../src/ir/dtype.js';
import { representsExactly } from '../../src/passes/util/dtypes.js';
import { expectNoChange, expectPass, ops } from './helpers.js';

/** x:a -> Cast(b) -> Cast(a) -> Neg/Not -> y */
function roundTrip(a: number, b: number, back = a) {
  const { model, b: g } = createModel({ opset: 17 });
  const x = g.input('x', a, [2, 3]);
  const y = g.op('Cast', [g.op('Cast', [x], { to: b })], { to: back });
  g.output(g.op(a === T.BOOL ? 'Not' : 'Abs', [y]), 'y', back, [2, 3]);
  return model;
}

describe('eliminate-cast-pairs', () => {
  it.each([
    ['float16 -> float32 -> float16', T.FLOAT16, T.FLOAT],
    ['int32 -> int64 -> int32', T.INT32, T.INT64],
    ['uint8 -> float16 -> uint8', T.UINT8, T.FLOAT16],
    ['int8 -> int16 -> int8', T.INT8, T.INT16],
    ['bool -> float32 -> bool', T.BOOL, T.FLOAT],
    ['float32 -> float64 -> float32', T.FLOAT, T.DOUBLE],
  ])('removes %s', async (_, a, b) => {
    const { model: after } = await expectPass('eliminate-cast-pairs', roundTrip(a, b), { removed: 1 });
    expect(ops(after)).toEqual([a === T.BOOL ? 'Not' : 'Abs']);
  });

  it.each([
    ['float32 -> float16 -> float32', T.FLOAT, T.FLOAT16],
    ['int64 -> float64 -> int64', T.INT64, T.DOUBLE],
    ['int32 -> float32 -> int32', T.INT32, T.FLOAT],
    ['int32 -> uint32 -> int32', T.INT32, T.UINT32],
    ['uint16 -> float16 -> uint16', T.UINT16, T.FLOAT16],
  ])('keeps %s (not exact)', (_, a, b) => {
    const { nearMisses } = expectNoChange('eliminate-cast-pairs', roundTrip(a, b));
    expect(nearMisses[0].reason).toMatch(/is not exact/);
  });

  it('keeps A -> B -> C (not a round trip), quietly', () => {
    expect(expectNoChange('eliminate-cast-pairs', roundTrip(T.FLOAT16, T.FLOAT, T.DOUBLE)).nearMisses).toEqual([]);
  });

  it('keeps a pair whose intermediate has another reader or is a graph output', () => {
    const shared = createModel();
    const x = shared.b.input('x', T.FLOAT16, [2]);
    const mid = shared.b.op('Cast', [x], { to: T.FLOAT });
    shared.b.output(shared.b.op('Cast', [mid], { to: T.FLOAT16 }), 'y', T.FLOAT16, [2]);
    shared.b.output(shared.b.op('Relu', [mid]), 'z', T.FLOAT, [2]);
    expect(expectNoChange('eliminate-cast-pairs', shared.model).nearMisses[0].reason).toMatch(/also used by Relu/);

    const out = createModel();
    const x2 = out.b.input('x', T.FLOAT16, [2]);
    const mid2 = out.b.op('Cast', [x2], { to: T.FLOAT });
    out.b.output(mid2, 'mid', T.FLOAT, [2]);
    out.b.output(out.b.op('Cast', [mid2], { to: T.FLOAT16 }), 'y', T.FLOAT16, [2]);
    expect(expectNoChange('eliminate-cast-pairs', out.model).nearMisses[0].reason).toMatch(/is a graph output/);
  });

  it('does not guess the source type', () => {
    const { model, b } = createModel();
    const x = b.input('x', T.FLOAT16, [2]);
    const r = b.op('Hardmax', [x]); // no value_info and no type rule in util/infer.ts
    b.output(b.op('Cast', [b.op('Cast', [r], { to: T.FLOAT })], { to: T.FLOAT16 }), 'y', T.FLOAT16, [2]);
    expect(expectNoChange('eliminate-cast-pairs', model).nearMisses[0].reason).toMatch(/unknown/);
  });

  it('infers the source type of an untyped value from its producer', async () => {
    const { model, b } = createModel();
    const r = b.op('Relu', [b.input('x', T.FLOAT16, [2])]); // float16 by Relu's type rule
    b.output(b.op('Abs', [b.op('Cast', [b.op('Cast', [r], { to: T.FLOAT })], { to: T.FLOAT16 })]), 'y', T.FLOAT16, [2]);
    const { model: after } = await expectPass('eliminate-cast-pairs', model, { removed: 1 });
    expect(ops(after)).toEqual(['Relu', 'Abs']);
  });

  it('knows which types hold which exactly', () => {
    expect(representsExactly(T.INT64, T.UINT32)).toBe(true);
    expect(representsExactly(T.UINT32, T.INT32)).toBe(false);
    expect(representsExactly(T.INT64, T.UINT64)).toBe(false);
    expect(representsExactly(T.BFLOAT16, T.UINT8)).toBe(true);
    expect(representsExactly(T.BFLOAT16, T.INT16)).toBe(false);
    expect(representsExactly(T.FLOAT, T.INT16)).toBe(true);
    expect(representsExactly(T.FLOAT16, T.BFLOAT16)).toBe(false);
    expect(representsExactly(T.DOUBLE, T.INT32)).toBe(true);
    expect(representsExactly(T.INT8, T.BOOL)).toBe(true);
    expect(representsExactly(T.BOOL, T.INT8)).toBe(false);
  });
});
