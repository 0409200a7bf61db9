import { describe, expect, it } from 'vitest';
import { createModel, floatTensor, scalar } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { verify } from '../../src/ir/verify.js';
import { applyRules, type Rule } from '../../src/rewrite/driver.js';
import {
  _,
  add,
  anyConst,
  anyScalar,
  attrIs,
  c,
  constWhere,
  describePattern,
  div,
  erf,
  mul,
  oneOf,
  op,
  optCast,
  relu,
  SQRT2,
  transpose,
  variants,
  type PatternLike,
} from '../../src/rewrite/pattern.js';
import { defaultContext, type NearMiss } from '../../src/pass/pass.js';
import { expectSameOutputs } from '../helpers/equivalence.js';
import { clone } from '../passes/helpers.js';

const gelu = mul(mul('x', c(0.5)), add(erf(div('x', c(SQRT2))), c(1)));
const geluRule: Rule = { name: 'gelu', pattern: gelu, rewrite: (m, r) => r.op('Gelu', [m.value('x')]) };

/** x*0.5*(1+erf(x/sqrt2)) with each commutative operation's operands in the order given by `swap` bits. */
function buildGelu(swap: number, opts: { constNodes?: boolean; xName?: string } = {}) {
  const { model, b } = createModel({ opset: 20 });
  const x = b.input(opts.xName ?? 'x', DataType.FLOAT, ['n', 8]);
  const k = (v: number, base: string) => (opts.constNodes ? b.constantNode(scalar(v)) : b.const(base, scalar(v)));
  const pair = (bit: number, a: Value, c2: Value): [Value, Value] => (swap & bit ? [c2, a] : [a, c2]);
  const half = b.op('Mul', pair(1, x, k(0.5, 'half')));
  const e = b.op('Erf', [b.op('Div', [x, k(SQRT2, 'sqrt2')])]);
  const one = b.op('Add', pair(2, e, k(1, 'one')));
  b.output(b.op('Mul', pair(4, half, one)), 'y', DataType.FLOAT, ['n', 8]);
  return model;
}

function apply(model: ReturnType<typeof buildGelu>, rules: Rule[]) {
  const misses: NearMiss[] = [];
  const res = applyRules(model, rules, { pass: 'test', ctx: defaultContext({ explain: (m) => misses.push(m) }) });
  verify(model);
  return { res, misses };
}

describe('pattern DSL', () => {
  it('reads back as the formula it matches', () => {
    expect(describePattern(gelu)).toBe('Mul(Mul(x, 0.5), Add(Erf(Div(x, 1.41421)), 1))');
    expect(describePattern(op('LayerNormalization', ['x', anyConst('g'), null], { rest: true }))).toBe('LayerNormalization(x, g, ∅, ...)');
  });

  it('generates commutative variants instead of listing them', () => {
    // three commutative operations (two Mul, one Add) with distinct operands: 2^3 orders
    expect(variants(gelu)).toHaveLength(8);
    // identical operands are not swapped, and optional Casts double a branch
    expect(variants(mul('x', 'x'))).toHaveLength(1);
    expect(variants(relu(optCast('x')))).toHaveLength(2);
    expect(variants(transpose('x'))).toHaveLength(1);
  });
});

