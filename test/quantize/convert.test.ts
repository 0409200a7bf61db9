/**
 * The float16 conversion on models built to exercise one rule each. Every test that rewrites also runs both models
 * in onnxruntime and compares outputs.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { createModel, floatTensor, int64Tensor, ints, scalar, subgraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { float16ToFloat32, float32ToFloat16 } from '../../src/ir/float-codecs.js';
import { Attribute, type Node } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { elemTypeOf } from '../../src/ir/types.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import type { Feeds } from '../../src/runtime/session.js';
import { adaptFeed } from '../../src/inputs/adapt.js';
import { compareRuns } from '../../src/measure/compare-models.js';
import { convertFloat } from '../../src/quantize/convert.js';
import type { ConvertOptions } from '../../src/quantize/options.js';
import type { OutputFidelity } from '../../src/measure/types.js';
import { checkTypes } from '../../src/quantize/type-check.js';
import { expectSameOutputs, runModel } from '../helpers/equivalence.js';

const F32 = DataType.FLOAT;
const F16 = DataType.FLOAT16;

function seeded(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));

/** Converts a copy, checks structure and types, runs both on the same inputs and returns the fidelity. */
async function convertAndCompare(m: Model, opts: ConvertOptions, feeds?: Feeds[], dims: Record<string, number> = {}) {
  const before = clone(m);
  const after = clone(m);
  const report = convertFloat(after, opts);
  verify(after);
  expect(checkTypes(after)).toEqual([]);
  const sets = feeds ?? synthesizeInputs(before, { dims, seed: 3, count: 2 });
  const ref = [];
  const got = [];
  for (const f of sets) {
    ref.push(await runModel(before, f));
    got.push(await runModel(after, adaptFeed(f, after)));
  }
  return { report, after, fidelity: compareRuns(got, ref), got, ref };
}

function expectClose(f: OutputFidelity[], rel = 5e-3) {
  for (const o of f) {
    expect(o.nonFinite, o.name).toBe(0);
    expect(o.rangeError, o.name).toBeLessThan(rel);
  }
}

const nodesOf = (m: Model, op: string): Node[] => [...m.allNodes()].filter((n) => n.opType === op);
const typeOf = (m: Model, name: string) => elemTypeOf(m.graph.lookup(name)?.type);

describe('fixed-float inputs: Resize scales stay float32', () => {
  it.each([10, 13, 19])('Resize-%i: data converts, scales and the shape arithmetic feeding them stay float32', async (opset) => {
    const { model, b } = createModel({ opset });
    const x = b.input('x', F32, [1, 2, 4, 4]);
    const h = b.op('Mul', [x, b.init('w', floatTensor([1, 2, 1, 1], [0.5, -1.5]))]);
    // scales computed from constants: a shape computation (it only feeds Resize's tensor(float) scales)
    const scales = b.op('Div', [b.const('num', floatTensor([4], [2, 2, 4, 4])), b.const('den', floatTensor([4], [2, 2, 2, 2]))], {}, { name: 'scales_div' });
    const inputs = opset === 10 ? [h, scales] : [h, b.init('roi', floatTensor([0], [])), scales];
    const y = b.op('Resize', inputs, { mode: 'nearest' });
    b.output(b.op('Add', [y, b.init('bias', floatTensor([1], [0.25]))]), 'y');
    const { report, after, fidelity } = await convertAndCompare(model, { dtype: 'fp16' });
    expectClose(fidelity);
    const resize = nodesOf(after, 'Resize')[0];
    expect(after.graph.initializers.get('num')!.initializer!.dataType).toBe(F32);
    expect(resize.inputs[opset === 10 ? 1 : 2]!.producer!.name).toBe('scales_div');
    expect(report.nodes.kept).toEqual([expect.objectContaining({ name: 'scales_div', reason: 'shape-computation' })]);
    // the data path is float16 and no Cast was needed anywhere
    expect(after.graph.initializers.get('w')!.initializer!.dataType).toBe(F16);
    expect(report.castsInserted).toBe(0);
  });

  it('a float16 value reaching scales gets a Cast to float32; Upsample-9 likewise', async () => {
    const { model, b } = createModel({ opset: 9 });
    const x = b.input('x', F32, [1, 1, 2, 2]);
    const s = b.input('s', F32, [4]);
    b.output(b.op('Upsample', [b.op('Relu', [x]), s], { mode: 'nearest' }), 'y');
    const feeds: Feeds[] = [{ x: new ort.Tensor('float32', seeded(4, 1), [1, 1, 2, 2]), s: new ort.Tensor('float32', Float32Array.from([1, 1, 2, 3]), [4]) }];
    const { after, fidelity } = await convertAndCompare(model, { dtype: 'fp16' }, feeds);
    expectClose(fidelity);
    const up = nodesOf(after, 'Upsample')[0];
    expect(up.inputs[1]!.producer!.opType).toBe('Cast');
    expect(up.inputs[1]!.producer!.getInt('to')).toBe(F32);
  });
});

