/**
 * No conversion writes a model that silently computes something else: each model of fixtures/models/fp16-hazards.ts
 * is converted, must load in onnxruntime (verifyConverted) and match float32 within the low type's tolerance.
 */
import { describe, expect, it } from 'vitest';
import { buildEyeLike, buildMelWeightMatrix, buildMvn, buildOpset1Pool, buildOutOfRangeBn } from '../../fixtures/models/fp16-hazards.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { createModel, floatTensor, int64Tensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { AttrType } from '../../src/ir/graph.js';
import { tensorType } from '../../src/ir/types.js';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { compareModels } from '../../src/measure/compare-models.js';
import type { OutputFidelity } from '../../src/measure/types.js';
import { runPassList } from '../../src/pass/manager.js';
import fuseConvBn from '../../src/passes/fuse-conv-bn.js';
import { convertFloat } from '../../src/quantize/convert.js';
import type { ConvertOptions } from '../../src/quantize/options.js';
import { castAllows, castTo } from '../../src/quantize/casts.js';
import { checkTypes, inferElemTypes } from '../../src/quantize/type-check.js';
import { classifyLoadFailure, verifyConverted } from '../../src/quantize/verify.js';

const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));

async function convertChecked(m: Model, opts: ConvertOptions, dims: Record<string, number> = {}) {
  const after = clone(m);
  const report = convertFloat(after, opts);
  verify(after);
  expect(checkTypes(after)).toEqual([]);
  const load = await verifyConverted(after, { convert: opts });
  expect(load.message ?? '').toBe('');
  expect(load.loads).toBe(true);
  const feeds = synthesizeInputs(m, { dims, seed: 7, count: 2 });
  const fidelity = await compareModels(m, after, feeds);
  return { report, after, fidelity };
}

const worst = (f: OutputFidelity[]) => Math.max(...f.map((o) => o.maxAbsError ?? Number.POSITIVE_INFINITY));

