import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy } from '../../src/inputs/tensor-files.js';
import { loadInputs, loadInputsDir, loadInputsFile } from '../../src/inputs/load.js';
import { planInputs, resolveShape, synthesizeInputs } from '../../src/inputs/synthesize.js';
import { describeInputs, formatInputs, symbolicDims } from '../../src/inputs/describe.js';
import { ModelFormatError, UsageError } from '../../src/errors.js';
import { createModel, floatTensor, int64Tensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { float16ToFloat32, float32ToFloat16 } from '../../src/ir/float-codecs.js';
import { Tensor } from '../../src/ir/tensor.js';
import { encodeMessageToBytes } from '../../src/onnx/schema.js';
import { tensorToMsg } from '../../src/onnx/serde.js';
import { createSession, runSession } from '../../src/runtime/session.js';
import { buildBert } from '../../fixtures/models/bert.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-inputs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const write = (rel: string, data: Uint8Array | string): string => {
  const p = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  return p;
};
const pb = (t: Tensor): Uint8Array => encodeMessageToBytes('TensorProto', tensorToMsg(t));
const values = (t: { data: unknown }): number[] => Array.from(t.data as ArrayLike<number | bigint>, Number);
const thrown = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

/** A model with one input of each kind the synthesizer treats differently. */
function mixedModel() {
  const { model, b } = createModel({ opset: 17 });
  const ids = b.input('ids32', DataType.INT32, ['batch', 'seq']);
  const flags = b.input('flags', DataType.BOOL, ['batch', 3]);
  const counts = b.input('counts', DataType.INT64, ['batch']);
  const seg = b.input('segment_ids', DataType.INT64, ['batch', 'seq']);
  const half = b.input('h', DataType.FLOAT16, [4, 'width']);
  const fmask = b.input('pixel_mask', DataType.FLOAT, ['batch', 'seq']);
  const x = b.input('x', DataType.FLOAT, [64, 64]);
  const shifted = b.input('shifted', DataType.INT64, ['batch', 'seq']);
  const newShape = b.input('new_shape', DataType.INT64, [1]);
  b.graph.addInitializer('with_default', floatTensor([1], [1]), undefined);
  b.graph.addInput(b.graph.initializers.get('with_default')!);
  // ids32 -> Cast -> Unsqueeze -> Gather(table[7, 3]) and, via Reshape, Gather(table2[11, 3]) -> bound 7
  const table = b.init('table', floatTensor([7, 3], new Float32Array(21)));
  const table2 = b.init('table2', floatTensor([11, 3], new Float32Array(33)));
  const c = b.op('Cast', [ids], { to: DataType.INT64 });
  const u = b.op('Unsqueeze', [c, b.const('axes', int64Tensor([1], [0]))]);
  b.output(b.op('Gather', [table, u]), 'emb', DataType.FLOAT);
  b.output(b.op('Gather', [table2, b.op('Reshape', [c, b.const('shape', int64Tensor([1], [-1]))])]), 'emb2', DataType.FLOAT);
  // 'new_shape' is the shape operand of a Reshape whose output indexes a table: not ids itself
  b.output(b.op('Gather', [table2, b.op('Reshape', [c, newShape])]), 'emb4', DataType.FLOAT);
  // 'shifted' reaches a Gather only through Add: not recognised as ids
  b.output(b.op('Gather', [table2, b.op('Add', [shifted, b.const('one', int64Tensor([], [1]))])]), 'emb3', DataType.FLOAT);
  for (const v of [flags, counts, seg, half, fmask, x]) b.output(b.op('Identity', [v]), `${v.name}_out`);
  return model;
}

