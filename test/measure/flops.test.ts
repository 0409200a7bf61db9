import { describe, expect, it } from 'vitest';
import { benchmark } from '../../src/bench/benchmark.js';
import { estimateFlops, flopsTargets, nodeFlops } from '../../src/measure/flops.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Value } from '../../src/ir/graph.js';
import { buildCnn } from '../../fixtures/models/cnn.js';
import { presets, runPasses } from '../../src/optimize/registry.js';
import { tinyBert, TINY_DIMS } from '../bench/models.js';

const zeros = (dims: number[]) => floatTensor(dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));

describe('FLOPs per node', () => {
  it('counts MatMul, Gemm, Conv, ConvTranspose and fused attention from shapes', () => {
    const { model, b } = createModel({ opset: 17, domains: { 'com.microsoft': 1 } });
    const x = b.input('x', DataType.FLOAT, [2, 5, 8]);
    const shapes = new Map<Value, number[]>();
    const at = (v: Value, d: number[]) => (shapes.set(v, d), v);
    const mm = b.node('MatMul', [x, b.init('w', zeros([8, 16]))]);
    at(mm.output(0), [2, 5, 16]);
    const a2 = at(b.input('a2', DataType.FLOAT, [4, 8]), [4, 8]);
    const gemm = b.node('Gemm', [a2, b.init('gw', zeros([6, 8])), b.init('gb', zeros([6]))], { transB: 1 });
    at(gemm.output(0), [4, 6]);
    const img = at(b.input('img', DataType.FLOAT, [1, 4, 10, 10]), [1, 4, 10, 10]);
    const conv = b.node('Conv', [img, b.init('cw', zeros([6, 2, 3, 3])), b.init('cb', zeros([6]))], { group: 2, pads: [1, 1, 1, 1] });
    at(conv.output(0), [1, 6, 10, 10]);
    const convT = b.node('ConvTranspose', [img, b.init('tw', zeros([4, 3, 2, 2]))], { strides: [2, 2] });
    at(convT.output(0), [1, 3, 20, 20]);
    const attn = b.node(
      'Attention',
      [at(x, [2, 5, 8]), b.init('aw', zeros([8, 24])), b.init('ab', zeros([24]))],
      { num_heads: 2 },
      { domain: 'com.microsoft' },
    );
    const shape = (v: Value | undefined) => (v ? (v.constTensor()?.dims ?? shapes.get(v)) : undefined);
    expect(nodeFlops(mm, shape)).toBe(2 * 2 * 5 * 16 * 8);
    expect(nodeFlops(gemm, shape)).toBe(2 * 4 * 6 * 8 + 4 * 6);
    expect(nodeFlops(conv, shape)).toBe(2 * 600 * 2 * 9 + 600);
    expect(nodeFlops(convT, shape)).toBe(2 * 400 * 3 * 4);
    expect(nodeFlops(attn, shape)).toBe(2 * 2 * 5 * 8 * 24 + 2 * 2 * 5 * 5 * (8 + 8));
    // a missing shape is reported as unknown, not guessed
    const est = estimateFlops(model, new Map());
    expect(est.unknownNodes).toBeGreaterThan(0);
    expect(flopsTargets(model).map((v) => v.name)).toContain(mm.output(0).name);
    expect(flopsTargets(model)).not.toContain(x);
  });
});

describe('FLOPs of whole models (runtime shape pass)', () => {
  it('matches the analytic count of the BERT fixture exactly', async () => {
    const r = await benchmark({ baseline: tinyBert(), dims: TINY_DIMS, runs: 2, warmup: 1, sessionRepeats: 1, threads: 1 });
    const [B, S, H, I, L, C] = [2, 16, 32, 64, 2, 2];
    const perLayer = 4 * (2 * B * S * H * H) + 2 * (2 * B * S * H * I) + 2 * (2 * B * S * S * H);
    const expected = L * perLayer + 2 * B * H * H + 2 * B * H * C;
    expect(r.baseline.static.flops!.total).toBe(expected);
    expect(r.baseline.static.flops!.unknownNodes).toBe(0);
  });

  it('counts the standard Attention of the BERT fixture fused with --target onnx as the unfused model counts its MatMuls', async () => {
    const base = await benchmark({ baseline: tinyBert(), dims: TINY_DIMS, runs: 2, warmup: 1, sessionRepeats: 1, threads: 1 });
    const fused = tinyBert();
    runPasses(fused, presets.transformer!, { target: 'onnx' });
    expect(fused.graph.nodes.filter((n) => n.opType === 'Attention' && n.domain === '')).toHaveLength(2);
    const r = await benchmark({ baseline: fused, dims: TINY_DIMS, runs: 2, warmup: 1, sessionRepeats: 1, threads: 1 });
    expect(r.baseline.static.flops!.unknownNodes).toBe(0);
    // Q·Kᵀ and P·V of every layer, as in the analytic count above; the total differs only by the Gemm biases of
    // fuse-matmul-add (B·H + B·C additions)
    const [B, S, H, L, C] = [2, 16, 32, 2, 2];
    const att = r.baseline.static.flops!.byOp.find((o) => o.op === 'Attention');
    expect(att).toEqual({ op: 'Attention', flops: L * 2 * (2 * B * S * S * H), nodes: 2 });
    expect(r.baseline.static.flops!.total).toBe(base.baseline.static.flops!.total + B * H + B * C);
  });

  it('counts the convolutions and the Gemm head of the CNN fixture', async () => {
    const r = await benchmark({ baseline: buildCnn(), dims: { batch: 2 }, runs: 2, warmup: 1, sessionRepeats: 1, threads: 1 });
    const f = r.baseline.static.flops!;
    expect(f.unknownNodes).toBe(0);
    expect(f.byOp.map((o) => o.op).sort()).toEqual(['Conv', 'Gemm']);
    expect(f.total).toBeGreaterThan(1e6);
  });
});