describe('matching', () => {
  it('matches every operand order of a commutative pattern and rewrites it', async () => {
    for (let swap = 0; swap < 8; swap++) {
      const original = buildGelu(swap);
      const m = clone(original);
      const { res } = apply(m, [geluRule]);
      expect(res.counts, `swap=${swap}`).toEqual({ gelu: 1 });
      expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Gelu']);
      // the driver removed the dead constants, and the graph output kept its name
      expect(m.graph.initializers.size).toBe(0);
      expect(m.graph.outputs[0].name).toBe('y');
      await expectSameOutputs(original, clone(m), { dims: { n: 3 } });
    }
  });

  it('matches constants held by Constant nodes as well as initializers', () => {
    const m = buildGelu(5, { constNodes: true });
    expect(apply(m, [geluRule]).res.applied).toBe(1);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Gelu']);
  });

  it('binds a variable consistently: the same x everywhere', () => {
    const { model, b } = createModel({ opset: 20 });
    const x = b.input('x', DataType.FLOAT, [4]);
    const z = b.input('z', DataType.FLOAT, [4]);
    const half = b.op('Mul', [x, b.const('half', scalar(0.5))]);
    const e = b.op('Erf', [b.op('Div', [z, b.const('sqrt2', scalar(SQRT2))])]); // z, not x
    b.output(b.op('Mul', [half, b.op('Add', [e, b.const('one', scalar(1))])]), 'y');
    const { res, misses } = apply(model, [geluRule]);
    expect(res.applied).toBe(0);
    expect(misses).toHaveLength(1);
    expect(misses[0].reason).toMatch(/'x' is %x elsewhere in the match but %z here/);
    expect(misses[0]).toMatchObject({ pass: 'test', rule: 'gelu' });
  });

  it('distinguishes Mul(a, a) from Mul(a, b) for mul(x, x)', () => {
    const { model, b } = createModel();
    const a = b.input('a', DataType.FLOAT, [2]);
    const bb = b.input('b', DataType.FLOAT, [2]);
    b.output(b.op('Mul', [a, bb]), 'p');
    b.output(b.op('Mul', [a, a]), 'q');
    const rule: Rule = { name: 'square', pattern: mul('x', 'x'), rewrite: (m, r) => r.op('Pow', [m.value('x'), r.scalar(2)]) };
    const { res } = apply(model, [rule]);
    expect(res.counts).toEqual({ square: 1 });
    expect(model.graph.nodes.map((n) => n.opType)).toEqual(['Mul', 'Pow']);
  });

  it('compares constants with a per-dtype tolerance, one element by default', () => {
    const t = (v: number[], dt = DataType.FLOAT) => Tensor.fromArray(dt, [v.length], v);
    const accepts = (p: ReturnType<typeof c>, tensor: Tensor) => p.test(tensor, null as never) === true;
    expect(accepts(c(0.5), t([0.5]))).toBe(true);
    expect(accepts(c(SQRT2), t([1.4142135]))).toBe(true);
    expect(accepts(c(SQRT2), t([1.4142]))).toBe(true); // within 1e-5 relative (float32's default)
    expect(accepts(c(SQRT2), t([1.414]))).toBe(false);
    expect(accepts(c(SQRT2, { rtol: 1e-3 }), t([1.414]))).toBe(true);
    expect(accepts(c(0.5), t([0.5, 0.5]))).toBe(false);
    expect(accepts(c(0.5, { anyShape: true }), t([0.5, 0.5]))).toBe(true);
    expect(accepts(c(2), Tensor.fromArray(DataType.INT64, [], BigInt64Array.of(2n)))).toBe(true);
    expect(accepts(c(2), Tensor.fromArray(DataType.INT64, [], BigInt64Array.of(3n)))).toBe(false);
    // float16 1.4140625 is sqrt(2) rounded: accepted with float16's tolerance
    expect(accepts(c(SQRT2), Tensor.fromArray(DataType.FLOAT16, [1], Uint16Array.of(0x3da8)))).toBe(true);
  });

  it('binds scalar, tensor and predicate constants by name', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [3]);
    const w = b.init('w', floatTensor([3], [1, 2, 3]));
    const eps = b.const('eps', scalar(1e-5));
    b.output(b.op('Add', [b.op('Mul', [x, w]), eps]), 'y');
    let seen: { eps?: number; w?: number[] } = {};
    const rule: Rule = {
      name: 'r',
      pattern: add(mul('x', anyConst('w')), anyScalar('eps')),
      condition: (m) => {
        seen = { eps: m.scalar('eps'), w: m.numbers('w') };
        return false;
      },
      rewrite: (m) => m.value('x'),
    };
    apply(model, [rule]);
    expect(seen.w).toEqual([1, 2, 3]);
    expect(seen.eps).toBeCloseTo(1e-5, 10);
    const positive = constWhere('w', (t) => (t.toFloat32().every((v) => v > 0) ? true : 'not all positive'));
    const r2: Rule = { name: 'pos', pattern: mul('x', positive), rewrite: (m) => m.value('x') };
    expect(apply(clone(model), [r2]).res.applied).toBe(1);
    const negative = constWhere('w', (t) => (t.toFloat32().every((v) => v < 0) ? true : 'not all negative'));
    const { res, misses } = apply(model, [{ ...r2, pattern: mul('x', negative) }]);
    expect(res.applied).toBe(0);
    expect(misses.map((m) => [m.node, m.reason])).toEqual([['Mul(Mul_out)', 'Mul(Mul_out) input 1: %w: not all negative']]);
  });

  it('tries alternatives with oneOf and looks through optional Casts', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [3]);
    const h = b.input('h', DataType.FLOAT16, [3]);
    b.output(b.op('Relu', [b.op('Cast', [h], { to: DataType.FLOAT })]), 'a');
    b.output(b.op('Relu', [b.op('Sigmoid', [x])]), 'b');
    b.output(b.op('Relu', [b.op('Tanh', [x])]), 'c');
    const rule: Rule = {
      name: 'relu-of',
      pattern: relu(oneOf(op('Sigmoid', ['v']), optCast('v', { to: DataType.FLOAT }))),
      rewrite: (m, r) => r.op('Abs', [m.value('v')]),
    };
    const { res } = apply(model, [rule]);
    // optCast tries the plain branch first, so v binds the outermost value: Relu(Cast(h)) gives Abs(Cast(h)),
    // Sigmoid(x) matches the first alternative; Relu(Tanh(x)) binds v to Tanh's output
    expect(res.applied).toBe(3);
    expect(model.graph.nodes.map((n) => n.opType)).toEqual(['Cast', 'Abs', 'Abs', 'Tanh', 'Abs']);
  });

  it('checks attributes: literals, defaults and predicates, and the op domain', () => {
    const { model, b } = createModel({ domains: { 'com.microsoft': 1 } });
    const x = b.input('x', DataType.FLOAT, [2, 3, 4]);
    b.output(b.op('Transpose', [x], { perm: [0, 2, 1] }), 'a');
    b.output(b.op('Transpose', [x], { perm: [2, 1, 0] }), 'b');
    b.output(b.op('Softmax', [x]), 'c');
    b.output(b.op('Gelu', [x], {}, { domain: 'com.microsoft' }), 'd');
    const seen: string[] = [];
    const rec = (name: string, pattern: PatternLike): Rule => ({
      name,
      pattern,
      condition: (m) => {
        seen.push(`${name}:${m.root.outputs[0]!.name}`);
        return false;
      },
      rewrite: (m) => m.value('x'),
    });
    apply(model, [
      rec('perm', transpose('x', { attrs: { perm: [0, 2, 1] } })),
      rec('axis', op('Softmax', ['x'], { attrs: { axis: attrIs(-1, -1) } })),
      rec('pred', transpose('x', { attrs: { perm: (p) => (Array.isArray(p) && p[0] === 2) || 'not reversed' } })),
      rec('ms', op('Gelu', ['x'], { domain: 'com.microsoft' })),
      rec('onnx', op('Gelu', ['x'])),
    ]);
    expect(seen.sort()).toEqual(['axis:c', 'ms:d', 'perm:a', 'pred:b']);
  });

  it('requires the input count unless rest is set', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [2]);
    const lo = b.const('lo', scalar(0));
    b.output(b.op('Clip', [x, lo]), 'y');
    let hits = 0;
    const mk = (pattern: PatternLike): Rule => ({ name: 'clip', pattern, condition: () => (hits++, false), rewrite: (m) => m.value('x') });
    apply(model, [mk(op('Clip', ['x']))]);
    expect(hits).toBe(0);
    apply(model, [mk(op('Clip', ['x'], { rest: true }))]);
    apply(model, [mk(op('Clip', ['x', _, null]))]);
    expect(hits).toBe(2);
  });
});
