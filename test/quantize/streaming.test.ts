import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { createModel, DataType, decodeModelBytes, encodeModel, floatTensor, loadModel, saveModel } from '../../src/index.js';
import { ModelFormatError } from '../../src/errors.js';
import { compareModels } from '../../src/measure/compare-models.js';
import { convertFloat } from '../../src/quantize/index.js';
import { ConvertedWeight } from '../../src/quantize/tensors.js';
import { Rng } from '../../src/util/rng.js';

// Large weights still only in the model file are counted at conversion and encoded when saved, streamed from the
// source file through the kernel into the output (src/quantize/tensors.ts ConvertedWeight): the saved file must be
// byte for byte what in-memory conversion gives, and the model must compute what the float32 one does.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-qstream-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const N = 1100; // 1100 x 1100 = 1.21 M elements: more than one 1 M-element kernel chunk

function model(opts: { clamp?: boolean } = {}) {
  const { model, b } = createModel({ opset: 17 });
  const w = new Rng(3).fillNormal(new Float32Array(N * N), 0.05);
  if (opts.clamp !== false) w[7] = 70000; // clamps to 65504
  w[N * N - 1] = -1e-9; // flushes to -0
  const x = b.input('x', DataType.FLOAT, ['batch', N]);
  b.output(b.op('MatMul', [x, b.init('w', floatTensor([N, N], w))]), 'y', DataType.FLOAT, ['batch', N]);
  return model;
}

const fileBytes = (f: string) => fs.readFileSync(f);

