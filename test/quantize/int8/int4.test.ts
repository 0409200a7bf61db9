/**
 * quantize-int4: MatMul with a constant weight -> com.microsoft::MatMulNBits (4 bits, blockwise along K).
 *
 * Two checks: (1) the layout is the runtime's: with accuracy_level 0 (float A) onnxruntime's output equals
 * A · dequantize(Wq) computed here to float32 rounding (rel 1e-4), so nibble order, block layout, scales and zero
 * points are read as written; (2) against the float model, 4-bit weights on a random MLP keep cosine >= 0.99
 * (asymmetric, block 32) and >= 0.98 (symmetric, block 128).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGpt } from '../../../fixtures/models/gpt.js';
import { synthesizeInputs } from '../../../src/inputs/synthesize.js';
import { loadModel, saveModel } from '../../../src/onnx/io.js';
import { createModel, floatTensor, type GraphBuilder } from '../../../src/ir/builder.js';
import { f } from '../../../src/ir/graph.js';
import type { Model } from '../../../src/ir/model.js';
import { verify } from '../../../src/ir/verify.js';
import { encodeModel } from '../../../src/onnx/encode.js';
import { quantizeInt4 } from '../../../src/quantize/int8/int4.js';
import { dequantizeNBits4, quantizeNBits4 } from '../../../src/quantize/int8/weights.js';
import { Rng } from '../../../src/util/rng.js';
import { copyModel, cosine, countOps, DataType, floatFeed, relMaxError, run } from './helpers.js';

const rng = new Rng(11);
const rand = (name: string, n: number, std: number) => rng.fork(name).fillNormal(new Float32Array(n), std);
const w = (b: GraphBuilder, name: string, dims: number[], std = 0.2) =>
  b.init(
    name,
    floatTensor(
      dims,
      rand(
        name,
        dims.reduce((a, c) => a * c, 1),
        std,
      ),
    ),
  );

function mlp(K = 64, H = 96, N = 40): Model {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, ['batch', K]);
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, w(b, 'w1', [K, H])], {}, { name: 'fc1' }), w(b, 'b1', [H], 0.1)])]);
  b.output(b.op('MatMul', [h, w(b, 'w2', [H, N])], {}, { name: 'fc2' }), 'y', DataType.FLOAT);
  return model;
}

describe('quantizeInt4', () => {
  it('packs B exactly as MatMulNBits reads it (K not a multiple of the block, with and without zero points)', async () => {
    for (const symmetric of [false, true]) {
      const K = 80; // block 32: 3 blocks, the last one half padding; 3 zero points -> 2 bytes per column
      const N = 7;
      const W = rand(`exact${symmetric}`, K * N, 1);
      const { model, b } = createModel({ opset: 17 });
      const x = b.input('x', DataType.FLOAT, [3, K]);
      b.output(b.op('MatMul', [x, b.init('W', floatTensor([K, N], W))]), 'y', DataType.FLOAT);
      const r = quantizeInt4(model, { blockSize: 32, accuracyLevel: 0, symmetric });
      verify(model);
      expect(r.totals.nodesQuantized).toBe(1);
      const node = [...model.graph.nodes][0];
      expect(node.opType).toBe('MatMulNBits');
      expect(r.quantized[0].as).toBe('MatMulNBits(block 32)');
      expect(node.domain).toBe('com.microsoft');
      expect([node.getInt('K'), node.getInt('N'), node.getInt('bits'), node.getInt('block_size')]).toEqual([K, N, 4, 32]);
      expect(node.input(1)!.initializer!.dims).toEqual([N, 3, 16]);
      expect(node.input(3) ? node.input(3)!.initializer!.dims : null).toEqual(symmetric ? null : [N * 2]);
      const deq = dequantizeNBits4(quantizeNBits4(W, K, N, 32, symmetric), K, N, 32);
      const xf = floatFeed([3, K], 2);
      const xs = xf.data as Float32Array;
      const expected = new Float32Array(3 * N);
      for (let i = 0; i < 3; i++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) expected[i * N + n] += xs[i * K + k] * deq[k * N + n];
      const got = (await run(model, { x: xf })).y;
      expect(relMaxError(expected, got)).toBeLessThan(1e-4);
    }
  });

  it('random MLP: outputs stay close to float32; 8x smaller weights; bias folded; loads with optimizations on', async () => {
    const before = mlp();
    for (const [opts, minCos] of [
      [{ blockSize: 32 as const }, 0.99],
      [{ blockSize: 128 as const, symmetric: true }, 0.98],
      [{ blockSize: 32 as const, accuracyLevel: 0 as const }, 0.99],
    ] as const) {
      const after = copyModel(before);
      const r = quantizeInt4(after, opts);
      verify(after);
      expect(r.quantized.map((q) => [q.name, q.biasFolded ?? null])).toEqual([
        ['fc1', 'b1'],
        ['fc2', null],
      ]);
      expect(countOps(after, 'MatMulNBits')).toBe(2);
      expect(r.totals.bytesAfter).toBeLessThan(r.totals.bytesBefore / 5);
      const feeds = { x: floatFeed([6, 64], 3) };
      const a = (await run(before, feeds)).y;
      for (const level of ['disabled', 'all'] as const) {
        const b = (await run(after, feeds, level)).y;
        expect(cosine(a, b), JSON.stringify(opts)).toBeGreaterThanOrEqual(minCos);
      }
    }
  });

  it('Gemm (transB 0 and 1, alpha folded into the scales, C as the bias) -> MatMulNBits within int4 tolerance', async () => {
    for (const transB of [0, 1])
      for (const alpha of [1, 0.5]) {
        const { model, b } = createModel({ opset: 17 });
        const x = b.input('x', DataType.FLOAT, ['batch', 64]);
        const W = w(b, `gw${transB}${alpha}`, transB ? [48, 64] : [64, 48]);
        b.output(b.op('Gemm', [x, W, w(b, `gc${transB}${alpha}`, [48], 0.1)], { transB, alpha: f(alpha), beta: f(1) }), 'y', DataType.FLOAT);
        const q = copyModel(model);
        const r = quantizeInt4(q, { blockSize: 32 });
        expect(r.quantized.map((n) => n.opType)).toEqual(['Gemm']);
        expect(countOps(q, 'MatMulNBits')).toBe(1);
        expect(countOps(q, 'Gemm')).toBe(0);
        verify(q);
        const feed = { x: floatFeed([4, 64], 5) };
        const [y0, y1] = [await run(model, feed), await run(q, feed)];
        expect(cosine(y1.y!, y0.y!), `transB ${transB} alpha ${alpha}`).toBeGreaterThan(0.99);
      }
  });

  it('a GPT-style decoder (4 layers, hidden 256, vocab 1000): file <= 0.2x of float32, embeddings int8, runs on CPU', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-int4-'));
    try {
      const model = buildGpt({ layers: 4, hidden: 256, heads: 8, vocab: 1000, maxPositions: 128, seed: 7 });
      const q = copyModel(model);
      const r = quantizeInt4(q, { blockSize: 32 });
      expect(r.quantized.filter((n) => n.as.startsWith('MatMulNBits')).length).toBeGreaterThanOrEqual(16); // 4 linear layers x 4
      expect(r.quantized.some((n) => n.opType === 'Gather')).toBe(true); // the token embedding, int8 per row
      saveModel(model, path.join(dir, 'f32.onnx'));
      saveModel(q, path.join(dir, 'int4.onnx'));
      const ratio = fs.statSync(path.join(dir, 'int4.onnx')).size / fs.statSync(path.join(dir, 'f32.onnx')).size;
      expect(ratio).toBeLessThanOrEqual(0.2);
      const feeds = synthesizeInputs(model, { dims: { batch: 1, sequence: 16 }, seed: 3, count: 1 })[0]!;
      const y = await run(loadModel(path.join(dir, 'int4.onnx')), feeds, 'all');
      expect(y.logits!.every(Number.isFinite)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not fire on an activation weight, a 3-D weight or K below 16; a second run changes nothing', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [4, 8]);
    const z = b.input('z', DataType.FLOAT, [8, 8]);
    b.output(b.op('MatMul', [x, z], {}, { name: 'act' }), 'y0');
    b.output(b.op('MatMul', [b.input('x3', DataType.FLOAT, [2, 4, 8]), w(b, 'w3', [2, 8, 8])], {}, { name: 'rank3' }), 'y1');
    b.output(b.op('MatMul', [x, w(b, 'small', [8, 8])], {}, { name: 'smallK' }), 'y2');
    const snap = encodeModel(model);
    const r = quantizeInt4(model);
    expect(Object.fromEntries(r.skipped.map((s) => [s.name, s.reason]))).toEqual({ act: 'weight-not-constant', rank3: 'weight-rank', smallK: 'block-size' });
    expect(Buffer.compare(encodeModel(model), snap)).toBe(0);

    const m = mlp();
    quantizeInt4(m);
    const bytes = encodeModel(m);
    expect(quantizeInt4(m).modified).toBe(false);
    expect(Buffer.compare(encodeModel(m), bytes)).toBe(0);
  });

  it('rejects a block size that is not a power of two >= 16', () => {
    expect(() => quantizeInt4(mlp(), { blockSize: 24 as 32 })).toThrow(/block size 24/);
  });
});
