import { describe, expect, it } from 'vitest';
import { OperationError } from '../../src/errors.js';
import { createModel, floatTensor, ints, scalar, subgraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { Graph, type Value } from '../../src/ir/graph.js';
import { ModelFunction, type Model } from '../../src/ir/model.js';
import { tensorType } from '../../src/ir/types.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { applyRules, type Rule } from '../../src/rewrite/driver.js';
import { _, add, anyConst, c, div, erf, mul, op, relu, SQRT2, transpose } from '../../src/rewrite/pattern.js';
import { defaultContext, type NearMiss } from '../../src/pass/pass.js';
import { expectSameOutputs } from '../helpers/equivalence.js';
import { clone } from '../passes/helpers.js';

function apply(model: Model, rules: Rule[]) {
  const misses: NearMiss[] = [];
  const res = applyRules(model, rules, { pass: 'test', ctx: defaultContext({ explain: (m) => misses.push(m) }) });
  verify(model);
  return { res, misses };
}

const bytes = (m: Model) => Buffer.from(encodeModel(m));

// Relu(Relu(x)) -> Relu(x): a two-node rule whose intermediate can escape
const reluRelu: Rule = { name: 'relu-relu', pattern: relu(relu('x')), rewrite: (m, r) => r.op('Relu', [m.value('x')]) };
// Add(x, w) with a constant w -> Sub(x, -w): builds a constant through the rewriter
const addToSub: Rule = {
  name: 'add-to-sub',
  pattern: add('x', anyConst('w')),
  rewrite: (m, r) =>
    r.op('Sub', [
      m.value('x'),
      r.constant(
        'neg_w',
        floatTensor(
          m.tensor('w').dims,
          m.numbers('w').map((v) => -v),
        ),
      ),
    ]),
};

describe('driver: acceptance checks', () => {
  it('refuses a match whose intermediate is used outside it, and mutates nothing', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [4]);
    const r1 = b.op('Relu', [x]);
    b.output(b.op('Relu', [r1]), 'y');
    b.output(b.op('Neg', [r1]), 'z'); // second reader of the intermediate
    const before = bytes(model);
    const { res, misses } = apply(model, [reluRelu]);
    expect(res.applied).toBe(0);
    expect(bytes(model).equals(before)).toBe(true);
    expect(misses).toHaveLength(1);
    expect(misses[0].reason).toMatch(/intermediate %Relu_out \(from Relu_out\)|intermediate %Relu_out .* is also used by Neg/);
    expect(misses[0].reason).toMatch(/outside the match/);
  });

  it('refuses a match whose intermediate is a graph output', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [4]);
    const r1 = b.op('Relu', [x]);
    b.output(r1, 'inner');
    b.output(b.op('Relu', [r1]), 'y');
    const before = bytes(model);
    const { res, misses } = apply(model, [reluRelu]);
    expect(res.applied).toBe(0);
    expect(bytes(model).equals(before)).toBe(true);
    expect(misses[0].reason).toMatch(/intermediate %inner .* is a graph output/);
  });

  it('lets an escaping node of Rule.escapes through only when the rewrite replaces its outputs (r.replaceAlso)', async () => {
    const build = () => {
      const { model, b } = createModel();
      const x = b.input('x', DataType.FLOAT, [4]);
      const r1 = b.op('Relu', [x]);
      b.output(r1, 'inner'); // a graph output (like a KV cache's present)
      b.output(b.op('Relu', [r1]), 'y');
      return model;
    };
    const pattern = relu(relu('x', { as: 'inner' }));
    const quiet: Rule = { name: 'relu-relu', pattern, escapes: ['inner'], rewrite: (m, r) => r.op('Relu', [m.value('x')]) };
    const refused = build();
    const before = bytes(refused);
    const { res, misses } = apply(refused, [quiet]);
    expect(res.applied).toBe(0);
    expect(bytes(refused).equals(before)).toBe(true);
    expect(misses[0].reason).toMatch(/%inner \(from .*\) is read outside the match and the rewrite gives no replacement/);
    const replacing: Rule = {
      ...quiet,
      rewrite: (m, r) => {
        const one = r.op('Relu', [m.value('x')]);
        r.replaceAlso(m.node('inner').output(0)!, r.op('Abs', [one]));
        return one;
      },
    };
    const original = build();
    const model = clone(original);
    expect(apply(model, [replacing]).res.applied).toBe(1);
    expect(model.graph.outputs.map((o) => [o.name, o.producer?.opType])).toEqual([
      ['inner', 'Abs'],
      ['y', 'Relu'],
    ]);
    await expectSameOutputs(original, model);
  });

  it('mutates nothing when the rewrite gives up with r.fail', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [4]);
    b.output(b.op('Relu', [b.op('Relu', [x])]), 'y');
    const before = bytes(model);
    const rule: Rule = {
      ...reluRelu,
      rewrite: (m, r) => {
        r.op('Abs', [m.value('x')]); // built, then abandoned
        r.constant('unused', scalar(1));
        return r.fail('not today');
      },
    };
    const { res, misses } = apply(model, [rule]);
    expect(res.applied).toBe(0);
    expect(bytes(model).equals(before)).toBe(true);
    expect(model.graph.inputs[0].uses).toHaveLength(1); // the abandoned Abs released its use of x
    expect(misses).toEqual([{ pass: 'test', rule: 'relu-relu', node: 'Relu(y)', reason: 'not today' }]);
  });

  it('reports a failing rewrite as an OperationError naming the rule, with the model intact', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [4]);
    b.output(b.op('Relu', [b.op('Relu', [x])]), 'y');
    const before = bytes(model);
    const rule: Rule = {
      ...reluRelu,
      rewrite: (m, r) => {
        r.op('Abs', [m.value('x')]);
        throw new Error('boom');
      },
    };
    expect(() => apply(model, [rule])).toThrow(OperationError);
    expect(() => apply(model, [rule])).toThrow(/rule relu-relu failed on .*: boom/);
    expect(bytes(model).equals(before)).toBe(true);
  });

  it('refuses when a root output is still needed and the rewrite does not replace it', () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.op('Relu', [b.input('x', DataType.FLOAT, [4])]);
    const [y, mask] = b.ops('Dropout', [x], 2);
    b.output(y, 'y');
    b.output(mask, 'mask', DataType.BOOL, [4]);
    const rule: Rule = { name: 'drop', pattern: op('Dropout', ['x']), rewrite: (m) => m.value('x') };
    const { res, misses } = apply(model, [rule]);
    expect(res.applied).toBe(0);
    expect(misses[0].reason).toMatch(/output %mask of .* is still needed/);
  });
});

