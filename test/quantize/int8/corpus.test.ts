/**
 * A sample of the ONNX backend-test models (Debian package libonnx-testdata) quantized to int8 (dynamic, its integer
 * form, and static calibrated on the test input) with their weights made constants: each must load and run in
 * onnxruntime and stay close to its float32 run. Skipped, with a message, where the package is not installed; the
 * whole corpus is `npm run check:int8-corpus`. The failure it found (int8 embeddings below opset 7) has a fixture
 * built in code in embeddings.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInputsDir } from '../../../src/inputs/load.js';
import { compareRuns } from '../../../src/measure/compare-models.js';
import { loadModel } from '../../../src/onnx/io.js';
import { CORPUS_DIR, freezeWeights, runOnce } from '../../../scripts/corpus-lib.js';
import { INT_MODES } from '../../../scripts/check-int8-corpus.js';
import { copyModel } from './helpers.js';

const installed = fs.existsSync(path.join(CORPUS_DIR, 'node'));

/** Tests that quantize (MatMul, Gemm with every bias form, Conv), and the opset-6 embedding that failed to load. */
const SAMPLE = [
  'node/test_matmul_2d',
  'node/test_gemm_alpha',
  'node/test_gemm_beta',
  'node/test_gemm_default_scalar_bias',
  'node/test_gemm_default_single_elem_vector_bias',
  'node/test_gemm_transposeB',
  'node/test_conv_with_strides_padding',
  'node/test_basic_conv_with_padding',
  'pytorch-converted/test_Embedding',
];

describe.skipIf(!installed)('ONNX backend-test models quantized to int8 load, run and match (libonnx-testdata)', () => {
  const present = installed ? SAMPLE.filter((t) => fs.existsSync(path.join(CORPUS_DIR, t, 'model.onnx'))) : [];
  const modes = INT_MODES.filter((m) => m.name !== 'int4');
  it.each(present.flatMap((t) => modes.map((m) => [t, m.name] as const)))('%s (%s)', async (test, modeName) => {
    const dir = path.join(CORPUS_DIR, test);
    const model = loadModel(path.join(dir, 'model.onnx'));
    const feeds = freezeWeights(model, loadInputsDir(path.join(dir, 'test_data_set_0'), model)[0]!).feeds;
    const ref = await runOnce(model, feeds);
    const q = copyModel(model);
    await modes.find((m) => m.name === modeName)!.apply(q, feeds);
    const got = await runOnce(q, feeds);
    for (const o of compareRuns([got], [ref])) {
      expect(o.error, o.name).toBeNull();
      expect(o.nonFinite, o.name).toBe(0);
      expect(o.cosine ?? 1, o.name).toBeGreaterThan(0.98);
    }
  });
});

describe.skipIf(installed)('ONNX backend-test corpus (int8)', () => {
  it('is not installed: apt-get install -y libonnx-testdata to run a sample of it here (npm run check:int8-corpus for all)', () => {});
});
