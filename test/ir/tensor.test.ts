import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { MAX_OPEN_EXTERNAL_FILES } from '../../src/bytes/external-files.js';
import { Tensor, TensorError, type ExternalRef } from '../../src/ir/tensor.js';
import { loadModel, saveModel } from '../../src/onnx/io.js';
import { FileRange } from '../../src/bytes/sources.js';
import { convertFloat } from '../../src/quantize/convert.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-tensor-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function externalTensor(i: number, values: number[]): Tensor {
  const location = `t${i}.bin`;
  const file = path.join(tmp, location);
  fs.writeFileSync(file, new Uint8Array(Float32Array.from(values).buffer));
  const ref: ExternalRef = { location, offset: 0, length: values.length * 4, baseDir: tmp, path: file, entries: [{ key: 'location', value: location }] };
  return Tensor.fromExternal(DataType.FLOAT, [values.length], ref, `t${i}`);
}

describe('Tensor.lazyBytes of external data', () => {
  it('streams from one open file per data file, up to MAX_OPEN_EXTERNAL_FILES; past that, tensors are read into memory', () => {
    const n = MAX_OPEN_EXTERNAL_FILES + 20;
    const tensors = Array.from({ length: n }, (_, i) => externalTensor(i, [i, i + 0.5, -i, 7]));
    const lazy = tensors.map((t) => t.lazyBytes());
    expect(lazy.filter((l) => l instanceof FileRange)).toHaveLength(MAX_OPEN_EXTERNAL_FILES);
    expect(lazy.slice(MAX_OPEN_EXTERNAL_FILES).every((l) => l === undefined)).toBe(true);
    // either way the bytes are right
    tensors.forEach((t, i) => {
      const w = t.rawForWrite();
      const bytes = w instanceof Uint8Array ? w : w.read();
      expect([...new Float32Array(bytes.slice().buffer)]).toEqual([i, i + 0.5, -i, 7]);
    });
    // a second tensor in an already open file shares it
    const again = Tensor.fromExternal(DataType.FLOAT, [4], tensors[0]!.external!, 'again');
    expect((again.lazyBytes() as FileRange).source).toBe((lazy[0] as FileRange).source);
  });

  it('a data file shorter than the tensor, or missing, is a TensorError naming it', () => {
    const t = externalTensor(9999, [1, 2, 3, 4]);
    fs.truncateSync(t.external!.path, 8);
    expect(() => t.lazyBytes()).toThrow(/external data file t9999\.bin ends before offset 0 \+ 16/);
    fs.rmSync(t.external!.path);
    expect(() => t.lazyBytes()).toThrow(TensorError);
  });
});

describe('Tensor.countNonZero of data still in a file', () => {
  it('counts a piece at a time without loading: a float32 weight, then its pending float16 conversion', () => {
    const n = 600_000; // > 2^18: converted when saved
    const w = new Float32Array(n);
    for (let i = 0; i < n; i++) w[i] = i % 3 === 0 ? 0 : i % 7 === 0 ? 1e-9 : (i % 100) / 10; // 1e-9 flushes to 0 in float16
    const expect32 = [...w].filter((x) => x !== 0).length;
    const expect16 = [...w].filter((x) => x !== 0 && x !== Math.fround(1e-9)).length;
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [1, n]);
    b.output(b.op('Mul', [x, b.init('w', floatTensor([n], w))]), 'y', DataType.FLOAT, [1, n]);
    const file = path.join(tmp, 'count.onnx');
    saveModel(model, file);
    const m = loadModel(file);
    const t = m.graph.initializers.get('w')!.initializer!;
    expect(t.countNonZero()).toBe(expect32);
    expect(t.isLoaded).toBe(false);
    convertFloat(m, { dtype: 'fp16' });
    expect(t.dataType).toBe(DataType.FLOAT16);
    expect(t.countNonZero()).toBe(expect16);
    expect(t.isLoaded).toBe(false);
  });
});

describe('Tensor.countNonZero of raw bytes at an unaligned offset', () => {
  it('counts through a small aligned buffer (no whole copy): float32 across 1 MiB pieces, float16, int64', () => {
    const n = 700_000; // 2.8 MB: three 1 MiB pieces
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = i % 5 === 0 ? 0 : i % 11 === 0 ? -0 : i % 13 === 0 ? Number.NaN : i * 0.25;
    const expected = [...values].filter((x) => x !== 0).length;
    const backing = new Uint8Array(n * 4 + 3);
    backing.set(new Uint8Array(values.buffer), 3); // offset 3: not a float32 boundary
    const t = Tensor.fromRaw(DataType.FLOAT, [n], backing.subarray(3));
    expect(t.rawBytes().byteOffset % 4).toBe(3);
    expect(t.countNonZero()).toBe(expected);
    const h = new Uint8Array(2 * 4 + 1);
    h.set(new Uint8Array(Uint16Array.from([0x0000, 0x8000, 0x3c00, 0x0001]).buffer), 1); // +0, -0, 1, smallest subnormal
    expect(Tensor.fromRaw(DataType.FLOAT16, [4], h.subarray(1)).countNonZero()).toBe(2);
    const l = new Uint8Array(3 * 8 + 5);
    l.set(new Uint8Array(BigInt64Array.from([0n, -1n, 2n ** 40n]).buffer), 5);
    expect(Tensor.fromRaw(DataType.INT64, [3], l.subarray(5)).countNonZero()).toBe(2);
  });
});
