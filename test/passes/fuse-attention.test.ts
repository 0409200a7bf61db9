import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/index.js';
import { createModel, floatTensor, ints, scalar, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import fuseAttention from '../../src/passes/fuse-attention.js';
import { Rng } from '../../src/util/rng.js';
import { compareTensors, runModel } from '../helpers/equivalence.js';
import { clone, expectFusion, expectNoFusion, histogram } from '../fuse/helpers.js';

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
  mask?: 'none' | 'const';
  probsOut?: boolean;
  softmaxAxis?: number;
  weightInput?: boolean;
  heads?: number;
}

/** One self-attention block over x [B, S, 16] with 4 heads of 4, spelled as asked. */
function block(b: GraphBuilder, x: Value, o: BlockOptions = {}): Value {
  const H = 4;
  const D = 4;
  const toHeads = (v: Value, perm: number[], h = H) => {
    const shape = o.constShapes
      ? b.const('shape', ints([0, 0, h, (H * D) / h]))
      : b.op('Concat', [b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [v]), b.const('i0', Tensor.scalar(DataType.INT64, 0))]), b.const('ax', ints([0]))]), b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [v]), b.const('i1', Tensor.scalar(DataType.INT64, 1))]), b.const('ax', ints([0]))]), b.const('h', ints([h])), b.const('d', ints([(H * D) / h]))], { axis: 0 });
    return b.op('Transpose', [b.op('Reshape', [v, shape])], { perm });
  };
  const proj = (name: string) => b.op('Add', [b.const(`b${name}`, w([16], 0.1)), b.op('MatMul', [x, o.weightInput && name === 'q' ? b.input('wq_in', F, [16, 16]) : b.const(`w${name}`, w([16, 16]))])]);
  const q = toHeads(proj('q'), [0, 2, 1, 3], o.heads ?? H);
  const k = o.keyTwice ? b.op('Transpose', [toHeads(proj('k'), [0, 2, 1, 3])], { perm: [0, 1, 3, 2] }) : toHeads(proj('k'), [0, 2, 3, 1]);
  const v = toHeads(proj('v'), [0, 2, 1, 3]);
  let s = b.op('MatMul', [q, k]);
  if (o.scale === 'mul') s = b.op('Mul', [s, b.const('sc', scalar(1 / Math.sqrt(D)))]);
  else if (o.scale === 'half') s = b.op('Mul', [b.const('sc', scalar(0.3)), s]);
  else s = b.op('Div', [s, b.const('sc', scalar(Math.sqrt(D)))]);
  if (o.mask === 'const') s = b.op('Add', [s, b.const('cmask', w([1, 1, 1, 5]))]);
  const p = b.op('Softmax', [s], { axis: o.softmaxAxis ?? -1 });
  if (o.probsOut) b.output(p, 'probs', F);
  const ctx = b.op('Transpose', [b.op('MatMul', [p, v])], { perm: [0, 2, 1, 3] });
  return b.op('Reshape', [ctx, b.const('out', ints([0, 0, 16]))]);
}

function single(o: BlockOptions = {}) {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', F, ['batch', 5, 16]);
  b.output(b.op('Relu', [block(b, b.op('Neg', [x]), o)]), 'y', F);
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
  ])('matches %s', async (_, o, scale) => {
    const { model } = await expectFusion(fuseAttention, single(o), { attention: 1 }, { target: 'ort', equivalence: { dims: { batch: 3 } } });
    const att = model.graph.nodes.find((n) => n.opType === 'Attention')!;
    expect(att.inputs).toHaveLength(3);
    expect(att.attr('scale') ? String(+att.getFloat('scale')!.toPrecision(6)) : undefined).toBe(scale);
  });

  it('needs --target ort, constant weights, one head split, the last Softmax axis, private probabilities and a known mask', () => {
    expect(expectNoFusion(fuseAttention, single())[0].reason).toMatch(/use --target ort/);
    const reason = (o: BlockOptions) => expectNoFusion(fuseAttention, single(o), 'ort').map((n) => n.reason);
    expect(reason({ weightInput: true })).toContainEqual(expect.stringMatching(/%wq_in is not a constant/));
    expect(reason({ heads: 2 })).toContainEqual(expect.stringMatching(/heads split \[2x8,4x4,4x4\]/));
    expect(reason({ softmaxAxis: 2 })).toContainEqual(expect.stringMatching(/Softmax over axis 2/));
    expect(reason({ probsOut: true })).toContainEqual(expect.stringMatching(/Softmax.* is a graph output/));
    expect(reason({ mask: 'const' })).toContainEqual(expect.stringMatching(/is not the extended attention mask/));
  });
});
