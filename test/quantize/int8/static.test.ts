/**
 * quantize-static: QDQ around Conv / MatMul / Gemm with calibrated activation ranges. Checked: the QDQ model runs in
 * onnxruntime-node and onnxruntime fuses it into QLinearConv / QLinearMatMul at session creation; outputs on inputs
 * that were not in the calibration set keep cosine >= 0.995 (uint8 activations, per-channel weights) against float32.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createModel, floatTensor, type GraphBuilder } from '../../../src/ir/builder.js';
import type { Model } from '../../../src/ir/model.js';
import { verify } from '../../../src/ir/verify.js';
import { encodeModel } from '../../../src/onnx/encode.js';
import { loadModel } from '../../../src/onnx/io.js';
import { createSession } from '../../../src/runtime/session.js';
import { quantizeStatic } from '../../../src/quantize/int8/static.js';
import { Rng } from '../../../src/util/rng.js';
import { copyModel, cosine, countOps, DataType, floatFeed, run } from './helpers.js';

const rng = new Rng(21);
const w = (b: GraphBuilder, name: string, dims: number[], std: number) =>
  b.init(name, floatTensor(dims, rng.fork(name).fillNormal(new Float32Array(dims.reduce((a, c) => a * c, 1)), std)));

/** x [n, 3, 16, 16] -> Conv(8, bias)+Relu -> Conv(8, bias)+Relu -> GlobalAveragePool -> Flatten -> Gemm(transB) -> logits */
export function cnn(C = 8): Model {
  const { model, b } = createModel({ opset: 13 });
  const x = b.input('x', DataType.FLOAT, ['n', 3, 16, 16]);
  const conv = (name: string, inp: ReturnType<typeof b.input>, cin: number) =>
    b.op('Relu', [
      b.op(
        'Conv',
        [inp, w(b, `${name}.w`, [C, cin, 3, 3], Math.sqrt(2 / (cin * 9))), w(b, `${name}.b`, [C], 0.1)],
        { pads: [1, 1, 1, 1], kernel_shape: [3, 3] },
        { name },
      ),
    ]);
  const h = conv('conv2', conv('conv1', x, 3), C);
  const flat = b.op('Flatten', [b.op('GlobalAveragePool', [h])]);
  b.output(b.op('Gemm', [flat, w(b, 'fc.w', [10, C], 0.5), w(b, 'fc.b', [10], 0.1)], { transB: 1 }, { name: 'fc' }), 'logits', DataType.FLOAT);
  return model;
}

const calib = (n: number, seed: number): Record<string, ort.Tensor>[] => Array.from({ length: n }, (_, i) => ({ x: floatFeed([1, 3, 16, 16], seed + i) }));

async function optimizedOps(m: Model): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-qdq-'));
  const file = path.join(dir, 'opt.onnx');
  try {
    const s = await createSession(m, { optimizationLevel: 'extended', optimizedModelFilePath: file });
    await s.release();
    return [...loadModel(file).allNodes()].map((n) => n.opType);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('quantizeStatic', () => {
  for (const method of ['minmax', 'percentile'] as const)
    it(`${method}: QDQ CNN runs, onnxruntime fuses QLinearConv, outputs close on unseen inputs`, async () => {
      const before = cnn();
      const after = copyModel(before);
      const r = await quantizeStatic(after, { calibration: calib(16, 100), method });
      verify(after);
      expect(r.quantized.map((q) => [q.name, q.as])).toEqual([
        ['conv1', 'QDQ'],
        ['conv2', 'QDQ'],
        ['fc', 'QDQ'],
      ]);
      expect(countOps(after, 'Relu')).toBe(0); // both folded into the quantized range
      expect(countOps(after, 'Conv')).toBe(2);
      // activations: x, conv1 (relu range), conv2 (relu range), flatten output; logits is a graph output: float
      expect(r.activations.map((a) => a.name)).toEqual(['x', 'conv1_out', 'conv2_out', 'Flatten_out']);
      expect(r.activations[1].lo).toBe(0);
      expect(r.activations[1].zeroPoint).toBe(0);
      expect(r.weights.find((x) => x.name === 'conv1.w')).toMatchObject({ bytesBefore: 4 * 8 * 27, bytesAfter: 8 * 27 + 5 * 8 });
      const ops = await optimizedOps(after);
      expect(ops.filter((o) => o === 'QLinearConv').length).toBe(2);
      expect(ops).not.toContain('Conv');
      for (const seed of [500, 501]) {
        const feeds = { x: floatFeed([2, 3, 16, 16], seed) };
        const a = (await run(before, feeds)).logits;
        const b = (await run(after, feeds, 'all')).logits;
        const c = (await run(after, feeds)).logits;
        expect(cosine(a, b)).toBeGreaterThanOrEqual(0.995);
        expect(cosine(a, c)).toBeGreaterThanOrEqual(0.995);
      }
    });

  it('int8 activations, per-tensor weights and no Relu folding also run', async () => {
    const before = cnn();
    const after = copyModel(before);
    const r = await quantizeStatic(after, { calibration: calib(8, 7), activationType: 'int8', perChannel: false, foldRelu: false });
    verify(after);
    expect(countOps(after, 'Relu')).toBe(2);
    expect(r.activations.length).toBe(5); // x, conv1, relu1 (conv2 input), conv2, flatten
    const feeds = { x: floatFeed([2, 3, 16, 16], 900) };
    expect(cosine((await run(before, feeds)).logits, (await run(after, feeds, 'all')).logits)).toBeGreaterThanOrEqual(0.99);
  });

  it('MatMul with a constant weight becomes QDQ; an activation weight is skipped; the model is unchanged without targets', async () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.input('x', DataType.FLOAT, ['n', 16]);
    const z = b.input('z', DataType.FLOAT, [8, 8]);
    const h = b.op('MatMul', [x, w(b, 'm.w', [16, 8], 0.3)], {}, { name: 'mm' });
    b.output(b.op('MatMul', [b.op('Relu', [h]), z], {}, { name: 'act' }), 'y', DataType.FLOAT);
    const after = copyModel(model);
    const feeds = (s: number) => ({ x: floatFeed([4, 16], s), z: floatFeed([8, 8], s + 1) });
    const r = await quantizeStatic(after, { calibration: [feeds(1), feeds(3), feeds(5)] });
    expect(r.quantized.map((q) => q.name)).toEqual(['mm']);
    expect(r.skipped.map((s) => [s.name, s.reason])).toEqual([['act', 'weight-not-constant']]);
    expect(r.warnings.join('\n')).toMatch(/calibrated on 3 input set/);
    const f = feeds(11);
    expect(cosine((await run(model, f)).y, (await run(after, f, 'all')).y)).toBeGreaterThanOrEqual(0.995);
    expect(await optimizedOps(after)).toContain('QLinearMatMul');

    const { model: none, b: b2 } = createModel({ opset: 13 });
    b2.output(b2.op('Relu', [b2.input('x', DataType.FLOAT, [2])]), 'y');
    const snap = encodeModel(none);
    expect((await quantizeStatic(none, { calibration: [] })).modified).toBe(false);
    expect(Buffer.compare(encodeModel(none), snap)).toBe(0);
  });

  it('a second run changes nothing', async () => {
    const m = cnn();
    await quantizeStatic(m, { calibration: calib(4, 1) });
    const bytes = encodeModel(m);
    const again = await quantizeStatic(m, { calibration: calib(4, 1) });
    expect(again.modified).toBe(false);
    expect(Buffer.compare(encodeModel(m), bytes)).toBe(0);
  });
});
