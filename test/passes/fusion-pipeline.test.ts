/**
 * The fusion presets end to end on the fixtures and on exporter variants: exact counts, verify() after every pass,
 * a second run changes nothing, and the outputs stay equal (runtime optimisations disabled).
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBert, buildPaddleStyle } from '../../fixtures/models/index.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { f } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Rng } from '../../src/util/rng.js';
import { loadModel } from '../../src/onnx/io.js';
import { resolveFusePasses } from '../../src/passes/index.js';
import { runPasses } from '../../src/optimize/registry.js';
import type { Target } from '../../src/pass/pass.js';
import { expectSameOutputs } from '../helpers/equivalence.js';
import { clone, histogram } from './fusion-helpers.js';

const FIXTURES = path.resolve(__dirname, '../../fixtures');
const BERT_DIMS = { batch: 2, sequence: 16 };

/** Runs a preset with verify after every pass; checks idempotence and equivalence; returns counts per pass. */
async function fuse(original: Model, preset: string, target: Target, dims: Record<string, number>) {
  const model = clone(original);
  const report = runPasses(model, resolveFusePasses([preset]), { target, verify: true });
  expect(report.converged).toBe(true);
  const again = runPasses(model, resolveFusePasses([preset]), { target, verify: true });
  expect(again.modified).toBe(false);
  await expectSameOutputs(original, clone(model), { dims });
  const counts: Record<string, Record<string, number>> = {};
  for (const p of report.passes) if (p.kind === 'fusion' && Object.keys(p.counts).length) counts[p.name] = p.counts;
  return { model, counts, report };
}

describe('fusion presets on the fixtures', () => {
  it('BERT fixture, --target ort: every LayerNorm, GELU and attention block is fused', async () => {
    const { model, counts, report } = await fuse(loadModel(path.join(FIXTURES, 'bert-tiny.onnx')), 'transformer', 'ort', BERT_DIMS);
    expect(counts).toEqual({
      'fuse-layer-norm': { 'layer-norm': 5 },
      'fuse-gelu': { 'gelu-erf': 2 },
      'fuse-attention': { attention: 2 },
      'fuse-skip-layer-norm': { 'skip-layer-norm': 4 },
      'fuse-bias-gelu': { 'bias-gelu': 2 },
      'fuse-matmul-add': { 'matmul-add': 2 },
    });
    const h = histogram(model);
    expect(h).toMatchObject({
      'com.microsoft:Attention': 2,
      'com.microsoft:SkipLayerNormalization': 4,
      'com.microsoft:BiasGelu': 2,
      LayerNormalization: 1,
      Gemm: 2,
    });
    for (const gone of ['ReduceMean', 'Erf', 'Softmax', 'Sqrt', 'Pow', 'Div', 'Transpose']) expect(h[gone], gone).toBeUndefined();
    expect(report.nodesBefore).toBe(259);
    expect(report.nodesAfter).toBe(model.graph.nodes.length);
  });

  it('BERT fixture, --target onnx: standard LayerNormalization, Gelu and Attention at opset 23', async () => {
    const { model, counts } = await fuse(loadModel(path.join(FIXTURES, 'bert-tiny.onnx')), 'transformer', 'onnx', BERT_DIMS);
    expect(counts).toEqual({
      'fuse-layer-norm': { 'layer-norm': 5 },
      'fuse-gelu': { 'gelu-erf': 2 },
      'fuse-attention': { attention: 2 },
      'fuse-matmul-add': { 'matmul-add': 2 },
    });
    expect(model.opset()).toBe(23);
    expect(model.opset('com.microsoft')).toBeUndefined();
    expect(histogram(model)).toMatchObject({ LayerNormalization: 5, Gelu: 2, Attention: 2 });
    expect(histogram(model).Softmax).toBeUndefined();
  });

  it('CNN fixture: every BatchNormalization is folded', async () => {
    const { model, counts } = await fuse(loadModel(path.join(FIXTURES, 'cnn-small.onnx')), 'cnn', 'onnx', { batch: 2 });
    expect(counts).toEqual({ 'fuse-conv-bn': { 'conv-bn': 6 } });
    expect(histogram(model).BatchNormalization).toBeUndefined();
  });

  it('paddle2onnx-style model (opset 11, weights in Constant nodes): Gemm, and both BatchNormalizations folded', async () => {
    const { model, counts } = await fuse(buildPaddleStyle(), 'cnn', 'onnx', { batch: 2 });
    expect(counts).toEqual({ 'fuse-matmul-add': { 'matmul-add': 2 }, 'fuse-conv-bn': { 'conv-bn': 1, 'gemm-bn': 1 } });
    expect(histogram(model).BatchNormalization).toBeUndefined();
    expect(model.opset()).toBe(11);
  });

  it('an opset-9 export (BatchNormalization-9, Flatten-9, MatMul + Add) goes through the cnn preset', async () => {
    const { model, b } = createModel({ opset: 9, irVersion: 4 });
    const rng = new Rng(2);
    const w = (dims: number[], std = 0.4, mean = 0) => floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((x, y) => x * y, 1)), std, mean));
    const x = b.input('x', DataType.FLOAT, ['batch', 3, 4, 4]);
    const c = b.op('Conv', [x, b.init('conv.w', w([4, 3, 3, 3])), b.init('conv.b', w([4]))], { pads: [1, 1, 1, 1] });
    const bn = b.op(
      'BatchNormalization',
      [c, b.init('bn.g', w([4], 0.2, 1)), b.init('bn.b', w([4])), b.init('bn.m', w([4])), b.init('bn.v', floatTensor([4], [0.5, 1, 1.5, 2]))],
      { epsilon: f(1e-5) },
    );
    const flat = b.op('Flatten', [b.op('Relu', [bn])], { axis: 1 });
    b.output(b.op('Add', [b.op('MatMul', [flat, b.init('fc.w', w([64, 5]))]), b.init('fc.b', w([5]))]), 'y', DataType.FLOAT, ['batch', 5]);
    const { counts, model: after } = await fuse(model, 'cnn', 'onnx', { batch: 2 });
    expect(counts).toEqual({ 'fuse-matmul-add': { 'matmul-add': 1 }, 'fuse-conv-bn': { 'conv-bn': 1 } });
    expect(after.opset()).toBe(9);
  });

  it.each([11, 13, 15, 17, 18])('a one-layer BERT exported at opset %i fuses fully for ort', async (opset) => {
    const { counts, model } = await fuse(buildBert({ layers: 1, opset }), 'transformer', 'ort', BERT_DIMS);
    expect(counts).toEqual({
      'fuse-layer-norm': { 'layer-norm': 3 },
      'fuse-gelu': { 'gelu-erf': 1 },
      'fuse-attention': { attention: 1 },
      'fuse-skip-layer-norm': { 'skip-layer-norm': 2 },
      'fuse-bias-gelu': { 'bias-gelu': 1 },
    });
    expect(model.opset()).toBe(opset < 13 ? opset : Math.max(opset, 17));
  });
});
