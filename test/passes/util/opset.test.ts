import { describe, expect, it } from 'vitest';
import { createModel, ints, scalar } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { f } from '../../../src/ir/graph.js';
import { minIrVersion, opsetBlockers, raiseOpset } from '../../../src/passes/util/opset.js';

const F = DataType.FLOAT;

describe('raising the default opset', () => {
  it('names the nodes whose schema changed between the two versions, and only those', () => {
    const { model, b } = createModel({ opset: 11, irVersion: 6 });
    const x = b.input('x', F, [2, 3, 4]);
    b.output(b.op('Unsqueeze', [x], { axes: [0] }), 'u', F); // changes at 13
    b.output(b.op('ReduceMean', [x], { axes: [-1] }), 'r', F); // changes at 18
    b.output(b.op('Softmax', [x], { axis: -1 }), 's', F); // same meaning at 13
    b.output(b.op('Softmax', [x], { axis: 1 }), 's1', F); // flatten-from-1 at 11, one axis at 13
    b.output(b.op('Clip', [x, b.const('lo', scalar(0)), b.const('hi', scalar(6))]), 'c', F); // opset-11 form already
    b.output(b.op('Split', [x], { axis: 0 }, { outputs: 2 }), 's2', F);
    const at = (to: number) => opsetBlockers(model, to).map((bl) => bl.node.opType);
    expect(at(12)).toEqual([]);
    expect(at(13)).toEqual(['Unsqueeze', 'Softmax']);
    expect(at(17)).toEqual(['Unsqueeze', 'Softmax']);
    expect(at(18)).toEqual(['Unsqueeze', 'ReduceMean', 'Softmax', 'Split']);
    expect(opsetBlockers(model, 13)[1].reason).toMatch(/axis 1 as "flatten from here" before Softmax-13/);
  });

  it('sees old forms inside subgraphs and ignores other domains', () => {
    const { model, b } = createModel({ opset: 12, irVersion: 7 });
    const cond = b.input('c', DataType.BOOL, []);
    const then = createModel().b;
    then.output(then.op('Squeeze', [then.const('t', ints([1]))], { axes: [0] }), 't_out');
    const els = createModel().b;
    els.output(els.op('Identity', [els.const('e', ints([2]))]), 'e_out');
    b.output(b.op('If', [cond], { then_branch: then.graph, else_branch: els.graph }), 'y');
    b.output(b.op('Clip', [b.input('x', F, [2])], { min: f(0) }, { domain: 'custom' }), 'z');
    expect(opsetBlockers(model, 14).map((bl) => bl.node.opType)).toEqual(['Squeeze']);
  });

  it('raises the IR version with the opset, never lowers either', () => {
    const { model } = createModel({ opset: 14, irVersion: 7 });
    raiseOpset(model, 20);
    expect([model.opset(), model.irVersion]).toEqual([20, 9]);
    raiseOpset(model, 17);
    expect([model.opset(), model.irVersion]).toEqual([20, 9]);
    expect([13, 15, 19, 21, 23].map(minIrVersion)).toEqual([7, 8, 9, 10, 11]);
  });
});