describe('deferred conversion of weights still in the model file', () => {
  for (const [dtype, weightsOnly] of [
    ['fp16', false],
    ['bf16', false],
    ['bf16', true],
  ] as const) {
    it(`${dtype}${weightsOnly ? ' weights-only' : ''}: counted at conversion, encoded on save; same file and counts as in-memory conversion`, () => {
      const file = path.join(tmp, `m-${dtype}-${weightsOnly}.onnx`);
      saveModel(model(), file);
      const fromFile = loadModel(file);
      const a = convertFloat(fromFile, { dtype, keepIoTypes: true, weightsOnly, clamp: true });
      const w = fromFile.graph.initializers.get('w')!.initializer!;
      expect(w.storage).toBe('lazy');
      expect(w.isLoaded).toBe(false);
      expect(w.rawForWrite()).toBeInstanceOf(ConvertedWeight);
      const inMemory = decodeModelBytes(encodeModel(model()));
      const b = convertFloat(inMemory, { dtype, keepIoTypes: true, weightsOnly, clamp: true });
      expect(inMemory.graph.initializers.get('w')!.initializer!.storage).toBe('raw');
      expect(a.totals).toEqual(b.totals);
      if (dtype === 'fp16') expect([a.totals.clamped, a.totals.flushed]).toEqual([1, b.totals.flushed]);
      if (dtype === 'fp16') expect(a.totals.flushed).toBeGreaterThanOrEqual(1);

      const outA = path.join(tmp, `a-${dtype}-${weightsOnly}.onnx`);
      const outB = path.join(tmp, `b-${dtype}-${weightsOnly}.onnx`);
      saveModel(fromFile, outA);
      saveModel(inMemory, outB);
      expect(fileBytes(outA).equals(fileBytes(outB))).toBe(true);
      expect(w.isLoaded).toBe(false); // saving streamed it: nothing was kept
      // and reading the tensor gives the same bits as the in-memory one
      const bitsA = Buffer.from(w.rawBytes());
      expect(bitsA.equals(Buffer.from(inMemory.graph.initializers.get('w')!.initializer!.rawBytes()))).toBe(true);
    });
  }

  it('any byte range of a converted weight is the matching slice of the whole (odd offsets, chunk edges)', () => {
    const file = path.join(tmp, 'ranges.onnx');
    saveModel(model(), file);
    const m = loadModel(file);
    convertFloat(m, { dtype: 'fp16', keepIoTypes: true, clamp: true });
    const lazy = m.graph.initializers.get('w')!.initializer!.rawForWrite() as ConvertedWeight;
    const whole = lazy.read();
    expect(whole.length).toBe(N * N * 2);
    const chunkBytes = (1 << 20) * 2;
    for (const [from, n] of [
      [0, 1],
      [1, 1],
      [1, 2],
      [3, 5],
      [chunkBytes - 3, 7],
      [chunkBytes - 1, 1],
      [chunkBytes, 100_000],
      [whole.length - 1, 1],
      [5, whole.length - 5],
      [0, 0],
    ]) {
      const dst = new Uint8Array(n! + 2).fill(0xee);
      lazy.readInto(dst.subarray(1, 1 + n!), from!, n!);
      expect(Buffer.from(dst.subarray(1, 1 + n!)).equals(Buffer.from(whole.subarray(from!, from! + n!)))).toBe(true);
      expect([dst[0], dst[n! + 1]]).toEqual([0xee, 0xee]);
    }
    expect(() => lazy.readInto(new Uint8Array(4), whole.length - 2, 4)).toThrow(RangeError);
    // the pieces the writer streams are the whole, in order
    const pieces: Buffer[] = [];
    lazy.forEachPiece((p) => pieces.push(Buffer.from(p)), new Uint8Array(16));
    expect(pieces.length).toBe(2); // two kernel chunks (1.21 M elements), not 16-byte buffer fills
    expect(Buffer.concat(pieces).equals(Buffer.from(whole))).toBe(true);
  });

  // y sums 1100 products of N(0, 1) inputs and N(0, 0.05) weights: float16 weights, inputs and outputs keep it within
  // 0.1% of the output range; bfloat16 weights (8 significant bits) with float32 compute within 1%
  for (const [dtype, weightsOnly, tolerance] of [
    ['fp16', false, 1e-3],
    ['bf16', true, 1e-2],
  ] as const) {
    it(`the saved ${dtype}${weightsOnly ? ' weights-only' : ''} model computes what the float32 one does (onnxruntime CPU, max rel error < ${tolerance})`, async () => {
      const file = path.join(tmp, `run-${dtype}.onnx`);
      const out = path.join(tmp, `run-${dtype}-low.onnx`);
      saveModel(model({ clamp: false }), file);
      const m = loadModel(file);
      convertFloat(m, { dtype, weightsOnly });
      saveModel(m, out);
      const feeds = synthesizeInputs(loadModel(file), { dims: { batch: 2 }, seed: 1, count: 1 });
      const [y] = await compareModels(loadModel(file), loadModel(out), feeds);
      expect(y!.rangeError).toBeLessThan(tolerance);
      expect(y!.rangeError).toBeGreaterThan(0); // it was converted
      expect(y!.cosine).toBeGreaterThan(0.9999);
    });
  }

  it('saving over the input model works: the conversion reads the file that was loaded, not its replacement', () => {
    const file = path.join(tmp, 'inplace.onnx');
    const ref = path.join(tmp, 'inplace-ref.onnx');
    saveModel(model(), file);
    const expected = loadModel(file);
    convertFloat(expected, { dtype: 'fp16', clamp: true });
    saveModel(expected, ref);
    const m = loadModel(file);
    convertFloat(m, { dtype: 'fp16', clamp: true });
    saveModel(m, file, { overwriteInput: true });
    expect(fileBytes(file).equals(fileBytes(ref))).toBe(true);
    // the tensors still read the original (now replaced) file: saving again gives the same bytes
    const again = path.join(tmp, 'inplace-again.onnx');
    saveModel(m, again);
    expect(fileBytes(again).equals(fileBytes(ref))).toBe(true);
  });

  it('external data: converted from the data file when saved, also when the save replaces that very file', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'ext-'));
    const file = path.join(dir, 'm.onnx');
    saveModel(model(), file, { externalData: true });
    expect(fs.existsSync(`${file}.data`)).toBe(true);
    // reference: the same model converted in memory, saved with external data elsewhere
    const refDir = fs.mkdtempSync(path.join(tmp, 'ext-ref-'));
    const inMemory = decodeModelBytes(encodeModel(model()));
    const b = convertFloat(inMemory, { dtype: 'fp16', clamp: true });
    saveModel(inMemory, path.join(refDir, 'm.onnx'), { externalData: true });

    const m = loadModel(file);
    const w = m.graph.initializers.get('w')!.initializer!;
    expect(w.isExternal).toBe(true);
    const a = convertFloat(m, { dtype: 'fp16', clamp: true });
    expect(a.totals).toEqual(b.totals);
    expect(w.rawForWrite()).toBeInstanceOf(ConvertedWeight);
    // save over the input: the new data file replaces the one the conversion reads from
    saveModel(m, file, { overwriteInput: true, externalData: true });
    for (const name of ['m.onnx', 'm.onnx.data']) expect(fileBytes(path.join(dir, name)).equals(fileBytes(path.join(refDir, name)))).toBe(true);
    // and the tensors in memory still give the right bytes
    const again = path.join(dir, 'again.onnx');
    saveModel(m, again, { externalData: false });
    const inline = path.join(refDir, 'inline.onnx');
    saveModel(inMemory, inline);
    expect(fileBytes(again).equals(fileBytes(inline))).toBe(true);
  });

  for (const external of [false, true]) {
    it(`a source ${external ? 'data file' : 'model file'} truncated before saving: a clear error (exit 2), no output, no temp file`, () => {
      const dir = fs.mkdtempSync(path.join(tmp, 'trunc-'));
      const file = path.join(dir, 'm.onnx');
      saveModel(model(), file, { externalData: external });
      const m = loadModel(file);
      convertFloat(m, { dtype: 'fp16', clamp: true });
      fs.truncateSync(external ? `${file}.data` : file, 100_000);
      const out = path.join(dir, 'out.onnx');
      let err: unknown;
      try {
        saveModel(m, out, { externalData: false });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ModelFormatError);
      expect((err as ModelFormatError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(/ended at byte \d+ while being read .*changed or truncated while in use/);
      expect(fs.readdirSync(dir).filter((n) => n.startsWith('out') || n.startsWith('.out'))).toEqual([]);
    });
  }

  it('without clamp, a weight with a value beyond 65504 stays float32 with its reader, checked without loading it', async () => {
    const file = path.join(tmp, 'out-of-range.onnx');
    saveModel(model(), file);
    const m = loadModel(file);
    const report = convertFloat(m, { dtype: 'fp16', keepIoTypes: true });
    const t = m.graph.initializers.get('w')!.initializer!;
    expect(t.dataType).toBe(DataType.FLOAT);
    expect(t.isLoaded).toBe(false);
    expect(report.outOfRange).toEqual([{ name: 'w', values: 1, maxAbs: 70000, action: 'kept', readers: [expect.stringMatching(/^MatMul/)] }]);
    expect(report.nodes.kept).toEqual([expect.objectContaining({ opType: 'MatMul', reason: 'out-of-range' })]);
    const original = loadModel(file);
    const f = await compareModels(original, m, synthesizeInputs(original, { dims: { batch: 2 }, seed: 1 }));
    expect(f[0].maxAbsError).toBe(0);
  });

  it('a weight whose every value flushes is converted in memory, raised to the smallest subnormal (not deferred)', () => {
    const file = path.join(tmp, 'tiny.onnx');
    const { model: m0, b } = createModel({ opset: 17 });
    const w = new Float32Array(N * N).fill(1e-12);
    const x = b.input('x', DataType.FLOAT, ['batch', N]);
    b.output(b.op('MatMul', [x, b.init('w', floatTensor([N, N], w))]), 'y', DataType.FLOAT, ['batch', N]);
    saveModel(m0, file);
    const m = loadModel(file);
    const report = convertFloat(m, { dtype: 'fp16' });
    const t = m.graph.initializers.get('w')!.initializer!;
    expect(t.storage).toBe('raw');
    expect(report.tensors.find((r) => r.name === 'w')!.raised).toBe(N * N);
    expect(new Uint16Array(t.rawBytes().buffer.slice(0, 8))[0]).toBe(0x0001);
  });
});