describe('describeInputs', () => {
  it('lists the inputs to feed with dtypes and symbolic shapes', () => {
    const m = mixedModel();
    const d = describeInputs(m);
    expect(d.map((i) => i.name)).toEqual(['ids32', 'flags', 'counts', 'segment_ids', 'h', 'pixel_mask', 'x', 'shifted', 'new_shape']);
    expect(d[0]).toEqual({ name: 'ids32', elemType: DataType.INT32, dtype: 'int32', shape: ['batch', 'seq'], symbols: ['batch', 'seq'] });
    expect(d[4].dtype).toBe('float16');
    expect(symbolicDims(m)).toEqual(['batch', 'seq', 'width']);
    expect(formatInputs(buildBert())).toBe('input_ids: int64[batch, sequence]\nattention_mask: int64[batch, sequence]\ntoken_type_ids: int64[batch, sequence]');
  });

  it('plans how each input is drawn', () => {
    const plan = Object.fromEntries(planInputs(mixedModel()).map((p) => [p.name, p.rule]));
    expect(plan.ids32).toEqual({ kind: 'ids', below: 7, table: 'table' });
    expect(plan.flags).toEqual({ kind: 'bool' });
    expect(plan.counts).toEqual({ kind: 'small-ints', below: 10 });
    expect(plan.segment_ids).toEqual({ kind: 'zeros', why: 'token-type' });
    expect(plan.h).toEqual({ kind: 'normal' });
    expect(plan.pixel_mask).toEqual({ kind: 'ones', why: 'mask' });
    expect(plan.shifted).toEqual({ kind: 'small-ints', below: 10 });
    expect(plan.new_shape).toEqual({ kind: 'small-ints', below: 10 });
  });
});

