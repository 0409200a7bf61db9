/**
 * Structured pruning removes the right slices of every member tensor: when the units it removes contribute nothing
 * (their weights are zero, so L2 importance ranks them last), the pruned model computes the same outputs as the
 * original. A slice taken from the wrong place, a bias or shape constant left behind, or a member cut with other
 * indices than the rest breaks that.
 */
import { describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/bert.js';
import { buildCnn } from '../../fixtures/models/cnn.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { pruneStructured } from '../../src/prune/structured.js';
import { sliceUnits } from '../../src/prune/tensors.js';
import { expectSameOutputs } from '../helpers/equivalence.js';

const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));

/** Zeroes, in the weight `node` reads at `input`, the entries whose index on `axis` is in `idx`. */
function zero(m: Model, nodeName: string, input: number, axis: number, idx: number[]): void {
  const node = m.graph.nodes.find((n) => n.name === nodeName);
  if (!node) throw new Error(`no node ${nodeName}`);
  const t = node.input(input)!.initializer!;
  const v = Float32Array.from(t.toFloat32());
  let inner = 1;
  for (let i = axis + 1; i < t.dims.length; i++) inner *= t.dims[i];
  for (let i = 0; i < v.length; i++) if (idx.includes(Math.floor(i / inner) % t.dims[axis])) v[i] = 0;
  t.setData(v);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('pruning units that contribute nothing leaves the outputs unchanged', () => {
  it('FFN neurons', async () => {
    const m = buildBert();
    for (const l of [0, 1]) {
      const dead = range(0, 64).filter((i) => i % 2 === (l === 0 ? 0 : 1));
      zero(m, `/encoder/layer.${l}/intermediate/dense/MatMul`, 1, 1, dead);
      zero(m, `/encoder/layer.${l}/output/dense/MatMul`, 1, 0, dead);
    }
    const pruned = clone(m);
    const r = pruneStructured(pruned, { units: ['ffn'], sparsity: 0.5 });
    verify(pruned);
    expect(r.groups.map((g) => g.kept)).toEqual([32, 32]);
    await expectSameOutputs(m, clone(pruned), { dims: { batch: 2, sequence: 8 }, rtol: 1e-4, atol: 1e-5, sets: 2 });
  });

  it('attention heads (the Reshape constants follow)', async () => {
    const m = buildBert();
    const S = '/encoder/layer.0/attention/self';
    const dead = [...range(8, 16), ...range(24, 32)]; // heads 1 and 3 of 4 (head size 8)
    for (const p of ['query', 'key', 'value']) zero(m, `${S}/${p}/MatMul`, 1, 1, dead);
    zero(m, '/encoder/layer.0/attention/output/dense/MatMul', 1, 0, dead);
    const pruned = clone(m);
    const r = pruneStructured(pruned, { units: ['heads'], perGroup: { [`heads:${S}/Softmax`]: 0.5 }, sparsity: 0 });
    verify(pruned);
    expect(r.groups.map((g) => g.kept)).toEqual([2, 4]);
    await expectSameOutputs(m, clone(pruned), { dims: { batch: 2, sequence: 8 }, rtol: 1e-4, atol: 1e-5, sets: 2 });
  });

  it('Conv channels of the residual group, through BatchNormalization and the depthwise conv', async () => {
    const m = buildCnn();
    const dead = [1, 4, 5, 6];
    for (const conv of ['/stem/conv/Conv', '/layer1/conv2/Conv', '/layer2/conv2/Conv']) zero(m, conv, 1, 0, dead);
    zero(m, '/stem/conv/Conv', 2, 0, dead);
    for (const conv of ['/layer1/conv1/Conv', '/layer2/conv1/Conv']) zero(m, conv, 1, 1, dead);
    zero(m, '/fc/Gemm', 1, 1, dead);
    for (const bn of ['/stem/bn/BatchNormalization', '/layer1/bn2/BatchNormalization', '/layer2/bn2/BatchNormalization', '/dw/bn/BatchNormalization']) {
      zero(m, bn, 1, 0, dead); // scale
      zero(m, bn, 2, 0, dead); // bias
    }
    const pruned = clone(m);
    const r = pruneStructured(pruned, { units: ['channels'], perGroup: { 'channels:/stem/conv/Conv': 0.5 }, sparsity: 0 });
    verify(pruned);
    expect(r.groups.map((g) => [g.id, g.kept, g.keep])).toEqual([
      ['channels:/stem/conv/Conv', 4, [0, 2, 3, 7]],
      ['channels:/layer1/conv1/Conv', 8, range(0, 8)],
      ['channels:/layer2/conv1/Conv', 8, range(0, 8)],
    ]);
    await expectSameOutputs(m, clone(pruned), { dims: { batch: 2 }, rtol: 1e-4, atol: 1e-5, sets: 2 });
  });
});

describe('sliceUnits', () => {
  /** Reference: element by element. */
  function expected(t: Tensor, axis: number, keep: number[], width: number): number[] {
    const d = t.dims;
    let outer = 1;
    for (let i = 0; i < axis; i++) outer *= d[i];
    let inner = 1;
    for (let i = axis + 1; i < d.length; i++) inner *= d[i];
    const v = t.toFloat32();
    const out: number[] = [];
    for (let o = 0; o < outer; o++) for (const k of keep) for (let j = 0; j < width * inner; j++) out.push(v[(o * d[axis] + k * width) * inner + j]);
    return out;
  }

  const cases: [number[], number, number[], number][] = [
    [[6, 8], 1, [0, 3, 5], 1],
    [[6, 8], 0, [1], 3],
    [[4, 6, 3, 3], 1, [0, 2], 2],
    [[2, 100], 1, [1, 7], 10],
    [[3, 40], 1, [0, 3], 8],
  ];
  for (const [dt, make] of [
    [DataType.FLOAT, (n: number) => Float32Array.from({ length: n }, (_, i) => i + 0.5)],
    [DataType.DOUBLE, (n: number) => Float64Array.from({ length: n }, (_, i) => i - 0.25)],
    [DataType.FLOAT16, (n: number) => Uint16Array.from({ length: n }, (_, i) => 0x3c00 + i)],
    [DataType.INT8, (n: number) => Int8Array.from({ length: n }, (_, i) => (i % 200) - 100)],
  ] as const) {
    it(`keeps the right blocks (${DataType[dt]}, aligned and unaligned data)`, () => {
      for (const [dims, axis, keep, width] of cases) {
        const data = make(dims.reduce((a, b) => a * b, 1));
        const raw = new Uint8Array(data.buffer);
        const shifted = new Uint8Array(raw.length + 1);
        shifted.set(raw, 1);
        for (const bytes of [raw, shifted.subarray(1)]) {
          const t = Tensor.fromRaw(dt, dims, bytes);
          const r = sliceUnits(t, axis, keep, width);
          expect(r.dims[axis]).toBe(keep.length * width);
          expect([...r.toFloat32()]).toEqual(expected(t, axis, keep, width));
        }
      }
    });
  }
});
