import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthesizeInputs } from '../../../src/inputs/synthesize.js';
import { createModel, floatTensor } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { elemTypeOf } from '../../../src/ir/types.js';
import { verify } from '../../../src/ir/verify.js';
import { loadModel } from '../../../src/onnx/io.js';
import convertFloat16 from '../../../src/optimize/passes/convert-float16.js';
import { runPasses } from '../../../src/optimize/registry.js';
import { defaultContext } from '../../../src/pass/pass.js';
import { compareModels } from '../../../src/measure/compare-models.js';
import { checkTypes } from '../../../src/quantize/type-check.js';

const bert = path.resolve(__dirname, '../../../fixtures/bert-tiny.onnx');

describe('convert-float16', () => {
  it('is a lossy conversion pass that recurses into subgraphs', () => {
    expect(convertFloat16).toMatchObject({ name: 'convert-float16', kind: 'conversion', lossless: false, recursesIntoSubgraphs: true });
    expect(convertFloat16.tolerance).toEqual({ rtol: 1e-2, atol: 1e-3 });
  });

  it('converts BERT under the pass manager, reaches a fixed point, and stays within tolerance', async () => {
    const before = loadModel(bert);
    const m = loadModel(bert);
    const logs: string[] = [];
    const r = runPasses(m, [convertFloat16], { verify: true, log: (s) => logs.push(s) });
    expect(r.converged).toBe(true);
    expect(r.iterations).toBe(2); // the second round changes nothing
    const p = r.passes[0];
    expect(p.modified).toBe(true);
    expect(p.counts).toMatchObject({ converted: 123, kept: 0, tensors: 56, clamped: 1, flushed: 0, raised: 5, castsInserted: 0 });
    expect(p.notes[0]).toMatch(/converted 123 of 259 nodes to float16/);
    expect(logs.some((l) => l.startsWith('convert-float16: converted'))).toBe(true);
    expect(checkTypes(m)).toEqual([]);
    const f = await compareModels(before, m, synthesizeInputs(before, { dims: { batch: 1, sequence: 8 }, seed: 1, count: 1 }));
    for (const o of f) expect(o.rangeError, o.name).toBeLessThan(convertFloat16.tolerance!.rtol);
  });

  it('takes options as flat keys or under its own name', () => {
    const build = () => {
      const { model, b } = createModel({ opset: 17 });
      const x = b.input('x', DataType.FLOAT, [2, 4]);
      b.output(
        b.op('Softmax', [b.op('MatMul', [x, b.init('W', floatTensor([4, 4], new Float32Array(16).fill(0.25)))], {}, { name: 'mm' })]),
        'y',
        DataType.FLOAT,
        [2, 4],
      );
      return model;
    };
    const flat = build();
    const r1 = convertFloat16.run(flat, defaultContext({ options: { keepIoTypes: true } }));
    verify(flat);
    expect(r1.modified).toBe(true);
    expect(elemTypeOf(flat.graph.inputs[0].type)).toBe(DataType.FLOAT);
    const own = build();
    const r2 = convertFloat16.run(own, defaultContext({ options: { keepIoTypes: true, 'convert-float16': { keepIoTypes: false, nodeBlockList: ['mm'] } } }));
    expect(r2.counts).toMatchObject({ kept: 1 });
    expect(elemTypeOf(own.graph.inputs[0].type)).toBe(DataType.FLOAT16);
  });

  it('does not fire on a model without float32, and reports nothing', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.INT64, [3]);
    b.output(b.op('Add', [x, x]), 'y', DataType.INT64, [3]);
    expect(convertFloat16.run(model, defaultContext())).toEqual({ modified: false, counts: {} });
  });
});
