import { describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/index.js';
import { createModel, floatTensor, ints, scalar, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { float32ToFloat16 } from '../../src/ir/float-codecs.js';
import fuseLayerNorm from '../../src/passes/fuse-layer-norm.js';
import { Rng } from '../../src/util/rng.js';
import { expectFusion, expectNoFusion, histogram, opsOf } from './fusion-helpers.js';

const F = DataType.FLOAT;
const rng = new Rng(5);
const w = (dims: number[], std = 0.3, mean = 0) => floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((a, b) => a * b, 1)), std, mean));
const BERT_DIMS = { batch: 2, sequence: 16 };

interface Spelling {
  sq?: 'pow' | 'mul';
  inv?: 'div' | 'reciprocal' | 'one-over' | 'pow';
  axesInput?: boolean;
  beta?: boolean;
  gammaDims?: number[];
  castX?: boolean;
  castD?: boolean;
  eps?: Tensor;
  axis?: number;
  rms?: boolean;
}

/** A decomposed LayerNorm (or RMSNorm) over the last axis of x, spelled as asked. */
function norm(b: GraphBuilder, x: Value, C: number, o: Spelling = {}): Value {
  const axis = o.axis ?? -1;
  const mean = (v: Value) => (o.axesInput ? b.op('ReduceMean', [v, b.const('axes', ints([axis]))]) : b.op('ReduceMean', [v], { axes: [axis] }));
  const xi = o.castX ? b.op('Cast', [x], { to: F }) : x;
  const d = o.rms ? xi : b.op('Sub', [xi, mean(xi)]);
  const sqIn = o.castD ? b.op('Cast', [d], { to: F }) : d;
  const sq = o.sq === 'mul' ? b.op('Mul', [d, d]) : b.op('Pow', [sqIn, b.constantNode(scalar(2))]);
  const v = b.op('Add', [mean(sq), b.constantNode(o.eps ?? scalar(1e-5))]);
  let normed: Value;
  switch (o.inv ?? 'div') {
    case 'div':
      normed = b.op('Div', [d, b.op('Sqrt', [v])]);
      break;
    case 'reciprocal':
      normed = b.op('Mul', [d, b.op('Reciprocal', [b.op('Sqrt', [v])])]);
      break;
    case 'one-over':
      normed = b.op('Mul', [b.op('Div', [b.const('one', scalar(1)), b.op('Sqrt', [v])]), d]);
      break;
    case 'pow':
      normed = b.op('Mul', [d, b.op('Pow', [v, b.const('mhalf', scalar(-0.5))])]);
      break;
  }
  const g = b.op('Mul', [b.const('gamma', w(o.gammaDims ?? [C], 0.3, 1)), normed]);
  return o.beta === false ? g : b.op('Add', [g, b.const('beta', w([C]))]);
}

function single(o: Spelling = {}, opset = 17, C = 8): ReturnType<typeof createModel> {
  const cm = createModel({ opset });
  const x = cm.b.input('x', F, [2, 3, C]);
  cm.b.output(norm(cm.b, cm.b.op('Relu', [x]), C, o), 'y', F, [2, 3, C]);
  return cm;
}

