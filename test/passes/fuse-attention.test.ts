import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { MASK_MIN } from '../../fixtures/models/bert.js';
import { buildGpt, gptFeeds, type GptOptions } from '../../fixtures/models/gpt.js';
import { buildBert } from '../../fixtures/models/index.js';
import { createModel, floatTensor, ints, scalar, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import fuseAttention from '../../src/passes/fuse-attention.js';
import { Rng } from '../../src/util/rng.js';
import { compareTensors, runModel } from '../helpers/equivalence.js';
import { clone, expectFusion, expectNoFusion, histogram } from './fusion-helpers.js';

const F = DataType.FLOAT;
const rng = new Rng(21);
const w = (dims: number[], std = 0.4) => floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((a, b) => a * b, 1)), std));

/** Runs both models on BERT feeds whose attention_mask pads the tail of the second sequence. */
async function expectSameWithPadding(before: Model, after: Model, batch = 2, seq = 12): Promise<void> {
  const n = batch * seq;
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 7) % 50));
  const mask = BigInt64Array.from({ length: n }, (_, i) => (i >= seq && i % seq >= seq - 5 ? 0n : 1n));
  const feeds = {
    input_ids: new ort.Tensor('int64', ids, [batch, seq]),
    attention_mask: new ort.Tensor('int64', mask, [batch, seq]),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(n), [batch, seq]),
  };
  const a = await runModel(before, feeds);
  const b = await runModel(after, feeds);
  for (const name of Object.keys(a)) compareTensors(name, a[name], b[name], 1e-4, 1e-5);
}

interface BlockOptions {
  constShapes?: boolean;
  scale?: 'div' | 'mul' | 'half';
  keyTwice?: boolean;
  /** a constant additive mask: [1, 1, 1, S], or per head [1, H, S, S] ('heads') */
  mask?: 'none' | 'const' | 'heads';
  probsOut?: boolean;
  softmaxAxis?: number;
  weightInput?: boolean;
  heads?: number;
  /** a causal Where before the Softmax: a folded tril constant, torch's slice of a tril buffer, or a wrong constant */
  causal?: 'const' | 'slice' | 'upper';
  /** a ReduceMean-13 with an `axes` attribute beside the block: it blocks raising opset 17 past 18 */
  blocker?: boolean;
}

/** One self-attention block over x [B, S, 16] with 4 heads of 4, spelled as asked. */
function block(b: GraphBuilder, x: Value, o: BlockOptions = {}): Value {
  const H = 4;
  const D = 4;
  const toHeads = (v: Value, perm: number[], h = H) => {
    const shape = o.constShapes
      ? b.const('shape', ints([0, 0, h, (H * D) / h]))
      : b.op(
          'Concat',
          [
            b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [v]), b.const('i0', Tensor.scalar(DataType.INT64, 0))]), b.const('ax', ints([0]))]),
            b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [v]), b.const('i1', Tensor.scalar(DataType.INT64, 1))]), b.const('ax', ints([0]))]),
            b.const('h', ints([h])),
            b.const('d', ints([(H * D) / h])),
          ],
          { axis: 0 },
        );
    return b.op('Transpose', [b.op('Reshape', [v, shape])], { perm });
  };
  const proj = (name: string) =>
    b.op('Add', [
      b.const(`b${name}`, w([16], 0.1)),
      b.op('MatMul', [x, o.weightInput && name === 'q' ? b.input('wq_in', F, [16, 16]) : b.const(`w${name}`, w([16, 16]))]),
    ]);
  const q = toHeads(proj('q'), [0, 2, 1, 3], o.heads ?? H);
  const k = o.keyTwice ? b.op('Transpose', [toHeads(proj('k'), [0, 2, 1, 3])], { perm: [0, 1, 3, 2] }) : toHeads(proj('k'), [0, 2, 3, 1]);
  const v = toHeads(proj('v'), [0, 2, 1, 3]);
  let s = b.op('MatMul', [q, k]);
  if (o.scale === 'mul') s = b.op('Mul', [s, b.const('sc', scalar(1 / Math.sqrt(D)))]);
  else if (o.scale === 'half') s = b.op('Mul', [b.const('sc', scalar(0.3)), s]);
  else s = b.op('Div', [s, b.const('sc', scalar(Math.sqrt(D)))]);
  if (o.causal) {
    const tri = (n: number, upper = false) =>
      Tensor.fromArray(
        DataType.BOOL,
        [1, 1, n, n],
        Uint8Array.from({ length: n * n }, (_, i) => +(upper ? i % n >= Math.floor(i / n) : i % n <= Math.floor(i / n))),
      );
    let cond: Value;
    if (o.causal === 'slice') {
      const len = (t: Value, i: number) => b.op('Gather', [b.op('Shape', [t]), b.const('i', Tensor.scalar(DataType.INT64, i))], { axis: 0 });
      const kl = len(k, 3);
      const u = (v: Value) => b.op('Unsqueeze', [v, b.const('ax', ints([0]))]);
      const rows = b.op('Slice', [b.const('tril', tri(8)), u(b.op('Sub', [kl, len(q, 2)])), u(kl), b.const('a2', ints([2]))]);
      cond = b.op('Slice', [rows, b.const('z', ints([0])), u(kl), b.const('a3', ints([3]))]);
    } else cond = b.const('tril', tri(5, o.causal === 'upper'));
    s = b.op('Where', [cond, s, b.const('min', scalar(MASK_MIN))]);
  }
  if (o.mask === 'const') s = b.op('Add', [s, b.const('cmask', w([1, 1, 1, 5]))]);
  if (o.mask === 'heads') s = b.op('Add', [s, b.const('cmask', w([1, 4, 5, 5]))]);
  const p = b.op('Softmax', [s], { axis: o.softmaxAxis ?? -1 });
  if (o.probsOut) b.output(p, 'probs', F);
  const ctx = b.op('Transpose', [b.op('MatMul', [p, v])], { perm: [0, 2, 1, 3] });
  return b.op('Reshape', [ctx, b.const('out', ints([0, 0, 16]))]);
}

