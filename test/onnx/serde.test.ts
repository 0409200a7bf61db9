import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import {
  Attribute,
  AttrType,
  createModel,
  DataType,
  decodeModelBytes,
  encodeModel,
  floatTensor,
  Graph,
  ints,
  loadModel,
  ModelFunction,
  saveModel,
  subgraph,
  Tensor,
  tensorType,
  verify,
  boolTensor,
} from '../../src/index.js';
import { decodeMessage, encodeMessageToBytes, type Msg } from '../../src/onnx/schema.js';
import { Writer } from '../../src/onnx/wire.js';

const { onnx } = onnxProto as unknown as { onnx: any };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-serde-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A field encoded by hand: tag + payload, as a newer exporter would write it. */
function rawField(fieldNo: number, payload: Uint8Array | number): Uint8Array {
  const w = new Writer();
  if (typeof payload === 'number') {
    w.tag(fieldNo, 0);
    w.int64(payload);
  } else {
    w.tag(fieldNo, 2);
    w.uint32(payload.length);
    w.raw(payload);
  }
  const parts = w.finish() as Uint8Array[];
  return Buffer.concat(parts);
}

/** A model exercising most of ModelProto: metadata, doc strings, value_info, a function, a subgraph, typed fields. */
function richModel() {
  const { model, b, graph } = createModel({ opset: 17, domains: { 'custom.fn': 1 } });
  model.docString = 'model doc';
  model.domain = 'ai.autoglm.test';
  model.modelVersion = 7;
  model.producerVersion = '1.2.3';
  model.metadataProps = [
    { key: 'author', value: 'tests' },
    { key: 'license', value: 'MIT' },
  ];
  graph.docString = 'graph doc';
  const x = b.input('x', DataType.FLOAT, ['batch', 4]);
  x.docString = 'the input';
  const w = b.init(
    'w',
    floatTensor(
      [4, 4],
      Array.from({ length: 16 }, (_, i) => (i % 5) - 2),
    ),
  );
  // a tensor held in float_data (typed field) rather than raw_data
  const bias = b.init('bias', Tensor.fromField(DataType.FLOAT, [4], 'float_data', new Float32Array([0.5, -0.5, 1, 2])));
  const mm = b.op('MatMul', [x, w], {}, { name: 'mm' });
  mm.type = tensorType(DataType.FLOAT, ['batch', 4]);
  const add = b.op('Add', [mm, bias], {}, { name: 'add' });
  // If with branches capturing outer values
  const cond = b.init('cond', boolTensor([], [true]));
  const thenB = subgraph('then');
  thenB.output(thenB.op('Relu', [add]), 'then_out', DataType.FLOAT, ['batch', 4]);
  const elseB = subgraph('else');
  elseB.output(elseB.op('Neg', [add]), 'else_out', DataType.FLOAT, ['batch', 4]);
  const y = b.op('If', [cond], { then_branch: thenB.graph, else_branch: elseB.graph }, { name: 'if' });
  // a call to a model-local function: Double(t) = Add(t, t)
  const fnGraph = new Graph('Double');
  const fin = fnGraph.addInput('t');
  const fout = fnGraph.addNode('Add', [fin, fin], {}, { outputs: ['u'] }).output(0);
  fnGraph.addOutput(fout);
  const fn = new ModelFunction('Double', 'custom.fn', fnGraph);
  fn.opsetImports = [{ domain: '', version: 17 }];
  fn.docString = 'doubles';
  model.functions.push(fn);
  const z = b.op('Double', [y], {}, { domain: 'custom.fn', name: 'double' });
  const shaped = b.op('Reshape', [z, b.const('shape', ints([-1]))], {}, { name: 'flatten' });
  b.output(shaped, 'out', DataType.FLOAT, [null]);
  return model;
}

async function run(bytesOrPath: Uint8Array | string, feeds: Record<string, ort.Tensor>) {
  const s = await ort.InferenceSession.create(bytesOrPath as any, { graphOptimizationLevel: 'disabled' });
  return s.run(feeds);
}

