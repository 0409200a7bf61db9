/**
 * Scales and zero points that no int8/int4 format represents are never written silently: non-finite weights keep
 * their node float, scales that would be subnormal are raised to the smallest normal float32, a static bias that
 * overflows int32 at input_scale x weight_scale stays float, an activation whose calibrated range is not finite keeps
 * its nodes float. Every case is run in onnxruntime against the float model.
 */
import { describe, expect, it } from 'vitest';
import { createModel, floatTensor, int64Tensor } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Model } from '../../../src/ir/model.js';
import { quantizeDynamic, quantizeInt4, quantizeStatic } from '../../../src/quantize/int8/index.js';
import { FLT_MIN, quantizeBias32, quantizeMatrix8, quantizeNBits4, quantizeRows8 } from '../../../src/quantize/int8/weights.js';
import { Rng } from '../../../src/util/rng.js';
import { copyModel, cosine, floatFeed, int64Feed, run } from './helpers.js';

const K = 32;
const N = 16;

/** x [2, K] -> MatMul(W1) -> MatMul(W2) -> y; W1 columns: 0 all zero, 1 subnormal-small, 2 huge (1e30), rest normal. */
function twoMatMuls(w2Poison?: number): Model {
  const { model, b } = createModel({ opset: 17 });
  const rng = new Rng(11);
  const w1 = rng.fillNormal(new Float32Array(K * N), 0.3);
  for (let k = 0; k < K; k++) {
    w1[k * N] = 0;
    w1[k * N + 1] = (k % 3) * 1e-39; // max|w| / 127 is subnormal
    w1[k * N + 2] = rng.normal() * 1e30;
  }
  const w2 = rng.fillNormal(new Float32Array(N * N), 0.3);
  if (w2Poison !== undefined) w2[3 * N + 5] = w2Poison;
  const x = b.input('x', DataType.FLOAT, [2, K]);
  const h = b.op('MatMul', [x, b.init('w1', floatTensor([K, N], w1))], {}, { name: 'mm1' });
  b.output(b.op('MatMul', [h, b.init('w2', floatTensor([N, N], w2))], {}, { name: 'mm2' }), 'y', DataType.FLOAT);
  b.output(h, 'h', DataType.FLOAT);
  return model;
}

/** Same non-finite positions (NaN where NaN, the same infinities), and the finite ones within `rel` of the range. */
function expectSameAndClose(ref: Float32Array, got: Float32Array, rel: number): void {
  let range = 0;
  for (const v of ref) if (Number.isFinite(v)) range = Math.max(range, Math.abs(v));
  for (let i = 0; i < ref.length; i++) {
    const [a, c] = [ref[i]!, got[i]!];
    if (!Number.isFinite(a)) expect(Object.is(a, c) || (Number.isNaN(a) && Number.isNaN(c)), `element ${i}: ${c} where float gives ${a}`).toBe(true);
    else expect(Math.abs(a - c), `element ${i}`).toBeLessThanOrEqual(rel * range);
  }
}

