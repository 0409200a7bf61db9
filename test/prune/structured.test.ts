import { describe, expect, it } from 'vitest';
import { bertParameterCount, buildBert } from '../../fixtures/models/bert.js';
import { buildCnn, cnnParameterCount } from '../../fixtures/models/cnn.js';
import { buildMlp, mlpParameterCount } from '../../fixtures/models/mlp.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { countParameters } from '../../src/inspect.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { f } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { constantInts } from '../../src/rewrite/constant.js';
import { keptCount, topUnits, unitScores } from '../../src/prune/importance.js';
import { probeModel } from '../../src/measure/probe.js';
import { analyzeUnits, pruneStructured } from '../../src/prune/structured.js';
import { createSession, runSession } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';

const F = DataType.FLOAT;
const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));
const params = (m: Model): number => countParameters(m).total;

/** Runs the model in onnxruntime on synthesized inputs; returns output dims by name. */
async function runs(m: Model, dims: Record<string, number>): Promise<Record<string, number[]>> {
  const s = await createSession(clone(m));
  try {
    const out = await runSession(s, synthesizeInputs(m, { dims })[0]);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.dims.map(Number)]));
  } finally {
    await s.release();
  }
}

describe('structured pruning at 50% on the fixtures (exact parameter counts, valid models)', () => {
  it('BERT FFN neurons: W1 columns, b1, W2 rows of every layer', async () => {
    const m = buildBert();
    expect(params(m)).toBe(bertParameterCount());
    const r = pruneStructured(m, { units: ['ffn'], sparsity: 0.5 });
    verify(m);
    // per layer: 32 neurons x (hidden 32 in W1 + 1 bias + hidden 32 in W2)
    expect(bertParameterCount() - params(m)).toBe(2 * 32 * (2 * 32 + 1));
    expect(params(m)).toBe(bertParameterCount({ intermediate: 32 }));
    expect(r.groups.map((g) => [g.kind, g.units, g.kept])).toEqual([
      ['ffn', 64, 32],
      ['ffn', 64, 32],
    ]);
    expect(await runs(m, { batch: 2, sequence: 8 })).toEqual({ last_hidden_state: [2, 8, 32] });
  });

  it('BERT attention heads: Q/K/V columns, O rows, and the head count in the Concat-built Reshape shapes', async () => {
    const m = buildBert();
    const r = pruneStructured(m, { units: ['heads'], sparsity: 0.5 });
    verify(m);
    const h = 32;
    // per layer: 2 of 4 heads x 8 = 16 channels of Wq, Wk, Wv (+ biases) and 16 rows of Wo
    expect(bertParameterCount() - params(m)).toBe(2 * (3 * (h * 16 + 16) + 16 * h));
    expect(r.groups.map((g) => [g.kind, g.units, g.kept, g.unitWidth])).toEqual([
      ['heads', 4, 2, 8],
      ['heads', 4, 2, 8],
    ]);
    // the split reshapes now say 2 heads of 8, the merge says 16
    const concats = m.graph.nodes.filter((n) => n.opType === 'Concat' && n.name.includes('layer.0'));
    const lastPieces = concats.map((c) => constantInts(c.input(c.inputs.length - 1)));
    const headPieces = concats.filter((c) => c.inputs.length === 4).map((c) => constantInts(c.input(2)));
    expect(headPieces).toEqual([[2], [2], [2]]);
    expect(lastPieces).toContainEqual([16]);
    expect(await runs(m, { batch: 2, sequence: 8 })).toEqual({ last_hidden_state: [2, 8, 32] });
  });

  it('CNN channels: residual group, inner groups and the depthwise conv agree; parameters = the 4-channel CNN', async () => {
    const m = buildCnn();
    const r = pruneStructured(m, { units: ['channels'], sparsity: 0.5 });
    verify(m);
    expect(params(m)).toBe(cnnParameterCount({ channels: 4 }));
    expect(cnnParameterCount() - params(m)).toBe(cnnParameterCount() - cnnParameterCount({ channels: 4 }));
    expect(r.skipped).toEqual([]);
    expect(r.groups.map((g) => [g.id, g.label, g.units, g.kept])).toEqual([
      ['channels:/stem/conv/Conv', '/stem/conv/Conv, /layer1/conv2/Conv, /layer2/conv2/Conv', 8, 4],
      ['channels:/layer1/conv1/Conv', '/layer1/conv1/Conv', 8, 4],
      ['channels:/layer2/conv1/Conv', '/layer2/conv1/Conv', 8, 4],
    ]);
    const dw = m.graph.nodes.find((n) => n.name === '/dw/conv/Conv')!;
    expect(dw.getInt('group')).toBe(4);
    expect(await runs(m, { batch: 2 })).toEqual({ logits: [2, 10] });
  });

  it('the residual group holds every conv writing into the stream and every reader', () => {
    const a = analyzeUnits(buildCnn(), { units: ['channels'] });
    const residual = a.groups.find((g) => g.id === 'channels:/stem/conv/Conv')!;
    const writers = residual.slices.filter((s) => s.role === 'source').map((s) => s.node.name);
    const readers = residual.slices.filter((s) => s.role === 'sink').map((s) => s.node.name);
    expect(writers.sort()).toEqual(['/layer1/conv2/Conv', '/layer2/conv2/Conv', '/stem/conv/Conv']);
    expect(readers.sort()).toEqual(['/fc/Gemm', '/layer1/conv1/Conv', '/layer2/conv1/Conv']);
  });

  it('MLP hidden layer (MatMul, bias Add, Relu, MatMul) with --round-to; declared shapes follow', async () => {
    const m = buildMlp();
    const relu = m.graph.lookupLocal('relu_out')!;
    relu.type = { tensor_type: { elem_type: F, shape: { dim: [{ dim_param: 'batch' }, { dim_value: 16 }] } } };
    relu.inValueInfo = true;
    const r = pruneStructured(m, { units: ['ffn'], sparsity: 0.3, roundTo: 8 });
    verify(m);
    // 16 neurons, 30% off would keep 11; rounded to a multiple of 8 (nearest): 8
    expect(r.groups[0].kept).toBe(8);
    expect(mlpParameterCount() - params(m)).toBe(8 * (8 + 1 + 4));
    expect((relu.type.tensor_type as { shape: { dim: unknown[] } }).shape.dim).toEqual([{ dim_param: 'batch' }, { dim_value: 8 }]);
    expect(await runs(m, { batch: 3 })).toEqual({ y: [3, 4] });
  });
});

