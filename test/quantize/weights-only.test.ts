/**
 * --weights-only: weights stored float16 / bfloat16 with a Cast to float32 after each; compute stays float32, so
 * bfloat16 models run on onnxruntime's CPU provider too.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { bfloat16ToFloat32 } from '../../src/ir/float-codecs.js';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes, forEachTensor, loadModel } from '../../src/onnx/io.js';
import { convertFloat } from '../../src/quantize/convert.js';
import { checkTypes } from '../../src/quantize/type-check.js';
import { expectSameOutputs } from '../helpers/equivalence.js';

const fixtures = path.resolve(__dirname, '../../fixtures');
const DIMS: Record<string, Record<string, number>> = {
  'bert-tiny.onnx': { batch: 2, sequence: 16 },
  'cnn-small.onnx': { batch: 2 },
  'control-flow.onnx': { batch: 2 },
  'paddle-style.onnx': { batch: 2 },
};

function opHistogram(m: Model): Record<string, number> {
  const h: Record<string, number> = {};
  for (const n of m.allNodes()) if (n.opType !== 'Cast') h[n.opType] = (h[n.opType] ?? 0) + 1;
  return h;
}

function weightBytes(m: Model, type: number): number {
  let n = 0;
  forEachTensor(m, (t) => {
    if (t.dataType === type) n += t.byteLength;
  });
  return n;
}

describe('weights-only conversion', () => {
  // bfloat16 keeps 8 significant bits: outputs within 2% of their range (float16: 0.2%)
  const TOL = { bf16: { rtol: 2e-2, atol: 2e-2 }, fp16: { rtol: 5e-3, atol: 2e-3 } } as const;

  for (const dtype of ['bf16', 'fp16'] as const) {
    it.each(Object.keys(DIMS).filter((f) => dtype === 'fp16' || f !== 'paddle-style.onnx'))(`${dtype}: %s runs on CPU and matches float32`, async (file) => {
      const before = loadModel(path.join(fixtures, file));
      const after = loadModel(path.join(fixtures, file));
      const r = convertFloat(after, { dtype, weightsOnly: true });
      verify(after);
      expect(checkTypes(after)).toEqual([]);
      expect(r.mode).toBe('weights-only');
      expect(r.modified).toBe(true);
      // compute is unchanged: same operators, plus one Cast to float32 per stored weight
      expect(opHistogram(after)).toEqual(opHistogram(before));
      const casts = [...after.allNodes()].filter((n) => n.opType === 'Cast' && n.getInt('to') === DataType.FLOAT);
      expect(casts.length).toBe(r.totals.tensors + [...before.allNodes()].filter((n) => n.opType === 'Cast' && n.getInt('to') === DataType.FLOAT).length);
      // model I/O stays float32, so the original's feeds work as they are
      expect([...r.inputs, ...r.outputs].every((v) => v.dtype !== 'float16' && v.dtype !== 'bfloat16')).toBe(true);
      const low = dtype === 'bf16' ? DataType.BFLOAT16 : DataType.FLOAT16;
      expect(weightBytes(after, low) * 2).toBe(r.totals.bytesBefore);
      await expectSameOutputs(before, after, { dims: DIMS[file], ...TOL[dtype], sets: 2 });
    });
  }

  it('an opset-11 model cannot Cast from bfloat16: left unchanged, with a warning', () => {
    const m = loadModel(path.join(fixtures, 'paddle-style.onnx'));
    const r = convertFloat(m, { dtype: 'bf16', weightsOnly: true });
    expect(r.modified).toBe(false);
    expect(r.warnings.join('\n')).toMatch(/opset 11 cannot Cast from bfloat16/);
  });

  it('stores each weight once, rounded to nearest even; small tensors and scales stay float32; a second run is a no-op', async () => {
    const w = Float32Array.from({ length: 16 }, (_, i) => 1 + i / 256 + 1 / 512);
    const { model: m2, b: b2 } = createModel({ opset: 17 });
    const x2 = b2.input('x', DataType.FLOAT, [1, 1, 4, 4]);
    const y = b2.op('Mul', [x2, b2.init('W', floatTensor([4, 4], w))]);
    const up = b2.op('Resize', [y, null, b2.init('scales', floatTensor([4], [1, 1, 2, 2]))], { mode: 'nearest' });
    b2.output(b2.op('Add', [up, b2.init('eps', floatTensor([1], [1e-3]))]), 'y', DataType.FLOAT);
    const ref = decodeModelBytes(encodeModel(m2));
    const r = convertFloat(m2, { dtype: 'bf16', weightsOnly: true, weightsMinElements: 4 });
    expect(r.tensors.map((t) => t.name)).toEqual(['W']);
    // scales is read as a scale by Resize, eps has 1 element: both float32
    expect(m2.graph.initializers.get('scales')!.initializer!.dataType).toBe(DataType.FLOAT);
    expect(m2.graph.initializers.get('eps')!.initializer!.dataType).toBe(DataType.FLOAT);
    const stored = bfloat16ToFloat32(m2.graph.initializers.get('W')!.initializer!.data() as Uint16Array);
    // 1 + i/256 + 1/512 lies exactly between two bfloat16 values (step 1/128): ties go to the even one
    expect(Array.from(stored.slice(0, 4))).toEqual([1, 1 + 2 / 256, 1 + 2 / 256, 1 + 4 / 256]);
    await expectSameOutputs(ref, m2, { rtol: 1e-2, atol: 1e-2 });
    const bytes = encodeModel(m2);
    const again = convertFloat(m2, { dtype: 'bf16', weightsOnly: true, weightsMinElements: 4 });
    expect(again.modified).toBe(false);
    expect(again.message).toMatch(/nothing to convert: the model is already bfloat16/);
    expect(Buffer.compare(encodeModel(m2), bytes)).toBe(0);
  });
});