describe('weights: round to nearest even, saturate at +-65504 (never at 1e4), flush per the format, count per tensor', () => {
  it('with clamp: true, clamps, flushes and rounds each value and reports the counts on its tensor', async () => {
    const w = Float32Array.from([70000, -1e6, 65519, 65520, 1e-9, 3e-8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 12345.678, 0.1, -2, 0.5, 9999, 10001, -40000, 0]);
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [2, 4]);
    b.output(b.op('MatMul', [x, b.init('W', floatTensor([4, 4], w))]), 'y');
    b.output(b.op('Add', [x, b.init('small', floatTensor([4], [1, 2, 3, 4]))]), 'z');
    const feeds: Feeds[] = [{ x: new ort.Tensor('float32', Float32Array.from([1, 0, 0, 0, 0, 0, 0, 1]), [2, 4]) }];
    const { report, after, got } = await convertAndCompare(model, { dtype: 'fp16', keepIoTypes: true, clamp: true }, feeds);
    const entry = report.tensors.find((t) => t.name === 'W')!;
    expect(report.outOfRange).toEqual([expect.objectContaining({ name: 'W', values: 4, action: 'clamped' })]);
    expect(report.warnings.join('\n')).toMatch(/clamped 4 value\(s\) beyond float16's range in 1 tensor\(s\) \('W'\).*as --clamp asked/);
    expect(entry).toMatchObject({ elements: 16, clamped: 4, flushed: 1, nan: 0, bytesBefore: 64, bytesAfter: 32, duplicated: false });
    expect(report.tensors.find((t) => t.name === 'small')).toMatchObject({ clamped: 0, flushed: 0 });
    expect(report.totals).toMatchObject({ tensors: 2, clamped: 4, flushed: 1 });
    const stored = float16ToFloat32(after.graph.initializers.get('W')!.initializer!.data() as Uint16Array);
    expect(Array.from(stored.slice(0, 8))).toEqual([65504, -65504, 65504, 65504, 0, 2 ** -24, 1, 1 + 2 ** -9]);
    expect(stored[8]).toBe(12344); // 12345.678 -> nearest float16 (step 8 above 8192)
    expect(stored[13]).toBe(10000); // 10001 -> 10000: rounding, not clamping at 1e4
    expect(stored[14]).toBe(-40000);
    expect(Math.max(...Array.from(stored, Math.abs))).toBe(65504);
    // the model computes with exactly those weights: row 0 of y is W's first row
    const y = got[0].y.data as Float32Array;
    expect(Array.from(y.slice(0, 4))).toEqual(Array.from(stored.slice(0, 4)));
  });
});

describe('constants below the smallest subnormal', () => {
  it('a LayerNorm epsilon of 1e-12 stays non-zero (2^-24): a constant row normalises to 0, not NaN', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [2, 4]);
    const mean = b.op('ReduceMean', [x], { axes: [-1] });
    const d = b.op('Sub', [x, mean]);
    const v = b.op('ReduceMean', [b.op('Pow', [d, b.const('two', scalar(2))])], { axes: [-1] });
    b.output(b.op('Div', [d, b.op('Sqrt', [b.op('Add', [v, b.const('eps', scalar(1e-12))])])]), 'y', F32, [2, 4]);
    b.output(b.op('Mul', [x, b.const('tiny', floatTensor([4], [1e-9, 1, 2, 3]))]), 'z', F32, [2, 4]);
    const feeds: Feeds[] = [{ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 0.75, 0.75, 0.75, 0.75]), [2, 4]) }];
    const { report, got, fidelity } = await convertAndCompare(model, { dtype: 'fp16' }, feeds);
    expect(Array.from(got[0].y.data as Float32Array).slice(4)).toEqual([0, 0, 0, 0]);
    expectClose(fidelity, 2e-3);
    expect(report.tensors.find((t) => t.name === 'eps')).toMatchObject({ raised: 1, flushed: 0, scalar: Math.fround(1e-12) });
    // a tiny value among others flushes as the format says
    expect(report.tensors.find((t) => t.name === 'tiny')).toMatchObject({ flushed: 1 });
    expect(report.tensors.find((t) => t.name === 'tiny')!.raised).toBeUndefined();
    // and so does the emulated float16 model
    const { measureEmulated } = await import('../../src/quantize/emulate.js');
    const em = await measureEmulated(model, { dtype: 'fp16' }, feeds);
    expect(em.every((o) => o.nonFinite === 0)).toBe(true);
  });
});

