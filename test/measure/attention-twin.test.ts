import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { buildBert } from '../../fixtures/models/bert.js';
import { buildGpt } from '../../fixtures/models/gpt.js';
import { addAttentionTwins, fusedAttentionNodes } from '../../src/measure/attention-twin.js';
import { computeGraphF1 } from '../../src/measure/fidelity.js';
import { probeModel } from '../../src/measure/probe.js';
import { parseEdgeRule } from '../../src/measure/graph-f1.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { runPasses, presets } from '../../src/optimize/registry.js';
import { prune } from '../../src/prune/index.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import type { Model } from '../../src/ir/model.js';
import type { Feeds } from '../../src/runtime/session.js';

const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));
const fuse = (m: Model): Model => {
  runPasses(m, presets.transformer!, { target: 'ort' });
  return m;
};

/** Two sets of 24 tokens, the second with its last 6 keys padded (mask 0), so the mask path is measured too. */
function feedsOf(model: Model): Feeds[] {
  const sets = synthesizeInputs(model, { count: 2, dims: { batch: 2, sequence: 24 }, seed: 3 });
  const mask = new BigInt64Array(48).fill(1n);
  for (let j = 18; j < 24; j++) mask[24 + j] = 0n;
  sets[1]!.attention_mask = new ort.Tensor('int64', mask, [2, 24]);
  return sets;
}

async function graphF1(candidate: Model, baseline: Model, feeds: Feeds[], rule = '0.2') {
  const [b, c] = [
    await probeModel(baseline, feeds, { attention: true, outputs: true }),
    await probeModel(candidate, feeds, { attention: true, outputs: true }),
  ];
  const names = b.outputNames.map((n) => [n, n] as [string, string]);
  return {
    b,
    c,
    f1: computeGraphF1({
      threshold: parseEdgeRule(rule),
      baselineCapture: b.capture,
      candidateCapture: c.capture,
      baselineWhyNot: b.whyNoAttention,
      candidateWhyNot: c.whyNoAttention,
      baselineOutputs: b.outputs,
      candidateOutputs: c.outputs,
      pairs: names,
    }),
  };
}