describe('driver: rule shape', () => {
  it('refuses a rule whose root is not an operator', () => {
    const { model } = createModel();
    expect(() => applyRules(model, [{ name: 'bad', pattern: 'x', rewrite: (m) => m.value('x') }])).toThrow(/root must be an operator/);
  });

  it('refuses one new value for two graph outputs', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [4]);
    const [p, q] = b.ops('Split', [x, b.const('sizes', ints([2, 2]))], 2, { axis: 0 });
    b.output(p, 'p');
    b.output(q, 'q');
    const rule: Rule = {
      name: 'split',
      pattern: op('Split', ['x', _]),
      rewrite: (m, r) => {
        const v = r.op('Slice', [m.value('x')]);
        return [v, v];
      },
    };
    const before = bytes(model);
    const { res, misses } = apply(model, [rule]);
    expect(res.applied).toBe(0);
    expect(misses[0].reason).toMatch(/would replace two graph outputs/);
    expect(bytes(model).equals(before)).toBe(true);
  });
});

describe('driver: names and interface', () => {
  it('gives a new value the name of the graph output it replaces, and unique names to the rest', async () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [3]);
    const w = b.init('w', floatTensor([3], [1, 2, 3]));
    const a1 = b.op('Add', [x, w]);
    b.output(b.op('Add', [a1, b.const('w2', floatTensor([3], [4, 5, 6]))]), 'y', DataType.FLOAT, [3]);
    const original = clone(model);
    const { res } = apply(model, [addToSub]);
    expect(res.counts).toEqual({ 'add-to-sub': 2 });
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['y']);
    expect(model.graph.outputs[0].producer!.opType).toBe('Sub');
    const names = [...model.graph.nodes.flatMap((n) => [n.name, ...n.outputs.map((o) => o!.name)]), ...model.graph.initializers.keys()];
    expect(new Set(names).size).toBe(names.length);
    expect([...model.graph.initializers.keys()].sort()).toEqual(['neg_w', 'neg_w_1']); // w, w2 were only read by the Adds
    await expectSameOutputs(original, clone(model));
  });

  it('keeps a graph output that an existing value cannot take over (a graph input)', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [3]);
    b.output(b.op('Identity', [x]), 'y');
    const rule: Rule = { name: 'id', pattern: op('Identity', ['x']), rewrite: (m) => m.value('x') };
    const { res, misses } = apply(model, [rule]);
    expect(res.applied).toBe(0);
    expect(misses[0].reason).toMatch(/graph output %y would become a graph input \(%x\)/);
  });

  it('renames an existing node output to the graph output it replaces', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [3]);
    const r = b.op('Relu', [x]);
    b.output(b.op('Identity', [r]), 'y', DataType.FLOAT, [3]);
    const rule: Rule = { name: 'id', pattern: op('Identity', ['x']), rewrite: (m) => m.value('x') };
    expect(apply(model, [rule]).res.applied).toBe(1);
    expect(model.graph.outputs[0]).toBe(r);
    expect(r.name).toBe('y');
    expect(r.type).toEqual(tensorType(DataType.FLOAT, [3]));
  });

  it('imports the operator set of a new domain', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [3]);
    b.output(b.op('Relu', [b.op('Relu', [x])]), 'y');
    const rule: Rule = { ...reluRelu, rewrite: (m, r) => r.op('FusedRelu', [m.value('x')], {}, { domain: 'com.example' }) };
    apply(model, [rule]);
    expect(model.opset('com.example')).toBe(1);
  });
});