describe('LayerNormalization statistics', () => {
  it('Y converts, Mean stays float32 (U has no float16; stash_type is a precision setting, never changed)', async () => {
    const build = () => {
      const { model, b } = createModel({ opset: 17 });
      const x = b.input('x', F32, [2, 4]);
      const [y, mean] = b.ops(
        'LayerNormalization',
        [x, b.init('g', floatTensor([4], [1, 2, 3, 4])), b.init('beta', floatTensor([4], [0, 0.1, 0.2, 0.3]))],
        2,
        {},
        { name: 'ln' },
      );
      b.output(y, 'y', F32, [2, 4]);
      b.output(b.op('Mul', [mean, b.const('two', scalar(2))], {}, { name: 'mean2' }), 'm', F32, [2, 1]);
      return model;
    };
    const { after, fidelity } = await convertAndCompare(build(), { dtype: 'fp16', keepIoTypes: true });
    expectClose(fidelity);
    const ln = nodesOf(after, 'LayerNormalization')[0];
    expect(ln.outputs[1]!.consumers[0].opType).toBe('Cast');
    const bf = build();
    convertFloat(bf, { dtype: 'bf16', keepIoTypes: true });
    expect(checkTypes(bf)).toEqual([]);
    const lnb = nodesOf(bf, 'LayerNormalization')[0];
    expect(lnb.attributes.has('stash_type')).toBe(false);
    expect(elemTypeOf(lnb.outputs[1]!.type) ?? F32).toBe(F32);
  });
});

describe('shared initializers', () => {
  it('a weight read by a blocked node and a converted node: each reads an exact copy of its own type', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [3, 4]);
    const W = b.init('W', floatTensor([4, 4], seeded(16, 5, 3)));
    b.output(b.op('MatMul', [x, W], {}, { name: 'converted_mm' }), 'a');
    b.output(b.op('MatMul', [x, W], {}, { name: 'kept_mm' }), 'k');
    const { report, after, fidelity, got, ref } = await convertAndCompare(model, { dtype: 'fp16', keepIoTypes: true, nodeBlockList: ['kept_mm'] });
    expectClose(fidelity);
    // the float32 path is bit-exact: same weight bytes, float32 input, float32 compute
    expect(Array.from(got[0].k.data as Float32Array)).toEqual(Array.from(ref[0].k.data as Float32Array));
    const w32 = after.graph.initializers.get('W')!;
    expect(w32.initializer!.dataType).toBe(F32);
    expect(w32.consumers.map((n) => n.name)).toEqual(['kept_mm']);
    const conv = nodesOf(after, 'MatMul').find((n) => n.name === 'converted_mm')!;
    const w16 = conv.inputs[1]!;
    expect(w16.initializer!.dataType).toBe(F16);
    expect(w16.name).toBe('W_fp16');
    expect(report.tensors).toEqual([expect.objectContaining({ name: 'W', duplicated: true, bytesBefore: 64, bytesAfter: 96 })]);
    expect(report.totals.duplicated).toBe(1);
    expect(report.nodes.kept).toEqual([expect.objectContaining({ name: 'kept_mm', reason: 'node-block-list' })]);
    // no Cast of the weight: the copy is the conversion
    expect(nodesOf(after, 'Cast').every((c) => c.inputs[0]!.name !== 'W')).toBe(true);
  });

  it('a Constant node read by both kinds of nodes gets a float16 Constant beside it', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [2, 3]);
    const c = b.constantNode(floatTensor([3], [0.1, 0.2, 0.3]), 'c');
    b.output(b.op('Add', [x, c]), 'a');
    b.output(b.op('Softmax', [b.op('Mul', [x, c], {}, { name: 'kept_mul' })]), 's');
    const { after, fidelity } = await convertAndCompare(model, { dtype: 'fp16', nodeBlockList: [/^kept_/] });
    expectClose(fidelity);
    const consts = nodesOf(after, 'Constant');
    expect(consts.map((n) => n.getTensor('value')!.dataType).sort()).toEqual([F32, F16]);
  });
});

