import { describe, expect, it } from 'vitest';
import { createModel, subgraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { clone, expectNoChange, expectPass, ops, run } from './helpers.js';

const F = DataType.FLOAT;

describe('eliminate-identity', () => {
  it('removes Identity chains between nodes', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, ['n', 4]);
    const r = b.op('Relu', [x]);
    const i2 = b.op('Identity', [b.op('Identity', [r])]);
    b.output(b.op('Mul', [i2, x]), 'y', F, ['n', 4]);
    const { model: after } = await expectPass('eliminate-identity', model, { removed: 2 }, { equivalence: { dims: { n: 3 } } });
    expect(ops(after)).toEqual(['Relu', 'Mul']);
  });

  it('keeps the graph output name: the surviving value is renamed', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [4]);
    b.output(b.op('Identity', [b.op('Relu', [x])]), 'y', F, [4]);
    const { model: after } = await expectPass('eliminate-identity', model, { removed: 1 });
    expect(ops(after)).toEqual(['Relu']);
    expect(after.graph.outputs.map((v) => v.name)).toEqual(['y']);
    expect(after.graph.nodes[0].outputs[0]!.name).toBe('y');
  });

  it('keeps an Identity that passes a graph input to a graph output', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [4]);
    b.output(b.op('Identity', [x]), 'y', F, [4]);
    const { nearMisses } = expectNoChange('eliminate-identity', model);
    expect(nearMisses).toHaveLength(1);
    expect(nearMisses[0]).toMatchObject({ pass: 'eliminate-identity', rule: 'identity' });
    expect(nearMisses[0].reason).toMatch(/would become a graph input/);
  });

  it('keeps an Identity whose input is already another graph output', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [4]);
    const r = b.op('Relu', [x]);
    b.output(r, 'a', F, [4]);
    b.output(b.op('Identity', [r]), 'b', F, [4]);
    expect(expectNoChange('eliminate-identity', model).nearMisses[0].reason).toMatch(/already an output/);
  });

  it('works inside If branches and through captured values', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2, 3]);
    const cond = b.input('cond', DataType.BOOL, []);
    const shared = b.op('Identity', [b.op('Relu', [x])]); // read only inside the branches: a capture
    const thenB = subgraph('then');
    thenB.output(thenB.op('Identity', [thenB.op('Neg', [shared], {}, { name: 't_neg' })], {}, { name: 't_id' }), 'then_out', F, [2, 3]);
    const elseB = subgraph('else');
    // an Identity of an outer value straight to the branch output cannot go (the outer value would need renaming)
    elseB.output(elseB.op('Identity', [shared], {}, { name: 'e_id' }), 'else_out', F, [2, 3]);
    b.output(b.op('If', [cond], { then_branch: thenB.graph, else_branch: elseB.graph }), 'y', F, [2, 3]);
    const ran = await expectPass('eliminate-identity', model, { removed: 2 });
    expect(ops(ran.model)).toEqual(['Relu', 'If']);
    const [t, e] = ran.model.graph.nodes[1].subgraphs();
    expect(t.nodes.map((n) => n.opType)).toEqual(['Neg']);
    expect(t.outputs[0].name).toBe('then_out');
    expect(e.nodes.map((n) => n.opType)).toEqual(['Identity']);
    expect(ran.nearMisses.some((m) => /enclosing scope/.test(m.reason))).toBe(true);
  });

  it('repoints a subgraph output that is the removed value itself (an outer value used as a branch output)', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2]);
    const cond = b.input('cond', DataType.BOOL, []);
    const y = b.op('Identity', [b.op('Relu', [x])]);
    const thenB = subgraph('then');
    thenB.graph.addOutput(y); // the branch returns the outer value as it is
    const elseB = subgraph('else');
    elseB.output(elseB.op('Neg', [x], {}, { name: 'e_neg' }), 'else_out', F, [2]);
    b.output(b.op('If', [cond], { then_branch: thenB.graph, else_branch: elseB.graph }), 'out', F, [2]);
    // (onnxruntime refuses such branches, so this checks the IR only)
    const ran = run('eliminate-identity', clone(model));
    expect(ran.result.counts).toEqual({ removed: 1 });
    const [t] = ran.model.graph.nodes[1].subgraphs();
    expect(t.outputs[0]).toBe(ran.model.graph.nodes[0].outputs[0]);
  });

  it('is a no-op on a model without Identity', () => {
    const { model, b } = createModel();
    b.output(b.op('Relu', [b.input('x', F, [2])]), 'y');
    expect(run('eliminate-identity', clone(model)).result).toEqual({ modified: false, counts: {} });
  });
});
