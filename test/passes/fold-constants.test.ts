import { describe, expect, it } from 'vitest';
import { boolTensor, createModel, floatTensor, int64Tensor, ints, scalar, subgraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { Graph } from '../../src/ir/graph.js';
import { ModelFunction } from '../../src/ir/model.js';
import { constantOf } from '../../src/rewrite/constant.js';
import { expectNoChange, expectPass, ops, run, clone } from './helpers.js';

const F = DataType.FLOAT;

describe('fold-constants', () => {
  it('folds chains of constant arithmetic into initializers named after the values', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [3]);
    const a = b.init('a', floatTensor([3], [1, 2, 3]));
    const s = b.op('Sqrt', [b.op('Add', [a, b.const('one', scalar(1))], {}, { name: 'plus' })], {}, { name: 'root' });
    b.output(b.op('Mul', [x, s]), 'y', F, [3]);
    const { model: after } = await expectPass('fold-constants', model, { folded: 2 });
    expect(ops(after)).toEqual(['Mul']);
    expect([...after.graph.initializers.keys()]).toEqual(['root_out']);
    expect(Array.from(constantOf(after.graph.nodes[0].inputs[1])!.toFloat32())).toEqual([Math.SQRT2, Math.sqrt(3), 2].map(Math.fround));
  });

  it('folds shape arithmetic on int64 constants and Shape of a static input', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2, 3, 4]);
    const shp = b.op('Shape', [x]);
    const last = b.op('Gather', [shp, b.const('i', int64Tensor([], [2]))], { axis: 0 });
    const newShape = b.op('Concat', [b.const('m1', ints([-1])), b.op('Unsqueeze', [last, b.const('ax', ints([0]))])], { axis: 0 });
    b.output(b.op('Reshape', [x, newShape]), 'y', F, [6, 4]);
    const { model: after } = await expectPass('fold-constants', model, { shapes: 1, folded: 3 });
    expect(ops(after)).toEqual(['Reshape']);
    expect(constantOf(after.graph.nodes[0].inputs[1])!.toNumbers()).toEqual([-1, 4]);
  });

  it('honours Shape-15 start/end and never folds Shape of a dynamic shape', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2, 3, 4]);
    const d = b.input('d', F, ['n', 4]);
    b.output(b.op('Shape', [x], { start: 1, end: -1 }), 'tail', DataType.INT64, [1]);
    b.output(b.op('Shape', [d]), 'dyn', DataType.INT64, [2]);
    const { model: after } = await expectPass('fold-constants', model, { shapes: 1 }, { equivalence: { dims: { n: 5 } } });
    // the folded graph output is a Constant node under the output's own name
    expect(ops(after)).toEqual(['Constant', 'Shape']);
    expect(after.graph.outputs.map((v) => v.name)).toEqual(['tail', 'dyn']);
    expect(constantOf(after.graph.outputs[0])!.toNumbers()).toEqual([3]);
  });

  it("folds integer shape arithmetic whose result is static on a dynamic shape (torch's sqrt(v.size(-1)))", async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, ['batch', 4, 'seq', 16]);
    const t = b.op('Transpose', [x], { perm: [0, 2, 1, 3] }); // untyped: [batch, seq, 4, 16] by inference
    const last = b.op('Squeeze', [
      b.op('Slice', [b.op('Shape', [t]), b.const('s', ints([-1])), b.const('e', ints([2 ** 53])), b.const('a', ints([0]))]),
      b.const('ax', ints([0])),
    ]);
    const scale = b.op('Pow', [b.op('Cast', [last], { to: F }), b.const('half', scalar(0.5))]);
    const seq = b.op('Gather', [b.op('Shape', [t]), b.const('i', int64Tensor([], [1]))], { axis: 0 }); // dynamic: stays
    b.output(b.op('Div', [t, scale]), 'y', F, ['batch', 'seq', 4, 16]);
    b.output(seq, 'n', DataType.INT64, []);
    const { model: after } = await expectPass('fold-constants', model, { shapes: 1, folded: 3 }, { equivalence: { dims: { batch: 2, seq: 3 } } });
    expect(ops(after)).toEqual(['Transpose', 'Shape', 'Gather', 'Div']);
    expect(constantOf(after.graph.nodes[3].inputs[1])!.toNumbers()).toEqual([4]);
  });

  it('skips non-deterministic ops, ops holding subgraphs and non-constant inputs', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2]);
    const c = b.const('c', floatTensor([2], [1, 2]));
    b.output(b.op('RandomNormalLike', [c]), 'r');
    b.output(b.op('Add', [x, c]), 'y');
    const cond = b.const('cond', boolTensor([], [true]));
    const t = subgraph('then');
    t.output(t.op('Neg', [c], {}, { name: 't_neg' }), 't_out');
    const e = subgraph('else');
    e.output(e.op('Abs', [c], {}, { name: 'e_abs' }), 'e_out');
    b.output(b.op('If', [cond], { then_branch: t.graph, else_branch: e.graph }), 'z');
    const ran = run('fold-constants', clone(model));
    // the branches' own nodes fold (c is visible in them), the If itself does not
    expect(ran.result.counts).toEqual({ folded: 2 });
    expect(ops(ran.model)).toEqual(['RandomNormalLike', 'Add', 'If']);
  });

  it('caps the size of what it produces', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [1000]);
    // Tile makes 4000 bytes from 8 + 8: over 2x its inputs
    const tiled = b.op('Tile', [b.const('c', floatTensor([1], [0.5])), b.const('reps', ints([1000]))], {}, { name: 'tile' });
    b.output(b.op('Mul', [x, tiled]), 'y', F, [1000]);
    const { nearMisses } = expectNoChange('fold-constants', model);
    expect(nearMisses[0]).toMatchObject({ pass: 'fold-constants', node: 'tile' });
    expect(nearMisses[0].reason).toMatch(/over 2x its constant inputs/);
    // a larger ratio lets it through, and maxFoldBytes (per pass or flat) stops it again
    expect(run('fold-constants', clone(model), { maxFoldRatio: 1000 }).result.counts).toEqual({ folded: 1 });
    const capped = run('fold-constants', clone(model), { 'fold-constants': { maxFoldRatio: 1000, maxFoldBytes: 1024 } });
    expect(capped.result.counts).toEqual({});
    expect(capped.nearMisses[0].reason).toMatch(/over maxFoldBytes \(1024/);
  });

  it('does not even compute an output known statically to be over maxFoldBytes', () => {
    const { model, b } = createModel({ opset: 17 });
    const big = b.op('ConstantOfShape', [b.const('s', ints([1024, 1024]))], {}, { name: 'big' }); // 4 MiB of float zeros
    b.output(b.op('ReduceSum', [big], { keepdims: 0 }), 'y');
    const { nearMisses } = expectNoChange('fold-constants', model);
    expect(nearMisses.map((m) => m.node)).toEqual(['big']);
  });

  it('folds inside If branches using outer constants, and in function bodies as Constant nodes', async () => {
    const { model, b } = createModel({ opset: 17, domains: { local: 1 } });
    const x = b.input('x', F, [2]);
    const cond = b.input('cond', DataType.BOOL, []);
    const k = b.init('k', floatTensor([2], [4, 9]));
    const t = subgraph('then');
    t.output(t.op('Mul', [x, t.op('Sqrt', [k], {}, { name: 't_sqrt' })], {}, { name: 't_mul' }), 't_out', F, [2]);
    const e = subgraph('else');
    e.output(e.op('Neg', [x], {}, { name: 'e_neg' }), 'e_out', F, [2]);
    const ifOut = b.op('If', [cond], { then_branch: t.graph, else_branch: e.graph });
    const body = new Graph('F');
    const fx = body.addInput('fx');
    const two = body.addNode('Constant', [], { value: scalar(2) }).output(0);
    const four = body.addNode('Mul', [two, two]).output(0);
    body.addOutput(body.addNode('Add', [fx, four]).output(0));
    const fn = new ModelFunction('F', 'local', body);
    fn.opsetImports = [{ domain: '', version: 17 }];
    model.functions.push(fn);
    b.output(b.op('F', [ifOut], {}, { domain: 'local' }), 'y', F, [2]);
    const { model: after } = await expectPass('fold-constants', model, { folded: 2 });
    const [tg] = after.graph.nodes[0].subgraphs();
    expect(tg.nodes.map((n) => n.opType)).toEqual(['Mul']);
    expect(tg.initializers.size).toBe(1);
    expect(after.functions[0].graph.nodes.map((n) => n.opType)).toEqual(['Constant', 'Add']);
    expect(constantOf(after.functions[0].graph.nodes[1].inputs[1])!.toFloat32()[0]).toBe(4);
  });

  it('skips what onnxruntime refuses and folds the rest', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2]);
    const c = b.const('c', floatTensor([2], [1, 2]));
    // a made-up operator in the default domain: the batch fails, each node is retried alone
    b.output(b.op('NoSuchOp', [c], {}, { name: 'bogus' }), 'bad');
    b.output(b.op('Add', [x, b.op('Neg', [c], {}, { name: 'neg' })]), 'y');
    const ran = run('fold-constants', clone(model));
    expect(ran.result.counts).toEqual({ folded: 1 });
    expect(ran.nearMisses.map((m) => m.node)).toEqual(['bogus']);
    expect(ran.nearMisses[0].reason).toMatch(/onnxruntime cannot evaluate it/);
  });
});
