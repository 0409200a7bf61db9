import { AssertionError } from 'node:assert';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { decodeModelBytes, loadModel } from '../../src/onnx/io.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { buildBert, buildCnn } from '../../fixtures/models/index.js';
import { expectSameOutputs, runModel } from './equivalence.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures');
const copy = (m: Model): Model => decodeModelBytes(encodeModel(m));

/** Adds `delta` to element `index` of initializer `name`. */
function perturb(m: Model, name: string, index: number, delta: number): Model {
  const t = m.graph.initializers.get(name)!.initializer!;
  const v = t.toFloat32().slice();
  v[index] += delta;
  t.setData(v);
  return m;
}

describe('expectSameOutputs', () => {
  it('passes for identical models and reports zero difference', async () => {
    const cnn = buildCnn();
    expect(await expectSameOutputs(cnn, copy(cnn), { dims: { batch: 2 }, sets: 2 })).toEqual({ maxAbs: 0, maxRel: 0 });
    const bert = loadModel(path.join(FIXTURES, 'bert-tiny.onnx'));
    expect(await expectSameOutputs(bert, copy(bert), { dims: { batch: 2, sequence: 8 } })).toEqual({ maxAbs: 0, maxRel: 0 });
  });

  it('fails for a model with one perturbed weight, naming output, index and both values', async () => {
    const cnn = buildCnn();
    const bad = perturb(copy(cnn), 'layer2.conv2.weight', 5, 0.05);
    const e = await expectSameOutputs(cnn, bad, { dims: { batch: 2 } }).catch((x) => x);
    expect(e).toBeInstanceOf(AssertionError);
    expect(e.message).toMatch(
      /^output 'logits' differs at index \d+ \[\d, \d\]: before=-?[\d.e-]+, after=-?[\d.e-]+, \|diff\|=[\d.e-]+ > atol 0.00001 \+ rtol 0.0001 \* \|before\|/,
    );

    const bert = buildBert({ classifier: 2 });
    const badBert = perturb(copy(bert), 'encoder.layer.1.output.LayerNorm.bias', 3, 1e-3);
    await expect(expectSameOutputs(bert, badBert, { dims: { batch: 1, sequence: 4 } })).rejects.toThrow(
      /output 'last_hidden_state' differs at index 3 \[0, 0, 3\]/,
    );
  });

  it('accepts differences within the tolerance and reports them', async () => {
    const cnn = buildCnn();
    const near = perturb(copy(cnn), 'fc.bias', 0, 1e-6);
    const r = await expectSameOutputs(cnn, near, { dims: { batch: 2 } });
    expect(r.maxAbs).toBeGreaterThan(0);
    expect(r.maxAbs).toBeLessThan(1e-5);
    const far = perturb(copy(cnn), 'fc.bias', 0, 0.01);
    await expect(expectSameOutputs(cnn, far, { dims: { batch: 2 } })).rejects.toThrow(AssertionError);
    const loose = await expectSameOutputs(cnn, far, { dims: { batch: 2 }, atol: 0.02 });
    expect(loose.maxAbs).toBeCloseTo(0.01, 4);
  });

  it('compares NaN positions and float16 outputs', async () => {
    const build = (fn: 'Sqrt' | 'AbsSqrt', half: boolean) => {
      const { model, b } = createModel({ opset: 17 });
      const x = b.input('x', DataType.FLOAT, ['n', 4]);
      let y = fn === 'Sqrt' ? b.op('Sqrt', [x]) : b.op('Sqrt', [b.op('Abs', [x])]);
      if (half) y = b.op('Cast', [y], { to: DataType.FLOAT16 });
      b.output(y, 'y', half ? DataType.FLOAT16 : DataType.FLOAT, ['n', 4]);
      return model;
    };
    const r = await expectSameOutputs(build('Sqrt', false), build('Sqrt', false), { dims: { n: 3 } });
    expect(r.maxAbs).toBe(0);
    await expect(expectSameOutputs(build('Sqrt', false), build('AbsSqrt', false), { dims: { n: 3 } })).rejects.toThrow(
      /output 'y': NaN positions differ, first at index \d+ \[\d, \d\]: before=NaN, after=[\d.]+/,
    );
    // float16 output against a float32 one: compared as float32, within float16 rounding
    const h = await expectSameOutputs(build('AbsSqrt', false), build('AbsSqrt', true), { dims: { n: 3 }, rtol: 1e-3 });
    expect(h.maxRel).toBeGreaterThan(0);
    expect(h.maxRel).toBeLessThan(1e-3);
    await expect(expectSameOutputs(build('AbsSqrt', false), build('AbsSqrt', true), { dims: { n: 3 } })).rejects.toThrow(/differs/);
  });

  it('fails when the rewritten model loses an output or changes a shape', async () => {
    const { model: a, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    b.output(b.op('Relu', [x]), 'y', DataType.FLOAT, [2, 3]);
    const { model: c, b: b2 } = createModel({ opset: 17 });
    const x2 = b2.input('x', DataType.FLOAT, [2, 3]);
    b2.output(b2.op('Relu', [x2]), 'z', DataType.FLOAT, [2, 3]);
    await expect(expectSameOutputs(a, c)).rejects.toThrow(/lost output\(s\) y; it has z/);
    const { model: d, b: b3 } = createModel({ opset: 17 });
    const x3 = b3.input('x', DataType.FLOAT, [2, 3]);
    b3.output(b3.op('Flatten', [b3.op('Relu', [x3])], { axis: 0 }), 'y', DataType.FLOAT);
    await expect(expectSameOutputs(a, d)).rejects.toThrow(/output 'y': shape \[1, 6\] differs from the original \[2, 3\]/);
  });

  it('compares every input set, and names the set that differs', async () => {
    const build = (differ: boolean) => {
      const { model, b } = createModel({ opset: 17 });
      const x = b.input('x', DataType.FLOAT, [1]);
      // after: x + 1 where x <= 0
      const y = differ
        ? b.op('Where', [b.op('Greater', [x, b.const('zero', floatTensor([1], [0]))]), x, b.op('Add', [x, b.const('one', floatTensor([1], [1]))])])
        : b.op('Identity', [x]);
      b.output(y, 'y', DataType.FLOAT, [1]);
      return model;
    };
    const before = build(false);
    const first = (seed: number, k: number) => (synthesizeInputs(before, { seed, count: k + 1 })[k].x.data as Float32Array)[0];
    const seed = Array.from({ length: 50 }, (_, i) => i).find((sd) => first(sd, 0) > 0 && first(sd, 1) <= 0)!;
    expect(seed).toBeDefined();
    await expectSameOutputs(before, build(true), { seed });
    await expect(expectSameOutputs(before, build(true), { seed, sets: 2 })).rejects.toThrow(/output 'y \(input set 1\)' differs at index 0/);
  });

  it('runModel runs one model on given feeds', async () => {
    const cnn = buildCnn();
    const out = await runModel(cnn, synthesizeInputs(cnn, { dims: { batch: 1 } })[0]);
    expect(out.logits.dims).toEqual([1, 10]);
  });
});