describe('lossless round trip', () => {
  it('keeps every modelled field and gives identical bytes when saved twice', async () => {
    const model = richModel();
    verify(model);
    const bytes = encodeModel(model);
    const again = decodeModelBytes(bytes);
    verify(again);
    const bytes2 = encodeModel(again);
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(bytes2))).toBe(0);
    // a generated decoder of the official schema reads the same model
    const ref = onnx.ModelProto.decode(bytes2);
    expect(ref.docString).toBe('model doc');
    expect(ref.metadataProps.map((p: any) => p.key)).toEqual(['author', 'license']);
    expect(ref.functions[0].name).toBe('Double');
    expect(ref.graph.valueInfo.map((v: any) => v.name)).toContain('mm_out');
    expect(ref.graph.initializer.find((t: any) => t.name === 'bias').floatData).toEqual([0.5, -0.5, 1, 2]);
    expect(ref.graph.input[0].docString).toBe('the input');
    // and onnxruntime runs it with the same result as the original
    const feeds = {
      x: new ort.Tensor(
        'float32',
        Float32Array.from({ length: 8 }, (_, i) => i - 3),
        [2, 4],
      ),
    };
    const a = await run(bytes, feeds);
    const b2 = await run(bytes2, feeds);
    expect(Array.from(b2.out.data as Float32Array)).toEqual(Array.from(a.out.data as Float32Array));
  });

  it('preserves fields newer than its schema (unknown to it) at every level', () => {
    const model = richModel();
    const msg = decodeMessage('ModelProto', encodeModel(model));
    // ModelProto.configuration (26, ONNX 1.18) and an invented field 99
    const modelUnknown = [rawField(26, new TextEncoder().encode('\n\x04mesh\x10\x02')), rawField(99, 12345)];
    msg.$unknown = modelUnknown;
    const g = msg.graph as Msg;
    const node = (g.node as Msg[])[0];
    node.$unknown = [rawField(10, new TextEncoder().encode('\n\x03cfg'))]; // NodeProto.device_configurations
    const init = (g.initializer as Msg[])[0];
    init.$unknown = [rawField(77, 1)];
    (g.input as Msg[])[0].$unknown = [rawField(55, new Uint8Array([1, 2, 3]))];
    g.$unknown = [rawField(42, 9)];
    const withUnknown = encodeMessageToBytes('ModelProto', msg);
    // the generated decoder (ONNX 1.10 schema) drops them: this is the failure we guard against
    const viaGenerated = onnx.ModelProto.encode(onnx.ModelProto.decode(withUnknown)).finish();
    expect(viaGenerated.length).toBeLessThan(withUnknown.length);
    // ours keeps them through decode -> IR -> encode
    const file = path.join(tmp, 'unknown.onnx');
    fs.writeFileSync(file, withUnknown);
    const loaded = loadModel(file);
    const out = path.join(tmp, 'unknown-out.onnx');
    saveModel(loaded, out);
    const saved = fs.readFileSync(out);
    expect(Buffer.compare(saved, Buffer.from(withUnknown))).toBe(0);
    const back = decodeMessage('ModelProto', saved);
    expect(back.$unknown?.map((u) => Buffer.from(u as Uint8Array).toString('hex'))).toEqual(modelUnknown.map((u) => Buffer.from(u).toString('hex')));
    expect(((back.graph as Msg).node as Msg[])[0].$unknown).toHaveLength(1);
    expect(((back.graph as Msg).initializer as Msg[])[0].$unknown).toHaveLength(1);
  });

  it('keeps int64 attribute values beyond 2^53 exactly', () => {
    const { model, b } = createModel({ opset: 9 });
    const x = b.input('x', DataType.FLOAT, [4]);
    const big = 9223372036854775807n;
    b.output(b.op('Slice', [x], { starts: [1], ends: [big], axes: [0] }), 'y', DataType.FLOAT, [3]);
    const m2 = decodeModelBytes(encodeModel(model));
    const a = m2.graph.nodes[0].attributes.get('ends')!;
    expect(a.type).toBe(AttrType.INTS);
    expect((a.value as bigint[])[0]).toBe(big);
    const neg = decodeModelBytes(encodeModel(m2));
    expect((neg.graph.nodes[0].attributes.get('starts')!.value as number[])[0]).toBe(1);
  });

  it('loads nodes that are not topologically sorted and sorts them on request', () => {
    const { model, b, graph } = createModel();
    const x = b.input('x', DataType.FLOAT, [2]);
    const r = b.op('Relu', [x]);
    const n = b.op('Neg', [r]);
    b.output(n, 'y', DataType.FLOAT, [2]);
    const msg = decodeMessage('ModelProto', encodeModel(model));
    (msg.graph as Msg).node = [...((msg.graph as Msg).node as Msg[])].reverse();
    const m2 = decodeModelBytes(encodeMessageToBytes('ModelProto', msg));
    expect(m2.graph.nodes.map((n) => n.opType)).toEqual(['Neg', 'Relu']);
    m2.graph.sortTopologically();
    expect(m2.graph.nodes.map((n) => n.opType)).toEqual(['Relu', 'Neg']);
    verify(m2);
    void graph;
  });

  it('treats Constant-node weights as tensors', () => {
    const { model, b } = createModel({ opset: 11 });
    const x = b.input('x', DataType.FLOAT, ['n', 3]);
    const w = b.constantNode(floatTensor([3, 2], [1, 2, 3, 4, 5, 6]), 'w');
    b.output(b.op('MatMul', [x, w]), 'y', DataType.FLOAT, ['n', 2]);
    const m2 = decodeModelBytes(encodeModel(model));
    const mm = m2.graph.nodes.find((n) => n.opType === 'MatMul')!;
    expect(Array.from(mm.input(1)!.constTensor()!.toFloat32())).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('lazy weights', () => {
  it('leaves large raw_data in the file until asked, and saves it (even over the input) without reading it into memory', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'lazy-'));
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['n', 256]);
    const big = Float32Array.from({ length: 256 * 128 }, (_, i) => Math.sin(i)); // 128 KiB: stays on disk
    b.output(b.op('MatMul', [x, b.init('w', floatTensor([256, 128], big))]), 'y', DataType.FLOAT, ['n', 128]);
    const file = path.join(dir, 'm.onnx');
    saveModel(model, file);
    const original = fs.readFileSync(file);
    const loaded = loadModel(file);
    const w = loaded.graph.initializers.get('w')!.initializer!;
    expect(w.storage).toBe('lazy');
    expect(w.isLoaded).toBe(false);
    // saving over the input: the writer streams from the still-open old file
    saveModel(loaded, file, { overwriteInput: true });
    expect(w.isLoaded).toBe(false);
    expect(Buffer.compare(fs.readFileSync(file), original)).toBe(0);
    expect(w.toFloat32()[5]).toBe(Math.fround(Math.sin(5)));
    expect(w.isLoaded).toBe(true);
  });
});

