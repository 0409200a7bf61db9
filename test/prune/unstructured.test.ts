import { describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/bert.js';
import { buildCnn } from '../../fixtures/models/cnn.js';
import { buildPaddleStyle } from '../../fixtures/models/paddle-style.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { countParameters } from '../../src/inspect.js';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { lowestMasks, pruneMagnitude } from '../../src/prune/magnitude.js';
import { parseNM, pruneNM } from '../../src/prune/nm.js';
import { probeModel } from '../../src/measure/probe.js';
import { findPrunableWeights } from '../../src/prune/weights.js';
import { createSession, runSession } from '../../src/runtime/session.js';

const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));

async function runsOk(m: Model, dims: Record<string, number>): Promise<void> {
  const s = await createSession(clone(m));
  try {
    const out = await runSession(s, synthesizeInputs(m, { dims })[0]);
    for (const t of Object.values(out)) expect((t.data as Float32Array).every((v) => Number.isFinite(v))).toBe(true);
  } finally {
    await s.release();
  }
}

describe('lowestMasks', () => {
  it('selects exactly k lowest over several arrays; ties go to the earliest elements', () => {
    const a = Float32Array.from([3, 1, 2, 2]);
    const b = Float32Array.from([0, 2, 5]);
    const [ma, mb] = lowestMasks([a, b], 4);
    expect([...ma]).toEqual([0, 1, 1, 1]);
    expect([...mb]).toEqual([1, 0, 0]);
    expect(lowestMasks([a], 0)[0].every((x) => x === 0)).toBe(true);
    expect(lowestMasks([a], 9)[0].every((x) => x === 1)).toBe(true);
  });

  it('agrees with a sort on random data (values differing only in low bits included)', () => {
    const n = 5000;
    const s = Float32Array.from({ length: n }, (_, i) => Math.fround(1 + ((i * 7919) % 1000) * 1e-7));
    const k = 1234;
    const m = lowestMasks([s], k)[0];
    const sorted = [...s].sort((x, y) => x - y);
    const t = sorted[k - 1];
    expect(m.reduce((x, y) => x + y, 0)).toBe(k);
    for (let i = 0; i < n; i++) if (m[i]) expect(s[i]).toBeLessThanOrEqual(t);
    for (let i = 0; i < n; i++) if (!m[i]) expect(s[i]).toBeGreaterThanOrEqual(t);
  });
});

