import { describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/bert.js';
import { buildControlFlow } from '../../fixtures/models/control-flow.js';
import { UsageError } from '../../src/errors.js';
import { boolTensor, createModel, floatTensor, scalar, subgraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { pruneGraph } from '../../src/prune/graph.js';
import { inlineConstantIfs } from '../../src/prune/inline-if.js';
import * as ort from 'onnxruntime-node';
import { expectSameOutputs, runModel } from '../helpers/equivalence.js';

const F = DataType.FLOAT;
const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));
const ops = (m: Model): string[] => m.graph.nodes.map((n) => n.opType);

/** x -> Relu -> (y = Abs) and a dead chain; `unused` is an input nothing reads; `side` feeds only the second output. */
function twoBranches(): Model {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', F, ['n', 4]);
  const side = b.input('side', F, ['n', 4]);
  b.input('unused', F, [3]);
  const w = b.init(
    'w',
    floatTensor(
      [4, 4],
      Array.from({ length: 16 }, (_, i) => (i % 5) - 2),
    ),
  );
  b.init('orphan', floatTensor([2], [1, 2]));
  const h = b.op('Relu', [b.op('MatMul', [x, w], {}, { name: 'mm', outputs: ['h0'] })], {}, { name: 'relu', outputs: ['h'] });
  b.op('Neg', [b.op('Sigmoid', [h], {}, { name: 'dead1' })], {}, { name: 'dead2' });
  b.output(b.op('Abs', [h], {}, { name: 'abs', outputs: ['y'] }), undefined, F, ['n', 4]);
  b.output(b.op('Add', [b.op('Tanh', [h], {}, { name: 'tanh', outputs: ['t'] }), side], {}, { name: 'add', outputs: ['z'] }), undefined, F, ['n', 4]);
  return model;
}

describe('graph pruning', () => {
  it('removes dead nodes, unused initializers and unused inputs; outputs stay identical', async () => {
    const m = twoBranches();
    const before = clone(m);
    const r = pruneGraph(m);
    verify(m);
    expect(ops(m)).toEqual(['MatMul', 'Relu', 'Abs', 'Tanh', 'Add']);
    expect(r.removedNodes).toBe(2);
    expect(r.removedInitializers).toBe(1);
    expect(r.removedInputs).toEqual(['unused']);
    expect(m.graph.initializers.has('orphan')).toBe(false);
    const eq = await expectSameOutputs(before, clone(m), { dims: { n: 3 }, rtol: 0, atol: 0 });
    expect(eq.maxAbs).toBe(0);
  });

  it('--outputs extracts the sub-model computing the named values (inputs it no longer needs go too)', async () => {
    const m = twoBranches();
    const reference = clone(m);
    reference.graph.setOutputs([reference.graph.lookupLocal('y')!, reference.graph.lookupLocal('h0')!]);
    const r = pruneGraph(m, { outputs: ['y', 'h0'] });
    verify(m);
    expect(r.outputs).toEqual(['y', 'h0']);
    expect(r.droppedOutputs).toEqual(['z']);
    expect(ops(m)).toEqual(['MatMul', 'Relu', 'Abs']);
    expect(r.removedInputs.sort()).toEqual(['side', 'unused']);
    expect(m.graph.inputs.map((v) => v.name)).toEqual(['x']);
    await expectSameOutputs(reference, clone(m), { dims: { n: 2 }, rtol: 0, atol: 0 });
  });

  it('--outputs on BERT: the first layer alone, numerically identical', async () => {
    const m = buildBert({ layers: 2, classifier: 2 });
    const name = '/encoder/layer.0/output/LayerNorm/Add_1_output_0';
    const reference = clone(m);
    reference.graph.setOutputs([reference.graph.lookupLocal(name)!]);
    const r = pruneGraph(m, { outputs: [name] });
    verify(m);
    expect(r.nodesAfter).toBeLessThan(r.nodesBefore / 2 + 20);
    expect([...m.graph.initializers.keys()].some((k) => k.startsWith('encoder.layer.1'))).toBe(false);
    await expectSameOutputs(reference, clone(m), { dims: { batch: 2, sequence: 8 }, rtol: 0, atol: 0 });
  });

  it('names a missing --outputs value with suggestions (usage error)', () => {
    expect(() => pruneGraph(twoBranches(), { outputs: ['nope'] })).toThrow(UsageError);
    expect(() => pruneGraph(twoBranches(), { outputs: ['tan'] })).toThrow(/did you mean 't'/);
    expect(() => pruneGraph(twoBranches(), { outputs: ['y', 'y'] })).toThrow(/twice/);
  });

  it('is idempotent', () => {
    const m = twoBranches();
    pruneGraph(m);
    const bytes = Buffer.from(encodeModel(m));
    const again = pruneGraph(m);
    expect(again.removedNodes).toBe(0);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), bytes)).toBe(0);
  });
});

/**
 * x -> If(c) { then: Add(x, b_then) -> Mul(., k_inner)  [k_inner: a branch initializer]; nested If(c2) inside;
 *              else: Neg(x) } -> y (graph output) and y2 -> Relu -> r
 */