describe('fuse-layer-norm', () => {
  it('fuses every LayerNorm of the BERT fixture (opset 14, raised to 17)', async () => {
    const bert = buildBert();
    const { model, result } = await expectFusion(fuseLayerNorm, bert, { 'layer-norm': 5 }, { equivalence: { dims: BERT_DIMS } });
    const h = histogram(model);
    expect(h.LayerNormalization).toBe(5);
    expect(h.ReduceMean).toBeUndefined();
    expect(h.Sqrt).toBeUndefined();
    expect(model.opset()).toBe(17);
    expect(result.notes).toEqual(['raised the default opset to 17']);
    expect(model.graph.nodes.find((n) => n.opType === 'LayerNormalization')!.getFloat('epsilon')).toBeCloseTo(1e-12, 18);
  });

  it('on an opset-18 export (axes as inputs) fuses without raising', async () => {
    const { model } = await expectFusion(fuseLayerNorm, buildBert({ layers: 1, opset: 18 }), { 'layer-norm': 3 }, { equivalence: { dims: BERT_DIMS } });
    expect(model.opset()).toBe(18);
  });

  it("on an opset-11 export: refuses to raise past Unsqueeze-11 for --target onnx, uses onnxruntime's LayerNormalization for ort", async () => {
    const bert = buildBert({ layers: 1, opset: 11 });
    const misses = expectNoFusion(fuseLayerNorm, bert);
    expect(misses.filter((n) => n.rule === 'layer-norm')[0].reason).toMatch(/needs opset 17 and opset 11 cannot be raised: .*Unsqueeze.*attribute 'axes'/);
    const { model } = await expectFusion(fuseLayerNorm, bert, { 'layer-norm': 3 }, { target: 'ort', equivalence: { dims: BERT_DIMS } });
    expect(model.opset()).toBe(11);
    expect(histogram(model).LayerNormalization).toBe(3);
  });

  it.each<[string, Spelling]>([
    ['Mul(d, d) and Reciprocal(Sqrt)', { sq: 'mul', inv: 'reciprocal' }],
    ['Div(1, Sqrt) and axes as an input', { inv: 'one-over', axesInput: true }],
    ['Pow(v, -0.5), no β', { inv: 'pow', beta: false }],
    ['γ of shape [1, 1, C], inserted Casts on x and before the square', { gammaDims: [1, 1, 8], castX: true, castD: true }],
    ['a one-element γ with a known last dimension', { gammaDims: [1] }],
    ['axis 2 of a rank-3 input', { axis: 2 }],
  ])('matches the spelling: %s', async (_, o) => {
    const { model } = single(o, o.axesInput ? 18 : 17);
    const { model: after } = await expectFusion(fuseLayerNorm, model, { 'layer-norm': 1 });
    expect(opsOf(after).filter((t) => t !== 'Cast')).toEqual(['Relu', 'LayerNormalization']);
  });

  it('fuses RMSNorm: SimplifiedLayerNormalization for ort, RMSNormalization (opset raised to 23) for onnx', async () => {
    const o: Spelling = { rms: true, inv: 'reciprocal', beta: false };
    const ort = await expectFusion(fuseLayerNorm, single(o).model, { 'rms-norm': 1 }, { target: 'ort' });
    expect(opsOf(ort.model)).toEqual(['Relu', 'SimplifiedLayerNormalization']);
    expect(ort.model.opset()).toBe(17);
    const onnx = await expectFusion(fuseLayerNorm, single({ rms: true, beta: false }).model, { 'rms-norm': 1 });
    expect(opsOf(onnx.model)).toEqual(['Relu', 'RMSNormalization']);
    expect(onnx.model.opset()).toBe(23);
    expect(onnx.model.irVersion).toBe(11);
  });

  /** Two RMSNorms in a row at opset 17 (their ReduceMean-13 nodes take axes as an attribute), and another ReduceMean-13 if asked. */
  function twoRms(extraMean: boolean) {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2, 3, 8]);
    const o: Spelling = { rms: true, beta: false };
    b.output(norm(b, b.op('Relu', [norm(b, x, 8, o)]), 8, o), 'y', F, [2, 3, 8]);
    if (extraMean) b.output(b.op('ReduceMean', [x], { axes: [1] }), 'mean', F);
    return model;
  }

  it('--target onnx: RMSNorms whose ReduceMean-13 nodes block each other fuse in a second run, the opset raised to 23', async () => {
    const { model } = await expectFusion(fuseLayerNorm, twoRms(false), { 'rms-norm': 2 });
    expect(model.opset()).toBe(23);
    expect(histogram(model).RMSNormalization).toBe(2);
  });

  it('--target onnx: a ReduceMean-13 outside the norms still blocks the raise, and each RMSNorm is a near miss', () => {
    const misses = expectNoFusion(fuseLayerNorm, twoRms(true));
    expect(misses.filter((x) => x.rule === 'rms-norm').map((x) => x.reason)).toEqual([
      expect.stringMatching(/RMSNormalization needs opset 23 and opset 17 cannot be raised: .*ReduceMean/),
      expect.stringMatching(/RMSNormalization needs opset 23 and opset 17 cannot be raised: .*ReduceMean/),
    ]);
  });

  it('fuses the float16 RMSNorm of T5-style exports: x.float() ... weight * y.half()', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT16, [2, 3, 8]);
    const xf = b.op('Cast', [x], { to: F });
    const v = b.op('Add', [b.op('ReduceMean', [b.op('Pow', [xf, b.const('two', scalar(2))])], { axes: [-1] }), b.const('eps', scalar(1e-6))]);
    const y = b.op('Cast', [b.op('Mul', [xf, b.op('Reciprocal', [b.op('Sqrt', [v])])])], { to: DataType.FLOAT16 });
    const g16 = Tensor.fromArray(DataType.FLOAT16, [8], float32ToFloat16(Float32Array.from([1, 0.9, 1.1, 1.2, 0.8, 1, 1.05, 0.95])));
    b.output(b.op('Mul', [y, b.const('g', g16)]), 'y', DataType.FLOAT16);
    const { model: after } = await expectFusion(fuseLayerNorm, model, { 'rms-norm': 1 }, { target: 'ort', equivalence: { rtol: 2e-3, atol: 2e-3 } });
    expect(opsOf(after)).toEqual(['Cast', 'SimplifiedLayerNormalization', 'Cast']);
    expect(after.graph.nodes[1].input(1)!.initializer!.dataType).toBe(F);
  });

  it('does not fire on another axis, a non-scalar ε, a shared or graph-output intermediate, or non-constant γ', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2, 3, 8]);
    b.output(norm(b, x, 8, { axis: 1 }), 'o1', F);
    b.output(norm(b, x, 8, { eps: floatTensor([8], new Array(8).fill(1e-5)) }), 'o2', F);
    // shared centred value
    const mean = b.op('ReduceMean', [x], { axes: [-1] });
    const d = b.op('Sub', [x, mean]);
    const v = b.op('Add', [b.op('ReduceMean', [b.op('Pow', [d, b.const('two', scalar(2))])], { axes: [-1] }), b.const('eps', scalar(1e-5))]);
    b.output(b.op('Add', [b.op('Mul', [b.op('Div', [d, b.op('Sqrt', [v])]), b.const('g', w([8]))]), b.const('b', w([8]))]), 'o3', F);
    b.output(b.op('Neg', [d]), 'o4', F);
    // graph-output intermediate
    const mean2 = b.op('ReduceMean', [x], { axes: [-1] });
    const d2 = b.op('Sub', [x, mean2]);
    const v2 = b.op('Add', [b.op('ReduceMean', [b.op('Pow', [d2, b.const('two', scalar(2))])], { axes: [-1] }), b.const('eps', scalar(1e-5))]);
    const n2 = b.op('Div', [d2, b.op('Sqrt', [v2])]);
    b.output(b.op('Add', [b.op('Mul', [n2, b.const('g', w([8]))]), b.const('b', w([8]))]), 'o5', F);
    b.output(n2, 'o6', F);
    // γ a graph input
    const mean3 = b.op('ReduceMean', [x], { axes: [-1] });
    const d3 = b.op('Sub', [x, mean3]);
    const v3 = b.op('Add', [b.op('ReduceMean', [b.op('Pow', [d3, b.const('two', scalar(2))])], { axes: [-1] }), b.const('eps', scalar(1e-5))]);
    b.output(b.op('Add', [b.op('Mul', [b.op('Div', [d3, b.op('Sqrt', [v3])]), b.input('gin', F, [8])]), b.const('b', w([8]))]), 'o7', F);
    const reasons = expectNoFusion(fuseLayerNorm, model).map((n) => n.reason);
    expect(reasons).toContainEqual(expect.stringMatching(/reduces over axis 1, not the last axis/));
    expect(reasons).toContainEqual(expect.stringMatching(/constant has 8 elements, expected a scalar/));
    expect(reasons).toContainEqual(expect.stringMatching(/also used by Neg/));
    expect(reasons).toContainEqual(expect.stringMatching(/is a graph output/));
    expect(reasons).toContainEqual(expect.stringMatching(/%gin is not a constant/));
  });
});
