/**
 * Rewrites keep what they do not own: every registered pass and preset, run over the committed fixtures, a
 * metadata-rich model built here and a few generated ones, must keep
 *
 *   - graph input and output names, in order, and their doc strings;
 *   - the model's metadata_props, doc string, producer, domain and model version; the graph's name and doc string;
 *   - every opset import it had (same domain; the version may only go up, which fusions do when a fused op needs
 *     it, e.g. LayerNormalization 17, Gelu 20 — only where every other node stays valid, see passes/util/opset.ts);
 *   - the name and doc string of every node it did not touch (a node with the same op, domain, inputs, outputs and
 *     attributes in the result), in the main graph, subgraphs and functions;
 *   - fields newer than autoglm's schema (kept as unknown fields) on the model, the graph and untouched nodes;
 *   - model-local functions.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createModel, floatTensor, ints, scalar, subgraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { AttrType, f, Graph, type Node } from '../../src/ir/graph.js';
import { ModelFunction, type Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes, loadModel } from '../../src/onnx/io.js';
import { decodeMessage, encodeMessageToBytes, type Msg } from '../../src/onnx/schema.js';
import { allPasses, presets } from '../../src/optimize/registry.js';
import { runPasses } from '../../src/optimize/registry.js';
import { Rng } from '../../src/util/rng.js';
import { generateModel } from '../fuzz/gen.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Bytes of a field number unknown to ONNX's schema (kept verbatim by autoglm's codec). */
function unknownField(no: number, text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const varint = (v: number) => {
    const out: number[] = [];
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.push(v);
    return out;
  };
  return Uint8Array.from([...varint((no << 3) | 2), ...varint(payload.length), ...payload]);
}