describe('control flow: subgraphs convert consistently with their outer scope', () => {
  function ifModel() {
    const { model, b } = createModel({ opset: 16 });
    const x = b.input('x', F32, ['n', 4]);
    const W = b.init('W', floatTensor([4, 4], seeded(16, 9)));
    const h = b.op('MatMul', [x, W]);
    const bias = b.init('bias', floatTensor([4], [0.1, -0.2, 0.3, -0.4]));
    const then = subgraph('then');
    const t1 = then.op('Add', [h, bias], {}, { name: 'then_add' });
    then.output(then.op('Softmax', [then.op('Exp', [t1], {}, { name: 'then_exp' })], { axis: -1 }, { name: 'then_softmax' }));
    const els = subgraph('else');
    els.output(els.op('Neg', [h], {}, { name: 'else_neg' }));
    const cond = b.op('Greater', [b.op('ReduceSum', [x], { keepdims: 0 }), b.const('zero', floatTensor([], [0]))]);
    b.output(b.op('Relu', [b.op('If', [cond], { then_branch: then.graph, else_branch: els.graph }, { name: 'branch' })]), 'y');
    return model;
  }
  const feedsBoth: Feeds[] = [
    { x: new ort.Tensor('float32', Float32Array.from(seeded(8, 2).map((v) => Math.abs(v))), [2, 4]) },
    { x: new ort.Tensor('float32', Float32Array.from(seeded(8, 4).map((v) => -Math.abs(v))), [2, 4]) },
  ];

  it('If branches capture converted outer values and convert with the If', async () => {
    const { report, after, fidelity } = await convertAndCompare(ifModel(), { dtype: 'fp16' }, feedsBoth);
    expectClose(fidelity);
    expect(report.castsInserted).toBe(0);
    const ifNode = nodesOf(after, 'If')[0];
    for (const g of ifNode.subgraphs()) expect(elemTypeOf(g.outputs[0].type) ?? F16).toBe(F16);
    expect(after.graph.initializers.get('bias')!.initializer!.dataType).toBe(F16);
  });

  it('a blocked node inside a branch gets its Casts inside that branch', async () => {
    const { report, after, fidelity } = await convertAndCompare(ifModel(), { dtype: 'fp16', nodeBlockList: ['then_exp'] }, feedsBoth);
    expectClose(fidelity);
    const ifNode = nodesOf(after, 'If')[0];
    const then = ifNode.subgraphs().find((g) => g.nodes.some((n) => n.name === 'then_exp'))!;
    const casts = then.nodes.filter((n) => n.opType === 'Cast');
    expect(casts.map((c) => c.getInt('to')).sort()).toEqual([F32, F16].sort());
    expect(nodesOf(after, 'Cast').length).toBe(2);
    expect(report.nodes.kept).toEqual([expect.objectContaining({ name: 'then_exp', graph: 'main/branch.then_branch', reason: 'node-block-list' })]);
  });

  it('a blocked If keeps float32 at its boundary while its branches still convert inside', async () => {
    const { after, fidelity, report } = await convertAndCompare(ifModel(), { dtype: 'fp16', opBlockList: ['If'] }, feedsBoth);
    expectClose(fidelity);
    const ifNode = nodesOf(after, 'If')[0];
    expect(report.nodes.kept.map((k) => k.name)).toEqual(['branch']);
    for (const g of ifNode.subgraphs()) {
      const out = g.outputs[0];
      expect(out.producer!.opType).toBe('Cast');
      expect(out.producer!.getInt('to')).toBe(F32);
    }
  });
});

describe('Scan and sequences', () => {
  it('a Scan body converts with its state and scan slices', async () => {
    const { model, b } = createModel({ opset: 16 });
    const x = b.input('x', F32, [5, 3]);
    const init = b.input('s0', F32, [3]);
    const body = subgraph('body');
    const st = body.input('state', F32, [3]);
    const row = body.input('row', F32, [3]);
    const next = body.op('Add', [st, body.op('Mul', [row, b.init('k', floatTensor([3], [0.5, -1, 2]))])], {}, { name: 'accumulate' });
    body.output(next);
    body.output(body.op('Tanh', [next], {}, { name: 'emit' }));
    const [fin, ys] = b.ops('Scan', [init, x], 2, { body: body.graph, num_scan_inputs: 1 }, { name: 'scan' });
    b.output(fin, 'final', F32, [3]);
    b.output(ys, 'ys', F32, [5, 3]);
    const feeds: Feeds[] = [{ x: new ort.Tensor('float32', seeded(15, 6), [5, 3]), s0: new ort.Tensor('float32', seeded(3, 7), [3]) }];
    const { report, after, fidelity } = await convertAndCompare(model, { dtype: 'fp16' }, feeds);
    expectClose(fidelity);
    expect(report.castsInserted).toBe(0);
    const scanBody = nodesOf(after, 'Scan')[0].subgraphs()[0];
    expect(scanBody.inputs.map((v) => elemTypeOf(v.type))).toEqual([F16, F16]);
  });

  it('sequences keep float32 (a sequence cannot be Cast); their tensors are cast at the boundary', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [2, 3]);
    const seq = b.op('SequenceConstruct', [b.op('Relu', [x]), b.op('Neg', [x])]);
    const cat = b.op('ConcatFromSequence', [seq], { axis: 0 });
    b.output(b.op('Mul', [cat, b.init('s', floatTensor([3], [1, 2, 3]))]), 'y', F32, [4, 3]);
    const { report, fidelity } = await convertAndCompare(model, { dtype: 'fp16' });
    expectClose(fidelity);
    expect(report.nodes.kept.map((k) => `${k.opType}:${k.reason}`)).toEqual(['SequenceConstruct:schema', 'ConcatFromSequence:schema']);
    expect(report.castsInserted).toBe(3);
  });
});

