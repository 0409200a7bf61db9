import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildGpt, gptFeeds, type GptOptions } from '../../fixtures/models/gpt.js';
import { createModel, floatTensor, ints } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { f, type Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { runPasses } from '../../src/optimize/registry.js';
import type { Target } from '../../src/pass/pass.js';
import { Rng } from '../../src/util/rng.js';
import { compareTensors, expectSameOutputs, runModel } from '../helpers/equivalence.js';
import { clone, expectFusion, expectNoFusion, histogram } from './fusion-helpers.js';

const F = DataType.FLOAT;
const rng = new Rng(33);
const w = (dims: number[], std = 0.4) => floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((a, b) => a * b, 1)), std));
const GPT_DIMS = { batch: 2, sequence: 10 };

interface BlockOptions {
  /** x's declared shape (default ['batch', 5, 8]) */
  xShape?: (string | number)[];
  /** the first target: a constant (default [-1, K]) or torch's Concat([-1], Unsqueeze(Gather(Shape(x), kIndex))) */
  first?: number[] | 'arith';
  kIndex?: number;
  /** the second target: Concat(Slice(Shape(x), 0, -1), [N]) (default), Concat of Gathers of dims 0..r-2, or a constant */
  second?: 'slice' | 'gather' | number[];
  /** with second 'gather': how many leading dims are gathered (default all but the last) */
  gathered?: number;
  n?: number;
  transA?: 1;
  transB?: 1;
  alpha?: number;
  beta?: number;
  bias?: '1d' | '2d' | 'scalar' | 'none';
  weightInput?: boolean;
  gemmOutput?: boolean;
  /** one Shape(x) node read by both targets (as torch's CSE leaves it) */
  sharedShape?: boolean;
}

/** y = Relu(Reshape(Gemm(Reshape(x, first), W, b), second)) */
function block(o: BlockOptions = {}): Model {
  const { model, b } = createModel({ opset: 14 });
  const xs = o.xShape ?? ['batch', 5, 8];
  const x = b.input('x', F, xs);
  const k = (o.first && o.first !== 'arith' ? o.first[1] : undefined) ?? (xs.at(-1) as number);
  const n = o.n ?? 6;
  let shared: Value | undefined;
  const shapeX = () => (o.sharedShape ? (shared ??= b.op('Shape', [x])) : b.op('Shape', [x]));
  const u0 = (v: Value) => b.op('Unsqueeze', [v, b.const('ax0', ints([0]))]);
  const dim = (i: number) => u0(b.op('Gather', [shapeX(), b.const(`i${i}`, Tensor.scalar(DataType.INT64, i))], { axis: 0 }));
  const s1 =
    o.first === 'arith' ? b.op('Concat', [b.const('m1', ints([-1])), dim(o.kIndex ?? xs.length - 1)], { axis: 0 }) : b.const('s1', ints(o.first ?? [-1, k]));
  const flat = b.op('Reshape', [x, s1]);
  const W = o.weightInput ? b.input('W', F, [k, n]) : b.const('W', w(o.transB ? [n, k] : [k, n]));
  const bias = o.bias === 'none' ? [] : [b.const('b', o.bias === '2d' ? w([1, n], 0.2) : o.bias === 'scalar' ? w([], 0.2) : w([n], 0.2))];
  const attrs: Record<string, unknown> = { alpha: f(o.alpha ?? 1), beta: f(o.beta ?? 1) };
  if (o.transA) attrs.transA = 1;
  if (o.transB) attrs.transB = 1;
  const g = b.op('Gemm', [flat, W, ...bias], attrs);
  if (o.gemmOutput) b.output(g, 'g', F);
  const second = o.second ?? 'slice';
  const s2 =
    second === 'slice'
      ? b.op('Concat', [b.op('Slice', [shapeX(), b.const('z', ints([0])), b.const('e', ints([-1]))]), b.const('n', ints([n]))], { axis: 0 })
      : second === 'gather'
        ? b.op('Concat', [...xs.slice(0, o.gathered ?? -1).map((_, i) => dim(i)), b.const('n', ints([n]))], { axis: 0 })
        : b.const('s2', ints(second));
  b.output(b.op('Relu', [b.op('Reshape', [g, s2])]), 'y', F);
  return model;
}

