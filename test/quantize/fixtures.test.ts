/**
 * float16 / bfloat16 conversion of the committed fixtures: the converted models load and run in onnxruntime-node
 * on CPU (float16) or are structurally valid (bfloat16), stay within the stated tolerance of float32, halve their
 * weight bytes, and a second conversion changes nothing.
 *
 * Tolerance stated for float16 on these fixtures: max |fp16 - fp32| <= 0.5% of each output's range, cosine >= 0.9999.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { forEachTensor, loadModel, saveModel } from '../../src/onnx/io.js';
import { adaptFeed } from '../../src/inputs/adapt.js';
import { compareRuns } from '../../src/measure/compare-models.js';
import { convertFloat } from '../../src/quantize/convert.js';
import type { OutputFidelity } from '../../src/measure/types.js';
import { checkTypes } from '../../src/quantize/type-check.js';
import { runModel } from '../helpers/equivalence.js';

const fixtures = path.resolve(__dirname, '../../fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-quantize-fixtures-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const DIMS: Record<string, Record<string, number>> = {
  'bert-tiny.onnx': { batch: 2, sequence: 16 },
  'cnn-small.onnx': { batch: 2 },
  'control-flow.onnx': { batch: 2 },
  'paddle-style.onnx': { batch: 2 },
  'external/mlp.onnx': { batch: 2 },
};

async function fidelity(before: Model, after: Model, dims: Record<string, number>, sets = 2): Promise<OutputFidelity[]> {
  const feeds = synthesizeInputs(before, { dims, seed: 7, count: sets });
  const ref = [];
  const got = [];
  for (const f of feeds) {
    ref.push(await runModel(before, f));
    got.push(await runModel(after, adaptFeed(f, after)));
  }
  return compareRuns(got, ref);
}

function floatBytes(m: Model): { f32: number; low: number } {
  let f32 = 0;
  let low = 0;
  forEachTensor(m, (t) => {
    if (t.dataType === DataType.FLOAT) f32 += t.byteLength;
    if (t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16) low += t.byteLength;
  });
  return { f32, low };
}

describe('float16 fixtures run on CPU within tolerance', () => {
  it.each(Object.keys(DIMS))('%s', async (file) => {
    const before = loadModel(path.join(fixtures, file));
    const after = loadModel(path.join(fixtures, file));
    const r = convertFloat(after, { dtype: 'fp16' });
    verify(after);
    expect(checkTypes(after)).toEqual([]);
    expect(r.modified).toBe(true);
    expect(r.nodes.converted).toBeGreaterThan(0);
    // every float32 model input and output is float16 now
    for (const io of [...r.inputs, ...r.outputs]) expect(io.dtype, io.name).not.toBe('float32');
    const f = await fidelity(before, after, DIMS[file]);
    for (const o of f) {
      expect(o.nonFinite, o.name).toBe(0);
      expect(o.rangeError, o.name).toBeLessThan(5e-3);
      expect(o.cosine, o.name).toBeGreaterThan(0.9999);
    }
    // weights: every float32 byte became a float16 half-size byte
    const b = floatBytes(before);
    const a = floatBytes(after);
    expect(a.low).toBeGreaterThan(0);
    expect(a.low + a.f32).toBeLessThanOrEqual(b.f32 / 2 + a.f32 + 16);
  });

  it('BERT: about half the file, a clamped mask constant and sub-subnormal epsilons reported per tensor', async () => {
    const m = loadModel(path.join(fixtures, 'bert-tiny.onnx'));
    const r = convertFloat(m, { dtype: 'fp16' });
    // torch's finfo.min attention-mask constant saturates to -65504 (never to -1e4), counted on its tensor
    const clamped = r.tensors.filter((t) => t.clamped > 0);
    expect(clamped).toHaveLength(1);
    expect(clamped[0]).toMatchObject({ elements: 1, clamped: 1, scalar: -3.4028234663852886e38 });
    // LayerNorm's 1e-12 epsilon is below float16's smallest subnormal: stored as 2^-24 rather than 0, counted, warned
    const eps = r.tensors.filter((t) => t.raised);
    expect(eps.length).toBe(5);
    expect(eps.every((t) => t.raised === 1 && t.flushed === 0 && Math.abs(t.scalar! - 1e-12) < 1e-15)).toBe(true);
    expect(r.totals).toMatchObject({ raised: 5, flushed: 0 });
    expect(r.warnings.join('\n')).toMatch(/5 constant\(s\) lie entirely below float16's smallest subnormal .* stored as \+-2\^-24/);
    expect(r.totals.bytesAfter * 2).toBe(r.totals.bytesBefore);
    const out = path.join(tmp, 'bert16.onnx');
    const saved = saveModel(m, out);
    const before = fs.statSync(path.join(fixtures, 'bert-tiny.onnx')).size;
    // the float weights halve; int64 position ids and the graph itself do not
    expect(saved.bytes).toBeLessThan(before * 0.7);
    const again = loadModel(out);
    expect(checkTypes(again)).toEqual([]);
    expect((await fidelity(loadModel(path.join(fixtures, 'bert-tiny.onnx')), again, DIMS['bert-tiny.onnx'], 1))[0].cosine).toBeGreaterThan(0.9999);
  });

  it('CNN: Conv, BatchNormalization, pooling and Gemm all compute in float16; the file is about half', () => {
    const m = loadModel(path.join(fixtures, 'cnn-small.onnx'));
    const r = convertFloat(m, { dtype: 'fp16' });
    expect(r.nodes.kept).toEqual([]);
    expect(r.castsInserted).toBe(0);
    expect([...m.allNodes()].filter((n) => n.opType === 'Cast')).toHaveLength(0);
    const saved = saveModel(m, path.join(tmp, 'cnn16.onnx'));
    const ratio = saved.bytes / fs.statSync(path.join(fixtures, 'cnn-small.onnx')).size;
    // 2 882 weights halve; the graph (names, attributes) of so small a model does not
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.7);
    expect(r.totals.bytesAfter * 2).toBe(r.totals.bytesBefore);
  });

  it('a second conversion is a no-op with a message', () => {
    for (const file of Object.keys(DIMS)) {
      const m = loadModel(path.join(fixtures, file));
      convertFloat(m, { dtype: 'fp16' });
      const bytes = encodeModel(m);
      const r = convertFloat(m, { dtype: 'fp16' });
      expect(r.modified, file).toBe(false);
      expect(r.message, file).toMatch(/nothing to convert: the model is already float16/);
      expect(Buffer.compare(encodeModel(m), bytes), file).toBe(0);
    }
  });
});

describe('bfloat16 fixtures are structurally valid', () => {
  it.each(Object.keys(DIMS))('%s', (file) => {
    const m = loadModel(path.join(fixtures, file));
    const r = convertFloat(m, { dtype: 'bf16' });
    verify(m);
    expect(checkTypes(m)).toEqual([]);
    // bfloat16 has about float32's range: only torch's finfo.min mask (-3.40e38 < -3.39e38, bfloat16's lowest) saturates
    expect(r.totals.clamped).toBe(file === 'bert-tiny.onnx' ? 1 : 0);
    expect(r.totals.raised).toBe(0);
    expect(r.warnings.join('\n')).toMatch(/no bfloat16 kernels|no bfloat16 operators/);
    const again = convertFloat(m, { dtype: 'bf16' });
    expect(again.modified).toBe(false);
  });

  it('BERT computes in bfloat16 throughout; CNN keeps Conv/BatchNormalization/pooling float32 (no bfloat16 before opset 22)', () => {
    const bert = loadModel(path.join(fixtures, 'bert-tiny.onnx'));
    const rb = convertFloat(bert, { dtype: 'bf16' });
    expect(rb.nodes.kept).toEqual([]);
    expect(floatBytes(bert).f32).toBeLessThan(64);
    const cnn = loadModel(path.join(fixtures, 'cnn-small.onnx'));
    const rc = convertFloat(cnn, { dtype: 'bf16' });
    expect(new Set(rc.nodes.kept.map((k) => k.opType))).toEqual(new Set(['Conv', 'BatchNormalization', 'MaxPool', 'GlobalAveragePool']));
    expect(rc.nodes.kept.every((k) => k.reason === 'schema')).toBe(true);
    // Casts only at the float32 island's boundaries, none in a row
    for (const n of cnn.allNodes()) if (n.opType === 'Cast') expect(n.inputs[0]!.producer?.opType).not.toBe('Cast');
  });

  it('an opset-11 model has no bfloat16 operators: left unchanged, with a warning', () => {
    const m = loadModel(path.join(fixtures, 'paddle-style.onnx'));
    const bytes = encodeModel(m);
    const r = convertFloat(m, { dtype: 'bf16' });
    expect(r.modified).toBe(false);
    expect(r.warnings.join('\n')).toMatch(/opset 11 has no bfloat16 operators/);
    expect(Buffer.compare(encodeModel(m), bytes)).toBe(0);
  });
});

describe('external data', () => {
  it('converts a model with external data and saves the result with external data too', async () => {
    const src = path.join(fixtures, 'external/mlp.onnx');
    const m = loadModel(src);
    expect(m.source!.externalBytes).toBeGreaterThan(0);
    const r = convertFloat(m, { dtype: 'fp16' });
    expect(r.totals.tensors).toBe(4);
    const out = path.join(tmp, 'mlp16.onnx');
    const saved = saveModel(m, out, { externalData: true, sizeThreshold: 0 });
    expect(saved.externalPath).toBe(`${out}.data`);
    const dataBefore = fs.statSync(`${src}.data`).size;
    // 212 float32 weights -> float16 (+ alignment padding between tensors)
    expect(saved.externalBytes).toBeLessThan(dataBefore * 0.6);
    const again = loadModel(out);
    let external = 0;
    forEachTensor(again, (t) => {
      if (t.isExternal) {
        external++;
        expect(t.dataType).toBe(DataType.FLOAT16);
      }
    });
    expect(external).toBe(4);
    expect(checkTypes(again)).toEqual([]);
    const f = await fidelity(loadModel(src), again, DIMS['external/mlp.onnx']);
    expect(f[0].rangeError).toBeLessThan(5e-3);
    // the original data file is untouched
    expect(fs.statSync(`${src}.data`).size).toBe(dataBefore);
  });
});
