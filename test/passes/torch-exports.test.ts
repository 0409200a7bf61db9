/**
 * Fusion on what torch.onnx.export really writes (fixtures/torch/, made by torch 1.13's exporter): with --target ort
 * every attention block fuses (no Softmax left), the norms and activations fuse, a second run changes nothing, and
 * the fused model still computes torch's reference outputs on every committed case (padded and unpadded).
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { NearMiss } from '../../src/pass/pass.js';
import { loadModel } from '../../src/onnx/io.js';
import { runPasses } from '../../src/optimize/registry.js';
import { resolveFusePasses } from '../../src/passes/index.js';
import { createSession, ortToFloat32, runSession } from '../../src/runtime/session.js';
import { charEvalFeeds, exportCases, feedsOf, readJson, torchFixture, type RefCase, type RefTensor } from '../helpers/torch-fixtures.js';
import { clone, histogram } from './fusion-helpers.js';

function fuse(file: string, target: 'ort' | 'onnx' = 'ort'): { original: Model; model: Model } {
  const original = loadModel(torchFixture(file));
  const model = clone(original);
  const report = runPasses(model, resolveFusePasses(['transformer']), { target, verify: true });
  expect(report.converged).toBe(true);
  const again = runPasses(model, resolveFusePasses(['transformer']), { target, verify: true });
  expect(again.modified, 'a second run changes nothing').toBe(false);
  return { original, model };
}

/**
 * Worst |got - want| / max|want| over every output of every case (relative to the output's scale: torch's values are
 * rounded to 7 digits and single logits near 0 carry float32 noise of ~1e-6 before any rewrite).
 */
export async function worstError(model: Model, cases: RefCase[]): Promise<number> {
  const s = await createSession(model);
  let worst = 0;
  try {
    for (const c of cases) {
      const got = await runSession(s, feedsOf(c.inputs));
      for (const [name, want] of Object.entries(c.outputs)) {
        expect([...got[name]!.dims].map(Number), name).toEqual(want.shape);
        const g = ortToFloat32(got[name]!);
        const scale = Math.max(...want.data.map((w) => Math.abs(w as number)));
        want.data.forEach((w, i) => {
          const d = Math.abs(g[i]! - (w as number)) / scale;
          worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
        });
      }
    }
  } finally {
    await s.release();
  }
  return worst;
}

describe('fusion on torch exports (--target ort)', () => {
  it.each(['gpt2-tiny-op14.onnx', 'gpt2-tiny-op17.onnx'])('%s: both causal attentions fuse, outputs equal torch on padded and unpadded cases', async (file) => {
    const { model } = fuse(file);
    const h = histogram(model);
    expect(h['com.microsoft:Attention']).toBe(2);
    expect(h['com.microsoft:FastGelu']).toBe(2);
    // pre-LN: every residual + LayerNorm fuses (the next block reads the 4th output); the embeddings' LN broadcasts wpe
    expect([h['com.microsoft:SkipLayerNormalization'], h.LayerNormalization]).toEqual([4, 1]);
    for (const gone of ['Softmax', 'Where', 'Split', 'Gemm', 'Tanh', 'ReduceMean']) expect(h[gone], gone).toBeUndefined();
    const attn = model.graph.nodes.filter((n) => n.opType === 'Attention');
    for (const n of attn) {
      expect(n.getInt('unidirectional')).toBe(1);
      expect(n.getInt('num_heads')).toBe(4);
      expect(n.inputs.length, 'the padding mask becomes mask_index').toBe(4);
    }
    const { cases } = exportCases('gpt2-tiny.json');
    expect(
      cases.some((c) => (c.inputs.attention_mask!.data as number[]).includes(0)),
      'a padded case',
    ).toBe(true);
    expect(await worstError(model, cases)).toBeLessThan(1e-4);
  });
});