describe('external data', () => {
  function mlp() {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['n', 8]);
    const w1 = b.init(
      'w1',
      floatTensor(
        [8, 16],
        Array.from({ length: 128 }, (_, i) => Math.sin(i)),
      ),
    );
    const w2 = b.init(
      'w2',
      floatTensor(
        [16, 2],
        Array.from({ length: 32 }, (_, i) => Math.cos(i)),
      ),
    );
    b.output(b.op('MatMul', [b.op('Relu', [b.op('MatMul', [x, w1])]), w2]), 'y', DataType.FLOAT, ['n', 2]);
    return model;
  }
  const feeds = {
    x: new ort.Tensor(
      'float32',
      Float32Array.from({ length: 16 }, (_, i) => i / 7 - 1),
      [2, 8],
    ),
  };

  it('writes, loads lazily, runs in onnxruntime and re-saves', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'ext-'));
    const file = path.join(dir, 'mlp.onnx');
    const res = saveModel(mlp(), file, { externalData: true, sizeThreshold: 0 });
    expect(res.externalBytes).toBeGreaterThanOrEqual((128 + 32) * 4);
    expect(fs.existsSync(path.join(dir, 'mlp.onnx.data'))).toBe(true);
    const loaded = loadModel(file);
    const w1 = loaded.graph.initializers.get('w1')!.initializer!;
    expect(w1.isExternal).toBe(true);
    expect(loaded.source!.externalBytes).toBe((128 + 32) * 4);
    const expected = await run(encodeModel(mlp()), feeds);
    const got = await run(file, feeds);
    expect(Array.from(got.y.data as Float32Array)).toEqual(Array.from(expected.y.data as Float32Array));
    expect(w1.toFloat32()[1]).toBeCloseTo(Math.sin(1), 6);
    // save again: external by default since it was loaded so; also inline on request
    const out2 = path.join(dir, 'copy.onnx');
    saveModel(loaded, out2);
    expect(fs.existsSync(path.join(dir, 'copy.onnx.data'))).toBe(true);
    const inline = path.join(dir, 'inline.onnx');
    saveModel(loaded, inline, { externalData: false });
    const got2 = await run(inline, feeds);
    expect(Array.from(got2.y.data as Float32Array)).toEqual(Array.from(expected.y.data as Float32Array));
  });

  it('re-saving onto the same data file keeps tensors readable', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'ext-same-'));
    const file = path.join(dir, 'm.onnx');
    saveModel(mlp(), file, { externalData: true, sizeThreshold: 0 });
    const loaded = loadModel(file);
    saveModel(loaded, file, { overwriteInput: true });
    const expected = await run(encodeModel(mlp()), feeds);
    const got = await run(file, feeds);
    expect(Array.from(got.y.data as Float32Array)).toEqual(Array.from(expected.y.data as Float32Array));
    expect(loaded.graph.initializers.get('w2')!.initializer!.toFloat32()[3]).toBeCloseTo(Math.cos(3), 6);
  });

  function withLocation(location: string, dir: string): string {
    const msg = decodeMessage('ModelProto', encodeModel(mlp()));
    const init = ((msg.graph as Msg).initializer as Msg[])[0];
    delete init.raw_data;
    init.data_location = 1;
    init.external_data = [
      { key: 'location', value: location },
      { key: 'offset', value: '0' },
      { key: 'length', value: '512' },
    ];
    const file = path.join(dir, 'evil.onnx');
    fs.writeFileSync(file, encodeMessageToBytes('ModelProto', msg));
    return file;
  }

  it('refuses locations that escape the model folder', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'ext-evil-'));
    fs.writeFileSync(path.join(tmp, 'secret.bin'), new Uint8Array(1024));
    expect(() => loadModel(withLocation('../secret.bin', dir))).toThrow(/outside the model's folder/);
    expect(() => loadModel(withLocation('/etc/passwd', dir))).toThrow(/outside the model's folder/);
    expect(() => loadModel(withLocation('sub/../../secret.bin', dir))).toThrow(/outside the model's folder/);
  });

  it('reports a missing or short external data file', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'ext-missing-'));
    expect(() => loadModel(withLocation('nope.bin', dir))).toThrow(/external data file 'nope.bin'.*missing/);
    fs.writeFileSync(path.join(dir, 'short.bin'), new Uint8Array(100));
    expect(() => loadModel(withLocation('short.bin', dir))).toThrow(/has only 100/);
  });
});

