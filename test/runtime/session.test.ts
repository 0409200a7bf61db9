import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { OperationError } from '../../src/errors.js';
import { createModel, floatTensor, int64Tensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { float32ToFloat16, float16ToFloat32 } from '../../src/ir/float-codecs.js';
import { Tensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { loadModel, saveModel } from '../../src/onnx/io.js';
import { createSession, fromOrtTensor, ortMessage, ortToFloat32, runSession, sessionInternals, toOrtTensor } from '../../src/runtime/session.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-session-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** y = x . W with W = [[1, 2], [3, 4], [5, 6]] */
function matmulModel() {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, ['batch', 3]);
  const w = b.init('w', floatTensor([3, 2], [1, 2, 3, 4, 5, 6]));
  b.output(b.op('MatMul', [x, w]), 'y', DataType.FLOAT, ['batch', 2]);
  return model;
}
const X = () => new ort.Tensor('float32', Float32Array.from([1, 0, -1, 2, 1, 0]), [2, 3]);
const Y = [-4, -4, 5, 8];

describe('createSession / runSession', () => {
  it('runs a Model, its bytes and its file alike', async () => {
    const model = matmulModel();
    const file = path.join(tmp, 'mm.onnx');
    saveModel(model, file);
    for (const src of [model, encodeModel(model), file]) {
      const s = await createSession(src, { optimizationLevel: 'disabled', intraOpThreads: 1 });
      expect(s.inputNames).toEqual(['x']);
      const out = await runSession(s, { x: X() });
      expect(Array.from(out.y.data as Float32Array)).toEqual(Y);
      expect(out.y.dims).toEqual([2, 2]);
      await s.release();
    }
  });

  it('passes options to the runtime (optimised model file, profiling)', async () => {
    const optimized = path.join(tmp, 'mm-opt.onnx');
    const s = await createSession(matmulModel(), {
      optimizationLevel: 'all',
      intraOpThreads: 1,
      interOpThreads: 1,
      executionProviders: ['cpu'],
      optimizedModelFilePath: optimized,
      enableProfiling: true,
      profileFilePrefix: path.join(tmp, 'prof'),
    });
    await runSession(s, { x: X() });
    s.endProfiling();
    await s.release();
    expect(fs.statSync(optimized).size).toBeGreaterThan(0);
    expect(fs.readdirSync(tmp).some((f) => f.startsWith('prof'))).toBe(true);
  });

  it('applies the optimisation level (disabled keeps the graph as written)', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Relu', [b.op('Identity', [b.op('Identity', [x])])]), 'y', DataType.FLOAT, [2]);
    const ops = async (level: 'disabled' | 'basic') => {
      const file = path.join(tmp, `level-${level}.onnx`);
      const s = await createSession(model, { optimizationLevel: level, optimizedModelFilePath: file });
      await s.release();
      return loadModel(file).graph.nodes.map((n) => n.opType);
    };
    expect(await ops('disabled')).toEqual(['Identity', 'Identity', 'Relu']);
    expect(await ops('basic')).toEqual(['Relu']);
  });

  it('puts multi-line runtime messages on one line', () => {
    expect(ortMessage(new Error('Load failed:\n   node X\n\tbad  type'))).toBe('Load failed: node X bad type');
    expect(ortMessage('plain')).toBe('plain');
  });

  it('selects outputs and ignores extra feeds', async () => {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Relu', [x]), 'r', DataType.FLOAT, [2]);
    b.output(b.op('Neg', [x]), 'n', DataType.FLOAT, [2]);
    const s = await createSession(model);
    const out = await runSession(
      s,
      { x: new ort.Tensor('float32', Float32Array.from([-1, 2]), [2]), unused: new ort.Tensor('float32', new Float32Array(1), [1]) },
      ['n'],
    );
    expect(Object.keys(out)).toEqual(['n']);
    expect(Array.from(out.n.data as Float32Array)).toEqual([1, -2]);
    await expect(runSession(s, { x: new ort.Tensor('float32', new Float32Array(2), [2]) }, ['nope'])).rejects.toThrow(
      /unknown output\(s\) nope; the model's outputs are r, n/,
    );
  });

  it('turns runtime errors into one-line OperationErrors', async () => {
    const bad = await createSession(new Uint8Array([1, 2, 3, 4, 5])).catch((e) => e);
    expect(bad).toBeInstanceOf(OperationError);
    expect(bad.exitCode).toBe(1);
    expect(bad.message).toMatch(/^onnxruntime could not load model bytes: /);
    expect(bad.message).not.toContain('\n');

    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('NoSuchOp', [x]), 'y', DataType.FLOAT, [2]);
    const e2 = await createSession(model).catch((e) => e);
    expect(e2).toBeInstanceOf(OperationError);
    expect(e2.message).toMatch(/NoSuchOp/);
    expect(e2.message).not.toContain('\n');

    const s = await createSession(matmulModel());
    const e3 = await runSession(s, { x: new ort.Tensor('int64', new BigInt64Array(6), [2, 3]) }).catch((e) => e);
    expect(e3).toBeInstanceOf(OperationError);
    expect(e3.message).toMatch(/^onnxruntime failed to run the model: .*(type|tensor\(int64\))/);
    expect(e3.message).not.toContain('\n');
    const e4 = await runSession(s, {}).catch((e) => e);
    expect(e4).toBeInstanceOf(OperationError);
    expect(e4.message).toMatch(/inputs missing from the feeds: x/);
    await s.release();

    await expect(createSession('/no/such/model.onnx')).rejects.toBeInstanceOf(OperationError);
    await expect(createSession(matmulModel(), { intraOpThreads: -1 })).rejects.toThrow(/intraOpThreads/);
  });
});