describe('synthesizeInputs', () => {
  it('keeps BERT inputs valid: ids below the vocabulary, masks all ones, token types below the type vocabulary', () => {
    const m = buildBert({ vocab: 13, typeVocab: 3, layers: 1 });
    const [f] = synthesizeInputs(m, { dims: { batch: 4, sequence: 64 }, seed: 5 });
    expect(Object.keys(f)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    const ids = values(f.input_ids);
    expect(f.input_ids.type).toBe('int64');
    expect(f.input_ids.dims).toEqual([4, 64]);
    expect(Math.min(...ids)).toBe(0);
    expect(Math.max(...ids)).toBe(12);
    expect(values(f.attention_mask).every((v) => v === 1)).toBe(true);
    const tt = values(f.token_type_ids);
    expect(new Set(tt)).toEqual(new Set([0, 1, 2]));
    const plan = planInputs(m);
    expect(plan.map((p) => p.rule.kind)).toEqual(['ids', 'ones', 'ids']);
    expect(plan[0].rule).toMatchObject({ below: 13, table: 'embeddings.word_embeddings.weight' });
  });

  it('draws each kind of input as planned', () => {
    const m = mixedModel();
    const [f] = synthesizeInputs(m, { dims: { batch: 3, seq: 50, width: 2000 }, seed: 1 });
    expect(Object.keys(f)).not.toContain('with_default');
    expect(f.ids32.type).toBe('int32');
    expect(Math.max(...values(f.ids32))).toBe(6);
    const flags = values(f.flags);
    expect(f.flags.type).toBe('bool');
    expect(new Set(flags)).toEqual(new Set([0, 1]));
    expect(new Set(values(f.counts)).size).toBeGreaterThan(1);
    expect(values(f.counts).every((v) => v >= 0 && v <= 9)).toBe(true);
    expect(values(f.segment_ids).every((v) => v === 0)).toBe(true);
    expect(values(f.pixel_mask).every((v) => v === 1)).toBe(true);
    expect(Math.max(...values(f.shifted))).toBe(9);
    expect(f.h.type).toBe('float16');
    expect(f.h.data).toBeInstanceOf(Uint16Array);
    const h = float16ToFloat32(f.h.data as Uint16Array);
    const x = f.x.data as Float32Array;
    for (const v of [h, x]) {
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
      expect(Math.abs(mean)).toBeLessThan(0.05);
      expect(Math.abs(sd - 1)).toBeLessThan(0.05);
    }
  });

  it('is deterministic in the seed, and set k does not depend on the count', () => {
    const m = buildBert({ layers: 1 });
    const dims = { batch: 2, sequence: 8 };
    const a = synthesizeInputs(m, { dims, seed: 3, count: 3 });
    const b = synthesizeInputs(m, { dims, seed: 3 });
    const c = synthesizeInputs(m, { dims, seed: 4 });
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(1);
    expect(values(a[0].input_ids)).toEqual(values(b[0].input_ids));
    expect(values(a[1].input_ids)).not.toEqual(values(a[0].input_ids));
    expect(values(c[0].input_ids)).not.toEqual(values(b[0].input_ids));
    expect(values(synthesizeInputs(m, { dims, seed: 3 })[0].input_ids)).toEqual(values(b[0].input_ids));
    // default seed 0
    expect(values(synthesizeInputs(m, { dims })[0].input_ids)).toEqual(values(synthesizeInputs(m, { dims, seed: 0 })[0].input_ids));
  });

  it('names the missing dimension and lists the symbolic ones', () => {
    const m = buildBert({ layers: 1 });
    const e = thrown(() => synthesizeInputs(m, { dims: { batch: 1 } }));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toMatch(/no size given for dimension 'sequence' \(axis 1 of input 'input_ids'\); the model's symbolic dimensions are: batch, sequence/);
    expect(() => synthesizeInputs(m, { dims: { batch: 1, sequence: 2.5 } })).toThrow(/positive integer/);
    expect(() => synthesizeInputs(m, { dims: { batch: 1, sequence: 2 }, count: 0 })).toThrow(UsageError);
  });

  it('asks for unnamed dimensions by input and axis', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['n', null]);
    b.output(b.op('Relu', [x]), 'y', DataType.FLOAT);
    const e = thrown(() => synthesizeInputs(model, { dims: { n: 2 } }));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toMatch(/axis 1 of input 'x' has an unknown size and no name; give it as 'x\[1\]'.*symbolic dimensions are: n/);
    expect(synthesizeInputs(model, { dims: { n: 2, 'x[1]': 5 } })[0].x.dims).toEqual([2, 5]);
    expect(resolveShape(model, 'x', { n: 3, 'x[1]': 1 })).toEqual([3, 1]);
    expect(() => resolveShape(model, 'z')).toThrow(/has no input 'z'; its inputs are: x/);
  });

  it('refuses inputs it cannot make', () => {
    const { model, b } = createModel({ opset: 17 });
    b.input('s', DataType.STRING, [1]);
    b.input('noshape', DataType.FLOAT);
    expect(() => synthesizeInputs(model)).toThrow(/'s' is string/);
  });

  it('feeds the runtime', async () => {
    const m = buildBert({ layers: 1, classifier: 3 });
    const s = await createSession(m);
    const out = await runSession(s, synthesizeInputs(m, { dims: { batch: 2, sequence: 5 } })[0]);
    expect(out.logits.dims).toEqual([2, 3]);
    await s.release();
  });
});

