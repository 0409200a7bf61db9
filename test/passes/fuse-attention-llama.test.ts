/**
 * fuse-attention's LLaMA-style rules on hand-built graphs (the torch export itself is in torch-exports.test.ts):
 * attention-sdpa (util/attention-sdpa.ts) with an additive mask that is or is not proven [.., S, T], and rotary
 * (util/rotary.ts) from a sliced cos/sin cache; each fused model is run against the original in onnxruntime.
 */
import { describe, expect, it } from 'vitest';
import { createModel, floatTensor, ints, scalar, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import fuseAttention from '../../src/passes/fuse-attention.js';
import { Rng } from '../../src/util/rng.js';
import { expectFusion, expectNoFusion, histogram } from './fusion-helpers.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;

/** softmax(q·kᵀ / √8 + bias) · v over 4 heads of 8, reshaped to [B, S, 32] */
function sdpa(bias: 'query-broadcast' | 'full' | 'none', axis = -1, qBatch: string | number = 'batch'): Model {
  const { model, b } = createModel({ opset: 17 });
  const q = b.input('q', F, [qBatch, 4, 6, 8]);
  const k = b.input('k', F, ['batch', 4, 7, 8]);
  const v = b.input('v', F, ['batch', 4, 7, 8]);
  let s = b.op('Div', [b.op('MatMul', [q, b.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), b.const('sc', scalar(Math.sqrt(8)))]);
  if (bias === 'query-broadcast') s = b.op('Add', [s, b.input('bias', F, ['batch', 1, 1, 7])]);
  if (bias === 'full') s = b.op('Add', [s, b.input('bias', F, [1, 4, 6, 7])]);
  const ctx = b.op('Transpose', [b.op('MatMul', [b.op('Softmax', [s], { axis }), v])], { perm: [0, 2, 1, 3] });
  b.output(b.op('Reshape', [ctx, b.const('shape', ints([0, 0, 32]))]), 'y', F);
  return model;
}

describe('fuse-attention: attention over split heads (attention-sdpa)', () => {
  it.each(['query-broadcast', 'full', 'none'] as const)('bias %s: one MultiHeadAttention, same outputs', async (bias) => {
    const run = await expectFusion(fuseAttention, sdpa(bias), { 'attention-sdpa': 1 }, { target: 'ort', equivalence: { dims: { batch: 2 } } });
    const h = histogram(run.model);
    expect(h['com.microsoft:MultiHeadAttention']).toBe(1);
    expect(h.Softmax).toBeUndefined();
    // a bias broadcast over the query axis is expanded to [.., S, T]; one proven to be [.., S, T] is passed as it is
    expect(h.Expand ?? 0).toBe(bias === 'query-broadcast' ? 1 : 0);
  });

  it('a Softmax over another axis is a near miss with the reason', () => {
    const misses = expectNoFusion(fuseAttention, sdpa('full', 2), 'ort');
    expect(misses.map((m) => m.reason)).toContain('Softmax over axis 2, not the last axis');
  });

  it('a query batch of 1 that MatMul broadcasts over the keys is a near miss', () => {
    const misses = expectNoFusion(fuseAttention, sdpa('full', -1, 1), 'ort');
    expect(misses.map((m) => m.reason).join('\n')).toMatch(/not proven to share the batch dim/);
  });
});

/** x·cos + rotate_half(x)·sin with cos/sin gathered at arange(S) from caches [1, 1, 10, 8] sliced to S */
function rotary(halvesEqual: boolean): Model {
  const rng = new Rng(5);
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', F, ['batch', 2, 'seq', 8]);
  const len = b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [x]), scalarI(b, 'i2', 2)]), b.const('ax0', ints([0]))]);
  const pos = b.op('Unsqueeze', [
    b.op('Range', [scalarI(b, 'zero', 0), b.op('Squeeze', [len, b.const('ax0b', ints([0]))]), scalarI(b, 'one', 1)]),
    b.const('ax0c', ints([0])),
  ]);
  const table = (name: string, fn: (a: number) => number) => {
    const data = new Float32Array(10 * 8);
    for (let p = 0; p < 10; p++) for (let j = 0; j < 8; j++) data[p * 8 + j] = fn(p / 10 ** ((j % 4) / 4)) + (!halvesEqual && j >= 4 ? rng.normal() * 0.1 : 0);
    const sliced = b.op('Slice', [b.const(name, floatTensor([1, 1, 10, 8], data)), b.const('st', ints([0])), len, b.const('axis2', ints([2]))]);
    const t = b.op('Squeeze', [sliced, b.const('ax01', ints([0, 1]))]);
    return b.op('Unsqueeze', [b.op('Gather', [t, pos]), b.const('ax1', ints([1]))]);
  };
  const cos = table('cos_cached', Math.cos);
  const sin = table('sin_cached', Math.sin);
  const x1 = b.op('Slice', [x, b.const('s0', ints([0])), b.const('s4', ints([4])), b.const('am1', ints([-1]))]);
  const x2 = b.op('Slice', [x, b.const('s4b', ints([4])), b.const('big', ints([2 ** 31 - 1])), b.const('am1b', ints([-1]))]);
  const rot = b.op('Concat', [b.op('Neg', [x2]), x1], { axis: -1 });
  b.output(b.op('Add', [b.op('Mul', [x, cos]), b.op('Mul', [rot, sin])]), 'y', F);
  return model;
}

function scalarI(b: GraphBuilder, name: string, v: number): Value {
  return b.const(name, Tensor.scalar(I64, v));
}

describe('fuse-attention: rotary embeddings (rotary)', () => {
  it('rotate_half with a sliced cos/sin cache becomes one RotaryEmbedding, same outputs', async () => {
    const run = await expectFusion(fuseAttention, rotary(true), { rotary: 1 }, { target: 'ort', equivalence: { dims: { batch: 2, seq: 6 } } });
    const h = histogram(run.model);
    expect(h['com.microsoft:RotaryEmbedding']).toBe(1);
    // the rotate_half arithmetic and the cache slicing are gone (the Gather left reads the sequence length)
    for (const gone of ['Neg', 'Mul', 'Add']) expect(h[gone], gone).toBeUndefined();
    expect(h.Slice).toBe(2); // the new position_ids' [B, S] read from x's shape
  });

  it('caches whose halves differ are a near miss (not the rotate_half layout)', () => {
    const misses = expectNoFusion(fuseAttention, rotary(false), 'ort');
    expect(misses.map((m) => m.reason)).toContain('the cos/sin caches do not repeat their first half (not the rotate_half layout)');
  });
});
