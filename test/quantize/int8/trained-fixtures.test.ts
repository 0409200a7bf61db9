/**
 * int8 on models that mean something (issue 12's fidelity bar): the trained char-level transformer keeps its
 * predictions and its attention structure, the trained CNN keeps its classifications on images it was not
 * calibrated on. Latency is measured by `npm run bench:quantize`, not here.
 */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/onnx/io.js';
import { fidelityReference, measureFidelity } from '../../../src/measure/fidelity-probe.js';
import { quantizeDynamic, quantizeStatic } from '../../../src/quantize/int8/index.js';
import { createSession, ortToFloat32, runSession, type Feeds } from '../../../src/runtime/session.js';
import * as ort from 'onnxruntime-node';
import { argmaxRows, charEvalFeeds, cnnImages, torchFixture } from '../../helpers/torch-fixtures.js';

async function top1(file: string | ReturnType<typeof loadModel>, feeds: Feeds, output: string): Promise<number[]> {
  const s = await createSession(typeof file === 'string' ? loadModel(file) : file);
  const y = (await runSession(s, feeds))[output]!;
  await s.release();
  return argmaxRows(ortToFloat32(y), Number(y.dims[y.dims.length - 1]));
}

const agreement = (a: number[], b: number[]): number => a.filter((v, i) => v === b[i]).length / a.length;

/** Rows [from, to) of a batch tensor, as their own tensor. */
function rows(t: ort.Tensor, from: number, to: number): ort.Tensor {
  const per = t.dims.slice(1).reduce((a, b) => a * Number(b), 1);
  return new ort.Tensor('float32', (t.data as Float32Array).slice(from * per, to * per), [to - from, ...t.dims.slice(1)]);
}

describe('int8 on trained fixtures', () => {
  it('char transformer, dynamic int8 per channel: top-1 agreement >= 98% and graph F1 >= 0.95 against float32', async () => {
    const { feeds } = charEvalFeeds();
    const original = loadModel(torchFixture('char-tf-a.onnx'));
    const q = loadModel(torchFixture('char-tf-a.onnx'));
    const report = quantizeDynamic(q, {});
    expect(report.quantized.length).toBeGreaterThanOrEqual(12); // Q, K, V, output and two FFN projections per layer
    const [ref, got] = [await top1(original, feeds, 'logits'), await top1(q, feeds, 'logits')];
    expect(agreement(got, ref)).toBeGreaterThanOrEqual(0.98);
    const fid = await measureFidelity(q, await fidelityReference(original, [feeds]));
    expect(fid.graphF1.source).toBe('attention');
    expect(fid.graphF1.lastLayer).toBeGreaterThanOrEqual(0.95);
    expect(fid.graphF1.allLayers).toBeGreaterThanOrEqual(0.95);
  });

  it.each(['cnn-trained.onnx', 'cnn-wide-trained.onnx'])(
    '%s, static int8 (QDQ) calibrated on 64 images: top-1 agreement >= 98% on 200 other images',
    async (file) => {
      const calib = cnnImages('cnn-calib');
      const test = cnnImages('cnn-test');
      const original = loadModel(torchFixture(file));
      const q = loadModel(torchFixture(file));
      const calibration: Feeds[] = [0, 16, 32, 48].map((k) => ({ pixel_values: rows(calib.x, k, k + 16) }));
      const report = await quantizeStatic(q, { calibration });
      expect(report.quantized.length).toBeGreaterThanOrEqual(5); // 4 Conv + Gemm
      const feeds = { pixel_values: test.x };
      const [ref, got] = [await top1(original, feeds, 'logits'), await top1(q, feeds, 'logits')];
      expect(agreement(got, ref)).toBeGreaterThanOrEqual(0.98);
      // and it still classifies: accuracy within 2 points of float32's
      const acc = (p: number[]) => agreement(p, test.labels);
      expect(acc(got)).toBeGreaterThanOrEqual(acc(ref) - 0.02);
    },
  );
});