describe('bad input', () => {
  const cases: [string, () => string, RegExp][] = [
    ['missing file', () => path.join(tmp, 'does-not-exist.onnx'), /no such file/],
    ['directory', () => tmp, /is a directory/],
    ['empty file', () => write('empty.onnx', new Uint8Array(0)), /is empty/],
    ['json', () => write('model.onnx.json', new TextEncoder().encode('{"graph": {}}')), /JSON/],
    ['random bytes', () => write('random.onnx', randomBytes(4096)), /not a valid ONNX model|not an ONNX model/],
    ['truncated', () => write('trunc.onnx', encodeModel(richModel()).subarray(0, 150)), /not a valid ONNX model|not an ONNX model|not defined/],
    [
      'a TensorProto',
      () => write('tensor.pb', encodeMessageToBytes('TensorProto', { dims: [2], data_type: 1, float_data: new Float32Array([1, 2]), name: 't' })),
      /not a valid ONNX model|not an ONNX model/,
    ],
  ];
  function write(name: string, bytes: Uint8Array): string {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, bytes);
    return p;
  }
  function randomBytes(n: number): Uint8Array {
    let s = 12345;
    return Uint8Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24) & 0xff);
  }
  for (const [label, make, re] of cases) {
    it(`gives one clear error for a ${label}`, () => {
      const p = make();
      let err: any;
      try {
        loadModel(p);
      } catch (e) {
        err = e;
      }
      expect(err?.name).toBe('ModelFormatError');
      expect(err.exitCode).toBe(2);
      expect(err.message).toMatch(re);
      expect(err.message.split('\n')).toHaveLength(1);
    });
  }

  it('rejects a raw_data length that does not match the shape', () => {
    const msg = decodeMessage('ModelProto', encodeModel(richModel()));
    const init = ((msg.graph as Msg).initializer as Msg[])[0];
    init.raw_data = (init.raw_data as Uint8Array).subarray(0, 10);
    expect(() => decodeModelBytes(encodeMessageToBytes('ModelProto', msg))).toThrow(/raw_data has 10 bytes/);
  });

  it('rejects an undefined node input and a duplicate value name', () => {
    const msg = decodeMessage('ModelProto', encodeModel(richModel()));
    const nodes = (msg.graph as Msg).node as Msg[];
    nodes[0].input = ['ghost', 'w'];
    expect(() => decodeModelBytes(encodeMessageToBytes('ModelProto', msg))).toThrow(/input 'ghost'.*not defined/);
    const msg2 = decodeMessage('ModelProto', encodeModel(richModel()));
    const n2 = (msg2.graph as Msg).node as Msg[];
    n2[1].output = n2[0].output;
    expect(() => decodeModelBytes(encodeMessageToBytes('ModelProto', msg2))).toThrow(/defined more than once/);
  });
});