/** Runs both GPT models on ids with an attention_mask padding `pad` positions at the end of the last sequence. */
async function samePadded(before: Model, after: Model, pad: number): Promise<number> {
  const { batch: B, sequence: S } = GPT_DIMS;
  const { ids, mask } = gptFeeds(B, S, { pad });
  const feeds = { input_ids: new ort.Tensor('int64', ids, [B, S]), attention_mask: new ort.Tensor('int64', mask, [B, S]) };
  const a = (await runModel(before, feeds)).logits;
  const b = (await runModel(after, feeds)).logits;
  return compareTensors('logits', a, b, 1e-4, 1e-5).maxAbs;
}

/** The transformer preset (verify after every pass), to a fixed point; a second run must change nothing. */
function preset(model: Model, target: Target) {
  const m = clone(model);
  const report = runPasses(m, ['transformer'], { target, verify: true });
  expect(report.converged).toBe(true);
  const again = runPasses(m, ['transformer'], { target, verify: true });
  expect(again.modified).toBe(false);
  expect(again.iterations).toBe(1);
  const counts: Record<string, Record<string, number>> = {};
  for (const p of report.passes) if (p.kind === 'fusion' && Object.keys(p.counts).length) counts[p.name] = p.counts;
  return { model: m, report, counts };
}