/**
 * x (graph input, [n, 4, 6, 6]) -> Conv a -> BN -> Relu -> Conv b -> BN -> Add(x) -> Relu -> Conv c (-> y)
 * The Add joins the residual stream to the graph input: the channels of Conv b, the stream and Conv c's input are
 * part of the model's interface and must be left alone; Conv a -> Conv b (the inner group) is prunable.
 */
function residualOnInput(): Model {
  const { model, b } = createModel({ opset: 13 });
  const rng = new Rng(7);
  const w = (name: string, dims: number[], std = 0.3, mean = 0) =>
    b.init(name, floatTensor(dims, rng.fork(name).fillNormal(new Float32Array(dims.reduce((x, y) => x * y, 1)), std, mean)));
  const bn = (x: ReturnType<typeof b.op>, p: string) =>
    b.op(
      'BatchNormalization',
      [x, w(`${p}.s`, [4], 0.1, 1), w(`${p}.b`, [4], 0.1), w(`${p}.m`, [4], 0.1), b.init(`${p}.v`, floatTensor([4], [1, 1.5, 0.7, 1.2]))],
      { epsilon: f(1e-5) },
    );
  const x = b.input('x', F, ['n', 4, 6, 6]);
  const conv = (input: ReturnType<typeof b.op>, name: string) => b.op('Conv', [input, w(name, [4, 4, 3, 3])], { pads: [1, 1, 1, 1] }, { name });
  let h = b.op('Relu', [bn(conv(x, 'conv_a'), 'bn_a')]);
  h = bn(conv(h, 'conv_b'), 'bn_b');
  h = b.op('Relu', [b.op('Add', [h, x], {}, { name: 'residual' })]);
  b.output(conv(h, 'conv_c'), 'y', F, ['n', 4, 6, 6]);
  return model;
}