describe('driver: scopes', () => {
  it('applies inside If branches, and never across a subgraph boundary', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const cond = b.input('cond', DataType.BOOL, []);
    const outer = b.op('Relu', [x]); // Relu(outer) inside a branch must not match across the boundary
    const thenB = subgraph('then');
    // (subgraph builders do not share the main graph's names until attached: name their nodes explicitly)
    thenB.output(thenB.op('Relu', [thenB.op('Relu', [x], {}, { name: 't1' })], {}, { name: 't2' }), 'then_out', DataType.FLOAT, [2, 3]);
    const elseB = subgraph('else');
    elseB.output(elseB.op('Relu', [outer], {}, { name: 'e1' }), 'else_out', DataType.FLOAT, [2, 3]);
    b.output(b.op('If', [cond], { then_branch: thenB.graph, else_branch: elseB.graph }), 'y', DataType.FLOAT, [2, 3]);
    const original = clone(model);
    const { res } = apply(model, [reluRelu]);
    expect(res.applied).toBe(1);
    expect(thenB.graph.nodes.map((n) => n.opType)).toEqual(['Relu']);
    expect(thenB.graph.outputs[0].name).toBe('then_out');
    expect(elseB.graph.nodes.map((n) => n.opType)).toEqual(['Relu']);
    expect(model.graph.nodes.map((n) => n.opType)).toEqual(['Relu', 'If']);
    await expectSameOutputs(original, clone(model));
  });

  it('applies inside model-local function bodies (constants become Constant nodes)', async () => {
    const { model, b } = createModel({ opset: 17, domains: { local: 1 } });
    const body = new Graph('F');
    const fx = body.addInput('fx');
    const k = body.addNode('Constant', [], { value: floatTensor([], [2]) }).output(0);
    const fy = body.addNode('Add', [fx, k]).output(0);
    body.addOutput(fy);
    const fn = new ModelFunction('F', 'local', body);
    fn.opsetImports = [{ domain: '', version: 17 }];
    model.functions.push(fn);
    const x = b.input('x', DataType.FLOAT, [3]);
    b.output(b.op('F', [x], {}, { domain: 'local' }), 'y', DataType.FLOAT, [3]);
    verify(model);
    const original = clone(model);
    const { res } = apply(model, [addToSub]);
    expect(res.applied).toBe(1);
    expect(body.nodes.map((n) => n.opType)).toEqual(['Constant', 'Sub']);
    expect(body.initializers.size).toBe(0);
    await expectSameOutputs(original, clone(model));
  });
});