describe('--keep-io-types', () => {
  function mlp() {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, ['n', 4]);
    const m = b.input('m', F32, ['n', 4]);
    const h = b.op('Relu', [b.op('MatMul', [x, b.init('W', floatTensor([4, 4], seeded(16, 11)))])]);
    b.output(b.op('Mul', [h, m]), 'y', F32, ['n', 4]);
    b.output(b.op('Sigmoid', [h]), 'p', F32, ['n', 4]);
    return model;
  }

  it('true keeps every float32 input and output, names unchanged, with Casts at the boundary', async () => {
    const m = mlp();
    const before = clone(m);
    const r = convertFloat(m, { dtype: 'fp16', keepIoTypes: true });
    expect(r.inputs).toEqual([
      { name: 'x', dtype: 'float32' },
      { name: 'm', dtype: 'float32' },
    ]);
    expect(r.outputs).toEqual([
      { name: 'y', dtype: 'float32' },
      { name: 'p', dtype: 'float32' },
    ]);
    expect(r.castsInserted).toBe(4);
    // the float32 feeds of the original work unchanged
    await expectSameOutputs(before, m, { dims: { n: 3 }, rtol: 1e-2, atol: 2e-3, sets: 2 });
    expect(convertFloat(m, { dtype: 'fp16', keepIoTypes: true }).modified).toBe(false);
  });

  it('a list keeps only the named ones', async () => {
    const { report, after, fidelity } = await convertAndCompare(mlp(), { dtype: 'fp16', keepIoTypes: ['x', 'p'] }, undefined, { n: 2 });
    expectClose(fidelity);
    expect(report.inputs.map((i) => i.dtype)).toEqual(['float32', 'float16']);
    expect(report.outputs.map((i) => i.dtype)).toEqual(['float16', 'float32']);
    expect(after.graph.outputs.map((v) => v.name)).toEqual(['y', 'p']);
    expect(report.castsInserted).toBe(2);
  });
});

describe('block lists', () => {
  function model2() {
    const { model, b } = createModel({ opset: 14 });
    const x = b.input('x', F32, [2, 8]);
    const a = b.op('MatMul', [x, b.init('W', floatTensor([8, 8], seeded(64, 13, 0.5)))], {}, { name: 'attn/proj' });
    const s = b.op('Softmax', [a], { axis: -1 }, { name: 'attn/softmax' });
    const c = b.op('CumSum', [s, b.const('axis', int64Tensor([], [1]))], {}, { name: 'ffn/cumsum' });
    b.output(b.op('Tanh', [c], {}, { name: 'ffn/act' }), 'y');
    return model;
  }
  const kept = (r: { nodes: { kept: { name: string; reason: string }[] } }) => r.nodes.kept.map((k) => `${k.name}:${k.reason}`);

  it('the default op block list keeps CumSum float32', async () => {
    const { report, fidelity } = await convertAndCompare(model2(), { dtype: 'fp16' });
    expectClose(fidelity);
    expect(kept(report)).toEqual(['ffn/cumsum:op-block-list']);
    expect(report.castsInserted).toBe(2);
  });

  it('a given list replaces the default; +A extends it; none empties it', async () => {
    const { resolveOpBlockList } = await import('../../src/quantize/options.js');
    let r = await convertAndCompare(model2(), { dtype: 'fp16', opBlockList: ['Softmax'] });
    expectClose(r.fidelity);
    expect(kept(r.report)).toEqual(['attn/softmax:op-block-list']);
    r = await convertAndCompare(model2(), { dtype: 'fp16', opBlockList: resolveOpBlockList(['+Softmax']) });
    expectClose(r.fidelity);
    expect(kept(r.report)).toEqual(['attn/softmax:op-block-list', 'ffn/cumsum:op-block-list']);
    // Softmax then CumSum, both float32: one Cast in, one Cast out, none between them
    expect(r.report.castsInserted).toBe(2);
    r = await convertAndCompare(model2(), { dtype: 'fp16', opBlockList: resolveOpBlockList(['none']) });
    expectClose(r.fidelity);
    expect(kept(r.report)).toEqual([]);
    expect(r.report.castsInserted).toBe(0);
  });

  it('node block list: exact names and /regex/', async () => {
    const { parseNodeBlockList } = await import('../../src/quantize/options.js');
    const r = await convertAndCompare(model2(), { dtype: 'fp16', opBlockList: [], keepIoTypes: true, nodeBlockList: parseNodeBlockList('ffn/act,/^attn\\//') });
    expectClose(r.fidelity);
    expect(kept(r.report)).toEqual(['attn/proj:node-block-list', 'attn/softmax:node-block-list', 'ffn/act:node-block-list']);
    // the one converted node sits between kept ones (float32 model I/O): a Cast each side
    expect(r.report.castsInserted).toBe(2);
    expect(r.report.nodes.converted).toBe(1);
  });
});