function single(o: BlockOptions = {}) {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', F, ['batch', 5, 16]);
  b.output(b.op('Relu', [block(b, b.op('Neg', [x]), o)]), 'y', F);
  if (o.blocker) b.output(b.op('ReduceMean', [x], { axes: [1] }), 'mean', F);
  return model;
}

describe('fuse-attention', () => {
  it('fuses both attention blocks of the BERT fixture, sharing one int32 mask; padded masks give the same outputs', async () => {
    const bert = buildBert();
    const { model } = await expectFusion(fuseAttention, bert, { attention: 2 }, { target: 'ort', equivalence: { dims: { batch: 2, sequence: 16 } } });
    const h = histogram(model);
    expect(h['com.microsoft:Attention']).toBe(2);
    expect(h.Softmax).toBeUndefined();
    expect(h.Transpose).toBeUndefined();
    const am = model.graph.inputs.find((v) => v.name === 'attention_mask')!;
    expect(am.consumers.map((n) => [n.opType, n.getInt('to')])).toEqual([['Cast', DataType.INT32]]);
    const att = model.graph.nodes.find((n) => n.opType === 'Attention')!;
    expect(att.getInt('num_heads')).toBe(4);
    expect(att.getFloat('mask_filter_value')).toBe(-3.4028234663852886e38);
    expect(att.attr('scale')).toBeUndefined();
    expect(att.input(1)!.initializer!.dims).toEqual([32, 96]);
    await expectSameWithPadding(bert, clone(model));
  });

  it('fuses the opset-11 export (Unsqueeze axes as attributes)', async () => {
    const bert = buildBert({ layers: 1, opset: 11 });
    const { model } = await expectFusion(fuseAttention, bert, { attention: 1 }, { target: 'ort', equivalence: { dims: { batch: 2, sequence: 16 } } });
    await expectSameWithPadding(bert, clone(model));
  });

  it.each<[string, BlockOptions, string | undefined]>([
    ['constant reshape targets, Mul by 1/sqrt(D)', { constShapes: true, scale: 'mul' }, undefined],
    ['K as Transpose(0,1,3,2) of Transpose(0,2,1,3), no mask', { keyTwice: true }, undefined],
    ['a scale other than 1/sqrt(D) (0.3)', { scale: 'half' }, '0.3'],
    ['separate Wq/Wk/Wv with a folded causal mask', { causal: 'const' }, undefined],
    ['separate Wq/Wk/Wv with the causal slice read from Shape(q) and Shape(Kᵀ)', { causal: 'slice', constShapes: true }, undefined],
  ])('matches %s', async (_, o, scale) => {
    const { model } = await expectFusion(fuseAttention, single(o), { attention: 1 }, { target: 'ort', equivalence: { dims: { batch: 3 } } });
    const att = model.graph.nodes.find((n) => n.opType === 'Attention')!;
    expect(att.inputs).toHaveLength(3);
    expect(att.attr('scale') ? String(+att.getFloat('scale')!.toPrecision(6)) : undefined).toBe(scale);
    expect(att.getInt('unidirectional', 0)).toBe(o.causal ? 1 : 0);
    expect(histogram(model).Where).toBeUndefined();
  });

  it('--target onnx: needs an opset that can be raised to 23 (standard Attention)', () => {
    expect(expectNoFusion(fuseAttention, single({ blocker: true }))[0].reason).toMatch(
      /the standard Attention operator needs opset 23 and opset 17 cannot be raised: .*ReduceMean.* uses the old form \(attribute 'axes'\) \(--target ort emits/,
    );
  });

  it.each<[string, BlockOptions]>([
    ['constant reshape targets, Mul by 1/sqrt(D)', { constShapes: true, scale: 'mul' }],
    ['K as Transpose(0,1,3,2) of Transpose(0,2,1,3), no mask', { keyTwice: true }],
    ['a scale other than 1/sqrt(D) (0.3)', { scale: 'half' }],
    ['a folded causal mask', { causal: 'const' }],
    ['the causal slice read from Shape(q) and Shape(Kᵀ)', { causal: 'slice', constShapes: true }],
    ['a constant additive mask [1, 1, 1, S] (attn_mask, expanded over the queries)', { mask: 'const' }],
    ['a per-head additive mask [1, H, S, S]', { mask: 'heads' }],
    ['a causal slice and a per-head mask', { causal: 'slice', constShapes: true, mask: 'heads' }],
  ])('--target onnx: standard Attention (opset raised to 23) on %s', async (_, o) => {
    const { model } = await expectFusion(fuseAttention, single(o), { attention: 1 }, { equivalence: { dims: { batch: 3 }, sets: 2 } });
    expect(model.opset()).toBe(23);
    expect(model.opset('com.microsoft')).toBeUndefined();
    const att = model.graph.nodes.find((n) => n.opType === 'Attention')!;
    expect(att.domain).toBe('');
    expect([att.getInt('q_num_heads'), att.getInt('kv_num_heads'), att.getInt('is_causal', 0)]).toEqual([4, 4, o.causal ? 1 : 0]);
    expect(+att.getFloat('scale')!.toPrecision(6)).toBe(o.scale === 'half' ? 0.3 : 0.5);
    expect(att.inputs).toHaveLength(o.mask ? 4 : 3);
    if (o.mask) expect(att.input(3)!.producer!.opType).toBe('Expand');
    for (const gone of ['Softmax', 'Where', 'Transpose']) expect(histogram(model)[gone], gone).toBeUndefined();
  });

  it('--target onnx: both BERT blocks become standard Attention with the extended mask as attn_mask; padded masks give the same outputs', async () => {
    // opset 18: ReduceMean takes axes as an input, nothing blocks the raise (at 14 the LayerNorms must be fused first)
    const bert = buildBert({ opset: 18 });
    const { model } = await expectFusion(fuseAttention, bert, { attention: 2 }, { equivalence: { dims: { batch: 2, sequence: 16 } } });
    expect(histogram(model)).toMatchObject({ Attention: 2 });
    expect(histogram(model).Softmax).toBeUndefined();
    await expectSameWithPadding(bert, clone(model));
  });

  it('needs constant weights, one head split, the last Softmax axis, private probabilities and a known mask (--target ort)', () => {
    const reason = (o: BlockOptions) => expectNoFusion(fuseAttention, single(o), 'ort').map((n) => n.reason);
    expect(reason({ weightInput: true })).toContainEqual(expect.stringMatching(/%wq_in is not a constant/));
    expect(reason({ heads: 2 })).toContainEqual(expect.stringMatching(/heads split \[2x8,4x4,4x4\]/));
    expect(reason({ softmaxAxis: 2 })).toContainEqual(expect.stringMatching(/Softmax over axis 2/));
    expect(reason({ probsOut: true })).toContainEqual(expect.stringMatching(/Softmax.* is a graph output/));
    expect(reason({ mask: 'const' })).toContainEqual(expect.stringMatching(/is not the extended attention mask/));
    expect(reason({ causal: 'upper' })).toContainEqual(expect.stringMatching(/causal mask %tril.* is not a lower-triangular constant: it is upper-triangular/));
  });

  describe('causal (GPT-2) attention', () => {
    const B = 2;
    const S = 10;

    /**
     * Runs both models on ids with an attention_mask that pads `pad` positions of the last sequence (at its end, or its
     * start with `left`), compares logits (at real tokens only with `realOnly`) and returns the largest difference.
     */
    async function expectSamePadded(before: Model, after: Model, o: { seq?: number; pad: number; left?: boolean; realOnly?: boolean }): Promise<number> {
      const seq = o.seq ?? S;
      const { ids, mask } = gptFeeds(B, seq, { pad: o.pad, left: o.left });
      const feeds = { input_ids: new ort.Tensor('int64', ids, [B, seq]), attention_mask: new ort.Tensor('int64', mask, [B, seq]) };
      const a = (await runModel(before, feeds)).logits;
      const b = (await runModel(after, feeds)).logits;
      if (!o.realOnly) return compareTensors('logits', a, b, 1e-4, 1e-5).maxAbs;
      // padding tokens (mask 0) are left out: their rows may differ (see the pass's header)
      const vocab = Number(a.dims[2]);
      const keep = (t: ort.Tensor) =>
        new ort.Tensor(
          'float32',
          (t.data as Float32Array).filter((_, i) => mask[Math.floor(i / vocab)] === 1n),
        );
      return compareTensors('logits at real tokens', keep(a), keep(b), 1e-4, 1e-5).maxAbs;
    }

    /** Fuses with --target ort (counts, verify, idempotence, all-ones mask equivalence) and checks every fused node. */
    async function fuseGpt(o: GptOptions, layers = o.layers ?? 2) {
      const gpt = buildGpt(o);
      const seq = o.causal === 'const' ? (o.sequence ?? 12) : S;
      const { model } = await expectFusion(fuseAttention, gpt, { attention: layers }, { target: 'ort', equivalence: { dims: { batch: B, sequence: seq } } });
      const h = histogram(model);
      expect(h['com.microsoft:Attention']).toBe(layers);
      for (const op of ['Softmax', 'Where', 'Split', 'Transpose']) expect(h[op], op).toBeUndefined();
      const atts = model.graph.nodes.filter((n) => n.opType === 'Attention');
      for (const att of atts) {
        expect(att.getInt('unidirectional')).toBe(1);
        expect(att.getInt('num_heads')).toBe(o.heads ?? 4);
        expect(att.attr('scale')).toBeUndefined();
        expect(att.inputs).toHaveLength(o.paddingMask === false ? 3 : 4);
      }
      return { gpt, model, atts, seq };
    }

    it('fuses every layer of the GPT-2 export: the packed c_attn weight reused, unidirectional = 1, same outputs with and without padding', async () => {
      const { gpt, model, atts } = await fuseGpt({});
      // the packed projection is Attention's weight as it is: no new weight tensors
      expect(atts.map((a) => a.input(1)!.name)).toEqual(gpt.graph.nodes.filter((n) => n.name.endsWith('c_attn/MatMul')).map((n) => n.input(1)!.name));
      expect(atts[0].input(1)!.initializer!.dims).toEqual([32, 96]);
      expect(atts[0].input(2)!.initializer!.dims).toEqual([96]);
      expect(atts[0].getFloat('mask_filter_value')).toBe(MASK_MIN);
      const am = model.graph.inputs.find((v) => v.name === 'attention_mask')!;
      expect(am.consumers.map((n) => n.opType)).toEqual(['Reshape']);
      const after = clone(model);
      expect(await expectSamePadded(gpt, after, { pad: 4 })).toBeLessThan(1e-5);
      expect(await expectSamePadded(gpt, after, { pad: 4, left: true, realOnly: true })).toBeLessThan(1e-5);
    });

    it.each<[string, GptOptions]>([
      ['opset 11: Split sizes as an attribute, Unsqueeze axes as attributes', { opset: 11 }],
      ['opset 13: a Split without sizes (equal parts) over axis -1', { opset: 13, split: 'none' }],
      ['opset 17: LayerNormalization, 3 layers', { opset: 17, layers: 3 }],
      ['Kᵀ as one Transpose(0,2,3,1), key length from Shape(Kᵀ)[3]', { keyTranspose: 'direct' }],
      ['the older export: a uint8 buffer Cast to bool, lengths from Squeeze(Slice(Shape(scores)))', { legacyCausal: true }],
      ['the older export at opset 11', { legacyCausal: true, opset: 11 }],
      ['a causal mask already folded to [1, 1, S, S]', { causal: 'const' }],
      ['a causal mask already folded to [S, S]', { causal: 'const', rank2Causal: true }],
      ['-1e4 at future keys (older transformers)', { maskValue: -1e4 }],
    ])('matches %s', async (_, o) => {
      const { gpt, model, seq } = await fuseGpt(o);
      const after = clone(model);
      expect(await expectSamePadded(gpt, after, { seq, pad: 4 })).toBeLessThan(1e-5);
      expect(await expectSamePadded(gpt, after, { seq, pad: 3, left: true, realOnly: true })).toBeLessThan(1e-5);
    });

    it('without a padding mask: no mask_index', async () => {
      const { atts } = await fuseGpt({ paddingMask: false });
      expect(atts[0].attr('mask_filter_value')).toBeUndefined();
    });

    it('with -inf at future keys even rows of left padding match (padded keys get float32 lowest / 2)', async () => {
      const { gpt, model, atts } = await fuseGpt({ maskValue: -Infinity });
      expect(atts[0].getFloat('mask_filter_value')).toBe(MASK_MIN / 2);
      const after = clone(model);
      expect(await expectSamePadded(gpt, after, { pad: 4 })).toBeLessThan(1e-5);
      expect(await expectSamePadded(gpt, after, { pad: 4, left: true })).toBeLessThan(1e-5);
    });

    it.each<[string, GptOptions, RegExp]>([
      [
        'an upper-triangular mask',
        { causalValues: 'upper' },
        /causal mask %transformer\.h\.0\.attn\.bias is not a lower-triangular constant: it is upper-triangular/,
      ],
      [
        'a mask that is not triangular',
        { causalValues: 'random' },
        /is not a lower-triangular constant: it is not lower-triangular \(entry \[\d+, \d+\] is 1\)/,
      ],
      ['a folded mask that is upper-triangular', { causal: 'const', causalValues: 'upper' }, /is not a lower-triangular constant: it is upper-triangular/],
      [
        'probabilities that are a graph output',
        { layers: 1, probsOutput: true },
        /intermediate %probs \(from \/transformer\/h\.0\/attn\/Softmax\) is a graph output/,
      ],
      ['q, k and v split into unequal parts', { valueHidden: 64 }, /q, k and v are split into unequal parts \[32,32,64\]/],
      ['a fill of -100 at future keys', { maskValue: -100 }, /the causal Where writes -100 at future keys/],
    ])('does not fire on %s', (_, o, reason) => {
      const misses = expectNoFusion(fuseAttention, buildGpt(o), 'ort');
      expect(misses.map((n) => n.reason)).toContainEqual(expect.stringMatching(reason));
    });

    it('--target onnx: standard Attention with is_causal and the padding mask as attn_mask; right and left padding', async () => {
      const gpt = buildGpt({ opset: 18 });
      const { model } = await expectFusion(fuseAttention, gpt, { attention: 2 }, { equivalence: { dims: { batch: B, sequence: S } } });
      const atts = model.graph.nodes.filter((n) => n.opType === 'Attention');
      expect(atts.map((n) => [n.domain, n.getInt('is_causal'), n.inputs.length])).toEqual([
        ['', 1, 4],
        ['', 1, 4],
      ]);
      expect(await expectSamePadded(gpt, model, { pad: 3 })).toBeLessThan(1e-4);
      expect(await expectSamePadded(gpt, model, { pad: 3, left: true, realOnly: true })).toBeLessThan(1e-4);
    });
  });
});
