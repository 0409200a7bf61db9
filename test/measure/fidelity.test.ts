import { describe, expect, it } from 'vitest';
import {
  attentionUnavailable,
  compareOutputs,
  computeGraphF1,
  fusedAttentionOps,
  matchOutputs,
  type AttentionCapture,
  type OutputSet,
} from '../../src/measure/fidelity.js';
import { findAttentionSoftmax } from '../../src/measure/attention.js';
import { buildBert } from '../../fixtures/models/bert.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';

const t = (data: number[], dims: number[]) => ({ data: Float32Array.from(data), dims, type: 'float32' });

describe('attention Softmax discovery', () => {
  it('finds one Softmax per layer, in layer order, and only those feeding a MatMul with V', () => {
    const m = buildBert({ layers: 3, classifier: 2 });
    const found = findAttentionSoftmax(m.graph);
    expect(found.map((n) => n.name)).toEqual([0, 1, 2].map((l) => `/encoder/layer.${l}/attention/self/Softmax`));
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    const p = b.op('Softmax', [b.op('MatMul', [x, b.init('w', floatTensor([4, 4], new Float32Array(16)))])], { axis: -1 });
    // a Softmax whose output is multiplied by a weight is a classifier head, not attention
    b.output(b.op('MatMul', [p, b.init('w2', floatTensor([4, 2], new Float32Array(8)))]), 'y');
    // nor is one that is the right operand of a MatMul (probabilities multiply V from the left)
    b.output(b.op('MatMul', [b.input('z', DataType.FLOAT, [2, 2]), p]), 'z_out');
    expect(findAttentionSoftmax(model.graph)).toEqual([]);
    expect(attentionUnavailable(model, null)).toMatch(/no attention Softmax/);
  });

  it('names fused attention as the reason there is no Softmax', () => {
    const { model, b } = createModel({ opset: 17, domains: { 'com.microsoft': 1 } });
    const x = b.input('x', DataType.FLOAT, [1, 4, 8]);
    b.output(
      b.op(
        'Attention',
        [x, b.init('w', floatTensor([8, 24], new Float32Array(192))), b.init('bias', floatTensor([24], new Float32Array(24)))],
        { num_heads: 2 },
        { domain: 'com.microsoft' },
      ),
      'y',
    );
    expect(fusedAttentionOps(model)).toHaveLength(1);
    expect(attentionUnavailable(model, null)).toMatch(/attention is fused \(com\.microsoft::Attention x1\)/);
  });
});

