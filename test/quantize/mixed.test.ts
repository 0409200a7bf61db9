/**
 * --mixed: the search finds a planted float16 overflow and keeps just that node float32, in the main graph or inside
 * an If branch; the chosen model meets the tolerance when run (emulated float16 storage, and on onnxruntime CPU).
 */
import { describe, expect, it } from 'vitest';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { boolTensor, createModel, floatTensor, subgraph, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { UsageError } from '../../src/errors.js';
import { adaptFeed } from '../../src/inputs/adapt.js';
import { compareRuns } from '../../src/measure/compare-models.js';
import { measureEmulated } from '../../src/quantize/emulate.js';
import { worstError } from '../../src/measure/fidelity.js';
import type { ConvertOptions } from '../../src/quantize/options.js';
import { nodeKeys } from '../../src/quantize/plan.js';
import { convertFloat } from '../../src/quantize/convert.js';
import { convertMixed } from '../../src/quantize/mixed.js';
import { checkTypes } from '../../src/quantize/type-check.js';
import { Rng } from '../../src/util/rng.js';
import { runModel } from '../helpers/equivalence.js';

const F32 = DataType.FLOAT;

function weights(rng: Rng, n: number, std: number): Float32Array {
  return rng.fillNormal(new Float32Array(n), std);
}

/**
 * h = x W1 with |h| ~ 35: h^2 fits float16 (< 65504) but energy = ReduceSum(h^2) over 64 features (~100 000) does
 * not. y = Relu(h W2) is well scaled. With `inIf`, energy is computed inside an If branch (the If's output is the
 * model's float32 output).
 */
function planted(inIf: boolean): Model {
  const rng = new Rng(11);
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', F32, ['batch', 64]);
  const h = b.op('MatMul', [x, b.init('W1', floatTensor([64, 64], weights(rng, 64 * 64, 35 / 8)))], {}, { name: 'proj' });
  b.output(
    b.op('Relu', [b.op('MatMul', [h, b.init('W2', floatTensor([64, 8], weights(rng, 64 * 8, 0.01)))], {}, { name: 'head' })], {}, { name: 'act' }),
    'y',
    F32,
    ['batch', 8],
  );
  const two = b.const('two', floatTensor([], [2]));
  const energy = (g: GraphBuilder) => g.op('ReduceSum', [g.op('Pow', [h, two], {}, { name: 'square' })], { keepdims: 1 }, { name: 'energy' });
  if (!inIf) {
    b.output(energy(b), 'energy', F32, ['batch', 1]);
    return model;
  }
  const then = subgraph('then');
  then.output(energy(then));
  const els = subgraph('else');
  els.output(els.op('ReduceMean', [els.op('Abs', [h], {}, { name: 'abs' })], { axes: [1], keepdims: 1 }, { name: 'mean_abs' }));
  const cond = b.const('always', boolTensor([], [true]));
  b.output(b.op('If', [cond], { then_branch: then.graph, else_branch: els.graph }, { name: 'branch' }), 'energy', F32, ['batch', 1]);
  return model;
}

/** The stable key of the node called `name` (what --mixed keeps). */
function keyOf(m: Model, name: string): Set<string> {
  return new Set([...nodeKeys(m)].filter(([n]) => n.name === name).map(([, k]) => k.key));
}

async function emulatedError(before: Model, opts: ConvertOptions): Promise<number> {
  const feeds = synthesizeInputs(before, { dims: { batch: 2 }, seed: 99, count: 2 });
  return worstError(await measureEmulated(before, opts, feeds));
}

async function errorOf(before: Model, after: Model): Promise<number> {
  const feeds = synthesizeInputs(before, { dims: { batch: 2 }, seed: 99, count: 2 });
  const ref = [];
  const got = [];
  for (const f of feeds) {
    ref.push(await runModel(before, f));
    got.push(await runModel(after, adaptFeed(f, after)));
  }
  return worstError(compareRuns(got, ref));
}

describe('--mixed precision search', () => {
  it('the planted node overflows float16 storage; onnxruntime CPU, computing float16 regions in float32, hides it', async () => {
    const m = planted(false);
    expect(await emulatedError(m, { dtype: 'fp16', keepIoTypes: true })).toBe(Infinity);
    expect(await emulatedError(m, { dtype: 'bf16', keepIoTypes: true })).toBeLessThan(2e-2);
    const after = decodeModelBytes(encodeModel(m));
    convertFloat(after, { dtype: 'fp16', keepIoTypes: true });
    expect(await errorOf(m, after)).toBeLessThan(1e-2);
  });

  it('keeps just the overflowing ReduceSum float32, and says why', async () => {
    const m = planted(false);
    const ref = decodeModelBytes(encodeModel(m));
    const logs: string[] = [];
    const r = await convertMixed(m, { dtype: 'fp16', keepIoTypes: true, tolerance: 1e-2, dims: { batch: 2 }, log: (s) => logs.push(s) });
    verify(m);
    expect(checkTypes(m)).toEqual([]);
    expect(r.mode).toBe('mixed');
    expect(r.mixed!.kept).toEqual([{ name: 'energy', opType: 'ReduceSum', graph: 'main', errorIfConverted: Infinity }]);
    expect(r.mixed!.exhausted).toBe(false);
    expect(r.mixed!.errorAllConverted).toBe(Infinity);
    expect(r.mixed!.error).toBeLessThanOrEqual(1e-2);
    expect(r.mixed!.candidates).toBe(5);
    expect(r.mixed!.evaluations).toBeLessThanOrEqual(8);
    expect(r.nodes.kept).toEqual([expect.objectContaining({ name: 'energy', reason: 'mixed' })]);
    expect(r.fidelityEmulated!.map((f) => f.name).sort()).toEqual(['energy', 'y']);
    expect(logs.length).toBe(r.mixed!.evaluations);
    expect(r.message).toMatch(/kept 1 of 5 compute nodes float32 \(energy\)/);
    // the chosen conversion holds on inputs the search never saw, emulated and on CPU
    expect(await emulatedError(ref, { dtype: 'fp16', keepIoTypes: true, keepNodeKeys: keyOf(ref, 'energy') })).toBeLessThanOrEqual(1e-2);
    expect(await errorOf(ref, m)).toBeLessThanOrEqual(1e-2);
  });

  it('searches subgraph nodes too: the overflow inside an If branch', async () => {
    const m = planted(true);
    const ref = decodeModelBytes(encodeModel(m));
    const r = await convertMixed(m, { dtype: 'fp16', keepIoTypes: true, tolerance: 1e-2, dims: { batch: 2 } });
    expect(r.mixed!.kept.map((k) => [k.name, k.graph])).toEqual([['energy', 'main/branch.then_branch']]);
    expect(checkTypes(m)).toEqual([]);
    expect(await errorOf(ref, m)).toBeLessThanOrEqual(1e-2);
  });

  it('keeps nothing when the full conversion is within tolerance, using given calibration inputs', async () => {
    const m = planted(false);
    const feeds = synthesizeInputs(m, { dims: { batch: 1 }, seed: 5, count: 1 });
    const r = await convertMixed(m, { dtype: 'fp16', keepIoTypes: true, tolerance: 1e-2, opBlockList: ['ReduceSum'], feeds });
    expect(r.mixed!.kept).toEqual([]);
    expect(r.mixed!.evaluations).toBe(1);
    expect(r.mixed!.calibrationSets).toBe(1);
    expect(r.message).toMatch(/every node converts within the tolerance/);
    // bfloat16 has float32's range: the planted sum does not overflow it
    const mb = planted(false);
    const rb = await convertMixed(mb, { dtype: 'bf16', keepIoTypes: true, tolerance: 2e-2, feeds });
    expect(rb.mixed!.kept).toEqual([]);
    expect(checkTypes(mb)).toEqual([]);
  });

  it('when the evaluation budget runs out, returns a keep-set within tolerance and says it may not be minimal', async () => {
    const m = planted(false);
    const r = await convertMixed(m, { dtype: 'fp16', keepIoTypes: true, tolerance: 1e-2, dims: { batch: 2 }, maxEvaluations: 3 });
    expect(r.mixed!.exhausted).toBe(true);
    expect(r.mixed!.evaluations).toBe(3);
    expect(r.mixed!.kept.length).toBeGreaterThan(1);
    expect(r.mixed!.kept.map((k) => k.name)).toContain('energy');
    expect(r.mixed!.error).toBeLessThanOrEqual(1e-2);
    expect(r.warnings.join('\n')).toMatch(/--mixed spent its 3 evaluations before the keep-set was minimal/);
    expect(checkTypes(m)).toEqual([]);
  });

  it('refuses impossible combinations', async () => {
    await expect(convertMixed(planted(false), { dtype: 'fp8' as never, tolerance: 0.1 })).rejects.toThrow(UsageError);
    await expect(convertMixed(planted(false), { dtype: 'fp16', weightsOnly: true, tolerance: 0.1 })).rejects.toThrow(/cannot be combined/);
    await expect(convertMixed(planted(false), { dtype: 'fp16', tolerance: 0 })).rejects.toThrow(/positive number/);
  });
});
