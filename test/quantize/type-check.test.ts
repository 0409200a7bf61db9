import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModel, floatTensor, ints, subgraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { float32ToFloat16 } from '../../src/ir/float-codecs.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { loadModel } from '../../src/onnx/io.js';
import { checkTypes, inferElemTypes } from '../../src/quantize/type-check.js';

const F16 = DataType.FLOAT16;
const F32 = DataType.FLOAT;
const fixtures = path.resolve(__dirname, '../../fixtures');
const half = (dims: number[], v: number[]) => Tensor.fromArray(F16, dims, float32ToFloat16(Float32Array.from(v)));

describe('type inference and the type-consistency checker', () => {
  it.each(['bert-tiny.onnx', 'cnn-small.onnx', 'control-flow.onnx', 'paddle-style.onnx', 'external/mlp.onnx'])('%s is consistent', (f) => {
    const m = loadModel(path.join(fixtures, f));
    expect(checkTypes(m)).toEqual([]);
    const types = inferElemTypes(m);
    // every node output of the fixtures gets a type
    for (const n of m.allNodes()) for (const o of n.outputs) if (o) expect(types.get(o), `${n.label} -> ${o.name}`).toBeDefined();
  });

  it('infers through attributes, Constant values, control flow and schema variables', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.INT64, [2]);
    const f = b.op('Cast', [x], { to: F32 });
    const c = b.op('ConstantOfShape', [x]);
    const h = b.op('ConstantOfShape', [x], { value: half([1], [1]) });
    const k = b.constantNode(floatTensor([2], [1, 2]));
    const s = b.op('Shape', [f]);
    const then = subgraph('then');
    then.output(then.op('Add', [f, k]));
    const els = subgraph('else');
    els.output(els.op('Sub', [f, k]));
    const cond = b.op('Greater', [b.op('ReduceSum', [f], { keepdims: 0 }), b.const('zero', floatTensor([], [0]))]);
    const y = b.op('If', [cond], { then_branch: then.graph, else_branch: els.graph });
    for (const v of [c, h, s, y]) b.output(v);
    const t = inferElemTypes(model);
    expect([t.get(f), t.get(c), t.get(h), t.get(k), t.get(s), t.get(cond), t.get(y)]).toEqual([F32, F32, F16, F32, DataType.INT64, DataType.BOOL, F32]);
    expect(checkTypes(model)).toEqual([]);
  });

  it('reports mixed types under one variable, disallowed and fixed types', () => {
    const { model, b } = createModel({ opset: 13 });
    const x = b.input('x', F16, [1, 2, 4, 4]);
    const w = b.init('w', floatTensor([4, 4], new Float32Array(16)));
    b.output(b.op('MatMul', [x, w]), 'y');
    const r = b.op('Range', [b.const('s', half([], [0])), b.const('l', half([], [4])), b.const('d', half([], [1]))]);
    b.output(r, 'r');
    const sc = b.init('scales', half([4], [1, 1, 2, 2]));
    b.output(b.op('Resize', [x, null, sc]), 'z');
    const p = checkTypes(model);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/MatMul.*input 1 'w' is float32 but T is float16 \(bound by input 0 'x'\)/),
        expect.stringMatching(/Range.*input 0 's' is float16, which T of Range-11 does not allow/),
        expect.stringMatching(/Resize.*input 2 'scales' is float16 but Resize requires tensor\(float\)/),
      ]),
    );
  });

  it('reports declared types that disagree with what produces them', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', F32, [2]);
    const y = b.op('Cast', [x], { to: F16 });
    y.type = tensorType(F32, [2]); // stale value_info
    b.output(b.op('Relu', [y]), 'out', F16, [2]);
    const w = b.init('w', floatTensor([2], [1, 2]));
    w.type = tensorType(F16, [2]);
    b.output(b.op('Add', [x, w]), 'sum', F32, [2]);
    const inp = model.graph.addInput('opt', tensorType(F32, [2]));
    model.graph.addInitializer('opt', half([2], [0, 0]));
    b.output(b.op('Mul', [x, inp]), 'prod', F32, [2]);
    const p = checkTypes(model);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Cast.*output 0 '.*' is declared float32 but produced as float16/),
        expect.stringMatching(/initializer 'w' holds float32 but is declared float16/),
        expect.stringMatching(/input 'opt' is declared float32 but its initializer holds float16/),
      ]),
    );
  });

  it('reports If branches and loop-carried values that change type', () => {
    const { model, b } = createModel({ opset: 16 });
    const x = b.input('x', F32, [2]);
    const then = subgraph('then');
    then.output(then.op('Cast', [x], { to: F16 }));
    const els = subgraph('else');
    els.output(els.op('Neg', [x]));
    const cond = b.input('c', DataType.BOOL, []);
    b.output(b.op('If', [cond], { then_branch: then.graph, else_branch: els.graph }), 'y');
    const body = subgraph('body');
    body.input('i', DataType.INT64, []);
    const bc = body.input('cond_in', DataType.BOOL, []);
    const s = body.input('s', F32, [2]);
    body.output(body.op('Identity', [bc]));
    body.output(body.op('Cast', [s], { to: F16 }));
    const [fin] = b.ops('Loop', [b.const('n', ints([2])), null, x], 1, { body: body.graph });
    b.output(fin, 'fin');
    const p = checkTypes(model);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/If.*output 0 is float16 in then_branch but float32 in else_branch/),
        expect.stringMatching(/Loop.*loop-carried value 0 enters the body as float32 but leaves as float16/),
      ]),
    );
  });
});