describe('magnitude pruning', () => {
  it('per layer: each weight tensor gets exactly the requested fraction of zeros; shapes and parameters stay', async () => {
    const m = buildBert();
    const original = clone(m);
    const before = countParameters(m);
    const r = pruneMagnitude(m, { sparsity: 0.5 });
    verify(m);
    expect(r.layers).toHaveLength(12);
    for (const l of r.layers) expect(l.zeros).toBe(Math.round(l.size / 2));
    const after = countParameters(m);
    expect(after.total).toBe(before.total);
    expect(before.nonZero - after.nonZero).toBe(r.layers.reduce((a, l) => a + l.zeros, 0));
    // totals only (what optimize reports): the same totals, zeros not counted
    const totals = countParameters(m, { nonZero: false });
    expect([totals.total, totals.bytes, totals.tensors, totals.nonZero]).toEqual([after.total, after.bytes, after.tensors, after.total]);
    // the smallest magnitudes went: every zeroed weight was no larger than every kept one, per layer
    for (const name of ['onnx::MatMul_1000', 'onnx::MatMul_1005']) {
      const o = original.graph.initializers.get(name)!.initializer!.toFloat32();
      const p = m.graph.initializers.get(name)!.initializer!.toFloat32();
      const zeroed = [...o].filter((_, i) => p[i] === 0).map(Math.abs);
      const kept = [...o].filter((_, i) => p[i] !== 0).map(Math.abs);
      expect(Math.max(...zeroed)).toBeLessThanOrEqual(Math.min(...kept));
    }
    await runsOk(m, { batch: 2, sequence: 8 });
  });

  it('global: one threshold over all layers, so layers end with different sparsities', () => {
    const m = buildCnn();
    const r = pruneMagnitude(m, { sparsity: 0.6, global: true });
    const total = r.layers.reduce((a, l) => a + l.size, 0);
    expect(r.layers.reduce((a, l) => a + l.zeros, 0)).toBe(Math.round(0.6 * total));
    const sparsities = new Set(r.layers.map((l) => (l.zeros / l.size).toFixed(2)));
    expect(sparsities.size).toBeGreaterThan(2);
  });

  it('handles weights held by Constant nodes (paddle2onnx style) and repeated runs change nothing more', async () => {
    const m = buildPaddleStyle();
    const r = pruneMagnitude(m, { sparsity: 0.5 });
    expect(r.layers.length).toBeGreaterThan(0);
    const nz = countParameters(m).nonZero;
    pruneMagnitude(m, { sparsity: 0.5 });
    expect(countParameters(m).nonZero).toBe(nz);
    await runsOk(m, { batch: 2 });
  });

  it('activation-aware scores weigh each input feature by its activation norm', async () => {
    const base = buildBert({ layers: 1 });
    const feeds = synthesizeInputs(base, { dims: { batch: 2, sequence: 8 }, count: 2 });
    const acts = (await probeModel(base, feeds, { activations: findPrunableWeights(base).weights.flatMap((w) => (w.activation ? [w.activation] : [])) }))
      .activations;
    const a = clone(base);
    const b = clone(base);
    pruneMagnitude(a, { sparsity: 0.5, criterion: 'activation', activations: acts });
    pruneMagnitude(b, { sparsity: 0.5, criterion: 'l2' });
    const w = (m: Model) => m.graph.initializers.get('onnx::MatMul_1004')!.initializer!.toFloat32();
    expect([...w(a)].map((x) => x === 0)).not.toEqual([...w(b)].map((x) => x === 0));
    expect(countParameters(a).nonZero).toBe(countParameters(b).nonZero);
  });
});

describe('N:M pruning', () => {
  it('parses N:M', () => {
    expect(parseNM('2:4')).toEqual({ n: 2, m: 4 });
    expect(parseNM(' 1 : 8 ')).toEqual({ n: 1, m: 8 });
    expect(parseNM('4:4')).toBeUndefined();
    expect(parseNM('2-4')).toBeUndefined();
  });

  it('2:4 along the reduction axis: every group of 4 consecutive inputs keeps exactly 2 (MatMul [K, N])', async () => {
    const m = buildBert();
    const r = pruneNM(m, { n: 2, m: 4 });
    verify(m);
    expect(r.layers).toHaveLength(12);
    const t = m.graph.initializers.get('onnx::MatMul_1004')!.initializer!;
    const [K, N] = t.dims;
    const v = t.toFloat32();
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k += 4) {
        const nz = [0, 1, 2, 3].filter((j) => v[(k + j) * N + n] !== 0).length;
        expect(nz).toBe(2);
      }
    await runsOk(m, { batch: 2, sequence: 8 });
  });

  it('Conv: groups along input channels; the 3-channel stem and the depthwise conv are left alone with reasons', () => {
    const m = buildCnn();
    const r = pruneNM(m, { n: 1, m: 4 });
    expect(r.skipped.map((s) => s.name).sort()).toEqual(['dw.conv.weight', 'stem.conv.weight']);
    expect(r.skipped.find((s) => s.name === 'dw.conv.weight')!.reason).toMatch(/depthwise/);
    const t = m.graph.initializers.get('layer1.conv1.weight')!.initializer!;
    const [O, I, H, W] = t.dims;
    const v = t.toFloat32();
    for (let o = 0; o < O; o++)
      for (let s = 0; s < H * W; s++) for (let i = 0; i < I; i += 4) expect([0, 1, 2, 3].filter((j) => v[(o * I + i + j) * H * W + s] !== 0).length).toBe(1);
    // the Gemm head (B [10, 8], transB) is grouped along its 8 inputs
    const fc = m.graph.initializers.get('fc.weight')!.initializer!.toFloat32();
    expect(fc.filter((x) => x !== 0).length).toBe(10 * 2);
  });
});
