import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, DataType, decodeModelBytes, encodeModel, floatTensor, loadModel, saveModel } from '../../src/index.js';
import { convertFloat } from '../../src/quantize/index.js';
import { Rng } from '../../src/util/rng.js';

// Large weights still only in the model file are converted chunk by chunk straight from the file
// (src/quantize/tensors.ts encodeStreaming): the result must be bit for bit what in-memory conversion gives.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-qstream-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function model() {
  const { model, b } = createModel({ opset: 17 });
  const n = 1100; // 1100 x 1100 = 1.21 M elements: more than one 1 M-element chunk
  const w = new Rng(3).fillNormal(new Float32Array(n * n), 0.05);
  w[7] = 70000; // clamps to 65504
  w[n * n - 1] = -1e-9; // flushes to -0
  const x = b.input('x', DataType.FLOAT, ['batch', n]);
  b.output(b.op('MatMul', [x, b.init('w', floatTensor([n, n], w))]), 'y', DataType.FLOAT, ['batch', n]);
  return model;
}

describe('streamed conversion of lazy weights', () => {
  for (const dtype of ['fp16', 'bf16'] as const) {
    it(`${dtype}: same bits and counts as in-memory conversion`, async () => {
      const file = path.join(tmp, `m-${dtype}.onnx`);
      saveModel(model(), file);
      const fromFile = loadModel(file);
      const w = fromFile.graph.initializers.get('w')!.initializer!;
      expect(w.storage).toBe('lazy');
      const inMemory = decodeModelBytes(encodeModel(model()));
      const a = convertFloat(fromFile, { dtype, keepIoTypes: true });
      const b = convertFloat(inMemory, { dtype, keepIoTypes: true });
      const bitsA = fromFile.graph.initializers.get('w')!.initializer!.rawBytes();
      const bitsB = inMemory.graph.initializers.get('w')!.initializer!.rawBytes();
      expect(Buffer.compare(Buffer.from(bitsA), Buffer.from(bitsB))).toBe(0);
      expect(a.totals.clamped).toBe(b.totals.clamped);
      expect(a.totals.flushed).toBe(b.totals.flushed);
      // bit-for-bit equal to the in-memory path, whose numerics the other quantize tests check against float32
      if (dtype === 'fp16') expect(a.totals.clamped).toBe(1);
    });
  }
});
