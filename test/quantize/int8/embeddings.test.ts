/**
 * Embedding tables read by Gather stored int8 per row. The error bound is exact: each gathered element is within
 * half a step (max|row| / 254) of the float value, in both forms, on onnxruntime-node.
 */
import { describe, expect, it } from 'vitest';
import { Attribute } from '../../../src/ir/graph.js';
import { createModel, floatTensor } from '../../../src/ir/builder.js';
import type { Model } from '../../../src/ir/model.js';
import { verify } from '../../../src/ir/verify.js';
import { encodeModel } from '../../../src/onnx/encode.js';
import { quantizeDynamic } from '../../../src/quantize/int8/dynamic.js';
import { quantizeEmbeddings } from '../../../src/quantize/int8/embeddings.js';
import { Rng } from '../../../src/util/rng.js';
import { copyModel, countOps, DataType, int64Feed, run } from './helpers.js';

const V = 500;
const D = 32;
const table = new Rng(3).fillNormal(new Float32Array(V * D), 0.5);

function embed(opts: { opset?: number; constantNode?: boolean; tied?: boolean } = {}): Model {
  const { model, b, graph } = createModel({ opset: opts.opset ?? 17 });
  const ids = b.input('ids', DataType.INT64, ['batch', 'seq']);
  const t = floatTensor([V, D], table);
  const tv = opts.constantNode ? graph.addNode('Constant', [], [Attribute.tensor('value', t)], { outputs: ['emb.w'] }).output(0) : b.init('emb.w', t);
  const e = b.op('Gather', [tv, ids], {}, { name: 'word_embeddings' });
  const e2 = b.op('Gather', [tv, b.input('ids2', DataType.INT64, ['batch', 'seq'])], {}, { name: 'second_lookup' });
  const y = b.op('Add', [e, e2]);
  b.output(opts.tied ? b.op('MatMul', [y, b.op('Transpose', [tv])], {}, { name: 'lm_head' }) : y, 'y', DataType.FLOAT);
  return model;
}

const feeds = { ids: int64Feed([2, 7], 1, V), ids2: int64Feed([2, 7], 2, V) };

function maxRowStep(): number {
  let m = 0;
  for (let r = 0; r < V; r++) {
    let a = 0;
    for (let i = 0; i < D; i++) a = Math.max(a, Math.abs(table[r * D + i]));
    m = Math.max(m, a / 254);
  }
  return m;
}

describe('quantizeEmbeddings', () => {
  for (const form of ['gather', 'dequantize'] as const)
    for (const constantNode of [false, true])
      it(`form ${form}${constantNode ? ', table in a Constant node' : ''}: one int8 table for both lookups, within half a step`, async () => {
        const before = embed({ constantNode });
        const after = copyModel(before);
        const r = quantizeEmbeddings(after, { form, minElements: 1000 });
        verify(after);
        expect(r.quantized.map((q) => q.name)).toEqual(['word_embeddings', 'second_lookup']);
        expect(r.weights).toEqual([{ name: 'emb.w', elements: V * D, bytesBefore: 4 * V * D, bytesAfter: V * D + 4 * V, users: 2, floatKept: false }]);
        expect(countOps(after, 'Constant')).toBe(0);
        expect(countOps(after, 'DequantizeLinear')).toBe(form === 'dequantize' ? 1 : 0);
        expect(after.graph.initializers.get('emb.w_quantized')!.initializer!.dataType).toBe(DataType.INT8);
        expect(encodeModel(after).length).toBeLessThan(encodeModel(before).length * 0.3);
        const a = (await run(before, feeds)).y;
        for (const level of ['disabled', 'all'] as const) {
          const b = (await run(after, feeds, level)).y;
          let worst = 0;
          for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
          expect(worst).toBeLessThanOrEqual(2 * maxRowStep() * 1.0001); // two lookups added
        }
      });

  it('does not fire: table tied to an output projection, small table, Gather on axis 1, dequantize form below opset 13', () => {
    const tied = embed({ tied: true });
    const r1 = quantizeEmbeddings(tied, { minElements: 1000 });
    expect(r1.skipped.map((s) => [s.name, s.reason])).toEqual([
      ['word_embeddings', 'weight-shared'],
      ['second_lookup', 'weight-shared'],
    ]);
    expect(r1.skipped[0].detail).toMatch(/Transpose/);
    expect(quantizeEmbeddings(embed()).quantized).toEqual([]); // 16000 elements < default 65536

    const { model, b } = createModel({ opset: 17 });
    b.output(b.op('Gather', [b.init('t', floatTensor([V, D], table)), b.input('i', DataType.INT64, [3])], { axis: 1 }, { name: 'cols' }), 'y');
    expect(quantizeEmbeddings(model, { minElements: 10 }).skipped.map((s) => s.reason)).toEqual(['gather-axis']);

    const old = embed({ opset: 12 });
    expect(quantizeEmbeddings(old, { form: 'dequantize', minElements: 1000 }).skipped.map((s) => s.reason)).toEqual(['opset', 'opset']);
    expect(quantizeEmbeddings(old, { form: 'gather', minElements: 1000 }).quantized.length).toBe(2);
  });

  it('quantizeDynamic includes tables by default (embeddings: false leaves them); a second run changes nothing', () => {
    const m = embed();
    expect(quantizeDynamic(m, { embeddings: false }).modified).toBe(false);
    const r = quantizeDynamic(m, { embeddings: { minElements: 1000 } });
    expect(r.quantized.map((q) => q.as)).toEqual(['Gather(int8)+Cast+Mul', 'Gather(int8)+Cast+Mul']);
    const bytes = encodeModel(m);
    expect(quantizeDynamic(m, { embeddings: { minElements: 1000 } }).modified).toBe(false);
    expect(Buffer.compare(encodeModel(m), bytes)).toBe(0);
  });

  it('below opset 7 (no broadcasting Mul, which onnxruntime does not implement) the table stays float, so the model still loads', async () => {
    // found by npm run check:int8-corpus: pytorch-converted/test_Embedding (opset 6) did not load after quantizing
    const lookup = (opset: number) => {
      const { model, b } = createModel({ opset });
      b.output(b.op('Gather', [b.init('emb.w', floatTensor([V, D], table)), b.input('ids', DataType.INT64, ['batch', 'seq'])]), 'y', DataType.FLOAT);
      return model;
    };
    const one = { ids: feeds.ids };
    const m = lookup(6);
    const q = copyModel(m);
    const r = quantizeEmbeddings(q, { minElements: 0 });
    expect(r.quantized).toHaveLength(0);
    expect(r.skipped.map((x) => x.reason)).toEqual(['opset']);
    expect(r.skipped[0]!.detail).toMatch(/broadcasting Mul, which needs opset 7 \(model has 6\)/);
    const [a, c] = [await run(m, one), await run(q, one)];
    expect(c.y).toEqual(a.y);
    // from opset 7 the gather form loads and runs
    const q7 = copyModel(lookup(7));
    expect(quantizeEmbeddings(q7, { minElements: 0 }).quantized).toHaveLength(1);
    expect((await run(q7, one)).y!.length).toBe(2 * 7 * D);
  });
});