describe('int8 / int4 scales that cannot be written', () => {
  it('the arithmetic: zero columns get scale 1, tiny ones FLT_MIN (counted), non-finite weights are counted', () => {
    const w = new Float32Array([0, 1e-39, Number.NaN, 0, -2e-39, 1]);
    const r = quantizeMatrix8(w, 2, 3, false, { perChannel: true, weightType: 'int8', reduceRange: false });
    expect([...r.scale]).toEqual([1, FLT_MIN, Math.fround(1 / 127)]);
    expect(r.tinyScales).toBe(1);
    expect(r.nonFinite).toBe(1);
    expect([...r.q.slice(0, 3)]).toEqual([0, 0, 0]); // 1e-39 / FLT_MIN rounds to 0; NaN is counted, not written
    const rows = quantizeRows8(new Float32Array([1e-40, 0, Number.POSITIVE_INFINITY, 1]), 2, 2, true);
    expect(rows.scale[0]).toBe(FLT_MIN);
    expect(rows.nonFinite).toBe(1);
    const nb = quantizeNBits4(new Float32Array(32).fill(1e-39), 32, 1, 32, true);
    expect(Math.abs(nb.scales[0]!)).toBe(FLT_MIN);
    expect(nb.tinyScales).toBe(1);
    expect(quantizeBias32(new Float32Array([1, 3e9]), new Float32Array([0.5, 1]))).toBeNull();
    expect(quantizeBias32(new Float32Array([1, 2]), new Float32Array([0.5, 1e-40]))).toBeNull();
    expect([...quantizeBias32(new Float32Array([1, -2]), new Float32Array([0.5, 1]))!]).toEqual([2, -2]);
  });

  it.each([
    ['+inf', Number.POSITIVE_INFINITY],
    ['NaN', Number.NaN],
  ])('dynamic int8: a weight holding %s stays float (reported); zero, subnormal-small and huge columns quantize and match', async (_, poison) => {
    const model = twoMatMuls(poison);
    const q = copyModel(model);
    const r = quantizeDynamic(q, { perChannel: true, weightType: 'int8', reduceRange: false });
    expect(r.quantized.map((n) => n.name)).toEqual(['mm1']);
    expect(r.skipped).toMatchObject([{ name: 'mm2', reason: 'weight-non-finite' }]);
    expect(r.skipped[0]!.detail).toMatch(/weight w2 holds 1 NaN or infinite value\(s\).*kept float32/);
    expect(r.warnings.join('\n')).toMatch(/weight w1: 1 of 16 scale\(s\) would be below the smallest normal float32/);
    expect(q.graph.nodes.map((n) => n.opType)).toEqual(['DynamicQuantizeMatMul', 'MatMul']);
    const feeds = { x: floatFeed([2, K], 3) };
    const [a, c] = [await run(model, feeds), await run(q, feeds)];
    expectSameAndClose(a.y!, c.y!, 0.05);
    // h: the all-zero column is exactly 0, the subnormal one within FLT_MIN-sized error, the huge one close
    for (let row = 0; row < 2; row++) {
      expect(c.h![row * N]).toBe(0);
      expect(Math.abs(c.h![row * N + 1]! - a.h![row * N + 1]!)).toBeLessThan(1e-35);
      expect(Math.abs(c.h![row * N + 2]! / a.h![row * N + 2]! - 1)).toBeLessThan(0.05);
    }
  });

  it('int4: a weight holding NaN stays float; subnormal-small blocks get FLT_MIN', async () => {
    const model = twoMatMuls(Number.NaN);
    const q = copyModel(model);
    const r = quantizeInt4(q, { blockSize: 16, accuracyLevel: 0 });
    expect(r.skipped).toMatchObject([{ name: 'mm2', reason: 'weight-non-finite' }]);
    expect(r.warnings.join('\n')).toMatch(/weight w1: 2 of 32 scale\(s\) would be below the smallest normal float32/);
    const feeds = { x: floatFeed([2, K], 4) };
    const [a, c] = [await run(model, feeds), await run(q, feeds)];
    expectSameAndClose(a.y!, c.y!, 0.1);
  });

  it('int8 embeddings: a table holding +inf stays float; a row of subnormal-small values gets FLT_MIN', async () => {
    const { model, b } = createModel({ opset: 17 });
    const table = new Rng(2).fillNormal(new Float32Array(16 * 8), 1);
    table[5 * 8 + 2] = Number.POSITIVE_INFINITY;
    const ids = b.input('ids', DataType.INT64, [1, 6]);
    b.output(b.op('Gather', [b.init('table', floatTensor([16, 8], table)), ids], {}, { name: 'emb' }), 'e', DataType.FLOAT);
    const tiny = new Float32Array(16 * 8).fill(1);
    for (let j = 0; j < 8; j++) tiny[3 * 8 + j] = j * 1e-40;
    b.output(b.op('Gather', [b.init('small', floatTensor([16, 8], tiny)), ids], {}, { name: 'emb2' }), 'e2', DataType.FLOAT);
    const q = copyModel(model);
    const r = quantizeDynamic(q, { embeddings: { minElements: 0 } });
    expect(r.skipped).toMatchObject([{ name: 'emb', reason: 'weight-non-finite' }]);
    expect(r.quantized.map((n) => n.name)).toEqual(['emb2']);
    expect(r.warnings.join('\n')).toMatch(/table small: 1 of 16 scale\(s\)/);
    const feeds = { ids: int64Feed([1, 6], 9, 16) };
    const [a, c] = [await run(model, feeds), await run(q, feeds)];
    expectSameAndClose(a.e!, c.e!, 0);
    expectSameAndClose(a.e2!, c.e2!, 0.01);
    void int64Tensor;
  });

  it('static int8: a bias that overflows int32 at input_scale x weight_scale stays float, reported, and the model matches', async () => {
    const { model, b } = createModel({ opset: 17 });
    const rng = new Rng(5);
    const x = b.input('x', DataType.FLOAT, [1, 2, 6, 6]);
    const w = rng.fillNormal(new Float32Array(4 * 2 * 3 * 3), 0.01);
    const bias = Float32Array.from([0.1, -0.2, 1e8, 0.3]); // 1e8 / (s_x * s_w) is far beyond 2^31
    const y = b.op('Conv', [x, b.init('w', floatTensor([4, 2, 3, 3], w)), b.init('b', floatTensor([4], bias))], { pads: [1, 1, 1, 1] }, { name: 'conv' });
    b.output(b.op('Relu', [y]), 'y', DataType.FLOAT);
    const q = copyModel(model);
    const calibration = [1, 2, 3, 4, 5, 6, 7, 8].map((s) => ({ x: floatFeed([1, 2, 6, 6], s) }));
    const r = await quantizeStatic(q, { calibration });
    expect(r.quantized.map((n) => n.name)).toEqual(['conv']);
    expect(r.warnings.join('\n')).toMatch(/conv: bias b does not fit int32 at scale input_scale x weight_scale.*kept float32/);
    const conv = q.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(conv.input(2)!.name).toBe('b');
    const feeds = { x: floatFeed([1, 2, 6, 6], 42) };
    const [a, c] = [await run(model, feeds), await run(q, feeds)];
    // the 1e8 channel would be clamped to 2^31 * s steps (about 1e3) with an int32 bias; kept float it is 1e8
    expect(cosine(a.y!, c.y!)).toBeGreaterThan(0.9999);
    expectSameAndClose(a.y!, c.y!, 0.01);
  });

  it('static int8: an activation whose calibrated range is not finite keeps the nodes that read and write it float', async () => {
    const { model, b } = createModel({ opset: 17 });
    const rng = new Rng(6);
    const x = b.input('x', DataType.FLOAT, [2, K]);
    const w1 = rng.fillNormal(new Float32Array(K * N), 0.3);
    w1[0] = 3e38; // x[:, 0] * 3e38 overflows float32 for |x| > 1.13
    const h = b.op('MatMul', [x, b.init('w1', floatTensor([K, N], w1))], {}, { name: 'mm1' });
    const h2 = b.op('Tanh', [h]);
    const y = b.op('MatMul', [h2, b.init('w2', floatTensor([N, N], rng.fillNormal(new Float32Array(N * N), 0.3)))], {}, { name: 'mm2' });
    b.output(b.op('MatMul', [y, b.init('w3', floatTensor([N, N], rng.fillNormal(new Float32Array(N * N), 0.3)))], {}, { name: 'mm3' }), 'z', DataType.FLOAT);
    const q = copyModel(model);
    const calibration = [1, 2, 3, 4, 5, 6, 7, 8].map((s) => ({ x: floatFeed([2, K], s, 2) }));
    const r = await quantizeStatic(q, { calibration });
    expect(r.skipped).toMatchObject([{ name: 'mm1', reason: 'activation-range' }]);
    expect(r.skipped[0]!.detail).toMatch(/activation \S+ has \d+ NaN or infinite value\(s\) on the calibration inputs/);
    expect(r.quantized.map((n) => n.name)).toEqual(['mm2', 'mm3']);
    for (const a of r.activations) expect(Number.isFinite(a.scale) && a.scale >= FLT_MIN).toBe(true);
    const feeds = { x: floatFeed([2, K], 77, 0.3) };
    const [a, c] = [await run(model, feeds), await run(q, feeds)];
    expect(cosine(a.z!, c.z!)).toBeGreaterThan(0.99);
  });
});
