import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthesizeInputs } from '../../../src/inputs/synthesize.js';
import { DataType } from '../../../src/ir/dtype.js';
import { loadModel } from '../../../src/onnx/io.js';
import convertBfloat16 from '../../../src/optimize/passes/convert-bfloat16.js';
import { runPasses } from '../../../src/optimize/registry.js';
import { defaultContext } from '../../../src/pass/pass.js';
import { measureEmulated } from '../../../src/quantize/emulate.js';
import { compareModels } from '../../../src/measure/compare-models.js';
import { checkTypes } from '../../../src/quantize/type-check.js';

const fixture = (f: string) => path.resolve(__dirname, '../../../fixtures', f);

describe('convert-bfloat16', () => {
  it('is a lossy conversion pass that recurses into subgraphs', () => {
    expect(convertBfloat16).toMatchObject({ name: 'convert-bfloat16', kind: 'conversion', lossless: false, recursesIntoSubgraphs: true });
  });

  it('converts BERT to a structurally valid bfloat16 model within bfloat16 tolerance (emulated: no CPU kernels)', async () => {
    const before = loadModel(fixture('bert-tiny.onnx'));
    const m = loadModel(fixture('bert-tiny.onnx'));
    const r = runPasses(m, [convertBfloat16], { verify: true });
    expect(r.converged).toBe(true);
    expect(r.passes[0].counts).toMatchObject({ converted: 123, kept: 0, tensors: 56 });
    expect(r.passes[0].notes.join('\n')).toMatch(/no bfloat16 kernels/);
    expect(checkTypes(m)).toEqual([]);
    // the emulation of bfloat16 storage (what a bfloat16 device computes) stays within the pass's tolerance
    const f = await measureEmulated(before, { dtype: 'bf16' }, synthesizeInputs(before, { dims: { batch: 1, sequence: 8 }, seed: 2, count: 1 }));
    for (const o of f) expect(o.rangeError, o.name).toBeLessThan(convertBfloat16.tolerance!.rtol);
  });

  it('weightsOnly: bfloat16 storage that runs on CPU and matches float32', async () => {
    const before = loadModel(fixture('cnn-small.onnx'));
    const m = loadModel(fixture('cnn-small.onnx'));
    const res = convertBfloat16.run(m, defaultContext({ options: { 'convert-bfloat16': { weightsOnly: true } } }));
    expect(res.counts).toMatchObject({ tensors: 7, castsInserted: 7 });
    const f = await compareModels(before, m, synthesizeInputs(before, { dims: { batch: 2 }, seed: 3, count: 1 }));
    expect(f[0].rangeError).toBeLessThan(convertBfloat16.tolerance!.rtol);
    expect(convertBfloat16.run(m, defaultContext({ options: { weightsOnly: true } })).modified).toBe(false);
    expect([...m.allNodes()].filter((n) => n.opType === 'Cast').every((n) => n.getInt('to') === DataType.FLOAT)).toBe(true);
  });

  it('leaves an opset-11 model unchanged (no bfloat16 operators before opset 13)', () => {
    const m = loadModel(fixture('paddle-style.onnx'));
    expect(convertBfloat16.run(m, defaultContext()).modified).toBe(false);
  });
});
