/**
 * A sample of the ONNX backend-test models (Debian package libonnx-testdata) converted to float16: each must load in
 * onnxruntime and match its float32 run on the test inputs. Skipped, with a message, where the package is not
 * installed; the whole corpus is `npm run check:fp16-corpus`. The cases that failed before have fixtures built in code
 * (test/quantize/hazards.test.ts), so the regressions are covered everywhere.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { adaptFeed } from '../../src/inputs/adapt.js';
import { loadInputsDir } from '../../src/inputs/load.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes, loadModel } from '../../src/onnx/io.js';
import { compareRuns } from '../../src/measure/compare-models.js';
import { createSession, runSession, type Feeds } from '../../src/runtime/session.js';
import type { Model } from '../../src/ir/model.js';
import { convertFloat } from '../../src/quantize/convert.js';
import type { ConvertOptions } from '../../src/quantize/options.js';
import { verifyConverted } from '../../src/quantize/verify.js';

const CORPUS = '/usr/share/libonnx-testdata/data/node';
const installed = fs.existsSync(CORPUS);

/** Models that loaded wrongly before (Cast-1, EyeLike, MVN, MelWeightMatrix, scatter reductions) and a few plain ones. */
const SAMPLE = [
  'test_globalaveragepool',
  'test_globalmaxpool',
  'test_softplus',
  'test_softsign',
  'test_eyelike_populate_off_main_diagonal',
  'test_eyelike_with_dtype',
  'test_mvn',
  'test_melweightmatrix',
  'test_scatternd_add',
  'test_scatter_elements_with_duplicate_indices',
  'test_batchnorm_example',
  'test_conv_with_strides_padding',
  'test_layer_normalization_4d_axis0',
  'test_gemm_default_matrix_bias',
  'test_resize_upsample_scales_linear',
];

async function run(m: Model, feeds: Feeds) {
  const s = await createSession(m, { logLevel: 'fatal' });
  try {
    return await runSession(s, adaptFeed(feeds, m));
  } finally {
    await s.release();
  }
}

describe.skipIf(!installed)('ONNX backend-test models converted to float16 load and match (libonnx-testdata)', () => {
  const present = installed ? SAMPLE.filter((t) => fs.existsSync(path.join(CORPUS, t, 'model.onnx'))) : [];
  it.each(present.flatMap((t) => [[t, 'fp16'] as const, [t, 'fp16-keep-io'] as const]))('%s (%s)', async (test, mode) => {
    const dir = path.join(CORPUS, test);
    const model = loadModel(path.join(dir, 'model.onnx'));
    const feeds = loadInputsDir(path.join(dir, 'test_data_set_0'), model)[0];
    const ref = await run(model, feeds);
    const after = decodeModelBytes(encodeModel(model));
    const opts: ConvertOptions = { dtype: 'fp16', keepIoTypes: mode === 'fp16-keep-io' };
    convertFloat(after, opts);
    const load = await verifyConverted(after, { convert: opts });
    expect(load.message ?? '').toBe('');
    const got = await run(after, feeds);
    for (const o of compareRuns([got], [ref])) {
      expect(o.error, o.name).toBeNull();
      expect(o.nonFinite, o.name).toBe(0);
      expect(o.rangeError ?? 0, o.name).toBeLessThan(2e-2);
    }
  });
});

describe.skipIf(installed)('ONNX backend-test corpus', () => {
  it('is not installed: apt-get install -y libonnx-testdata to run a sample of it here (npm run check:fp16-corpus for all)', () => {});
});