function constantIf(cond: boolean | 'computed'): Model {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', F, ['n', 3]);
  const bThen = b.init('b_then', floatTensor([3], [1, 2, 3]));
  let c: ReturnType<typeof b.const>;
  if (cond === 'computed') c = b.op('Greater', [b.const('two', scalar(2)), b.const('one', scalar(1))], {}, { name: 'cmp', outputs: ['c'] });
  else c = b.const('c', boolTensor([], [cond]));
  const t = subgraph('then');
  const sum = t.op('Add', [x, bThen], {}, { name: 'add', outputs: ['t_sum'] });
  const kInner = t.init('k_inner', floatTensor([3], [2, 2, 2]));
  const prod = t.op('Mul', [sum, kInner], {}, { name: 'mul', outputs: ['t_prod'] });
  const inner = subgraph('inner_then');
  inner.output(inner.op('Sigmoid', [prod], {}, { name: 'inner_sig', outputs: ['inner_out'] }), undefined, F, ['n', 3]);
  const innerElse = subgraph('inner_else');
  innerElse.output(innerElse.op('Tanh', [sum], {}, { name: 'inner_tanh', outputs: ['inner_else_out'] }), undefined, F, ['n', 3]);
  const c2 = t.op('Identity', [b.input('c2', DataType.BOOL, [])], {}, { name: 'c2_id', outputs: ['c2v'] });
  const nested = t.op('If', [c2], { then_branch: inner.graph, else_branch: innerElse.graph }, { name: 'relu', outputs: ['t_nested'] });
  t.output(nested, undefined, F, ['n', 3]);
  t.output(t.op('Identity', [x], {}, { name: 't_id', outputs: ['t_x'] }), undefined, F, ['n', 3]); // an outer value passed through
  const e = subgraph('else');
  e.output(e.op('Neg', [x], {}, { name: 'neg', outputs: ['e_neg'] }), undefined, F, ['n', 3]);
  e.output(e.op('Abs', [x], {}, { name: 'abs', outputs: ['e_abs'] }), undefined, F, ['n', 3]);
  const [y, y2] = b.ops('If', [c], 2, { then_branch: t.graph, else_branch: e.graph }, { name: 'choose' });
  b.output(y, 'y', F, ['n', 3]);
  b.output(b.op('Relu', [y2], {}, { name: 'relu_out', outputs: ['r'] }), undefined, F, ['n', 3]);
  return model;
}

describe('If with a constant condition', () => {
  for (const cond of [true, false] as const) {
    it(`inlines the ${cond ? 'then' : 'else'} branch, keeping output names, outputs identical`, async () => {
      const m = constantIf(cond);
      const before = clone(m);
      const r = pruneGraph(m);
      verify(m);
      expect(r.inlinedIfs).toBe(1);
      expect(m.graph.outputs.map((v) => v.name)).toEqual(['y', 'r']);
      expect([...m.allNodes()].filter((n) => n.opType === 'If' && n.name === 'choose')).toHaveLength(0);
      if (cond) {
        // the nested If moved with its captures; node names that clash with the outer graph ('relu') were renamed
        expect(ops(m)).toContain('If');
        const names = m.graph.nodes.map((n) => n.name);
        expect(new Set(names).size).toBe(names.length);
        expect(names).toContain('relu_out');
        expect(m.graph.initializers.has('k_inner')).toBe(true);
      } else {
        expect(ops(m)).toEqual(['Neg', 'Abs', 'Relu']);
        expect(m.graph.inputs.map((v) => v.name)).toEqual(['x']); // c2 was read only by the dropped branch
      }
      for (const c2 of [true, false]) {
        const feeds = { dims: { n: 2 }, rtol: 0, atol: 0, seed: c2 ? 1 : 2 };
        await expectSameOutputs(before, clone(m), feeds);
      }
    });
  }

  it('binds a branch output that no moved node produces (a branch initializer, a value returned twice) by Identity', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2]);
    const t = subgraph('then');
    const k = t.init('k', floatTensor([2], [5, 6]));
    const s = t.op('Add', [x, k], {}, { name: 'sum', outputs: ['s'] });
    t.output(s, undefined, F, [2]);
    t.output(s, undefined, F, [2]);
    t.output(t.op('Identity', [k], {}, { name: 'k_id', outputs: ['k_out'] }), undefined, F, [2]);
    const e = subgraph('else');
    for (const n of ['e1', 'e2', 'e3']) e.output(e.op('Neg', [x], {}, { name: n, outputs: [n] }), undefined, F, [2]);
    const outs = b.ops('If', [b.const('c', boolTensor([], [true]))], 3, { then_branch: t.graph, else_branch: e.graph }, { name: 'choose' });
    outs.forEach((o, i) => b.output(o, `o${i}`, F, [2]));
    expect(inlineConstantIfs(model)).toBe(1);
    verify(model);
    expect(ops(model)).toEqual(['Add', 'Identity', 'Identity']);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['o0', 'o1', 'o2']);
    expect(model.graph.nodes[0].output(0).name).toBe('o0');
    // (onnxruntime 1.30 computes zeros for a subgraph output returned twice, so the original is not the reference)
    const out = await runModel(clone(model), { x: new ort.Tensor('float32', Float32Array.from([1, 2]), [2]) });
    expect([out.o0, out.o1, out.o2].map((t) => [...(t.data as Float32Array)])).toEqual([
      [6, 8],
      [6, 8],
      [5, 6],
    ]);
  });

  it('folds a condition computed from constants first', async () => {
    const m = constantIf('computed');
    const before = clone(m);
    const r = pruneGraph(m);
    verify(m);
    expect(r.inlinedIfs).toBe(1);
    expect(m.graph.nodes.some((n) => n.name === 'choose')).toBe(false);
    await expectSameOutputs(before, clone(m), { dims: { n: 2 }, rtol: 0, atol: 0 });
  });

  it('leaves an If whose condition depends on inputs (control-flow fixture), outputs identical', async () => {
    const m = buildControlFlow();
    const before = clone(m);
    expect(inlineConstantIfs(m)).toBe(0);
    const r = pruneGraph(m);
    verify(m);
    expect(r.inlinedIfs).toBe(0);
    expect(ops(m)).toContain('If');
    expect(ops(m)).toContain('Loop');
    await expectSameOutputs(before, clone(m), { dims: { batch: 2 }, rtol: 0, atol: 0, sets: 3 });
  });
});