describe('Casts: placed where types change, no pairs left, topological order kept', () => {
  it('Cast(int -> float) feeding converted code becomes a Cast to float16, not a Cast pair', async () => {
    const { model, b } = createModel({ opset: 17 });
    const ids = b.input('ids', DataType.INT64, [2, 3]);
    const x = b.input('x', F32, [2, 3]);
    b.output(b.op('Add', [b.op('Cast', [ids], { to: F32 }), x]), 'y');
    const feeds: Feeds[] = [
      { ids: new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n]), [2, 3]), x: new ort.Tensor('float32', seeded(6, 3), [2, 3]) },
    ];
    const { report, after, fidelity } = await convertAndCompare(model, { dtype: 'fp16' }, feeds);
    expectClose(fidelity);
    const casts = nodesOf(after, 'Cast');
    expect(casts).toHaveLength(1);
    expect(casts[0].getInt('to')).toBe(F16);
    expect(report.attributesChanged).toBe(1);
    expect(report.castsInserted).toBe(0);
  });

  it('chained no-op Casts before a kept node fold into a valid model (bfloat16: HardSigmoid has none)', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [2, 4]);
    const c = b.op('Cast', [b.op('Cast', [x], { to: F32 })], { to: F32 });
    b.output(b.op('Mul', [c, b.op('HardSigmoid', [c])]), 'y', F32, [2, 4]);
    const m = clone(model);
    const r = convertFloat(m, { dtype: 'bf16' });
    verify(m);
    expect(checkTypes(m)).toEqual([]);
    expect(r.nodes.kept.map((k) => k.opType)).toEqual(['HardSigmoid']);
    // x (bfloat16) -> one Cast to float32 for HardSigmoid, one back for Mul; the model's own no-op Casts are gone
    expect(
      nodesOf(m, 'Cast')
        .map((n) => n.getInt('to'))
        .sort(),
    ).toEqual([F32, DataType.BFLOAT16].sort());
    const { measureEmulated } = await import('../../src/quantize/emulate.js');
    const em = await measureEmulated(model, { dtype: 'bf16' }, synthesizeInputs(model, { seed: 1 }));
    expect(em[0].rangeError).toBeLessThan(2e-2);
  });

  it("a model's own rounding (float32 -> float16 -> float32) is not folded away", async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [2, 4]);
    const r = b.op('Cast', [b.op('Cast', [x], { to: F16 })], { to: F32 });
    b.output(b.op('Softmax', [r], {}, { name: 'kept' }), 'y', F32, [2, 4]);
    const feeds: Feeds[] = [{ x: new ort.Tensor('float32', seeded(8, 4, 3), [2, 4]) }];
    const { got, ref, after } = await convertAndCompare(model, { dtype: 'fp16', keepIoTypes: true, opBlockList: ['Softmax'] }, feeds);
    expect(nodesOf(after, 'Cast')).toHaveLength(2);
    expect(Array.from(got[0].y.data as Float32Array)).toEqual(Array.from(ref[0].y.data as Float32Array));
  });

  it('a partly float16 model: its Cast(float16 -> float32) becomes a no-op and is removed', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F16, [2, 3]);
    const up = b.op('Cast', [x], { to: F32 });
    b.output(b.op('Mul', [up, b.init('s', floatTensor([3], [1, 2, 3]))]), 'y');
    const feeds: Feeds[] = [{ x: new ort.Tensor('float16', float32ToFloat16(seeded(6, 8)), [2, 3]) }];
    const { report, after, fidelity } = await convertAndCompare(model, { dtype: 'fp16' }, feeds);
    expectClose(fidelity);
    expect(nodesOf(after, 'Cast')).toHaveLength(0);
    expect(report.castsRemoved).toBe(1);
  });

  it('no Cast reads a Cast in a converted transformer, and nodes stay topologically sorted', async () => {
    const path = await import('node:path');
    const { loadModel } = await import('../../src/onnx/io.js');
    const m = loadModel(path.resolve(__dirname, '../../fixtures/bert-tiny.onnx'));
    convertFloat(m, { dtype: 'fp16', keepIoTypes: true, opBlockList: ['Softmax', 'Erf', 'Pow'] });
    verify(m);
    for (const c of nodesOf(m, 'Cast')) expect(c.inputs[0]!.producer?.opType, c.label).not.toBe('Cast');
  });
});

