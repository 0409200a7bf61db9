/**
 * quantize-dynamic: MatMul / Gemm with constant weights -> com.microsoft::DynamicQuantizeMatMul (or the
 * MatMulInteger form), run against float32 in onnxruntime-node on the same seeded inputs.
 *
 * Tolerance: int8 weights (per column) and dynamic uint8 activations on a random MLP keep the output direction:
 * cosine >= 0.999 and max |error| <= 8% of the output's RMS (per tensor: cosine >= 0.998, 8%). A 3-layer random MLP
 * here measures cosine ~0.9999.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Attribute, f } from '../../../src/ir/graph.js';
import { createModel, floatTensor, subgraph, type GraphBuilder } from '../../../src/ir/builder.js';
import type { Model } from '../../../src/ir/model.js';
import { verify } from '../../../src/ir/verify.js';
import { encodeModel } from '../../../src/onnx/encode.js';
import { parseCpuFlags, recommendInt8 } from '../../../src/quantize/int8/cpu.js';
import { quantizeDynamic } from '../../../src/quantize/int8/dynamic.js';
import type { Feeds } from '../../../src/runtime/session.js';
import { Rng } from '../../../src/util/rng.js';
import { copyModel, cosine, countOps, DataType, floatFeed, relMaxError, run } from './helpers.js';

const rng = new Rng(7);
const w = (b: GraphBuilder, name: string, dims: number[], std = 0.2) =>
  b.init(name, floatTensor(dims, rng.fork(name).fillNormal(new Float32Array(dims.reduce((a, c) => a * c, 1)), std)));

/** x [batch, seq, 32] -> MatMul+Add, Relu, MatMul+Add(bias [1, 1, 48]), Relu, MatMul (no bias) -> y */
function mlp(): Model {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, ['batch', 'seq', 32]);
  const h1 = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, w(b, 'w1', [32, 64])], {}, { name: 'fc1' }), w(b, 'b1', [64], 0.1)])]);
  const h2 = b.op('Relu', [b.op('Add', [w(b, 'b2', [1, 1, 48], 0.1), b.op('MatMul', [h1, w(b, 'w2', [64, 48])], {}, { name: 'fc2' })])]);
  b.output(b.op('MatMul', [h2, w(b, 'w3', [48, 16])], {}, { name: 'fc3' }), 'y', DataType.FLOAT);
  return model;
}

const feeds = { x: floatFeed([2, 8, 32], 1) };
const VNNI = parseCpuFlags('flags : avx2 avx512bw avx512_vnni', 'x64');

async function compare(before: Model, after: Model, f: Feeds = feeds) {
  const a = await run(before, f);
  const b = await run(after, f);
  const c = await run(after, f, 'all');
  return Object.keys(a).map((k) => ({ name: k, cos: cosine(a[k], b[k]), rel: relMaxError(a[k], b[k]), cosAll: cosine(a[k], c[k]) }));
}