describe('fusion on torch exports (--target onnx: standard operators, opset raised to 23)', () => {
  it.each(['gpt2-tiny-op14.onnx', 'gpt2-tiny-op17.onnx'])(
    '%s: both causal attentions become the standard Attention, outputs equal torch on padded and unpadded cases',
    async (file) => {
      const { model } = fuse(file, 'onnx');
      expect(model.opset()).toBe(23);
      expect(model.opset('com.microsoft')).toBeUndefined();
      const h = histogram(model);
      expect([h.Attention, h.LayerNormalization, h.Gelu]).toEqual([2, 5, 2]);
      // the packed c_attn projection stays (MatMul, Add, Split): Attention-23 takes q, k and v
      for (const gone of ['Softmax', 'Where', 'Transpose', 'Gemm', 'ReduceMean']) expect(h[gone], gone).toBeUndefined();
      for (const n of model.graph.nodes.filter((x) => x.opType === 'Attention')) {
        expect([n.getInt('is_causal'), n.getInt('q_num_heads'), n.getInt('kv_num_heads')]).toEqual([1, 4, 4]);
        expect(n.input(3)?.producer?.opType, 'the padding mask becomes attn_mask').toBe('Expand');
      }
      const { cases } = exportCases('gpt2-tiny.json');
      expect(await worstError(model, cases)).toBeLessThan(1e-4);
    },
  );

  it('char-tf-a (trained causal char LM): both attentions become the standard Attention, logits equal torch', async () => {
    const { model } = fuse('char-tf-a.onnx', 'onnx');
    expect(model.opset()).toBe(23);
    expect(histogram(model).Attention).toBe(2);
    expect(histogram(model).Softmax).toBeUndefined();
    const { feeds } = charEvalFeeds();
    const ref = readJson<{ outputs: Record<string, RefTensor> }>('char-tf-eval.json').outputs;
    const s = await createSession(model);
    try {
      const got = ortToFloat32((await runSession(s, feeds)).logits!);
      const want = ref.logits_a!.data as number[];
      const scale = Math.max(...want.map(Math.abs));
      let worst = 0;
      want.forEach((w, i) => (worst = Math.max(worst, Math.abs(got[i]! - w) / scale)));
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await s.release();
    }
  });
});

describe('llama-tiny (opset 17) with --target onnx: RMSNormalization at opset 23', () => {
  it("every RMSNorm fuses although each one's ReduceMean-13 blocks the raise for the others (a second run), outputs equal torch", async () => {
    const { model } = fuse('llama-tiny.onnx', 'onnx');
    expect(model.opset()).toBe(23);
    const h = histogram(model);
    expect(h.RMSNormalization).toBe(5);
    for (const gone of ['ReduceMean', 'Pow', 'Sqrt']) expect(h[gone], gone).toBeUndefined();
    const { cases } = exportCases('llama-tiny.json');
    expect(await worstError(model, cases)).toBeLessThan(1e-4);
  });
});

describe('fusion on nn.TransformerEncoder exports (nn.MultiheadAttention, key padding mask)', () => {
  it.each(['mha-encoder-tiny-op14.onnx', 'mha-encoder-tiny-op17.onnx'])(
    '%s: both attentions fuse with the padding mask as mask_index, outputs equal torch',
    async (file) => {
      const { model } = fuse(file);
      const h = histogram(model);
      expect(h['com.microsoft:Attention']).toBe(2);
      for (const gone of ['Softmax', 'Where', 'Expand', 'Slice', 'Div']) expect(h[gone], gone).toBeUndefined();
      const attn = model.graph.nodes.filter((x) => x.opType === 'Attention');
      expect(attn[0]!.inputs[0]!.name, 'the batch-first input itself').toBe('src');
      for (const n of attn) {
        expect(n.getInt('num_heads')).toBe(4);
        expect(n.inputs[3]!.producer!.opType).toBe('Cast');
      }
      const { cases } = exportCases('mha-encoder-tiny.json');
      expect(
        cases.some((c) => (c.inputs.src_key_padding_mask!.data as boolean[]).includes(true)),
        'a padded case',
      ).toBe(true);
      expect(await worstError(model, cases)).toBeLessThan(1e-4);
    },
  );

  it('a padding mask whose fill does not vanish in the Softmax is a near miss, not a fusion', () => {
    const model = loadModel(torchFixture('mha-encoder-tiny-op17.onnx'));
    for (const n of model.graph.nodes.filter((x) => x.opType === 'Where' && x.name.includes('Where_1')))
      n.setInput(1, model.graph.addConstant('fill_minus_one', Tensor.scalar(DataType.FLOAT, -1)));
    const misses: NearMiss[] = [];
    runPasses(model, resolveFusePasses(['transformer']), { target: 'ort', explain: (x) => misses.push(x) });
    expect(histogram(model)['com.microsoft:Attention']).toBeUndefined();
    expect(misses.map((x) => x.reason)).toContainEqual(expect.stringMatching(/padded keys get -1, not a value ≤ -10000/));
  });
});