describe('output fidelity', () => {
  it('computes max abs/rel error, cosine and top-1 agreement pooled over sets', () => {
    const base: OutputSet[] = [{ y: t([1, 2, 3, 4], [2, 2]) }, { y: t([0, 1, 1, 0], [2, 2]) }];
    const cand: OutputSet[] = [{ y: t([1, 2.5, 3, 4], [2, 2]) }, { y: t([0, 1, 0.5, 0.4], [2, 2]) }];
    const [o] = compareOutputs(cand, base, [['y', 'y']]);
    expect(o!.maxAbsError).toBeCloseTo(0.5);
    expect(o!.maxRelError).toBeCloseTo(0.4 / 1e-6, -2); // 0.4 against a baseline zero
    const dot = 1 + 5 + 9 + 16 + 1 + 0.5;
    const nc = 1 + 6.25 + 9 + 16 + 1 + 0.25 + 0.16;
    const nb = 1 + 4 + 9 + 16 + 1 + 1;
    expect(o!.cosine).toBeCloseTo(dot / Math.sqrt(nc * nb), 6); // inputs are float32
    // arg-max per row: [1,2.5]/[1,2] -> 1/1, [3,4]/[3,4] -> 1/1, [0,1]/[0,1] -> 1/1, [0.5,0.4]/[1,0] -> 0/0
    expect(o!.top1).toBe(1);
    const [flip] = compareOutputs([{ y: t([2, 1], [1, 2]) }], [{ y: t([1, 2], [1, 2]) }], [['y', 'y']]);
    expect(flip!.top1).toBe(0);
  });

  it('reports NaN/Inf in the candidate, a shape mismatch and a scalar without top-1', () => {
    const [nan] = compareOutputs([{ y: t([NaN, 1], [2]) }], [{ y: t([1, 1], [2]) }], [['y', 'y']]);
    expect(nan!.nonFinite).toBe(1);
    const [shape] = compareOutputs([{ y: t([1, 1], [2]) }], [{ y: t([1, 1], [1, 2]) }], [['y', 'y']]);
    expect(shape!.error).toMatch(/shape differs/);
    expect(shape!.cosine).toBeNull();
    const [s] = compareOutputs([{ y: t([3], [1]) }], [{ y: t([3], [1]) }], [['y', 'y']]);
    expect(s!.top1).toBeNull();
    expect(s!.cosine).toBe(1);
  });

  it('matches outputs by name, else by position', () => {
    expect(matchOutputs(['a', 'b'], ['b', 'a']).pairs).toEqual([
      ['a', 'a'],
      ['b', 'b'],
    ]);
    expect(matchOutputs(['a'], ['a', 'b']).note).toMatch(/b missing/);
    const pos = matchOutputs(['x', 'y'], ['a', 'b']);
    expect(pos.pairs).toEqual([
      ['x', 'a'],
      ['y', 'b'],
    ]);
    expect(pos.note).toMatch(/by position/);
    expect(matchOutputs(['x'], ['a', 'b']).pairs).toEqual([]);
  });
});

describe('graph F1', () => {
  const layer = (rows: number[][]) => ({ data: Float32Array.from(rows.flat()), dims: [rows.length, rows[0]!.length] });
  const cap = (layers: ReturnType<typeof layer>[]): AttentionCapture => ({ sets: [layers], layers: layers.map((_, i) => `L${i}`) });
  const eye = layer([
    [0.9, 0.1],
    [0.1, 0.9],
  ]);
  const flat = layer([
    [0.5, 0.5],
    [0.5, 0.5],
  ]);
  const common = {
    threshold: 0.2,
    baselineWhyNot: null,
    candidateWhyNot: null,
    baselineOutputs: [{ y: t([0.9, 0.1], [1, 2]) }],
    candidateOutputs: [{ y: t([0.8, 0.2], [1, 2]) }],
    pairs: [['y', 'y']] as [string, string][],
  };

  it('is 1 for identical attention and drops when the pattern changes', () => {
    const same = computeGraphF1({ ...common, baselineCapture: cap([eye, eye]), candidateCapture: cap([eye, eye]) });
    expect(same).toMatchObject({ lastLayer: 1, allLayers: 1, layers: 2, source: 'attention' });
    const changed = computeGraphF1({ ...common, baselineCapture: cap([eye, eye]), candidateCapture: cap([eye, flat]) });
    expect(changed.perLayer[0]).toBe(1);
    expect(changed.lastLayer).toBeCloseTo(2 / 3); // tp 2, fp 2
    expect(changed.allLayers).toBeCloseTo((2 * 4) / (2 * 4 + 2));
  });

  it('falls back to the outputs and says why', () => {
    const fused = computeGraphF1({
      ...common,
      baselineCapture: cap([eye]),
      candidateCapture: null,
      candidateWhyNot: 'attention is fused (com.microsoft::Attention x2)',
    });
    expect(fused.source).toBe('outputs-probabilities');
    expect(fused.note).toMatch(/because candidate: attention is fused/);
    const layers = computeGraphF1({ ...common, baselineCapture: cap([eye, eye]), candidateCapture: cap([eye]) });
    expect(layers.note).toMatch(/1 attention layers, the baseline 2/);
    expect(() => computeGraphF1({ ...common, pairs: [], baselineCapture: null, candidateCapture: null })).toThrow(/no outputs to fall back on/);
  });
});
