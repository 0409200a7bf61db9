import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBert } from '../../../fixtures/models/index.js';
import { floatTensor } from '../../../src/ir/builder.js';
import { decodeModelBytes, loadModel, saveModel } from '../../../src/onnx/io.js';
import { encodeModel } from '../../../src/onnx/encode.js';
import { runPasses } from '../../../src/optimize/registry.js';
import { concatRows, InterleavedRows } from '../../../src/passes/util/concat-rows.js';
import { Rng } from '../../../src/util/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-concat-rows-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('concatRows', () => {
  it('interleaves rows; the lazy form (sources in a file) gives the same bytes as the eager one, for any byte range', () => {
    const rows = 300;
    const cols = [70, 70, 70];
    const ts = cols.map((c, i) => floatTensor([rows, c], new Rng(i + 1).fillNormal(new Float32Array(rows * c), 1)));
    // the reference, element by element
    const expected = new Float32Array(rows * 210);
    for (let r = 0; r < rows; r++) for (let k = 0; k < 3; k++) for (let j = 0; j < 70; j++) expected[r * 210 + k * 70 + j] = ts[k]!.toFloat32()[r * 70 + j]!;
    const eager = concatRows(ts, rows, 70); // 252 KB: interleaved lazily even from memory
    expect(eager.dims).toEqual([rows, 210]);
    expect(eager.storage).toBe('lazy');
    expect(Buffer.from(eager.rawBytes()).equals(Buffer.from(expected.buffer))).toBe(true);
    // a small result is packed at once
    const small = concatRows(
      ts.map((t) => floatTensor([10, 70], t.toFloat32().subarray(0, 700))),
      10,
      70,
    );
    expect(small.storage).toBe('raw');
    expect(Buffer.from(small.rawBytes()).equals(Buffer.from(expected.buffer, 0, 10 * 210 * 4))).toBe(true);
    // the same tensors read from a file (each 84 KB: kept lazy by the loader)
    const model = decodeModelBytes(encodeModel(buildBert({ layers: 1 })));
    ts.forEach((t, i) => model.graph.addInitializer(`extra${i}`, t));
    const file = path.join(tmp, 'src.onnx');
    saveModel(model, file);
    const loaded = loadModel(file);
    const fromFile = [0, 1, 2].map((i) => loaded.graph.initializers.get(`extra${i}`)!.initializer!);
    expect(fromFile.every((t) => t.storage === 'lazy')).toBe(true);
    const lazy = concatRows(fromFile, rows, 70);
    const bytes = lazy.rawForWrite();
    expect(bytes).toBeInstanceOf(InterleavedRows);
    const whole = (bytes as InterleavedRows).read();
    expect(Buffer.from(whole).equals(Buffer.from(eager.rawBytes()))).toBe(true);
    for (const [from, n] of [
      [0, 1],
      [279, 2],
      [280, 280],
      [839, 843],
      [whole.length - 3, 3],
      [5, whole.length - 5],
    ]) {
      const dst = new Uint8Array(n!);
      (bytes as InterleavedRows).readInto(dst, from!, n!);
      expect(Buffer.from(dst).equals(Buffer.from(whole.subarray(from!, from! + n!)))).toBe(true);
    }
    expect(fromFile.every((t) => !t.isLoaded)).toBe(true);
  });

  it('fuse-attention on a model loaded from a file packs Q/K/V lazily; the saved result equals fusing in memory', () => {
    const bert = buildBert({ layers: 2, hidden: 128, heads: 4, intermediate: 256 }); // 128 x 128 weights: 64 KiB, lazy
    const file = path.join(tmp, 'bert.onnx');
    saveModel(bert, file);
    const fromFile = loadModel(file);
    const inMemory = decodeModelBytes(encodeModel(bert));
    for (const m of [fromFile, inMemory]) runPasses(m, ['fuse-attention'], { target: 'ort', verify: true });
    const packed = [...fromFile.graph.initializers.values()].filter((v) => v.name.endsWith('.qkv_weight'));
    expect(packed).toHaveLength(2);
    expect(packed.every((v) => v.initializer!.storage === 'lazy' && !v.initializer!.isLoaded)).toBe(true);
    const a = path.join(tmp, 'a.onnx');
    const b = path.join(tmp, 'b.onnx');
    saveModel(fromFile, a);
    saveModel(inMemory, b);
    expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
  });
});
