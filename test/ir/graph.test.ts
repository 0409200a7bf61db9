import { describe, expect, it } from 'vitest';
import { checkModel, createModel, DataType, floatTensor, IRError, subgraph, verify, boolTensor, Tensor } from '../../src/index.js';

function chain() {
  const { model, b, graph } = createModel();
  const x = b.input('x', DataType.FLOAT, [2]);
  const r = b.op('Relu', [x], {}, { name: 'relu' });
  const n = b.op('Neg', [r], {}, { name: 'neg' });
  const a = b.op('Add', [r, n], {}, { name: 'add' });
  b.output(a, 'y');
  return { model, b, graph, x, r, n, a };
}

describe('def-use chains', () => {
  it('records producers and uses, and keeps them current under mutation', () => {
    const { graph, x, r, n, a } = chain();
    expect(r.producer?.name).toBe('relu');
    expect(r.uses.map((u) => `${u.node.name}#${u.index}`)).toEqual(['neg#0', 'add#0']);
    // replace r by x everywhere
    r.replaceAllUsesWith(x);
    expect(r.uses).toHaveLength(0);
    expect(x.uses.map((u) => u.node.name).sort()).toEqual(['add', 'neg', 'relu']);
    graph.removeNode(r.producer!);
    expect(graph.nodes.map((nd) => nd.name)).toEqual(['neg', 'add']);
    expect(x.uses.map((u) => u.node.name).sort()).toEqual(['add', 'neg']);
    void n;
    void a;
  });

  it('refuses to remove a node whose output is still used or is a graph output', () => {
    const { graph, r, a } = chain();
    expect(() => graph.removeNode(r.producer!)).toThrow(/still used by neg, add/);
    expect(() => graph.removeNode(a.producer!)).toThrow(/graph output/);
    expect(() => graph.removeNodes([r.producer!])).toThrow(IRError);
    // removing the whole chain at once is fine once the output moves
    graph.setOutput(0, graph.inputs[0]);
    graph.removeNodes(graph.nodes);
    expect(graph.nodes).toHaveLength(0);
    expect(graph.inputs[0].uses).toHaveLength(0);
  });

  it('hands out fresh names that never collide', () => {
    const { graph } = chain();
    const a = graph.freshName('relu');
    const b2 = graph.freshName('relu');
    expect(new Set(['relu', a, b2]).size).toBe(3);
    expect(graph.freshName('brand_new')).toBe('brand_new');
  });
});

describe('subgraphs', () => {
  function ifModel() {
    const { model, b, graph } = createModel();
    const x = b.input('x', DataType.FLOAT, [2]);
    const outer = b.op('Relu', [x], {}, { name: 'outer' });
    const thenB = subgraph('then');
    thenB.output(thenB.op('Neg', [outer], {}, { name: 'inner_neg' }), 't');
    const elseB = subgraph('else');
    elseB.output(elseB.op('Abs', [x], {}, { name: 'inner_abs' }), 'e');
    const cond = b.init('c', boolTensor([], [true]));
    const y = b.op('If', [cond], { then_branch: thenB.graph, else_branch: elseB.graph }, { name: 'if' });
    b.output(y, 'y');
    return { model, graph, outer, x, thenG: thenB.graph };
  }

  it('sees captured outer values as uses and sorts the If after their producer', () => {
    const { model, graph, outer, thenG } = ifModel();
    expect(outer.uses.map((u) => u.node.name)).toEqual(['inner_neg']);
    expect(thenG.parentNode?.name).toBe('if');
    expect([...thenG.capturedValues()]).toEqual([outer]);
    // move the If before its captured producer: verify complains, sorting fixes it
    const ifNode = graph.nodes.find((n) => n.name === 'if')!;
    const relu = graph.nodes.find((n) => n.name === 'outer')!;
    graph.removeNode(ifNode, { force: true });
    // re-add at the front by rebuilding: nodes are objects, reinsert the same node
    ifNode.setInputs([graph.initializers.get('c')!]);
    for (const sg of ifNode.subgraphs()) sg.nodes.forEach((n) => n.setInputs(n.opType === 'Neg' ? [outer] : [graph.inputs[0]]));
    graph.insertBefore(ifNode, relu);
    expect(checkModel(model).some((p) => p.includes('not defined before'))).toBe(true);
    graph.sortTopologically();
    verify(model);
    expect(graph.nodes.map((n) => n.name)).toEqual(['outer', 'if']);
  });

  it('releases captured uses when the holding node is removed', () => {
    const { graph, outer, x } = ifModel();
    const ifNode = graph.nodes.find((n) => n.name === 'if')!;
    graph.setOutput(0, outer);
    graph.removeNode(ifNode);
    expect(outer.uses).toHaveLength(0);
    expect(x.uses.map((u) => u.node.name)).toEqual(['outer']);
  });

  it('detects a cycle', () => {
    const { graph, r, n } = chain();
    r.producer!.setInput(0, n);
    expect(() => graph.sortTopologically()).toThrow(/cycle/);
  });
});

describe('verify', () => {
  it('passes on a consistent model and reports broken invariants', () => {
    const { model, graph } = chain();
    verify(model);
    const w = graph.addInitializer('w', floatTensor([2], [1, 2]));
    graph.addNode('Mul', [graph.inputs[0], w], {}, { name: 'mul', before: graph.nodes[0] });
    verify(model);
    // a node reading a value defined after it
    const last = graph.nodes[graph.nodes.length - 1];
    graph.nodes[0].setInput(0, last.output(0));
    expect(() => verify(model)).toThrow(/not defined before/);
  });

  it('tensor helpers give typed views and non-zero counts', () => {
    const t = floatTensor([2, 2], [0, -0, 1.5, 0]);
    expect(t.countNonZero()).toBe(1);
    expect(t.byteLength).toBe(16);
    const h = Tensor.fromArray(DataType.FLOAT16, [3], new Uint16Array([0x3c00, 0x8000, 0]));
    expect(Array.from(h.toFloat32())).toEqual([1, -0, 0]);
    expect(h.countNonZero()).toBe(1);
    const i4 = Tensor.fromRaw(DataType.INT4, [3], new Uint8Array([0xf1, 0x07]));
    expect(i4.byteLength).toBe(2);
    expect(Array.from(i4.toFloat32())).toEqual([1, -1, 7]);
  });
});

describe('names across scopes', () => {
  it('renames clashing auto-generated names when a separately built subgraph is attached', () => {
    const { model, b } = createModel();
    const x = b.input('x', DataType.FLOAT, [2]);
    const n1 = b.op('Neg', [x]);
    const sub = subgraph('then');
    const inner = sub.op('Neg', [n1]);
    sub.output(inner);
    const els = subgraph('else');
    els.output(els.op('Neg', [x]));
    const c = b.init('c', boolTensor([], [false]));
    b.output(b.op('If', [c], { then_branch: sub.graph, else_branch: els.graph }), 'y');
    verify(model);
    const all = [...model.graph.allNodes()].flatMap((n) => n.outputs.map((o) => o!.name));
    expect(new Set(all).size).toBe(all.length);
  });
});
