import { describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/index.js';
import { createModel, scalar, subgraph, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Value } from '../../src/ir/graph.js';
import fuseGelu from '../../src/passes/fuse-gelu.js';
import fuseLayerNorm from '../../src/passes/fuse-layer-norm.js';
import { expectFusion, expectNoFusion, histogram, opsOf, runFusion } from './fusion-helpers.js';

const F = DataType.FLOAT;
const BERT_DIMS = { batch: 2, sequence: 16 };
type Build = (b: GraphBuilder, x: Value) => Value;
const k = (b: GraphBuilder, v: number) => b.constantNode(scalar(v));

const erfPhi = (b: GraphBuilder, x: Value, mulInv = false) =>
  b.op('Add', [k(b, 1), b.op('Erf', [mulInv ? b.op('Mul', [x, k(b, Math.SQRT1_2)]) : b.op('Div', [x, k(b, Math.SQRT2)])])]);
const tanhPhi = (b: GraphBuilder, x: Value, cube: 'pow' | 'muls') => {
  const x3 = cube === 'pow' ? b.op('Pow', [x, k(b, 3)]) : b.op('Mul', [x, b.op('Mul', [x, x])]);
  return b.op('Add', [b.op('Tanh', [b.op('Mul', [k(b, Math.sqrt(2 / Math.PI)), b.op('Add', [x, b.op('Mul', [x3, k(b, 0.044715)])])])]), k(b, 1)]);
};
const megatronPhi = (b: GraphBuilder, x: Value) =>
  b.op('Add', [
    k(b, 1),
    b.op('Tanh', [b.op('Mul', [b.op('Mul', [x, k(b, 0.79788456)]), b.op('Add', [k(b, 1), b.op('Mul', [b.op('Mul', [x, x]), k(b, 0.044715)])])])]),
  ]);

const SPELLINGS: [string, string, Build][] = [
  ['(x * 0.5) * (1 + erf(x / sqrt2))', 'gelu-erf', (b, x) => b.op('Mul', [b.op('Mul', [k(b, 0.5), x]), erfPhi(b, x)])],
  ['x * ((1 + erf) * 0.5), x * (1/sqrt2)', 'gelu-erf', (b, x) => b.op('Mul', [x, b.op('Mul', [erfPhi(b, x, true), k(b, 0.5)])])],
  ['(x * (1 + erf)) / 2', 'gelu-erf', (b, x) => b.op('Div', [b.op('Mul', [erfPhi(b, x), x]), k(b, 2)])],
  ['tanh form with Pow(x, 3)', 'gelu-tanh', (b, x) => b.op('Mul', [b.op('Mul', [x, k(b, 0.5)]), tanhPhi(b, x, 'pow')])],
  ['tanh form with x * (x * x)', 'gelu-tanh', (b, x) => b.op('Mul', [b.op('Mul', [x, tanhPhi(b, x, 'muls')]), k(b, 0.5)])],
  [
    'Megatron: x * 0.5 * (1 + tanh(0.79788456 * x * (1 + 0.044715 * x * x)))',
    'gelu-tanh',
    (b, x) => b.op('Mul', [b.op('Mul', [x, k(b, 0.5)]), megatronPhi(b, x)]),
  ],
];

function single(build: Build, opset: number) {
  const cm = createModel({ opset });
  const x = cm.b.op('Relu', [cm.b.input('x', F, [2, 3, 8])]);
  cm.b.output(cm.b.op('Neg', [build(cm.b, x)]), 'y', F);
  return cm.model;
}

describe('fuse-gelu', () => {
  it('fuses both GELUs of the BERT fixture: com.microsoft Gelu for ort at opset 14', async () => {
    const { model } = await expectFusion(fuseGelu, buildBert(), { 'gelu-erf': 2 }, { target: 'ort', equivalence: { dims: BERT_DIMS } });
    expect(histogram(model)['com.microsoft:Gelu']).toBe(2);
    expect(histogram(model).Erf).toBeUndefined();
    expect(model.opset()).toBe(14);
    expect(model.opset('com.microsoft')).toBe(1);
  });

  it('for --target onnx raises BERT to opset 20 once LayerNorm no longer needs ReduceMean-13', async () => {
    const bert = buildBert();
    expect(expectNoFusion(fuseGelu, bert).find((n) => n.rule === 'gelu-erf')!.reason).toMatch(/opset 14 cannot be raised: .*ReduceMean.*'axes'/);
    const lnFused = runFusion(fuseLayerNorm, bert).model;
    const { model } = await expectFusion(fuseGelu, lnFused, { 'gelu-erf': 2 }, { equivalence: { dims: BERT_DIMS } });
    expect(histogram(model).Gelu).toBe(2);
    expect(model.opset()).toBe(20);
    expect(model.irVersion).toBe(9);
  });

  it.each(SPELLINGS)('matches %s', async (_, rule, build) => {
    const onnx = await expectFusion(fuseGelu, single(build, 20), { [rule]: 1 });
    expect(opsOf(onnx.model)).toEqual(['Relu', 'Gelu', 'Neg']);
    expect(onnx.model.graph.nodes.find((n) => n.opType === 'Gelu')!.getString('approximate')).toBe(rule === 'gelu-tanh' ? 'tanh' : undefined);
    const ort = await expectFusion(fuseGelu, single(build, 17), { [rule]: 1 }, { target: 'ort' });
    expect(opsOf(ort.model)).toEqual(['Relu', rule === 'gelu-tanh' ? 'com.microsoft:FastGelu' : 'com.microsoft:Gelu', 'Neg']);
  });

  it('recurses into If branches (the raise covers the main graph and its subgraphs)', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.op('Relu', [b.input('x', F, [2, 8])]);
    const cond = b.input('c', DataType.BOOL, []);
    const then = subgraph('then');
    then.output(SPELLINGS[0][2](then, x), 't', F);
    const els = subgraph('else');
    els.output(els.op('Neg', [x]), 'e', F);
    b.output(b.op('If', [cond], { then_branch: then.graph, else_branch: els.graph }), 'y', F);
    const { model: after } = await expectFusion(fuseGelu, model, { 'gelu-erf': 1 }, { equivalence: { sets: 4 } }); // both branches run
    expect(
      after.graph.nodes[1]
        .subgraphs()[0]
        .nodes.filter((n) => n.opType !== 'Constant')
        .map((n) => n.opType),
    ).toEqual(['Gelu']);
    expect(after.opset()).toBe(20);
  });

  it('does not fire on a wrong constant, a shared intermediate, two different inputs or a graph-output intermediate', () => {
    const { model, b } = createModel({ opset: 20 });
    const x = b.op('Relu', [b.input('x', F, [2, 8])]);
    const x2 = b.op('Neg', [x]);
    b.output(b.op('Mul', [b.op('Mul', [x, k(b, 0.5)]), b.op('Add', [b.op('Erf', [b.op('Div', [x, k(b, 1.5)])]), k(b, 1)])]), 'o1', F);
    const phi = erfPhi(b, x);
    b.output(b.op('Mul', [b.op('Mul', [x, k(b, 0.5)]), phi]), 'o2', F);
    b.output(b.op('Sqrt', [phi]), 'o3', F);
    b.output(b.op('Mul', [b.op('Mul', [x2, k(b, 0.5)]), erfPhi(b, x)]), 'o4', F);
    const phi5 = erfPhi(b, x);
    b.output(b.op('Mul', [b.op('Mul', [x, k(b, 0.5)]), phi5]), 'o5', F);
    b.output(phi5, 'o6', F);
    const reasons = expectNoFusion(fuseGelu, model).map((n) => n.reason);
    expect(reasons).toContainEqual(expect.stringMatching(/constant is 1.5, expected 1.414/));
    expect(reasons).toContainEqual(expect.stringMatching(/also used by Sqrt/));
    expect(reasons).toContainEqual(expect.stringMatching(/'x' is .* elsewhere in the match but .* here/));
    expect(reasons).toContainEqual(expect.stringMatching(/is a graph output/));
  });
});