describe('.npy', () => {
  const cases: Tensor[] = [
    Tensor.fromArray(DataType.FLOAT, [2, 3], [1, 2, 3, 4, 5, -6.5]),
    Tensor.fromArray(DataType.DOUBLE, [2], [0.1, -1e300]),
    Tensor.fromArray(DataType.FLOAT16, [2], float32ToFloat16(Float32Array.from([1, -0.5]))),
    int64Tensor([1, 4], [1, -2, 2 ** 40, 0]),
    Tensor.fromArray(DataType.INT32, [3], [1, -2, 3]),
    Tensor.fromArray(DataType.INT8, [2], [-1, 127]),
    Tensor.fromArray(DataType.UINT8, [2], [0, 255]),
    Tensor.fromArray(DataType.BOOL, [2, 1], [1, 0]),
    Tensor.fromArray(DataType.FLOAT, [], [42]),
  ];
  it.each(cases.map((t) => [`${t.dataType}[${t.dims}]`, t] as const))('round-trips %s', (_, t) => {
    const bytes = encodeNpy(t);
    expect((10 + new DataView(bytes.buffer).getUint16(8, true)) % 64).toBe(0);
    const back = parseNpy(bytes, 'x.npy', 'x');
    expect(back.dataType).toBe(t.dataType);
    expect(back.dims).toEqual(t.dims);
    expect(back.sameDataAs(t)).toBe(true);
  });

  /** bytes as numpy.save writes them */
  const npy = (header: string, data: Uint8Array, version = 1): Uint8Array => {
    const h = Buffer.from(header, 'latin1');
    const pre = version === 1 ? 10 : 12;
    const out = new Uint8Array(pre + h.length + data.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    const dv = new DataView(out.buffer);
    if (version === 1) dv.setUint16(8, h.length, true);
    else dv.setUint32(8, h.length, true);
    out.set(h, pre);
    out.set(data, pre + h.length);
    return out;
  };

  it('reads numpy headers, format 2.0 and big-endian data', () => {
    const le = new Uint8Array(new BigInt64Array([5n, 6n]).buffer);
    const t = parseNpy(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }" + ' '.repeat(4) + '\n', le));
    expect(t.toNumbers()).toEqual([5, 6]);
    const v2 = parseNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }\n", new Uint8Array(new Float32Array([3]).buffer), 2));
    expect(v2.dims).toEqual([1, 1]);
    const be = new Uint8Array(8);
    new DataView(be.buffer).setFloat32(0, 1.5, false);
    new DataView(be.buffer).setFloat32(4, -2, false);
    expect(Array.from(parseNpy(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", be)).toFloat32())).toEqual([1.5, -2]);
    expect(parseNpy(npy("{'descr': '|b1', 'fortran_order': True, 'shape': (3,), }\n", new Uint8Array([1, 0, 1]))).dataType).toBe(DataType.BOOL);
  });

  it('gives clear errors for bad files', () => {
    const f4 = (shape: string, n: number, fortran = 'False') =>
      npy(`{'descr': '<f4', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`, new Uint8Array(4 * n));
    for (const [bytes, msg] of [
      [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), /missing the \\x93NUMPY magic/],
      [f4('(2, 3)', 5), /needs 24 data bytes, the file has 20/],
      [f4('(2, 3)', 6, 'True'), /Fortran order/],
      [npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n", new Uint8Array(8)), /dtype '<c8' is not supported/],
      [npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", new Uint8Array(4)), /structured dtypes/],
    ] as const) {
      const e = thrown(() => parseNpy(bytes, 'bad.npy'));
      expect(e).toBeInstanceOf(ModelFormatError);
      expect(e.message).toMatch(/^bad\.npy: not a usable \.npy file/);
      expect(e.message).toMatch(msg);
    }
  });
});

describe('loading input files', () => {
  const bert = buildBert({ layers: 1 });
  const ids = int64Tensor([1, 4], [1, 2, 3, 4]);
  const ones = int64Tensor([1, 4], [1, 1, 1, 1]);
  const zeros = int64Tensor([1, 4], [0, 0, 0, 0]);

  it('reads .npy files named after the input, .pb files by tensor name or file name', () => {
    const f = loadInputsFile(write('a/input_ids.npy', encodeNpy(ids)));
    expect(Object.keys(f)).toEqual(['input_ids']);
    expect(values(f.input_ids)).toEqual([1, 2, 3, 4]);
    const named = ones.clone('attention_mask');
    expect(Object.keys(loadInputsFile(write('a/whatever.pb', pb(named))))).toEqual(['attention_mask']);
    expect(Object.keys(loadInputsFile(write('a/token_type_ids.pb', pb(zeros.clone('')))))).toEqual(['token_type_ids']);
  });

  it('reads .json with explicit dtype or plain arrays typed by the model', () => {
    const explicit = write(
      'j/explicit.json',
      JSON.stringify({ input_ids: { dims: [1, 4], dtype: 'int64', data: [[5, 6, 7, '8']] }, x: { dtype: 'float32', data: [[1.5, 'nan']] } }),
    );
    const f = loadInputsFile(explicit);
    expect(f.input_ids.type).toBe('int64');
    expect(values(f.input_ids)).toEqual([5, 6, 7, 8]);
    expect(f.x.dims).toEqual([1, 2]);
    expect(Number.isNaN((f.x.data as Float32Array)[1])).toBe(true);
    const plain = write('j/plain.json', JSON.stringify({ input_ids: [[1, 2, 3]], attention_mask: [[1, 1, 0]], token_type_ids: [[0, 0, 1]] }));
    const p = loadInputsFile(plain, bert);
    expect(p.input_ids.type).toBe('int64');
    expect(p.attention_mask.dims).toEqual([1, 3]);
    expect(() => loadInputsFile(plain)).toThrow(/gives no dtype/);
  });

  it('gives clear errors for bad json and pb files', () => {
    const cases: [string, string, RegExp, typeof ModelFormatError | typeof UsageError][] = [
      ['bad1.json', '{"input_ids": [[1, 2], [3]]}', /not rectangular/, ModelFormatError],
      ['bad2.json', '{"input_ids": {"dims": [2, 2], "dtype": "int64", "data": [1, 2, 3]}}', /dims \[2, 2\] need 4 values, "data" has 3/, ModelFormatError],
      ['bad3.json', '{"input_ids": {"dtype": "int99", "data": [1]}}', /unknown dtype "int99"/, ModelFormatError],
      ['bad4.json', '{"input_ids": {"dtype": "int64", "data": [1.5]}}', /not an integer/, ModelFormatError],
      ['bad5.json', '{"input_ids": ', /not valid JSON/, ModelFormatError],
      ['bad6.json', '[1, 2]', /expected a JSON object of inputs/, ModelFormatError],
      ['bad7.json', '{"input_ids": {"dtype": "uint8", "data": [300]}}', /out of range for uint8/, ModelFormatError],
      ['nope.txt', 'x', /unsupported input file type '\.txt'/, UsageError],
    ];
    for (const [name, text, msg, cls] of cases) {
      const e = thrown(() => loadInputsFile(write(`bad/${name}`, text), bert));
      expect(e, name).toBeInstanceOf(cls);
      expect(e.message, name).toMatch(msg);
    }
    const garbage = thrown(() => loadInputsFile(write('bad/garbage.pb', new Uint8Array([0xff, 0xff, 0xff]))));
    expect(garbage).toBeInstanceOf(ModelFormatError);
    expect(garbage.message).toMatch(/garbage\.pb: not a serialized ONNX TensorProto/);
    expect(() => loadInputsFile(path.join(tmp, 'missing.npy'))).toThrow(/no such file/);
  });

  it('checks tensors against the model and converts dtypes only when exact', () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['n', 2]);
    const k = b.input('k', DataType.INT64, ['n']);
    b.output(b.op('Identity', [x]), 'y');
    b.output(b.op('Identity', [k]), 'z');
    const f64 = write('conv/x.npy', encodeNpy(Tensor.fromArray(DataType.DOUBLE, [1, 2], [0.5, 2])));
    const fx = loadInputsFile(f64, model);
    expect(fx.x.type).toBe('float32');
    expect(Array.from(fx.x.data as Float32Array)).toEqual([0.5, 2]);
    const kf = loadInputsFile(write('conv/k.npy', encodeNpy(Tensor.fromArray(DataType.DOUBLE, [1], [3]))), model);
    expect(kf.k.type).toBe('int64');
    expect(() => loadInputsFile(write('conv2/k.npy', encodeNpy(Tensor.fromArray(DataType.DOUBLE, [1], [3.5]))), model)).toThrow(
      /is float64 but the model expects int64, and value 0 \(3\.5\) is not an integer/,
    );
    expect(() => loadInputsFile(write('conv3/x.npy', encodeNpy(Tensor.fromArray(DataType.FLOAT, [1, 3], [1, 2, 3]))), model)).toThrow(
      /size 3 on axis 1 but the model expects 2/,
    );
    expect(() => loadInputsFile(write('conv4/x.npy', encodeNpy(Tensor.fromArray(DataType.FLOAT, [2], [1, 2]))), model)).toThrow(/expects rank 2/);
    expect(() => loadInputsFile(write('conv5/other.npy', encodeNpy(ids)), model)).toThrow(/tensor 'other' is not an input of the model; its inputs are: x, k/);
    const mismatch = write(
      'conv6/both.json',
      JSON.stringify({
        x: [
          [1, 2],
          [3, 4],
        ],
        k: [1, 2, 3],
      }),
    );
    expect(() => loadInputsFile(mismatch, model)).toThrow(/dimension 'n' is 2 in 'x' but 3 in 'k'/);
  });

  it('loads a folder of sets (ONNX test-data layout) and a folder of files', async () => {
    const root = path.join(tmp, 'sets');
    for (const [i, set] of [
      [0, 1n],
      [1, 2n],
      [10, 3n],
    ] as const) {
      write(`sets/test_data_set_${i}/input_0.pb`, pb(int64Tensor([1, 4], [set, set, set, set]).clone('')));
      write(`sets/test_data_set_${i}/input_1.pb`, pb(ones.clone('')));
      write(`sets/test_data_set_${i}/input_2.pb`, pb(zeros.clone('token_type_ids')));
      write(`sets/test_data_set_${i}/output_0.pb`, pb(floatTensor([1], [0])));
    }
    write('sets/notes.txt', 'ignored');
    const sets = loadInputsDir(root, bert);
    expect(sets).toHaveLength(3);
    expect(sets.map((s) => values(s.input_ids)[0])).toEqual([1, 2, 3]); // _10 after _1
    expect(Object.keys(sets[0]).sort()).toEqual(['attention_mask', 'input_ids', 'token_type_ids']);

    write('flat/input_ids.npy', encodeNpy(ids));
    write('flat/masks.json', JSON.stringify({ attention_mask: [[1, 1, 1, 1]], token_type_ids: [[0, 0, 0, 0]] }));
    const flat = loadInputsDir(path.join(tmp, 'flat'), bert);
    expect(flat).toHaveLength(1);
    const s = await createSession(bert);
    const out = await runSession(s, flat[0]);
    expect(out.last_hidden_state.dims).toEqual([1, 4, 32]);
    await s.release();

    write('partial/input_ids.npy', encodeNpy(ids));
    const e = thrown(() => loadInputsDir(path.join(tmp, 'partial'), bert));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toMatch(/no data for input\(s\) 'attention_mask', 'token_type_ids'; the model needs:\\ninput_ids: int64\[batch, sequence\]/);
    write('dup/a.json', JSON.stringify({ input_ids: [[1]] }));
    write('dup/input_ids.npy', encodeNpy(int64Tensor([1, 1], [1])));
    expect(() => loadInputsDir(path.join(tmp, 'dup'), bert)).toThrow(/input 'input_ids' is given more than once/);
    expect(() => loadInputsDir(path.join(tmp, 'nowhere'), bert)).toThrow(/no such folder/);
  });

  it('loadInputs takes a folder, a JSON array of sets or a single file', () => {
    expect(loadInputs(path.join(tmp, 'sets'), bert)).toHaveLength(3);
    const arr = write('multi.json', JSON.stringify([0, 1].map((v) => ({ input_ids: [[v, v]], attention_mask: [[1, 1]], token_type_ids: [[0, 0]] }))));
    const sets = loadInputs(arr, bert);
    expect(sets.map((s) => values(s.input_ids))).toEqual([
      [0, 0],
      [1, 1],
    ]);
    expect(() => loadInputs(write('single/input_ids.npy', encodeNpy(ids)), bert)).toThrow(/no data for input\(s\) 'attention_mask', 'token_type_ids'/);
    expect(() => loadInputs(path.join(tmp, 'nothing-here'), bert)).toThrow(/no such file or folder/);
  });
});