describe('fuse-reshape-gemm', () => {
  describe("the GPT-2 export with HF Conv1D layers (linear: 'conv1d')", () => {
    const conv1d = (o: GptOptions = {}) => buildGpt({ ...o, linear: 'conv1d' });

    it('rewrites all four linear layers of every layer as MatMul + Add: the graph of the MatMul export, same outputs', async () => {
      const gpt = conv1d();
      expect(histogram(gpt).Gemm).toBe(8);
      const { model, result } = await expectFusion('fuse-reshape-gemm', gpt, { 'reshape-gemm': 8 }, { equivalence: { dims: GPT_DIMS } });
      const h = histogram(model);
      expect(h.Gemm).toBeUndefined();
      // exactly the graph torch writes for the MatMul form (the Shape arithmetic of the Reshapes is gone too)
      expect(h).toEqual(histogram(buildGpt()));
      expect(result.modified).toBe(true);
      // the same weights: the conv1d export, rewritten, computes what the MatMul export computes
      const r = await expectSameOutputs(buildGpt(), clone(model), { dims: GPT_DIMS });
      expect(r.maxAbs).toBeLessThan(1e-5);
      const attn = model.graph.nodes.find((n) => n.name === '/transformer/h.0/attn/c_attn/MatMul')!;
      expect(attn.opType).toBe('MatMul');
      expect(attn.input(1)!.name).toBe('transformer.h.0.attn.c_attn.weight');
    });

    it.each<[string, GptOptions]>([
      ['opset 11 (Unsqueeze axes as attributes)', { opset: 11, layers: 1 }],
      ['opset 17 (LayerNormalization), 3 layers', { opset: 17, layers: 3 }],
    ])('rewrites %s', async (_, o) => {
      const layers = o.layers ?? 2;
      await expectFusion('fuse-reshape-gemm', conv1d(o), { 'reshape-gemm': 4 * layers }, { equivalence: { dims: GPT_DIMS } });
    });

    it.each<[number, number]>([
      [2, 4],
      [3, 4],
    ])('the transformer preset (--target ort) fuses causal attention in each of %i layers, GELU and its bias, with the same outputs', async (layers, heads) => {
      const gpt = conv1d({ layers, heads });
      const { model, counts } = preset(gpt, 'ort');
      expect(counts['fuse-reshape-gemm']).toEqual({ 'reshape-gemm': 4 * layers });
      expect(counts['fuse-attention']).toEqual({ attention: layers });
      // the same fusions as on the MatMul export
      const ref = preset(buildGpt({ layers, heads }), 'ort');
      const { 'fuse-reshape-gemm': _, ...rest } = counts;
      expect(rest).toEqual(ref.counts);
      const h = histogram(model);
      expect(h).toEqual(histogram(ref.model));
      expect(h['com.microsoft:Attention']).toBe(layers);
      expect(h['com.microsoft:FastGelu']).toBe(layers);
      for (const op of ['Gemm', 'Softmax', 'Where', 'Split', 'Transpose', 'Tanh', 'Pow']) expect(h[op], op).toBeUndefined();
      for (const att of model.graph.nodes.filter((n) => n.opType === 'Attention')) {
        expect(att.getInt('unidirectional')).toBe(1);
        expect(att.getInt('num_heads')).toBe(heads);
      }
      // GELU's bias went into FastGelu: the MLP's c_fc bias is its second input
      expect(model.graph.nodes.filter((n) => n.opType === 'FastGelu').every((n) => n.inputs.length === 2)).toBe(true);
      const after = clone(model);
      await expectSameOutputs(gpt, after, { dims: GPT_DIMS });
      expect(await samePadded(gpt, after, 0)).toBeLessThan(1e-5);
      expect(await samePadded(gpt, after, 4)).toBeLessThan(1e-5);
    });

    it('the transformer preset (--target onnx) reaches a fixed point: fuse-matmul-add does not turn the 3-D MatMul back into Gemm', async () => {
      const gpt = conv1d();
      const { model, counts, report } = preset(gpt, 'onnx');
      expect(counts['fuse-reshape-gemm']).toEqual({ 'reshape-gemm': 8 });
      expect(counts['fuse-matmul-add']).toBeUndefined();
      expect(report.iterations).toBeLessThanOrEqual(3);
      expect(histogram(model).Gemm).toBeUndefined();
      await expectSameOutputs(gpt, clone(model), { dims: GPT_DIMS });
    });
  });

  describe('forms it matches', () => {
    it.each<[string, BlockOptions]>([
      ['a constant [-1, K] and Concat(Slice(Shape(x), 0, -1), [N])', {}],
      ["torch's Concat([-1], Shape(x)[2]) and Concat of Shape(x)[0], Shape(x)[1], [N]", { first: 'arith', second: 'gather' }],
      ['Shape(x)[-1] for K', { first: 'arith', kIndex: -1 }],
      ['one Shape(x) read by both targets', { first: 'arith', sharedShape: true }],
      ['one Shape(x) read by both targets, Gather form', { first: 'arith', second: 'gather', sharedShape: true }],
      ['a rank-4 input with Gathers of its three leading dims', { xShape: ['batch', 3, 2, 8], second: 'gather' }],
      ['a rank-2 input', { xShape: ['batch', 8], second: 'gather' }],
      ['a constant second target equal to the static leading dims', { xShape: [2, 5, 8], first: [10, 8], second: [2, 5, 6] }],
      ['a constant second target with -1 for the batch', { xShape: ['batch', 5, 8], second: [-1, 5, 6] }],
      ['a bias of shape [1, N]', { bias: '2d' }],
      ['a one-element bias', { bias: 'scalar' }],
      ['no bias', { bias: 'none' }],
    ])('%s', async (_, o) => {
      const { model } = await expectFusion(
        'fuse-reshape-gemm',
        block(o),
        { 'reshape-gemm': 1 },
        { equivalence: { dims: { batch: 3 }, rtol: 1e-5, atol: 1e-6 } },
      );
      const h = histogram(model);
      expect(h.Gemm).toBeUndefined();
      expect(h.Reshape).toBeUndefined();
      expect(h.Shape).toBeUndefined();
      expect(h.MatMul).toBe(1);
      expect(h.Add).toBe(o.bias === 'none' ? undefined : 1);
      const add = model.graph.nodes.find((n) => n.opType === 'Add');
      if (add) expect(add.input(1)!.initializer!.rank).toBe(1);
    });

    it('transB = 1: W is transposed into a new constant [K, N], numerically equal', async () => {
      const original = block({ transB: 1 });
      const { model } = await expectFusion(
        'fuse-reshape-gemm',
        original,
        { 'reshape-gemm': 1 },
        { equivalence: { dims: { batch: 3 }, rtol: 1e-5, atol: 1e-6 } },
      );
      const mm = model.graph.nodes.find((n) => n.opType === 'MatMul')!;
      const wt = mm.input(1)!.initializer!;
      expect(wt.dims).toEqual([8, 6]);
      expect(model.graph.initializers.has('W')).toBe(false);
      const orig = original.graph.initializers.get('W')!.initializer!.toFloat32();
      const got = wt.toFloat32();
      for (let i = 0; i < 8; i++) for (let j = 0; j < 6; j++) expect(got[i * 6 + j]).toBe(orig[j * 8 + i]);
    });

    it('with fuse-matmul-add after it, a rank-2 input ends as one Gemm without the Reshapes (a fixed point)', () => {
      const m = clone(block({ xShape: ['batch', 8], second: 'gather' }));
      const report = runPasses(m, ['fuse-reshape-gemm', 'fuse-matmul-add'], { verify: true });
      expect(report.converged).toBe(true);
      expect(report.iterations).toBe(2);
      expect(histogram(m)).toEqual({ Gemm: 1, Relu: 1 });
    });
  });

  describe('does not fire', () => {
    it.each<[string, BlockOptions, RegExp]>([
      ['on transA = 1', { transA: 1, xShape: ['batch', 8, 8], first: [-1, 8] }, /has transA = 1/],
      ['on alpha != 1', { alpha: 0.5 }, /has alpha = 0.5; only alpha = beta = 1/],
      ['on beta != 1', { beta: 2 }, /has beta = 2; only alpha = beta = 1/],
      [
        'on a first Reshape that does not keep the last dimension',
        { xShape: [2, 6, 4], first: [-1, 8], second: [2, 3, 6] },
        /x has last dimension 4, the Gemm reads rows of 8: the first Reshape does not keep the last dimension/,
      ],
      [
        'on a first Reshape of dimension 1 of x',
        { first: 'arith', kIndex: 1, xShape: ['batch', 'n', 8] },
        /keeps dimension 1 of x, not its last|targets \[-1,n\], not \[-1, 8\]/,
      ],
      [
        'on a second Reshape to another shape',
        { xShape: [2, 5, 8], second: [5, 2, 6] },
        /targets \[5,2,6\], x has shape \[2,5,8\]: it does not restore x's leading dimensions/,
      ],
      ['on a second Reshape of another rank', { xShape: [2, 5, 8], second: [10, 6] }, /x has rank 3: it does not restore/],
      ['on a second constant target when x has symbolic dims', { second: [2, 5, 6] }, /it does not restore x's leading dimensions/],
      ['on a second target whose last entry is not N', { second: [-1, 5, 3], n: 6 }, /whose last dimension is not 6/],
      [
        'on Gathers of too few leading dims',
        { xShape: ['batch', 3, 2, 8], second: 'gather', gathered: 2 },
        /restores 2 leading dimensions of x, which has rank 4/,
      ],
      ['on a non-constant W', { weightInput: true }, /W is not a constant/],
      ['when the Gemm output is also a graph output', { gemmOutput: true }, /intermediate .* is a graph output/],
    ])('%s', (_, o, reason) => {
      const misses = expectNoFusion('fuse-reshape-gemm', block(o));
      expect(misses.map((m) => m.reason)).toContainEqual(expect.stringMatching(reason));
    });
  });
});