describe('shape computations and integer values stay float32', () => {
  it('float arithmetic that only computes a shape is not converted', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [4, 6]);
    const h = b.op('MatMul', [x, b.init('W', floatTensor([6, 6], seeded(36, 21)))]);
    const rows = b.op('Gather', [b.op('Shape', [h]), b.const('zero', int64Tensor([], [0]))], { axis: 0 });
    const half = b.op('Div', [b.op('Cast', [rows], { to: F32 }, { name: 'rows_f' }), b.const('two', floatTensor([], [2]))], {}, { name: 'half_rows' });
    const halfInt = b.op('Unsqueeze', [b.op('Cast', [b.op('Floor', [half], {}, { name: 'floor' })], { to: DataType.INT64 }), b.const('ax', ints([0]))]);
    const shape = b.op('Concat', [halfInt, b.const('minus1', ints([-1]))], { axis: 0 });
    b.output(b.op('Reshape', [h, shape]), 'y');
    const { report, after, fidelity } = await convertAndCompare(model, { dtype: 'fp16' });
    expectClose(fidelity);
    expect(report.nodes.kept.map((k) => `${k.name}:${k.reason}`).sort()).toEqual(['floor:shape-computation', 'half_rows:shape-computation']);
    expect(
      nodesOf(after, 'Cast')
        .find((c) => c.name === 'rows_f')!
        .getInt('to'),
    ).toBe(F32);
    expect(after.graph.initializers.get('W')!.initializer!.dataType).toBe(F16);
  });

  it('Cast(int -> float) feeding float32 code keeps integers above 2048 exact', async () => {
    const { model, b } = createModel({ opset: 14 });
    const ids = b.input('ids', DataType.INT64, [1, 4]);
    const pos = b.op('CumSum', [b.op('Cast', [ids], { to: F32 }), b.const('axis', int64Tensor([], [1]))]);
    b.output(pos, 'pos');
    const feeds: Feeds[] = [{ ids: new ort.Tensor('int64', BigInt64Array.from([2049n, 2n, 1n, 4n]), [1, 4]) }];
    const { got, after } = await convertAndCompare(model, { dtype: 'fp16', keepIoTypes: true }, feeds);
    expect(Array.from(got[0].pos.data as Float32Array)).toEqual([2049, 2051, 2052, 2056]);
    expect(nodesOf(after, 'Cast')).toHaveLength(1);
  });
});