describe('units that cannot be pruned safely are left alone and reported', () => {
  it('a channel group shared with the residual path from a graph input', async () => {
    const m = residualOnInput();
    const before = params(m);
    const r = pruneStructured(m, { units: ['channels'], sparsity: 0.5 });
    verify(m);
    expect(r.groups.map((g) => [g.label, g.kept])).toEqual([['conv_a', 2]]);
    expect(r.skipped).toHaveLength(2);
    const byId = Object.fromEntries(r.skipped.map((s) => [s.id, s.reason]));
    expect(byId['channels:conv_b']).toMatch(/graph input 'x'/);
    expect(byId['channels:conv_c']).toMatch(/graph output 'y'/);
    // conv_b's weight kept all 4 output channels: only conv_a's outputs and conv_b's inputs were cut
    expect(m.graph.nodes.find((n) => n.name === 'conv_b')!.input(1)!.initializer!.dims).toEqual([4, 2, 3, 3]);
    expect(before - params(m)).toBe(2 * 4 * 9 + 2 * 4 + 2 * 4 * 9);
    expect(await runs(m, { n: 1 })).toEqual({ y: [1, 4, 6, 6] });
  });

  it('BERT: the hidden stream (LayerNorm reduces over it) and the classifier (graph output) are left alone', () => {
    const a = analyzeUnits(buildBert({ classifier: 2 }), { units: ['ffn', 'heads'] });
    const reasons = a.skipped.map((s) => `${s.id}: ${s.reason}`);
    expect(reasons.filter((r) => /reduced over its channel axis by ReduceMean/.test(r))).toHaveLength(4);
    expect(reasons).toContainEqual(expect.stringMatching(/classifier.*graph output 'logits'/));
    // Q/K/V projections belong to the head groups, not reported as FFN units
    expect(reasons.some((r) => /query|key|value/.test(r))).toBe(false);
    expect(a.groups.filter((g) => g.kind === 'heads')).toHaveLength(2);
  });

  it('an FFN activation read by another branch, or as a graph output', () => {
    for (const extra of ['Transpose', 'output'] as const) {
      const m = buildMlp();
      const relu = m.graph.lookupLocal('relu_out')!;
      if (extra === 'output') m.graph.addOutput(relu);
      else m.graph.addOutput(m.graph.addNode('Transpose', [relu], { perm: [1, 0] }, { name: 'side' }).output(0));
      const r = pruneStructured(m, { units: ['ffn'], sparsity: 0.5 });
      expect(r.groups).toHaveLength(0);
      expect(params(m)).toBe(mlpParameterCount());
      expect(r.skipped.find((s) => s.id === 'ffn:fc1/MatMul')!.reason).toMatch(
        extra === 'output' ? /graph output 'relu_out'/ : /Transpose 'side'.*moves the channel axis/,
      );
    }
  });

  it('attention whose Reshape shape is not understood keeps its heads', () => {
    const m = buildBert({ layers: 1 });
    const reshape = m.graph.nodes.find((n) => n.opType === 'Reshape' && n.name.includes('self/Reshape'))!;
    reshape.setInput(1, m.graph.addInput('dynamic_shape', { tensor_type: { elem_type: DataType.INT64, shape: { dim: [{ dim_value: 4 }] } } }));
    const a = analyzeUnits(m, { units: ['heads'] });
    expect(a.groups).toHaveLength(0);
    expect(a.skipped[0].reason).toMatch(/shape of Reshape .* is neither a constant nor a Concat/);
  });
});

describe('importance', () => {
  it('keptCount rounds kept channels to a multiple, never to zero units', () => {
    expect(keptCount(3072, 0.5)).toBe(1536);
    expect(keptCount(64, 0.3, 1, 8)).toBe(48); // 44.8 -> 45 -> nearest multiple of 8 (ties keep more)
    expect(keptCount(12, 0.5, 64, 8)).toBe(6); // heads of 64 channels are multiples of 8 already
    expect(keptCount(4, 0.99)).toBe(1);
    expect(keptCount(10, 0)).toBe(10);
  });

  it('topUnits keeps the highest scores in index order', () => {
    expect(topUnits(Float64Array.from([0.1, 5, 3, 5, 0]), 3)).toEqual([1, 2, 3]);
  });

  it('l1, l2 and activation-aware scores rank units differently and all give valid models', async () => {
    const base = buildBert({ layers: 1 });
    const feeds = synthesizeInputs(base, { dims: { batch: 2, sequence: 8 }, count: 2 });
    const analysis = analyzeUnits(base, { units: ['ffn'] });
    const sinks = analysis.groups.flatMap((g) => g.sinks.map((s) => ({ value: s.value, axisFromEnd: s.axisFromEnd })));
    const acts = (await probeModel(base, feeds, { activations: sinks })).activations;
    expect([...acts.values()][0]).toHaveLength(64);
    const g = analysis.groups[0];
    // activation-aware: ||W2[u, :]|| * ||x_u|| with x the GELU output W2 reads, exactly
    const w2 = g.sinks[0].slice.node.input(1)!.initializer!.toFloat32();
    const energy = acts.get(g.sinks[0].value.name)!;
    const want = Array.from({ length: 64 }, (_, u) => Math.sqrt(w2.slice(u * 32, u * 32 + 32).reduce((a, x) => a + x * x, 0)) * Math.sqrt(energy[u]));
    unitScores(g, 'activation', acts).forEach((x, u) => expect(x).toBeCloseTo(want[u], 6));
    const keep = (c: 'l1' | 'l2' | 'activation') => topUnits(unitScores(g, c, acts), 32);
    expect(keep('activation')).not.toEqual(keep('l2'));
    for (const criterion of ['l1', 'l2', 'activation'] as const) {
      const m = clone(base);
      pruneStructured(m, { units: ['ffn'], sparsity: 0.5, criterion, activations: acts });
      verify(m);
      expect(bertParameterCount({ layers: 1 }) - params(m)).toBe(32 * 65);
      expect(await runs(m, { batch: 1, sequence: 4 })).toEqual({ last_hidden_state: [1, 4, 32] });
    }
  });
});