describe('fusion on the GPT-2 decode step with past key/values (gpt2-past-tiny)', () => {
  it('both attentions fuse into Attention with past/present; presents and logits equal torch, and 8 fed-back steps match the unfused model', async () => {
    const { original, model } = fuse('gpt2-past-tiny.onnx');
    const h = histogram(model);
    expect(h['com.microsoft:Attention']).toBe(2);
    for (const gone of ['Softmax', 'Where', 'Split']) expect(h[gone], gone).toBeUndefined();
    for (const n of model.graph.nodes.filter((x) => x.opType === 'Attention')) {
      expect(n.getInt('unidirectional')).toBe(1);
      expect(n.inputs[4]!.producer!.opType, 'the past, packed').toBe('Concat');
      expect(n.outputs.length).toBe(2);
    }
    expect(model.graph.outputs.map((o) => o.name)).toEqual(original.graph.outputs.map((o) => o.name));
    const { cases } = exportCases('gpt2-past-tiny.json');
    expect(
      cases.some((c) => c.inputs['past_key_values.0.key']!.shape[2] === 0),
      'an empty past',
    ).toBe(true);
    expect(await worstError(model, cases)).toBeLessThan(1e-4);

    // greedy decoding from case 3's prompt (empty past): each step's presents are the next step's past
    const [s0, s1] = [await createSession(original), await createSession(model)];
    try {
      let feeds = feedsOf(cases[2]!.inputs);
      let worst = 0;
      for (let step = 0; step < 9; step++) {
        const [a, b] = [await runSession(s0, feeds), await runSession(s1, feeds)];
        for (const name of Object.keys(a)) {
          const [x, y] = [ortToFloat32(a[name]!), ortToFloat32(b[name]!)];
          const scale = Math.max(...x.map(Math.abs));
          x.forEach((v, i) => {
            worst = Math.max(worst, Math.abs(v - y[i]!) / scale);
          });
        }
        const logits = ortToFloat32(a.logits!);
        const vocab = Number(a.logits!.dims[2]);
        const last = logits.subarray(logits.length - vocab);
        const next = last.indexOf(Math.max(...last));
        const total = Number(a['present.0.key']!.dims[2]) + 1;
        feeds = {
          input_ids: new ort.Tensor('int64', BigInt64Array.from([BigInt(next)]), [1, 1]),
          attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
        };
        for (const l of [0, 1]) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = a[`present.${l}.${kv}`]!;
      }
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await s0.release();
      await s1.release();
    }
  });
});

describe('fusion on the LLaMA-style export (llama-tiny): what fuses today', () => {
  it('RMSNorm fuses, both GQA attentions become MultiHeadAttention (0 Softmax left), outputs equal torch (padded and unpadded)', async () => {
    const { original, model } = fuse('llama-tiny.onnx');
    expect(histogram(original).Softmax).toBe(2);
    const h = histogram(model);
    expect((h.SimplifiedLayerNormalization ?? 0) + (h['com.microsoft:SkipSimplifiedLayerNormalization'] ?? 0)).toBe(5);
    for (const gone of ['ReduceMean', 'Pow', 'Sqrt']) expect(h[gone], gone).toBeUndefined();
    // attention over the rotated q and the repeat_kv'd k, v with the additive causal + padding mask as attention_bias
    expect(h['com.microsoft:MultiHeadAttention']).toBe(2);
    expect(h.Softmax).toBeUndefined();
    // the rotate_half rotary embeddings of q and k in both layers, from the exporter's sliced cos/sin caches
    expect(h['com.microsoft:RotaryEmbedding']).toBe(4);
    for (const gone of ['Neg', 'If']) expect(h[gone], gone).toBeUndefined();
    // not fused: the SiLU-gated MLP (onnxruntime has no CPU fusion for it)
    const { cases } = exportCases('llama-tiny.json');
    expect(
      cases.some((c) => (c.inputs.attention_mask!.data as number[]).includes(0)),
      'a padded case',
    ).toBe(true);
    expect(await worstError(model, cases)).toBeLessThan(1e-4);
    // and the fused model equals the original in onnxruntime to float32 rounding
    expect(await worstDifference(original, model, cases)).toBeLessThan(1e-5);
  });
});

/** Worst |fused - original| / max|original| over every output of every case, both run in onnxruntime. */
async function worstDifference(original: Model, model: Model, cases: RefCase[]): Promise<number> {
  const [a, b] = [await createSession(original), await createSession(model)];
  let worst = 0;
  try {
    for (const c of cases) {
      const [want, got] = [await runSession(a, feedsOf(c.inputs)), await runSession(b, feedsOf(c.inputs))];
      for (const name of Object.keys(c.outputs)) {
        const [w, g] = [ortToFloat32(want[name]!), ortToFloat32(got[name]!)];
        const scale = Math.max(...w.map(Math.abs));
        w.forEach((x, i) => {
          const d = Math.abs(g[i]! - x) / scale;
          worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
        });
      }
    }
  } finally {
    await a.release();
    await b.release();
  }
  return worst;
}