describe('saving', () => {
  it('never overwrites the input unless asked, and writes atomically', () => {
    const file = path.join(tmp, 'in.onnx');
    saveModel(richModel(), file);
    const m = loadModel(file);
    expect(() => saveModel(m, file)).toThrow(/refusing to overwrite the input/);
    expect(() => saveModel(m, tmp)).toThrow(/is a directory/);
    expect(() => saveModel(m, path.join(tmp, 'no/such/dir/x.onnx'))).toThrow(/does not exist/);
    saveModel(m, file, { overwriteInput: true });
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.autoglm-'))).toEqual([]);
  });

  it('keeps value names of Attribute tensors and subgraphs through a file round trip', () => {
    const file = path.join(tmp, 'rich.onnx');
    saveModel(richModel(), file);
    const m = loadModel(file);
    const ifNode = m.graph.nodes.find((n) => n.opType === 'If')!;
    const [thenG] = ifNode.subgraphs();
    expect(thenG.parentNode).toBe(ifNode);
    // the captured outer value knows its use inside the subgraph
    const add = m.graph.nodes.find((n) => n.name === 'add')!.output(0);
    expect(add.uses.map((u) => u.node.opType).sort()).toEqual(['Neg', 'Relu']);
    expect(ifNode.attr('then_branch')).toBeInstanceOf(Attribute);
  });
});

describe('stale temporary files', () => {
  it('a save removes temp files that a killed earlier save of the same target left, and keeps live ones', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'stale-'));
    const target = path.join(dir, 'm.onnx');
    // a pid that cannot exist (above the kernel's pid_max) and our own parent's (alive)
    const dead = path.join(dir, `.m.onnx.autoglm-4194305-abcdefgh.tmp`);
    const live = path.join(dir, `.m.onnx.autoglm-${process.ppid}-abcdefgh.tmp`);
    fs.writeFileSync(dead, 'half a model');
    fs.writeFileSync(live, 'another process is writing this');
    const { model, b } = createModel();
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [1])]), 'y');
    saveModel(model, target);
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
    expect(loadModel(target).graph.nodes).toHaveLength(1);
  });
});