describe('quantizeDynamic', () => {
  it('per-channel int8: every MatMul becomes DynamicQuantizeMatMul, biases folded, outputs close, file smaller', async () => {
    const before = mlp();
    const after = copyModel(before);
    const r = quantizeDynamic(after, { cpu: VNNI });
    verify(after);
    expect(r.modified).toBe(true);
    expect(r.quantized.map((q) => [q.name, q.as, q.biasFolded ?? null])).toEqual([
      ['fc1', 'DynamicQuantizeMatMul', 'b1'],
      ['fc2', 'DynamicQuantizeMatMul', 'b2'],
      ['fc3', 'DynamicQuantizeMatMul', null],
    ]);
    expect(countOps(after, 'DynamicQuantizeMatMul')).toBe(3);
    expect(countOps(after, 'MatMul') + countOps(after, 'Add')).toBe(0);
    expect(after.opset('com.microsoft')).toBe(1);
    expect(r.opsetsAdded).toEqual({ 'com.microsoft': 1 });
    expect(r.settings).toMatchObject({ perChannel: true, weightType: 'int8', reduceRange: false });
    // the float weights are gone; the new ones are int8 with [N] scales
    expect([...after.graph.initializers.keys()].filter((k) => /^w\d$/.test(k))).toEqual([]);
    expect(after.graph.initializers.get('w2_quantized')!.initializer!.dataType).toBe(DataType.INT8);
    expect(after.graph.initializers.get('w2_scale')!.initializer!.dims).toEqual([48]);
    expect(r.totals.bytesBefore).toBe(4 * (32 * 64 + 64 * 48 + 48 * 16));
    expect(r.totals.bytesAfter).toBe(32 * 64 + 64 * 48 + 48 * 16 + 4 * (64 + 48 + 16));
    expect(encodeModel(after).length).toBeLessThan(encodeModel(before).length * 0.4);
    for (const o of await compare(before, after)) {
      expect(o.cos).toBeGreaterThanOrEqual(0.999);
      expect(o.rel).toBeLessThanOrEqual(0.08);
      expect(o.cosAll).toBeGreaterThanOrEqual(0.999);
    }
  });

  it('per-tensor, uint8 weights, reduce_range and the MatMulInteger form all run and stay close', async () => {
    const before = mlp();
    for (const opts of [
      { perChannel: false },
      { weightType: 'uint8' as const },
      { reduceRange: true },
      { format: 'integer' as const },
      { format: 'integer' as const, weightType: 'uint8' as const, perChannel: false },
    ]) {
      const after = copyModel(before);
      const r = quantizeDynamic(after, { cpu: VNNI, ...opts });
      verify(after);
      expect(r.totals.nodesQuantized).toBe(3);
      if (opts.format === 'integer') {
        expect(countOps(after, 'MatMulInteger')).toBe(3);
        expect(countOps(after, 'DynamicQuantizeMatMul')).toBe(0);
      }
      for (const o of await compare(before, after)) {
        expect(o.cos, JSON.stringify(opts)).toBeGreaterThanOrEqual(opts.reduceRange ? 0.995 : 0.998);
        expect(o.rel, JSON.stringify(opts)).toBeLessThanOrEqual(0.08);
      }
    }
  });

  it('Gemm with transB, alpha and beta*C becomes DynamicQuantizeMatMul; weights in Constant nodes (paddle style) too', async () => {
    const { model, b, graph } = createModel({ opset: 13 });
    const x = b.input('x', DataType.FLOAT, ['batch', 24]);
    const wt = floatTensor([40, 24], rng.fork('gw').fillNormal(new Float32Array(960), 0.3));
    const wc = graph.addNode('Constant', [], [Attribute.tensor('value', wt)], { name: 'p2o.Constant.0', outputs: ['linear_0.w_0'] }).output(0);
    const h = b.op('Gemm', [x, wc, w(b, 'c1', [1, 40], 0.5)], { transB: 1, alpha: f(0.5), beta: f(2) }, { name: 'gemm1' });
    const y = b.op('Gemm', [h, w(b, 'w2', [40, 8]), w(b, 'c2', [8], 0.5)], {}, { name: 'gemm2' });
    b.output(y, 'y', DataType.FLOAT);
    const after = copyModel(model);
    const r = quantizeDynamic(after, { cpu: VNNI });
    verify(after);
    expect(r.quantized.map((q) => [q.name, q.shape])).toEqual([
      ['gemm1', [24, 40]],
      ['gemm2', [40, 8]],
    ]);
    expect(countOps(after, 'Gemm') + countOps(after, 'Constant')).toBe(0);
    // gemm2's C is already a [N] float32 constant: reused as the bias, not copied
    const g2 = [...after.graph.nodes].find((n) => n.name === 'gemm2')!;
    expect(g2.input(4)!.name).toBe('c2');
    const o = await compare(model, after, { x: floatFeed([5, 24], 3) });
    expect(o[0].cos).toBeGreaterThanOrEqual(0.999);
    expect(o[0].rel).toBeLessThanOrEqual(0.05);
  });

  it('a weight shared by two MatMuls is quantized once', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [4, 16]);
    const ws = w(b, 'shared', [16, 16]);
    const y = b.op('MatMul', [b.op('Relu', [b.op('MatMul', [x, ws])]), ws]);
    b.output(y, 'y', DataType.FLOAT);
    const after = copyModel(model);
    const r = quantizeDynamic(after, { cpu: VNNI });
    expect(r.totals.nodesQuantized).toBe(2);
    expect(r.weights).toEqual([expect.objectContaining({ name: 'shared', users: 2, bytesBefore: 1024 })]);
    expect([...after.graph.initializers.keys()].filter((k) => k.startsWith('shared_quantized'))).toEqual(['shared_quantized']);
    const o = await compare(model, after, { x: floatFeed([4, 16], 4) });
    expect(o[0].cos).toBeGreaterThanOrEqual(0.999);
  });

  it('does not fire: activation weight, 3-D weight, weight also read by a non-MatMul, Gemm transA, int8 weight, excluded', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [4, 16]);
    const z = b.input('z', DataType.FLOAT, [16, 16]);
    const w3 = w(b, 'w3d', [2, 16, 16]);
    const ws = w(b, 'also_added', [16, 16]);
    const outs = [
      b.op('MatMul', [x, z], {}, { name: 'act' }),
      b.op('MatMul', [b.input('x3', DataType.FLOAT, [2, 4, 16]), w3], {}, { name: 'rank3' }),
      b.op('MatMul', [x, ws], {}, { name: 'shared_with_add' }),
      b.op('Add', [z, ws], {}, { name: 'adder' }),
      b.op('Gemm', [b.op('Transpose', [x]), w(b, 'wg', [16, 16])], { transA: 1 }, { name: 'transA' }),
      b.op('MatMul', [x, w(b, 'wx', [16, 16])], {}, { name: 'skipme' }),
    ];
    outs.forEach((o, i) => b.output(o, `y${i}`));
    const snapshot = encodeModel(model);
    const r = quantizeDynamic(model, { cpu: VNNI, exclude: ['skipme'] });
    expect(r.modified).toBe(false);
    expect(Object.fromEntries(r.skipped.map((s) => [s.name, s.reason]))).toEqual({
      act: 'weight-not-constant',
      rank3: 'weight-rank',
      shared_with_add: 'weight-shared',
      transA: 'gemm-trans-a',
      skipme: 'excluded',
    });
    expect(r.skipped.find((s) => s.name === 'shared_with_add')!.detail).toMatch(/adder \(Add\)/);
    expect(Buffer.compare(encodeModel(model), snapshot)).toBe(0);
    expect(r.message).toMatch(/^nothing to quantize: 5 candidate/);
  });

  it('a bias Add that would broadcast to more dimensions, or is read twice, stays an Add', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [3, 8]);
    const t = b.op('MatMul', [x, w(b, 'wa', [8, 8])], {}, { name: 'mm_a' });
    const y1 = b.op('Add', [t, w(b, 'ba', [1, 1, 8])]); // [3, 8] + [1, 1, 8] -> [1, 3, 8]
    const u = b.op('MatMul', [x, w(b, 'wb', [8, 8])], {}, { name: 'mm_b' });
    const y2 = b.op('Add', [u, w(b, 'bb', [8])]);
    b.output(y1, 'y1', DataType.FLOAT);
    b.output(y2, 'y2', DataType.FLOAT);
    b.output(u, 'u', DataType.FLOAT); // the MatMul output is a graph output too
    const after = copyModel(model);
    const r = quantizeDynamic(after, { cpu: VNNI });
    verify(after);
    expect(r.quantized.map((q) => q.biasFolded ?? null)).toEqual([null, null]);
    expect(countOps(after, 'Add')).toBe(2);
    for (const o of await compare(model, after, { x: floatFeed([3, 8], 9) })) expect(o.cos).toBeGreaterThanOrEqual(0.999);
  });

  it('is idempotent: a second run changes nothing', () => {
    const m = mlp();
    quantizeDynamic(m, { cpu: VNNI });
    const bytes = encodeModel(m);
    const again = quantizeDynamic(m, { cpu: VNNI });
    expect(again.modified).toBe(false);
    expect(again.totals.bytesBefore).toBe(0);
    expect(Buffer.compare(encodeModel(m), bytes)).toBe(0);
  });

  it('rewrites MatMuls inside an If branch that read an outer weight', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [4, 16]);
    const c = b.input('c', DataType.BOOL, []);
    const wo = w(b, 'outer_w', [16, 8]);
    const mk = (name: string, op: string) => {
      const sb = subgraph(name);
      sb.output(sb.op(op, [sb.op('MatMul', [x, wo], {}, { name: `${name}_mm` })]), `${name}_out`);
      return sb.graph;
    };
    b.output(b.op('If', [c], { then_branch: mk('then', 'Relu'), else_branch: mk('else', 'Neg') }), 'y', DataType.FLOAT);
    const after = copyModel(model);
    const r = quantizeDynamic(after, { cpu: VNNI });
    verify(after);
    expect(r.quantized.map((q) => q.graph)).toEqual(['main/If(y).then_branch', 'main/If(y).else_branch']);
    expect(r.weights[0].users).toBe(2);
    for (const cond of [true, false]) {
      const o = await compare(model, after, { x: floatFeed([4, 16], 5), c: new ort.Tensor('bool', [cond], []) });
      expect(o[0].cos).toBeGreaterThanOrEqual(0.999);
    }
  });
});

describe('recommendInt8', () => {
  it('full-range int8 with VNNI; reduce_range on AVX2 / AVX-512 without it; ARM is fine', () => {
    expect(recommendInt8(parseCpuFlags('flags\t: fpu avx2 avx512bw avx512_vnni', 'x64'))).toMatchObject({ weightType: 'int8', reduceRange: false });
    expect(recommendInt8(parseCpuFlags('flags : fpu avx2 avx_vnni', 'x64')).reason).toMatch(/AVX-VNNI/);
    const avx512 = recommendInt8(parseCpuFlags('flags : fpu avx2 avx512bw', 'x64'));
    expect(avx512).toMatchObject({ weightType: 'int8', reduceRange: true });
    expect(avx512.reason).toMatch(/AVX-512BW without VNNI.*saturate/);
    expect(recommendInt8(parseCpuFlags('flags : avx2', 'x64')).reason).toMatch(/AVX2 without VNNI/);
    expect(recommendInt8(parseCpuFlags('Features : fp asimd asimddp', 'arm64'))).toMatchObject({ reduceRange: false });
    expect(recommendInt8(parseCpuFlags('', 'x64'))).toMatchObject({ reduceRange: true });
  });
});