describe('type-carrying attributes and Constant nodes', () => {
  it('Cast to, ConstantOfShape value, EyeLike / RandomUniformLike dtype follow the conversion; RandomNormal is blocked by default', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [3, 3]);
    const c = b.op('ConstantOfShape', [b.const('shape', ints([3, 3]))], { value: floatTensor([1], [2.5]) }, { name: 'fill' });
    const zeros = b.op('ConstantOfShape', [b.const('shape2', ints([3, 3]))], {}, { name: 'zeros' });
    const eye = b.op('EyeLike', [x], {}, { name: 'eye' });
    const nrm = b.op('RandomNormal', [], { shape: [3, 3], seed: Attribute.float('', 1) }, { name: 'noise' });
    const uni = b.op('RandomUniformLike', [x], { seed: Attribute.float('', 2) }, { name: 'unoise' });
    const n = b.op('Cast', [b.op('Shape', [x])], { to: F32 }, { name: 'dims_f' });
    const zero = b.const('z', scalar(0));
    let y = b.op('Add', [b.op('Mul', [x, eye]), c]);
    y = b.op('Add', [y, zeros]);
    y = b.op('Add', [y, b.op('Mul', [nrm, zero])]);
    y = b.op('Add', [y, b.op('Mul', [uni, zero])]);
    y = b.op('Add', [y, b.op('ReduceSum', [n], { keepdims: 1 })]);
    b.output(y, 'y');
    const { report, after, fidelity } = await convertAndCompare(model, { dtype: 'fp16' });
    expectClose(fidelity);
    const byName = (name: string) => [...after.allNodes()].find((k) => k.name === name)!;
    expect(byName('fill').getTensor('value')!.dataType).toBe(F16);
    expect(byName('zeros').getTensor('value')!.dataType).toBe(F16);
    expect(byName('eye').getInt('dtype')).toBe(F16);
    expect(byName('unoise').getInt('dtype')).toBe(F16);
    expect(byName('dims_f').getInt('to')).toBe(F16);
    expect(report.attributesChanged).toBe(5);
    // onnxruntime's CPU provider has no float16 RandomNormal and nothing to cast around: kept by the default list
    expect(byName('noise').getInt('dtype')).toBeUndefined();
    expect(report.nodes.kept).toEqual([expect.objectContaining({ name: 'noise', reason: 'op-block-list' })]);
  });

  it('RandomNormal / RandomUniform dtype convert when unblocked (valid ONNX, for providers with float16 generators)', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [3, 3]);
    const n1 = b.op('RandomNormal', [], { shape: [3, 3] }, { name: 'n1' });
    const n2 = b.op('RandomUniform', [], { shape: [3, 3], dtype: F32 }, { name: 'n2' });
    b.output(b.op('Add', [b.op('Add', [x, n1]), n2]), 'y');
    const r = convertFloat(model, { dtype: 'fp16', opBlockList: [] });
    expect(checkTypes(model)).toEqual([]);
    expect(nodesOf(model, 'RandomNormal')[0].getInt('dtype')).toBe(F16);
    expect(nodesOf(model, 'RandomUniform')[0].getInt('dtype')).toBe(F16);
    expect(r.attributesChanged).toBe(2);
    expect(r.castsInserted).toBe(0);
  });

  it('Constant value_float / value_floats become float16 tensors', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [2, 3]);
    const s = b.node('Constant', [], { value_float: Attribute.float('', 0.5) }).output(0);
    const v = b.node('Constant', [], { value_floats: Attribute.floats('', [1, 2, 3]) }).output(0);
    b.output(b.op('Add', [b.op('Mul', [x, s]), v]), 'y');
    const { after, fidelity, report } = await convertAndCompare(model, { dtype: 'fp16' });
    expectClose(fidelity);
    const consts = nodesOf(after, 'Constant');
    expect(consts.map((k) => [k.getTensor('value')!.dataType, k.getTensor('value')!.dims])).toEqual([
      [F16, []],
      [F16, [3]],
    ]);
    expect(report.tensors.map((t) => t.kind)).toEqual(['constant', 'constant']);
  });

  it('an initializer that is also a graph input converts with the input (or stays with --keep-io-types)', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [2, 3]);
    const bias = model.graph.addInput('bias', { tensor_type: { elem_type: F32, shape: { dim: [{ dim_value: 3 }] } } });
    model.graph.addInitializer('bias', floatTensor([3], [1, 2, 3]));
    b.output(b.op('Add', [x, bias]), 'y');
    const r = await convertAndCompare(model, { dtype: 'fp16' }, [{ x: new ort.Tensor('float32', seeded(6, 1), [2, 3]) }]);
    expectClose(r.fidelity);
    expect(r.after.graph.initializers.get('bias')!.initializer!.dataType).toBe(F16);
    expect(typeOf(r.after, 'bias')).toBe(F16);
    const k = await convertAndCompare(model, { dtype: 'fp16', keepIoTypes: ['bias'] }, [{ x: new ort.Tensor('float32', seeded(6, 1), [2, 3]) }]);
    expectClose(k.fidelity);
    expect(k.after.graph.initializers.get('bias')!.initializer!.dataType).toBe(F32);
  });

  it('operators outside the table keep float32 with Casts around them', () => {
    const { model, b } = createModel({ opset: 17, domains: { 'ai.onnx.ml': 3 } });
    const x = b.input('x', F32, [2, 3]);
    const s = b.op('Scaler', [b.op('Relu', [x])], { scale: Attribute.floats('', [1, 2, 3]) }, { domain: 'ai.onnx.ml', name: 'scaler' });
    s.type = { tensor_type: { elem_type: F32 } };
    b.output(b.op('Tanh', [s]), 'y');
    const r = convertFloat(model, { dtype: 'fp16' });
    expect(checkTypes(model)).toEqual([]);
    expect(r.nodes.kept).toEqual([expect.objectContaining({ name: 'scaler', reason: 'unknown-op' })]);
    expect(r.castsInserted).toBe(2);
    expect(elemTypeOf(s.type)).toBe(F32);
  });

  it('rejects a bad dtype', () => {
    const { model } = createModel();
    expect(() => convertFloat(model, { dtype: 'fp8' as never })).toThrow(/dtype must be 'fp16' or 'bf16'/);
  });
});