describe('external data', () => {
  const mlpFile = path.join(FIXTURES, 'external/mlp.onnx');
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: 16 }, (_, i) => Math.sin(i)),
    [2, 8],
  );

  async function run(src: Parameters<typeof createSession>[0]): Promise<Float32Array> {
    const s = await createSession(src);
    try {
      return (await runSession(s, { x })).y.data as Float32Array;
    } finally {
      await s.release();
    }
  }

  it('runs a model with external data from its path or as a loaded Model', async () => {
    const fromPath = await run(mlpFile);
    const model = loadModel(mlpFile);
    expect(Array.from(await run(model))).toEqual(Array.from(fromPath));
  });

  it('sees in-memory edits of an external-data model', async () => {
    const model = loadModel(mlpFile);
    const ref = await run(model);
    const b = model.graph.initializers.get('fc2.bias')!.initializer!;
    const v = b.toFloat32().slice();
    v[0] += 1;
    b.setData(v);
    const edited = await run(model);
    expect(edited[0]).toBeCloseTo(ref[0] + 1, 5);
    expect(edited[1]).toBeCloseTo(ref[1], 6);
  });

  it('hands a large external-data model to the runtime as a file: the original when unchanged, else a temporary copy', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'ext-'));
    fs.copyFileSync(mlpFile, path.join(dir, 'mlp.onnx'));
    fs.copyFileSync(`${mlpFile}.data`, path.join(dir, 'mlp.onnx.data'));
    const saved = sessionInternals.inlineLimit;
    sessionInternals.inlineLimit = 0;
    try {
      const model = loadModel(path.join(dir, 'mlp.onnx'));
      const ref = await run(model);
      expect(Array.from(ref)).toEqual(Array.from(await run(mlpFile)));
      const b = model.graph.initializers.get('fc2.bias')!.initializer!;
      const v = b.toFloat32().slice();
      v[0] += 1;
      b.setData(v);
      const edited = await run(model);
      expect(edited[0]).toBeCloseTo(ref[0] + 1, 5);
      expect(fs.readdirSync(dir).sort()).toEqual(['mlp.onnx', 'mlp.onnx.data']); // the temporary model is gone
      // saved elsewhere, its tensors now live in the new folder's data file: the temporary model goes there
      const other = fs.mkdtempSync(path.join(tmp, 'ext2-'));
      saveModel(model, path.join(other, 'moved.onnx'), { externalData: true, sizeThreshold: 0 });
      fs.rmSync(dir, { recursive: true });
      expect(Array.from(await run(model))).toEqual(Array.from(edited));
      expect(fs.readdirSync(other).sort()).toEqual(['moved.onnx', 'moved.onnx.data']);
    } finally {
      sessionInternals.inlineLimit = saved;
    }
  });
});

describe('toOrtTensor / fromOrtTensor', () => {
  const cases: [string, Tensor][] = [
    ['float32', Tensor.fromArray(DataType.FLOAT, [2, 2], [1.5, -2, 0, 3])],
    ['float64', Tensor.fromArray(DataType.DOUBLE, [3], [1e-300, 2, -3])],
    ['float16', Tensor.fromArray(DataType.FLOAT16, [2], float32ToFloat16(Float32Array.from([0.5, -65504])))],
    ['int64', int64Tensor([3], [-(2n ** 62n), 0, 7])],
    ['int32', Tensor.fromArray(DataType.INT32, [2], [-5, 2 ** 30])],
    ['int8', Tensor.fromArray(DataType.INT8, [2], [-128, 127])],
    ['uint8', Tensor.fromArray(DataType.UINT8, [2], [0, 255])],
    ['bool', Tensor.fromArray(DataType.BOOL, [3], [1, 0, 1])],
    ['uint64', Tensor.fromArray(DataType.UINT64, [1], [2 ** 53])],
    ['string', Tensor.fromStrings([2], ['a', 'héllo'])],
  ];
  it.each(cases)('round-trips %s', (type, t) => {
    const o = toOrtTensor(t);
    expect(o.type).toBe(type);
    expect(o.dims).toEqual(t.dims);
    const back = fromOrtTensor(o, 'z');
    expect(back.name).toBe('z');
    expect(back.dataType).toBe(t.dataType);
    expect(back.dims).toEqual(t.dims);
    expect(back.sameDataAs(t)).toBe(true);
  });

  it('keeps float16 as Uint16Array bits and decodes them for comparisons', () => {
    const bits = float32ToFloat16(Float32Array.from([1, 0.333, -2]));
    const o = toOrtTensor(Tensor.fromArray(DataType.FLOAT16, [3], bits));
    expect(o.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(ortToFloat32(o))).toEqual(Array.from(float16ToFloat32(bits)));
  });

  it('feeds tensors that are unaligned views on a file buffer', async () => {
    const bytes = new Uint8Array(4 * 6 + 1);
    const view = bytes.subarray(1);
    new DataView(view.buffer, 1).setFloat32(0, 1, true);
    new DataView(view.buffer, 1).setFloat32(12, 2, true);
    const t = Tensor.fromRaw(DataType.FLOAT, [2, 3], view);
    const s = await createSession(matmulModel());
    const out = await runSession(s, { x: toOrtTensor(t) });
    expect(Array.from(out.y.data as Float32Array)).toEqual([1, 2, 2, 4]);
    await s.release();
  });

  it('refuses types onnxruntime-node has no tensors for', () => {
    expect(() => toOrtTensor(Tensor.fromArray(DataType.BFLOAT16, [1], [0]))).toThrow(/bfloat16/);
  });
});