describe('driver: sweeps and speed', () => {
  it('reaches a fixed point over rewrites that enable each other', () => {
    const { model, b } = createModel();
    let v: Value = b.input('x', DataType.FLOAT, [4]);
    for (let i = 0; i < 5; i++) v = b.op('Relu', [v]);
    b.output(v, 'y');
    const { res } = apply(model, [reluRelu]);
    expect(model.graph.nodes.map((n) => n.opType)).toEqual(['Relu']);
    expect(res.applied).toBe(4);
  });

  it('tries a rule only on nodes of its root op type, and is fast on a BERT-sized graph', () => {
    // 12 "layers" of ~125 nodes: a GELU, a decomposed LayerNorm, reshapes and transposes, matmuls
    const { model, b } = createModel({ opset: 17 });
    let h: Value = b.input('h', DataType.FLOAT, [1, 16, 8]);
    const w = b.init('w', floatTensor([8, 8], new Float32Array(64).fill(0.01)));
    let erfs = 0;
    for (let layer = 0; layer < 12; layer++) {
      for (let k = 0; k < 7; k++) {
        const mm = b.op('MatMul', [h, w]);
        const t = b.op('Transpose', [b.op('Reshape', [mm, b.const('s', ints([1, 16, 2, 4]))])], { perm: [0, 2, 1, 3] });
        const back = b.op('Reshape', [b.op('Transpose', [t], { perm: [0, 2, 1, 3] }), b.const('s2', ints([1, 16, 8]))]);
        const half = b.op('Mul', [back, b.const('half', scalar(0.5))]);
        const g = b.op('Mul', [half, b.op('Add', [b.op('Erf', [b.op('Div', [back, b.const('r2', scalar(SQRT2))])]), b.const('one', scalar(1))])]);
        erfs++;
        const mean = b.op('ReduceMean', [g], { axes: [-1] });
        const d = b.op('Sub', [g, mean]);
        const vr = b.op('ReduceMean', [b.op('Pow', [d, b.const('two', scalar(2))])], { axes: [-1] });
        const ln = b.op('Div', [d, b.op('Sqrt', [b.op('Add', [vr, b.const('eps', scalar(1e-5))])])]);
        h = b.op('Add', [ln, h]);
      }
    }
    b.output(h, 'out');
    const n = model.graph.nodes.length;
    expect(n).toBeGreaterThan(1400);
    let tried = 0;
    const geluRule: Rule = {
      name: 'gelu',
      pattern: mul(mul('x', c(0.5)), add(erf(div('x', c(SQRT2))), c(1))),
      rewrite: (m, r) => r.op('Gelu', [m.value('x')]),
    };
    const probe: Rule = { name: 'probe', pattern: op('Erf', ['x'], { where: () => (tried++, false) }), rewrite: (m) => m.value('x') };
    const t0 = performance.now();
    const { res } = apply(model, [geluRule, probe, reluRelu, { name: 'tt', pattern: transpose(transpose('x')), rewrite: (m) => m.value('x') }]);
    const ms = performance.now() - t0;
    expect(tried).toBe(erfs); // the probe saw the Erf nodes of the first sweep only (the GELUs are gone after it)
    expect(res.counts).toEqual({ gelu: 84, tt: 84 });
    expect(ms).toBeLessThan(1000);
  });
});
