import { describe, expect, it } from 'vitest';
import { createModel, floatTensor, subgraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { expectNoChange, expectPass, ops, run, clone } from './helpers.js';

const F = DataType.FLOAT;

describe('eliminate-dead-nodes', () => {
  it('removes chains that reach no output, with the initializers only they read', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [3]);
    const w = b.init('w', floatTensor([3], [1, 2, 3]));
    const shared = b.op('Relu', [x]);
    b.op('Mul', [b.op('Neg', [shared]), w]); // dead chain: Neg, Mul
    b.output(b.op('Abs', [shared]), 'y', F, [3]);
    const { model: after } = await expectPass('eliminate-dead-nodes', model, { nodes: 2, initializers: 1 });
    expect(ops(after)).toEqual(['Relu', 'Abs']);
  });

  it('keeps a producer read only from inside a subgraph, and cleans the subgraph itself', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2]);
    const cond = b.input('cond', DataType.BOOL, []);
    const captured = b.op('Neg', [x]);
    const freedOuter = b.op('Sigmoid', [x]); // read only by a dead node inside the branch
    const t = subgraph('then');
    t.op('Tanh', [freedOuter], {}, { name: 't_dead' });
    t.output(t.op('Relu', [captured], {}, { name: 't_relu' }), 't_out', F, [2]);
    const e = subgraph('else');
    e.output(e.op('Abs', [x], {}, { name: 'e_abs' }), 'e_out', F, [2]);
    b.output(b.op('If', [cond], { then_branch: t.graph, else_branch: e.graph }), 'y', F, [2]);
    const { model: after } = await expectPass('eliminate-dead-nodes', model, { nodes: 2 });
    expect(ops(after)).toEqual(['Neg', 'If']);
    expect(after.graph.nodes[1].subgraphs()[0].nodes.map((n) => n.opType)).toEqual(['Relu']);
  });

  it('keeps subgraph outputs whose If output is unused, and ops of unknown domains', () => {
    const { model, b } = createModel({ opset: 17, domains: { 'my.custom': 1 } });
    const x = b.input('x', F, [2]);
    const cond = b.input('cond', DataType.BOOL, []);
    const t = subgraph('then');
    t.output(t.op('Relu', [x], {}, { name: 't_relu' }), 't_out', F, [2]);
    const e = subgraph('else');
    e.output(e.op('Abs', [x], {}, { name: 'e_abs' }), 'e_out', F, [2]);
    const [yIf, unusedIf] = b.ops('If', [cond], 2, { then_branch: t.graph, else_branch: e.graph });
    void unusedIf;
    b.output(yIf, 'y');
    t.output(t.op('Neg', [x], {}, { name: 't_neg' }), 't_out2', F, [2]);
    e.output(e.op('Neg', [x], {}, { name: 'e_neg' }), 'e_out2', F, [2]);
    b.node('Log', [x], {}, { domain: 'my.custom' }); // unknown domain: may have effects
    expectNoChange('eliminate-dead-nodes', model);
  });

  it('removes unused graph inputs only when asked, in the main graph', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2]);
    b.input('unused', F, [2]);
    const withDefault = b.graph.addInput('opt', undefined);
    b.graph.addInitializer('opt', floatTensor([2], [0, 0]));
    void withDefault;
    b.output(b.op('Relu', [x]), 'y');
    expectNoChange('eliminate-dead-nodes', model);
    const m = clone(model);
    const { result } = run('eliminate-dead-nodes', m, { 'eliminate-dead-nodes': { removeUnusedInputs: true } });
    expect(result.counts).toEqual({ inputs: 2 });
    expect(m.graph.inputs.map((v) => v.name)).toEqual(['x']);
    expect(m.graph.initializers.size).toBe(0);
  });

  it('removes dead nodes inside function bodies, keeping the function outputs', async () => {
    const { model, b } = createModel({ opset: 17, domains: { local: 1 } });
    const { Graph } = await import('../../src/ir/graph.js');
    const { ModelFunction } = await import('../../src/ir/model.js');
    const body = new Graph('F');
    const fx = body.addInput('fx');
    body.addNode('Neg', [fx]); // dead
    body.addOutput(body.addNode('Relu', [fx]).output(0));
    const fn = new ModelFunction('F', 'local', body);
    fn.opsetImports = [{ domain: '', version: 17 }];
    model.functions.push(fn);
    b.output(b.op('F', [b.input('x', F, [2])], {}, { domain: 'local' }), 'y', F, [2]);
    const { model: after } = await expectPass('eliminate-dead-nodes', model, { nodes: 1 });
    expect(after.functions[0].graph.nodes.map((n) => n.opType)).toEqual(['Relu']);
  });
});