describe('a constant the low type cannot hold keeps its readers float32', () => {
  const model = buildOutOfRangeBn();

  it('the fixture holds BatchNormalization variances above 65504', () => {
    const v = model.graph.initializers.get('bn1.var')!.initializer!.toFloat32();
    expect(Math.max(...v)).toBeGreaterThan(65504);
  });

  it('fp16 (default): BatchNormalization stays float32 (out-of-range), the output matches float32', async () => {
    const { report, after, fidelity } = await convertChecked(model, { dtype: 'fp16' }, { batch: 2 });
    expect(report.nodes.kept).toEqual([expect.objectContaining({ name: 'bn1', opType: 'BatchNormalization', reason: 'out-of-range' })]);
    expect(report.nodes.kept[0].detail).toMatch(/bn1\.var.*beyond float16's range.*fuse-conv-bn/);
    expect(report.outOfRange).toEqual([expect.objectContaining({ name: 'bn1.var', action: 'kept', readers: ['bn1'] })]);
    expect(report.outOfRange[0].values).toBeGreaterThan(0);
    expect(report.outOfRange[0].maxAbs).toBeGreaterThan(65504);
    expect(report.totals.clamped).toBe(0);
    expect(report.warnings.join('\n')).toMatch(/1 constant\(s\) hold values beyond float16's range \('bn1\.var'\).*stay float32.*--clamp/);
    // the other convs do convert
    expect(report.nodes.converted).toBeGreaterThanOrEqual(4);
    expect(after.graph.initializers.get('bn1.var')!.initializer!.dataType).toBe(DataType.FLOAT);
    expect(after.graph.initializers.get('conv1.w')!.initializer!.dataType).toBe(DataType.FLOAT16);
    // sigmoid probabilities within float16 tolerance
    expect(worst(fidelity)).toBeLessThan(5e-3);
    expect(fidelity[0].nonFinite).toBe(0);
  });

  it('fp16 with clamp: the variance is clamped and reported, and the output really is wrong (why clamping is opt-in)', async () => {
    const { report, fidelity } = await convertChecked(model, { dtype: 'fp16', clamp: true }, { batch: 2 });
    expect(report.nodes.kept).toEqual([]);
    expect(report.tensors.find((t) => t.name === 'bn1.var')!.clamped).toBeGreaterThan(0);
    expect(report.totals.clamped).toBeGreaterThan(0);
    expect(report.outOfRange).toEqual([expect.objectContaining({ name: 'bn1.var', action: 'clamped' })]);
    expect(report.warnings.join('\n')).toMatch(/clamped \d+ value\(s\) beyond float16's range in 1 tensor\(s\) \('bn1\.var'\).*as --clamp asked/);
    expect(worst(fidelity)).toBeGreaterThan(0.05);
  });

  it('fp16 weights-only: the variance stays a float32 tensor, the rest is stored in float16', async () => {
    const { report, after, fidelity } = await convertChecked(model, { dtype: 'fp16', weightsOnly: true, weightsMinElements: 1 }, { batch: 2 });
    expect(after.graph.initializers.get('bn1.var')!.initializer!.dataType).toBe(DataType.FLOAT);
    expect(after.graph.initializers.get('bn1.gamma')!.initializer!.dataType).toBe(DataType.FLOAT16);
    expect(report.outOfRange).toEqual([expect.objectContaining({ name: 'bn1.var', action: 'kept' })]);
    expect(report.totals.clamped).toBe(0);
    expect(worst(fidelity)).toBeLessThan(5e-3);
  });

  it('folding BatchNormalization into the Conv first removes the problem: everything converts, nothing is out of range', async () => {
    const folded = clone(model);
    runPassList(folded, [fuseConvBn]);
    expect([...folded.allNodes()].some((n) => n.opType === 'BatchNormalization')).toBe(false);
    const { report, fidelity } = await convertChecked(folded, { dtype: 'fp16' }, { batch: 2 });
    expect(report.outOfRange).toEqual([]);
    expect(report.nodes.kept).toEqual([]);
    const ref = await compareModels(
      model,
      (await convertChecked(folded, { dtype: 'fp16' }, { batch: 2 })).after,
      synthesizeInputs(model, { dims: { batch: 2 }, seed: 7 }),
    );
    expect(worst(ref)).toBeLessThan(5e-3);
    expect(worst(fidelity)).toBeLessThan(5e-3);
  });

  it('through data movement: a Reshape of the constant and the Reshape’s reader stay float32 too', async () => {
    const { model: m, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    const r = b.op('Reshape', [b.init('big', floatTensor([4], [1e5, 2, -3, 7e4])), b.const('shape', int64Tensor([2], [1, 4]))]);
    const y = b.op('Div', [x, r], {}, { name: 'div' });
    b.output(b.op('Mul', [y, b.init('s', floatTensor([4], [1, 2, 3, 4]))], {}, { name: 'mul' }), 'y');
    const { report, fidelity } = await convertChecked(m, { dtype: 'fp16', keepIoTypes: true });
    const kept = report.nodes.kept.map((k) => `${k.opType}:${k.reason}`).sort();
    expect(kept).toEqual(['Div:out-of-range', 'Reshape:out-of-range']);
    expect(report.totals.clamped).toBe(0);
    expect(worst(fidelity)).toBeLessThan(1e-3);
  });

  it("float32's extremes (torch's finfo.min mask) are sentinels: they saturate, nothing is kept for them", () => {
    const { model: m, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    b.output(b.op('Mul', [x, b.init('neg', floatTensor([4], [-3.4028234663852886e38, 0, 0, -3.4028234663852886e38]))]), 'y');
    const r = convertFloat(m, { dtype: 'fp16' });
    expect(r.nodes.kept).toEqual([]);
    expect(r.outOfRange).toEqual([expect.objectContaining({ name: 'neg', action: 'clamped', values: 2 })]);
  });

  it('bfloat16: the same rule (its range is float32 less 0.4%): a value of 3.395e38 keeps its reader float32', async () => {
    const { model: m, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    b.output(b.op('Mul', [x, b.init('huge', floatTensor([4], [3.395e38, 1e-38, 1, -2]))], {}, { name: 'mul' }), 'y');
    b.output(b.op('Add', [x, b.init('ok', floatTensor([4], [3.38e38, 1, 2, 3]))], {}, { name: 'add' }), 'z');
    const full = convertFloat(clone(m), { dtype: 'bf16', keepIoTypes: true });
    expect(full.nodes.kept).toEqual([expect.objectContaining({ name: 'mul', reason: 'out-of-range' })]);
    expect(full.totals.clamped).toBe(0);
    // weights-only runs on CPU: the out-of-range tensor stays float32, the output is exact where it was stored exactly
    const { report, after } = await convertChecked(m, { dtype: 'bf16', weightsOnly: true, weightsMinElements: 1 });
    expect(after.graph.initializers.get('huge')!.initializer!.dataType).toBe(DataType.FLOAT);
    expect(after.graph.initializers.get('ok')!.initializer!.dataType).toBe(DataType.BFLOAT16);
    expect(report.outOfRange).toEqual([expect.objectContaining({ name: 'huge', action: 'kept' })]);
  });
});

describe('inserted nodes follow the opset; operators onnxruntime cannot run in float16 stay float32', () => {
  it('opset 1: weights-only changes nothing and says why (onnxruntime has no Cast-1 kernel for float16)', async () => {
    const m = buildOpset1Pool();
    const { report, after, fidelity } = await convertChecked(m, { dtype: 'fp16', weightsOnly: true });
    expect(report.modified).toBe(false);
    expect(report.warnings.join('\n')).toMatch(/opset 1: onnxruntime cannot run a Cast from float16.*opset 6 or newer/);
    expect([...after.allNodes()].some((n) => n.opType === 'Cast')).toBe(false);
    expect(worst(fidelity)).toBe(0);
  });

  it('Cast-1 (opsets 1-5) takes `to` as a STRING, Cast-6+ as an int; the type checker reads both', () => {
    const a = castTo(1, DataType.FLOAT16);
    expect([a.type, a.value]).toEqual([AttrType.STRING, 'FLOAT16']);
    expect(castTo(5, DataType.FLOAT).value).toBe('FLOAT');
    const b6 = castTo(6, DataType.FLOAT16);
    expect([b6.type, Number(b6.value)]).toEqual([AttrType.INT, DataType.FLOAT16]);
    expect(castAllows(1, DataType.FLOAT16)).toBe(true);
    expect(castAllows(1, DataType.BFLOAT16)).toBe(false);
    expect(castAllows(12, DataType.BFLOAT16)).toBe(false);
    expect(castAllows(13, DataType.BFLOAT16)).toBe(true);
    // a model whose Cast-1 says "FLOAT16": the type of its output is float16, and a declared float16 checks out
    const { model: m, b } = createModel({ opset: 1, irVersion: 3 });
    const x = b.input('x', DataType.FLOAT, [2]);
    const y = b.op('Cast', [x], { to: 'FLOAT16' } as never);
    y.type = tensorType(DataType.FLOAT16, [2]);
    b.output(y, 'y');
    expect(inferElemTypes(m).get(y)).toBe(DataType.FLOAT16);
    expect(checkTypes(m)).toEqual([]);
    // converting it changes nothing (opset 1) and leaves the string attribute as it is
    const r = convertFloat(m, { dtype: 'fp16' });
    expect(r.modified).toBe(false);
    expect(m.graph.nodes[0].getString('to')).toBe('FLOAT16');
  });

  it('opset 1: a full conversion keeps every node float32 (onnxruntime inserts Cast-6 around float16 nodes) and says why', async () => {
    const m = buildOpset1Pool();
    const { report, fidelity } = await convertChecked(m, { dtype: 'fp16' });
    expect(report.nodes.converted).toBe(0);
    expect(new Set(report.nodes.kept.map((k) => k.reason))).toEqual(new Set(['runtime']));
    expect(report.nodes.kept[0].detail).toMatch(/opset 1.*Cast-6/);
    expect(worst(fidelity)).toBe(0);
  });

  it('EyeLike with an integer input and dtype FLOAT stays float32 (no float16 kernel): loads and matches', async () => {
    const { report, fidelity } = await convertChecked(buildEyeLike(), { dtype: 'fp16' });
    expect(report.nodes.kept).toEqual([expect.objectContaining({ opType: 'EyeLike', reason: 'runtime' })]);
    expect(worst(fidelity)).toBeLessThan(1e-2);
  });

  it.each([9, 13, 18])('MeanVarianceNormalization-%i stays float32: loads and matches', async (opset) => {
    const { report, fidelity } = await convertChecked(buildMvn(opset), { dtype: 'fp16' });
    expect(report.nodes.kept).toEqual([expect.objectContaining({ opType: 'MeanVarianceNormalization', reason: 'runtime' })]);
    expect(report.nodes.converted).toBeGreaterThan(0);
    expect(Math.max(...fidelity.map((o) => o.rangeError ?? 1))).toBeLessThan(5e-3);
  });

  /** x [B, 5, 8] -> q, k, v projections -> Attention-23 (2 heads), with a padding mask (1 - m) * finfo.min if asked */
  function attention23(withMask: boolean): Model {
    const { model: m, b } = createModel({ opset: 23, irVersion: 11 });
    const x = b.input('x', DataType.FLOAT, ['batch', 5, 8]);
    const w = (name: string, seed: number) =>
      b.init(
        name,
        floatTensor(
          [8, 8],
          Array.from({ length: 64 }, (_, i) => Math.sin(i * seed) * 0.4),
        ),
      );
    const [q, k, v] = ['wq', 'wk', 'wv'].map((n, i) => b.op('MatMul', [x, w(n, i + 1)]));
    const inputs = [q, k, v];
    if (withMask) {
      const pad = b.input('pad', DataType.FLOAT, ['batch', 1, 5, 5]);
      inputs.push(b.op('Mul', [b.op('Sub', [b.init('one', floatTensor([], [1])), pad]), b.init('fmin', floatTensor([], [-3.4028234663852886e38]))]));
    }
    b.output(b.op('Attention', inputs, { q_num_heads: 2, kv_num_heads: 2 }), 'y', DataType.FLOAT);
    return m;
  }

  it('Attention-23 with a float attn_mask stays float32, with q, k and v cast back (onnxruntime expands it into one type): loads and matches', async () => {
    const { report, after, fidelity } = await convertChecked(attention23(true), { dtype: 'fp16', keepIoTypes: true }, { batch: 2 });
    expect(report.nodes.kept).toContainEqual(expect.objectContaining({ opType: 'Attention', reason: 'runtime' }));
    const types = inferElemTypes(after);
    const att = after.graph.nodes.find((n) => n.opType === 'Attention')!;
    expect(att.inputs.map((v) => types.get(v!))).toEqual([DataType.FLOAT, DataType.FLOAT, DataType.FLOAT, DataType.FLOAT]);
    expect(worst(fidelity)).toBeLessThan(1e-2);
  });

  it('Attention-23 without a mask converts as a whole (v with q and k): loads and matches', async () => {
    const { report, after, fidelity } = await convertChecked(attention23(false), { dtype: 'fp16', keepIoTypes: true }, { batch: 2 });
    expect(report.nodes.kept.map((k) => k.opType)).not.toContain('Attention');
    const types = inferElemTypes(after);
    const att = after.graph.nodes.find((n) => n.opType === 'Attention')!;
    expect(att.inputs.map((v) => types.get(v!))).toEqual([DataType.FLOAT16, DataType.FLOAT16, DataType.FLOAT16]);
    expect(worst(fidelity)).toBeLessThan(1e-2);
  });

  it('MelWeightMatrix stays float32: loads and matches', async () => {
    const { report, fidelity } = await convertChecked(buildMelWeightMatrix(), { dtype: 'fp16' }, { frames: 3 });
    expect(report.nodes.kept).toEqual([expect.objectContaining({ opType: 'MelWeightMatrix', reason: 'runtime' })]);
    expect(Math.max(...fidelity.map((o) => o.rangeError ?? 1))).toBeLessThan(5e-3);
  });

  it('ScatterND / ScatterElements with a reduction stay float32 (the float16 kernel refuses it when run)', async () => {
    const { model: m, b } = createModel({ opset: 18 });
    const x = b.input('x', DataType.FLOAT, [3, 3]);
    const u = b.input('u', DataType.FLOAT, [1, 3]);
    const s = b.op('ScatterND', [b.op('Relu', [x]), b.init('i', int64Tensor([1, 1], [0])), u], { reduction: 'add' });
    b.output(b.op('Sigmoid', [s]), 'y');
    const { report, fidelity } = await convertChecked(m, { dtype: 'fp16' });
    expect(report.nodes.kept).toEqual([expect.objectContaining({ opType: 'ScatterND', reason: 'runtime' })]);
    expect(Math.max(...fidelity.map((o) => o.rangeError ?? 1))).toBeLessThan(5e-3);
  });

  it('Cast(to=STRING) reads float32: the strings are the float32 digits', async () => {
    const { model: m, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [4]);
    b.output(b.op('Cast', [b.op('Relu', [x])], { to: DataType.STRING }), 's');
    b.output(b.op('Sigmoid', [x]), 'y');
    const after = clone(m);
    convertFloat(after, { dtype: 'fp16', keepIoTypes: true });
    const cast = [...after.allNodes()].find((n) => n.opType === 'Cast' && n.getInt('to') === DataType.STRING)!;
    expect(cast.inputs[0]!.producer!.opType).toBe('Relu');
    expect((await verifyConverted(after)).loads).toBe(true);
  });
});

describe('verifyConverted', () => {
  it('reports an invalid model as fatal, without throwing', async () => {
    const { model: m, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Add', [x, b.init('h', floatTensor([2], [1, 2]))]), 'y');
    m.graph.initializers.get('h')!.initializer!.setData(new Uint16Array([0x3c00, 0x4000]), DataType.FLOAT16);
    m.graph.initializers.get('h')!.type = undefined;
    const r = await verifyConverted(m);
    expect(r.loads).toBe(false);
    expect(r.fatal).toBe(true);
    expect(r.kind).toBe('invalid-model');
  });

  it('a full bfloat16 conversion refused on CPU for missing kernels is expected (not fatal)', async () => {
    const { model: m, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Sigmoid', [b.op('Add', [x, b.init('h', floatTensor([2], [1, 2]))])]), 'y');
    convertFloat(m, { dtype: 'bf16', keepIoTypes: true });
    const r = await verifyConverted(m, { convert: { dtype: 'bf16' } });
    expect(r.loads).toBe(false);
    expect(r.kind).toBe('no-kernel');
    expect(r.fatal).toBe(false);
    expect((await verifyConverted(m, { convert: { dtype: 'fp16' } })).fatal).toBe(true);
  });

  it('classifies onnxruntime messages', () => {
    expect(classifyLoadFailure("Could not find an implementation for EyeLike(9) node with name ''")).toBe('no-kernel');
    expect(classifyLoadFailure('This is an invalid model. In Node, ... Error Mismatched attribute type')).toBe('invalid-model');
    expect(classifyLoadFailure('Type Error: Type parameter (T) of Optype (Add) bound to different types')).toBe('invalid-model');
  });
});
