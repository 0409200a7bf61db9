import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModel, floatTensor, int32Tensor, scalar, subgraph } from '../../src/ir/builder.js';
import { loadModel, saveModel } from '../../src/onnx/io.js';
import { runPasses } from '../../src/optimize/registry.js';
import { Rng } from '../../src/util/rng.js';
import { expectSameOutputs } from '../helpers/equivalence.js';
import { DataType } from '../../src/ir/dtype.js';
import { Attribute } from '../../src/ir/graph.js';
import { expectNoChange, expectPass, ops } from './helpers.js';

const F = DataType.FLOAT;

/**
 * Large constants are bucketed by a hash of 16 sampled 4 KiB windows: `near` equals `a` in every sampled window and
 * differs in one element between windows 0 and 1, so it shares a's bucket and only the whole comparison tells them
 * apart; `copy` equals `a`.
 */
function largeModel() {
  const n = 100_000; // 400 KB, above the 256 KiB hashed whole
  const a = new Rng(5).fillNormal(new Float32Array(n), 0.1);
  const copy = a.slice();
  const near = a.slice();
  const between = Math.floor((4096 + Math.floor((n * 4 - 4096) / 15)) / 2 / 4); // an element between windows 0 and 1
  near[between] += 1;
  const { model, b } = createModel();
  const x = b.input('x', F, [2, n]);
  const y = b.op('Add', [
    b.op('Add', [b.op('Add', [x, b.init('a', floatTensor([n], a))]), b.init('copy', floatTensor([n], copy))]),
    b.init('near', floatTensor([n], near)),
  ]);
  b.output(y, 'y', F, [2, n]);
  return model;
}

describe('eliminate-duplicate-initializers', () => {
  it('large constants: sampled buckets, whole comparison; equal ones merged, a near twin kept (in memory)', async () => {
    const { model: after } = await expectPass('eliminate-duplicate-initializers', largeModel(), { merged: 1 });
    expect([...after.graph.initializers.keys()]).toEqual(['a', 'near']);
  });

  it('large constants still in the model file are compared without being loaded', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-dedupe-'));
    try {
      const file = path.join(dir, 'm.onnx');
      saveModel(largeModel(), file);
      const m = loadModel(file);
      const r = runPasses(m, ['eliminate-duplicate-initializers'], { verify: true });
      expect(r.passes.find((p) => p.name === 'eliminate-duplicate-initializers')?.counts).toEqual({ merged: 1 });
      expect([...m.graph.initializers.values()].map((v) => [v.name, v.initializer!.isLoaded])).toEqual([
        ['a', false],
        ['near', false],
      ]);
      await expectSameOutputs(loadModel(file), m, { rtol: 0, atol: 0 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merges byte-equal initializers and Constant nodes into the first initializer', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [3]);
    const w1 = b.init('w1', floatTensor([3], [1, 2, 3]));
    const w2 = b.init('w2', floatTensor([3], [1, 2, 3]));
    const w3 = b.constantNode(floatTensor([3], [1, 2, 3]));
    const other = b.init('other', floatTensor([3], [1, 2, 4]));
    const y = b.op('Add', [b.op('Mul', [b.op('Add', [x, w1]), w2]), b.op('Sub', [w3, other])]);
    b.output(y, 'y', F, [3]);
    const { model: after } = await expectPass('eliminate-duplicate-initializers', model, { merged: 2 });
    expect([...after.graph.initializers.keys()]).toEqual(['w1', 'other']);
    expect(ops(after)).toEqual(['Add', 'Mul', 'Sub', 'Add']);
    expect(after.graph.nodes[1].inputs[1]!.name).toBe('w1');
  });

  it('merges a value_float Constant with an equal scalar initializer', async () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2]);
    const k = b.init('k', scalar(0.5));
    const c = b.graph.addNode('Constant', [], [Attribute.float('value_float', 0.5)]).output(0);
    b.output(b.op('Add', [b.op('Mul', [x, k]), c]), 'y', F, [2]);
    await expectPass('eliminate-duplicate-initializers', model, { merged: 1 });
  });

  it('does not merge equal bytes of different types or shapes, overridable inputs, or graph outputs', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2]);
    const f = b.init('f', floatTensor([2], [0, 0]));
    const i = b.init('i', int32Tensor([2], [0, 0])); // same bytes, other type
    const f2 = b.init('f2', floatTensor([1, 2], [0, 0])); // other shape
    const over = b.graph.addInput('over', undefined);
    b.graph.addInitializer('over', floatTensor([2], [0, 0])); // a graph input with a default: the user may feed it
    b.output(b.op('Add', [b.op('Add', [x, f]), b.op('Add', [f2, over])]), 'y');
    b.output(b.op('Cast', [i], { to: F }), 'z');
    const cOut = b.constantNode(floatTensor([2], [0, 0]), 'const_out');
    b.output(cOut, 'k');
    expectNoChange('eliminate-duplicate-initializers', model);
  });

  it('merges a duplicate inside an If branch into the outer constant it can see', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F, [2]);
    const cond = b.input('cond', DataType.BOOL, []);
    const w = b.init('w', floatTensor([2], [3, 4]));
    const t = subgraph('then');
    const tw = t.graph.addInitializer('tw', floatTensor([2], [3, 4]));
    t.output(t.op('Mul', [x, tw], {}, { name: 't_mul' }), 'then_out', F, [2]);
    const e = subgraph('else');
    const ew = e.constantNode(floatTensor([2], [3, 4]), 'ew');
    e.output(e.op('Sub', [x, ew], {}, { name: 'e_sub' }), 'else_out', F, [2]);
    b.output(b.op('Add', [b.op('If', [cond], { then_branch: t.graph, else_branch: e.graph }), w]), 'y', F, [2]);
    const { model: after } = await expectPass('eliminate-duplicate-initializers', model, { merged: 2 });
    const [tg, eg] = after.graph.nodes[0].subgraphs();
    expect(tg.initializers.size).toBe(0);
    expect(eg.nodes.map((n) => n.opType)).toEqual(['Sub']);
    expect(tg.nodes[0].inputs[1]!.name).toBe('w');
  });
});