/** Every pattern a pass may rewrite, among named, documented nodes that no pass has a reason to touch. */
function metadataRich(): Uint8Array {
  const { model, b, graph } = createModel({ opset: 17, domains: { 'custom.fn': 1 } });
  const rng = new Rng(11);
  const w = (base: string, dims: number[], std = 0.3) =>
    b.init(base, floatTensor(dims, rng.fillNormal(new Float32Array(dims.reduce((a, c) => a * c, 1)), std)));
  model.docString = 'a model with everything worth keeping';
  model.domain = 'ai.autoglm.preserve';
  model.modelVersion = 42;
  model.producerName = 'preserve-test';
  model.producerVersion = '3.1.4';
  model.metadataProps = [
    { key: 'author', value: 'autoglm tests' },
    { key: 'license', value: 'MIT' },
    { key: 'unicode', value: 'naïve — ✓' },
  ];
  graph.docString = 'the main graph';
  const x = b.input('pixel_values', DataType.FLOAT, ['batch', 3, 6, 6]);
  x.docString = 'images';
  const t = b.input('tokens', DataType.FLOAT, ['batch', 4, 8]);
  t.docString = 'token features';
  const named = (v: ReturnType<typeof b.op>, doc: string) => {
    v.producer!.docString = doc;
    return v;
  };
  // conv + bn + relu + pool
  const conv = b.op(
    'Conv',
    [x, w('conv.weight', [4, 3, 3, 3]), w('conv.bias', [4])],
    { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    { name: '/stem/conv/Conv' },
  );
  const bn = b.op(
    'BatchNormalization',
    [conv, b.init('bn.scale', floatTensor([4], [1, 1.1, 0.9, 1])), w('bn.bias', [4]), w('bn.mean', [4]), b.init('bn.var', floatTensor([4], [1, 0.5, 2, 1]))],
    { epsilon: f(1e-5) },
    { name: '/stem/bn/BatchNormalization' },
  );
  const act = named(b.op('Relu', [bn], {}, { name: '/stem/act/Relu' }), 'stem activation');
  const pooled = named(b.op('GlobalAveragePool', [act], {}, { name: '/stem/pool/GlobalAveragePool' }), 'pooling');
  const flat = b.op('Flatten', [pooled], { axis: 1 }, { name: '/head/Flatten' });
  // identity / dropout chain, cast round trip, transposes that cancel
  const id1 = b.op('Identity', [flat], {}, { name: '/head/Identity' });
  const dr = b.op('Dropout', [id1, b.init('ratio', scalar(0.1))], {}, { name: '/head/Dropout' });
  const c1 = b.op('Cast', [dr], { to: DataType.DOUBLE }, { name: '/head/Cast' });
  const c2 = b.op('Cast', [c1], { to: DataType.FLOAT }, { name: '/head/Cast_1' });
  // matmul + add, duplicate initializers, a foldable constant expression
  const mm = b.op('MatMul', [c2, w('head.weight', [4, 5])], {}, { name: '/head/fc/MatMul' });
  const biasVals = [0.1, 0.2, 0.3, 0.4, 0.5];
  const fc = b.op('Add', [mm, b.init('head.bias', floatTensor([5], biasVals))], {}, { name: '/head/fc/Add' });
  const folded = b.op(
    'Mul',
    [b.init('k1', floatTensor([5], [1, 2, 3, 4, 5])), b.init('k2', floatTensor([5], [2, 2, 2, 2, 2]))],
    {},
    { name: '/head/const/Mul' },
  );
  const logits = named(
    b.op(
      'Add',
      [b.op('Add', [fc, folded], {}, { name: '/head/shift/Add' }), b.init('head.bias.copy', floatTensor([5], biasVals))],
      {},
      { name: '/head/out/Add' },
    ),
    'logits',
  );
  b.output(logits, 'logits', DataType.FLOAT, ['batch', 5]).docString = 'class scores';
  // decomposed LayerNorm, erf GELU, x * HardSigmoid(x), transpose pair on the token branch
  const mean = b.op('ReduceMean', [t], { axes: [-1] }, { name: '/enc/ln/ReduceMean' });
  const d = b.op('Sub', [t, mean], {}, { name: '/enc/ln/Sub' });
  const v = b.op('ReduceMean', [b.op('Pow', [d, b.init('two', scalar(2))], {}, { name: '/enc/ln/Pow' })], { axes: [-1] }, { name: '/enc/ln/ReduceMean_1' });
  const n = b.op(
    'Div',
    [d, b.op('Sqrt', [b.op('Add', [v, b.init('eps', scalar(1e-5))], {}, { name: '/enc/ln/Add' })], {}, { name: '/enc/ln/Sqrt' })],
    {},
    { name: '/enc/ln/Div' },
  );
  const ln = b.op('Add', [b.op('Mul', [n, w('ln.gamma', [8])], {}, { name: '/enc/ln/Mul' }), w('ln.beta', [8])], {}, { name: '/enc/ln/Add_1' });
  const half = b.op('Mul', [ln, b.init('half', scalar(0.5))], {}, { name: '/enc/gelu/Mul' });
  const erf = b.op('Erf', [b.op('Div', [ln, b.init('sqrt2', scalar(Math.SQRT2))], {}, { name: '/enc/gelu/Div' })], {}, { name: '/enc/gelu/Erf' });
  const gelu = b.op('Mul', [half, b.op('Add', [erf, b.init('one', scalar(1))], {}, { name: '/enc/gelu/Add' })], {}, { name: '/enc/gelu/Mul_1' });
  const hs = b.op('Mul', [gelu, b.op('HardSigmoid', [gelu], { alpha: f(1 / 6), beta: f(0.5) }, { name: '/enc/hs/HardSigmoid' })], {}, { name: '/enc/hs/Mul' });
  const tp = b.op('Transpose', [b.op('Transpose', [hs], { perm: [0, 2, 1] }, { name: '/enc/Transpose' })], { perm: [0, 2, 1] }, { name: '/enc/Transpose_1' });
  const enc = named(b.op('Tanh', [tp], {}, { name: '/enc/out/Tanh' }), 'encoder output');
  // an If whose branches have named nodes, and a call to a model-local function
  const cond = b.init('use_then', Tensor.fromArray(DataType.BOOL, [], new Uint8Array([1])));
  const th = subgraph('then_graph');
  const thOut = th.op('Neg', [enc], {}, { name: '/enc/if/then/Neg', outputs: ['then_out'] });
  thOut.producer!.docString = 'then branch';
  th.output(thOut, undefined, DataType.FLOAT, ['batch', 4, 8]);
  const el = subgraph('else_graph');
  el.output(el.op('Sigmoid', [enc], {}, { name: '/enc/if/else/Sigmoid', outputs: ['else_out'] }), undefined, DataType.FLOAT, ['batch', 4, 8]);
  const branched = b.op('If', [cond], { then_branch: th.graph, else_branch: el.graph }, { name: '/enc/if/If' });
  const fnGraph = new Graph('Twice');
  const fin = fnGraph.addInput('a');
  fnGraph.addOutput(fnGraph.addNode('Add', [fin, fin], {}, { name: 'twice/Add', outputs: ['twice_out'] }).output(0));
  const fn = new ModelFunction('Twice', 'custom.fn', fnGraph);
  fn.opsetImports = [{ domain: '', version: 17 }];
  fn.docString = 'adds a value to itself';
  model.functions.push(fn);
  const twice = named(b.op('Twice', [branched], {}, { name: '/enc/Twice', domain: 'custom.fn' }), 'function call');
  const shaped = b.op('Reshape', [twice, b.init('flat_shape', ints([0, -1]))], {}, { name: '/enc/Reshape' });
  b.output(shaped, 'encoded', DataType.FLOAT, ['batch', 32]).docString = 'token encoding';
  void AttrType;
  // fields newer than the schema, at three levels
  const msg = decodeMessage('ModelProto', encodeModel(model));
  msg.$unknown = [unknownField(26, 'model-level future field')];
  (msg.graph as Msg).$unknown = [unknownField(42, 'graph-level future field')];
  const nodes = (msg.graph as Msg).node as Msg[];
  const tanh = nodes.find((nm) => nm.name === '/enc/out/Tanh')!;
  tanh.$unknown = [unknownField(10, 'node-level future field')];
  return encodeMessageToBytes('ModelProto', msg);
}

// ------------------------------------------------------------------------------------------------ comparison

function attrKey(n: Node): string {
  return [...n.attributes.values()]
    .map((a) => {
      const v = a.value;
      let s: string;
      if (v instanceof Tensor) s = `T${v.dataType}[${v.dims}]${Buffer.from(v.rawBytes()).toString('base64').slice(0, 64)}`;
      else if (v instanceof Graph) s = `G${v.name}:${v.nodes.length}`;
      else if (Array.isArray(v))
        s = JSON.stringify(v.map((x) => (typeof x === 'bigint' ? String(x) : x instanceof Graph ? x.name : x instanceof Tensor ? x.name : x)));
      else s = typeof v === 'bigint' ? String(v) : JSON.stringify(v ?? null);
      return `${a.name}:${a.type}=${s}`;
    })
    .sort()
    .join(';');
}
/** What identifies a node that a rewrite left alone. */
function signature(n: Node): string {
  return [n.domain, n.opType, n.inputs.map((v) => v?.name ?? '').join(','), n.outputs.map((v) => v?.name ?? '').join(','), attrKey(n)].join('|');
}
function nodesOf(m: Model): Node[] {
  return [...m.allNodes()];
}

/** Problems with `after` against `before` (empty when everything that should be kept was). */
function preservationProblems(before: Model, after: Model, beforeBytes: Uint8Array): string[] {
  const p: string[] = [];
  const eq = (what: string, a: unknown, b: unknown) => {
    const sa = JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    const sb = JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    if (sa !== sb) p.push(`${what}: ${sa} -> ${sb}`);
  };
  eq(
    'input names',
    before.graph.inputs.map((v) => v.name),
    after.graph.inputs.map((v) => v.name),
  );
  eq(
    'output names',
    before.graph.outputs.map((v) => v.name),
    after.graph.outputs.map((v) => v.name),
  );
  eq(
    'input doc strings',
    before.graph.inputs.map((v) => v.docString),
    after.graph.inputs.map((v) => v.docString),
  );
  eq(
    'output doc strings',
    before.graph.outputs.map((v) => v.docString),
    after.graph.outputs.map((v) => v.docString),
  );
  // every entry kept as it was (a pass may add its own, e.g. autoglm.quantize)
  eq(
    'metadata_props',
    before.metadataProps,
    after.metadataProps.filter((e) => before.metadataProps.some((o) => o.key === e.key)),
  );
  eq('model doc string', before.docString, after.docString);
  eq('producer', [before.producerName, before.producerVersion], [after.producerName, after.producerVersion]);
  eq('model domain and version', [before.domain, before.modelVersion], [after.domain, after.modelVersion]);
  eq('graph name and doc string', [before.graph.name, before.graph.docString], [after.graph.name, after.graph.docString]);
  for (const o of before.opsetImports) {
    const a = after.opsetImports.find((x) => (x.domain || 'ai.onnx') === (o.domain || 'ai.onnx'));
    if (!a) p.push(`opset import ${o.domain || 'ai.onnx'} ${o.version} dropped`);
    else if (a.version < o.version) p.push(`opset import ${o.domain || 'ai.onnx'} lowered ${o.version} -> ${a.version}`);
  }
  eq(
    'functions',
    before.functions.map((fn) => [fn.domain, fn.name, fn.docString]),
    after.functions.map((fn) => [fn.domain, fn.name, fn.docString]),
  );
  // untouched nodes keep name and doc string
  const left = new Map<string, Node[]>();
  for (const n of nodesOf(after)) left.set(signature(n), [...(left.get(signature(n)) ?? []), n]);
  for (const n of nodesOf(before)) {
    const same = left.get(signature(n));
    if (!same?.length) continue;
    const i = same.findIndex((m) => m.name === n.name && m.docString === n.docString);
    if (i < 0) p.push(`untouched node ${n.label} (${n.opType}) renamed or lost its doc string: now '${same[0].name}' / ${JSON.stringify(same[0].docString)}`);
    else same.splice(i, 1);
  }
  // unknown (future) fields
  const mb = decodeMessage('ModelProto', beforeBytes);
  const ma = decodeMessage('ModelProto', encodeModel(after));
  const hex = (u?: readonly unknown[]) => (u ?? []).map((x) => Buffer.from(x as Uint8Array).toString('hex'));
  eq('unknown model fields', hex(mb.$unknown), hex(ma.$unknown));
  eq('unknown graph fields', hex((mb.graph as Msg).$unknown), hex((ma.graph as Msg).$unknown));
  const unknownNodes = ((mb.graph as Msg).node as Msg[]).filter((nm) => nm.$unknown?.length);
  for (const nm of unknownNodes) {
    const still = ((ma.graph as Msg).node as Msg[]).find((x) => x.name === nm.name && JSON.stringify(x.output) === JSON.stringify(nm.output));
    if (still) eq(`unknown fields of node ${nm.name as string}`, hex(nm.$unknown), hex(still.$unknown));
  }
  return p;
}

// ------------------------------------------------------------------------------------------------ tests

const fixtureFiles = [
  ...fs
    .readdirSync(path.join(root, 'fixtures'))
    .filter((f) => f.endsWith('.onnx'))
    .map((f) => path.join('fixtures', f)),
  ...(fs.existsSync(path.join(root, 'fixtures/external'))
    ? fs
        .readdirSync(path.join(root, 'fixtures/external'))
        .filter((f) => f.endsWith('.onnx'))
        .map((f) => path.join('fixtures/external', f))
    : []),
];

const models: { name: string; load: () => { model: Model; bytes: Uint8Array } }[] = [
  { name: 'metadata-rich model', load: () => ((bytes) => ({ model: decodeModelBytes(bytes), bytes }))(metadataRich()) },
  ...[5, 11, 29].map((seed) => ({
    name: `generated model (seed ${seed})`,
    load: () => ((bytes) => ({ model: decodeModelBytes(bytes), bytes }))(encodeModel(generateModel(seed).model)),
  })),
  ...fixtureFiles.map((f) => ({
    name: f,
    load: () => {
      const model = loadModel(path.join(root, f));
      return { model, bytes: encodeModel(model) };
    },
  })),
];

const targets: [string, string[]][] = [
  ...allPasses.map((p) => [p.name, [p.name]] as [string, string[]]),
  ...Object.keys(presets).map((p) => [`preset ${p}`, [p]] as [string, string[]]),
];

describe('rewrites preserve what they do not touch', () => {
  it('the metadata-rich model is valid and exercises the passes', () => {
    const { model } = models[0].load();
    let changedBy = 0;
    for (const [, list] of targets) {
      const m = decodeModelBytes(encodeModel(model));
      if (runPasses(m, list).modified) changedBy++;
    }
    // most passes have something to do here, so the checks below are not vacuous
    expect(changedBy).toBeGreaterThanOrEqual(Math.min(targets.length, 5));
  });

  for (const spec of models) {
    it(`${spec.name}: every pass and preset keeps I/O names, metadata, doc strings and untouched node names`, () => {
      const problems: string[] = [];
      for (const [label, list] of targets) {
        const { model: before, bytes } = spec.load();
        const { model: after } = spec.load();
        try {
          runPasses(after, list);
        } catch (e) {
          problems.push(`${label}: threw ${(e as Error).message.split('\n')[0]}`);
          continue;
        }
        for (const q of preservationProblems(before, after, bytes)) problems.push(`${label}: ${q}`);
      }
      expect(problems).toEqual([]);
    });
  }
});