describe('graph F1 of fused attention (decomposed twin)', () => {
  it('reads the probabilities of com.microsoft Attention: equal to the unfused Softmax, same graph F1, edges counted', async () => {
    const bert = buildBert({ layers: 2 });
    const fused = fuse(clone(bert));
    expect(fusedAttentionNodes(fused.graph)).toHaveLength(2);
    expect(fused.graph.nodes.some((n) => n.opType === 'Softmax')).toBe(false);
    const nodesBefore = fused.graph.nodes.length;
    const feeds = feedsOf(bert);
    const { b, c, f1 } = await graphF1(fused, bert, feeds);
    // the twin was removed again
    expect(fused.graph.nodes.length).toBe(nodesBefore);
    expect(fused.graph.outputs.map((v) => v.name)).toEqual(bert.graph.outputs.map((v) => v.name));
    expect(c.capture?.twinned).toBe(2);
    expect(c.whyNoAttention).toBeNull();
    // the averaged probabilities match the unfused model's Softmax, layer by layer, padded set included
    for (let s = 0; s < feeds.length; s++)
      for (let l = 0; l < 2; l++) {
        const [x, y] = [b.capture!.sets[s]![l]!, c.capture!.sets[s]![l]!];
        expect(y.dims).toEqual(x.dims);
        let worst = 0;
        for (let i = 0; i < x.data.length; i++) worst = Math.max(worst, Math.abs(x.data[i]! - y.data[i]!));
        expect(worst).toBeLessThan(1e-5);
      }
    expect(f1.source).toBe('attention');
    expect(f1.note).toMatch(/2 fused Attention layer\(s\) read through a decomposed twin/);
    expect(f1.edges.all.baseline).toBeGreaterThan(0);
    expect(f1.edges.all.conclusive).toBe(true);
    expect(f1.edges.all.candidate).toBe(f1.edges.all.baseline);
    expect(f1).toMatchObject({ lastLayer: 1, allLayers: 1, score: 1 });
  });

  it('reads the probabilities of the standard Attention (--target onnx, opset 23) through qk_matmul_output_mode 3', async () => {
    const bert = buildBert({ layers: 2, opset: 18 });
    const fused = clone(bert);
    runPasses(fused, presets.transformer!, { target: 'onnx' });
    expect(fused.opset()).toBe(23);
    expect(fusedAttentionNodes(fused.graph).map((n) => n.domain)).toEqual(['', '']);
    const nodesBefore = fused.graph.nodes.length;
    const feeds = feedsOf(bert);
    const { b, c, f1 } = await graphF1(fused, bert, feeds);
    expect(fused.graph.nodes.length).toBe(nodesBefore);
    expect(c.capture?.twinned).toBe(2);
    expect(c.whyNoAttention).toBeNull();
    for (let s = 0; s < feeds.length; s++)
      for (let l = 0; l < 2; l++) {
        const [x, y] = [b.capture!.sets[s]![l]!, c.capture!.sets[s]![l]!];
        expect(y.dims).toEqual(x.dims);
        let worst = 0;
        for (let i = 0; i < x.data.length; i++) worst = Math.max(worst, Math.abs(x.data[i]! - y.data[i]!));
        expect(worst).toBeLessThan(1e-5);
      }
    expect(f1.source).toBe('attention');
    expect(f1.edges.all.conclusive).toBe(true);
    expect(f1).toMatchObject({ lastLayer: 1, allLayers: 1, score: 1 });
  });

  it('a fused candidate whose weights changed gets a lower graph F1 (magnitude-pruned, then fused)', async () => {
    const bert = buildBert({ layers: 2 });
    const feeds = feedsOf(bert);
    const { model: pruned } = await prune(clone(bert), { method: 'magnitude', sparsity: 0.6 });
    const unfusedPruned = await graphF1(pruned, bert, feeds);
    const fusedPruned = fuse(clone(pruned));
    expect(fusedAttentionNodes(fusedPruned.graph)).toHaveLength(2);
    const { f1 } = await graphF1(fusedPruned, bert, feeds);
    expect(f1.source).toBe('attention');
    expect(f1.edges.all.baseline).toBeGreaterThan(0);
    expect(f1.score!).toBeLessThan(0.95);
    // the twin measures what the unfused pruned model's Softmax shows
    expect(f1.allLayers).toBeCloseTo(unfusedPruned.f1.allLayers, 6);
    expect(f1.lastLayer).toBeCloseTo(unfusedPruned.f1.lastLayer, 6);
  });

  it('causal (unidirectional) Attention with a padding mask: the twin matches the unfused Softmax at every real token', async () => {
    const gpt = buildGpt({ layers: 2 });
    const fused = clone(gpt);
    runPasses(fused, ['fuse-attention'], { target: 'ort' });
    expect(fusedAttentionNodes(fused.graph).map((n) => n.getInt('unidirectional'))).toEqual([1, 1]);
    const feeds = synthesizeInputs(gpt, { count: 1, dims: { batch: 2, sequence: 10 }, seed: 5 });
    const mask = new BigInt64Array(20).fill(1n);
    for (let j = 7; j < 10; j++) mask[10 + j] = 0n; // right padding of the second sequence
    feeds[0]!.attention_mask = new ort.Tensor('int64', mask, [2, 10]);
    const [a, b] = [await probeModel(gpt, feeds, { attention: true }), await probeModel(fused, feeds, { attention: true })];
    expect(b.whyNoAttention).toBeNull();
    expect(b.capture?.twinned).toBe(2);
    for (let l = 0; l < 2; l++) {
      const [x, y] = [a.capture!.sets[0]![l]!, b.capture!.sets[0]![l]!];
      let worst = 0;
      for (let i = 0; i < x.data.length; i++) worst = Math.max(worst, Math.abs(x.data[i]! - y.data[i]!));
      expect(worst).toBeLessThan(1e-5);
    }
  });

  it('leaves what it cannot reproduce exactly to the output fallback, saying why', async () => {
    const bert = buildBert({ layers: 1 });
    const fused = fuse(clone(bert));
    const att = fusedAttentionNodes(fused.graph)[0]!;
    att.setInput(3, null);
    att.truncateInputs(3);
    att.appendInput(null);
    att.appendInput(fused.graph.addConstant('past', (await import('../../src/ir/builder.js')).floatTensor([2, 1, 4, 0, 8], new Float32Array(0))));
    const t = addAttentionTwins(fused);
    expect(t.sites).toHaveLength(0);
    expect(t.unsupported[0]!.why).toBe('it has past state');
    t.remove();
  });
});
