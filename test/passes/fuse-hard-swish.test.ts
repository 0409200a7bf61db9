import { describe, expect, it } from 'vitest';
import { createModel, floatTensor, scalar, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { f, type Value } from '../../src/ir/graph.js';
import fuseHardSwish from '../../src/passes/fuse-hard-swish.js';
import { Rng } from '../../src/util/rng.js';
import { expectFusion, expectNoFusion, opsOf } from './fusion-helpers.js';

const F = DataType.FLOAT;
const rng = new Rng(9);
type Build = (b: GraphBuilder, x: Value) => Value;
const k = (b: GraphBuilder, v: number) => b.const('k', scalar(v));
const plus3 = (b: GraphBuilder, x: Value) => b.op('Add', [k(b, 3), x]);
const clip = (b: GraphBuilder, y: Value) => b.op('Clip', [y, k(b, 0), k(b, 6)]);

const SPELLINGS: [string, number, Build][] = [
  ['x * Clip(x + 3, 0, 6) / 6', 13, (b, x) => b.op('Div', [b.op('Mul', [x, clip(b, plus3(b, x))]), k(b, 6)])],
  ['(Clip * x) * (1/6)', 13, (b, x) => b.op('Mul', [b.op('Mul', [clip(b, plus3(b, x)), x]), k(b, 1 / 6)])],
  ['x * (Min(Max(x + 3, 0), 6) / 6)', 13, (b, x) => b.op('Mul', [x, b.op('Div', [b.op('Min', [b.op('Max', [plus3(b, x), k(b, 0)]), k(b, 6)]), k(b, 6)])])],
  ['x * (Min(Relu(x + 3), 6) * (1/6))', 13, (b, x) => b.op('Mul', [x, b.op('Mul', [b.op('Min', [b.op('Relu', [plus3(b, x)]), k(b, 6)]), k(b, 1 / 6)])])],
  ['x * HardSigmoid(x, 1/6, 0.5) (paddle2onnx, opset 11)', 11, (b, x) => b.op('Mul', [x, b.op('HardSigmoid', [x], { alpha: f(1 / 6), beta: f(0.5) })])],
  ['opset 10 Clip(min=0, max=6) attributes', 10, (b, x) => b.op('Div', [b.op('Mul', [x, b.op('Clip', [plus3(b, x)], { min: f(0), max: f(6) })]), k(b, 6)])],
];

function single(build: Build, opset: number) {
  const { model, b } = createModel({ opset, irVersion: 7 });
  const x = b.op('Conv', [b.input('x', F, [1, 2, 4, 4]), b.const('w', floatTensor([2, 2, 1, 1], rng.fillNormal(new Float32Array(4), 3)))]);
  b.output(build(b, x), 'y', F);
  return model;
}

describe('fuse-hard-swish', () => {
  it.each(SPELLINGS)('fuses %s into HardSwish, raising the opset to 14', async (_, opset, build) => {
    const { model } = await expectFusion(fuseHardSwish, single(build, opset), { 'hard-swish': 1 }, { equivalence: { seed: 3 } });
    expect(opsOf(model)).toEqual(['Conv', 'HardSwish']);
    expect(model.opset()).toBe(14);
  });

  it('does not fire on relu6 with other bounds, another divisor, a shared intermediate or a blocked opset raise', () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.op('Relu', [b.input('x', F, [2, 8])]);
    // x + 3 written x first: the matcher's first operand order is the one that gets furthest
    b.output(b.op('Div', [b.op('Mul', [x, b.op('Clip', [b.op('Add', [x, k(b, 3)]), k(b, 0), k(b, 5)])]), k(b, 6)]), 'o1', F);
    b.output(b.op('Div', [b.op('Mul', [x, clip(b, plus3(b, x))]), k(b, 5)]), 'o2', F);
    const c3 = clip(b, plus3(b, x));
    b.output(b.op('Div', [b.op('Mul', [x, c3]), k(b, 6)]), 'o3', F);
    b.output(c3, 'o4', F);
    b.output(b.op('Mul', [x, b.op('HardSigmoid', [x])]), 'o6', F); // default alpha 0.2: not a hard swish
    b.output(b.op('Softmax', [b.input('z', F, [2, 3, 4])], { axis: 1 }), 'o5', F);
    const reasons = expectNoFusion(fuseHardSwish, model).map((n) => n.reason);
    expect(reasons).toContainEqual(expect.stringMatching(/constant is 5, expected 6/));
    expect(reasons).toContainEqual(expect.stringMatching(/is a graph output/));
    // a Softmax over a non-last axis in the opset-11 form would change meaning at opset 13: the raise is refused
    const m2 = createModel({ opset: 11 });
    const x2 = m2.b.op('Relu', [m2.b.input('x', F, [2, 8])]);
    m2.b.output(m2.b.op('Div', [m2.b.op('Mul', [x2, clip(m2.b, plus3(m2.b, x2))]), k(m2.b, 6)]), 'y', F);
    m2.b.output(m2.b.op('Softmax', [m2.b.input('z', F, [2, 3, 4])], { axis: 1 }), 's', F);
    expect(expectNoFusion(fuseHardSwish, m2.model)[0].reason).toMatch(/HardSwish needs opset 14 and opset 11 cannot be raised: .*Softmax.* axis 1/);
  });
});
