/**
 * npm run check:int8-corpus — integer quantization over the ONNX backend-test models (development only).
 *
 * The corpus is Debian's `libonnx-testdata` (apt-get install -y libonnx-testdata), read as check:fp16-corpus reads
 * it. For every model that onnxruntime-node runs in float32 on its test inputs, weights that the node tests feed as
 * graph inputs (MatMul/Gemm B, Conv W, Gather tables) are first made constants with their test values
 * (corpus-lib.ts freezeWeights), then each rewrite is applied to a fresh copy:
 *
 *   int8          quantizeDynamic (DynamicQuantizeMatMul, per channel, int8 embeddings of any size)
 *   int8-integer  quantizeDynamic format 'integer' (DynamicQuantizeLinear + MatMulInteger + Mul)
 *   int8-static   quantizeStatic calibrated on the test input itself (QDQ around Conv/MatMul/Gemm)
 *   int4          quantizeInt4 (MatMulNBits, block 16, weights of any size)
 *
 * and then: refused (the rewrite threw), unchanged (nothing quantized), load failure (onnxruntime refuses the model),
 * run failure, numeric (an output with cosine below 0.98 against float32, or non-finite where float32 is finite:
 * reported, not a failure of loading or running) or ok. The reference is onnxruntime's own float32 run; models whose
 * two float32 runs differ (unseeded random generators) are skipped. Exit 1 when any model fails to load or run.
 *
 *   npm run check:int8-corpus [-- --dir /usr/share/libonnx-testdata/data] [--filter regex] [--verbose] [--json out.json]
 */
import type { Model } from '../src/ir/model.js';
import { compareRuns } from '../src/measure/compare-models.js';
import type { IntQuantizeReport } from '../src/quantize/int8/index.js';
import { quantizeDynamic, quantizeInt4, quantizeStatic } from '../src/quantize/int8/index.js';
import { ortMessage, type Feeds } from '../src/runtime/session.js';
import { cloneModel, type CorpusRow, loadCase, runCorpus, runOnce } from './corpus-lib.js';

export const INT_MODES: { name: string; apply: (m: Model, feeds: Feeds) => Promise<IntQuantizeReport> | IntQuantizeReport }[] = [
  { name: 'int8', apply: (m) => quantizeDynamic(m, { embeddings: { minElements: 0 } }) },
  { name: 'int8-integer', apply: (m) => quantizeDynamic(m, { format: 'integer', embeddings: { minElements: 0 } }) },
  { name: 'int8-static', apply: (m, f) => quantizeStatic(m, { calibration: [f] }) },
  { name: 'int4', apply: (m) => quantizeInt4(m, { blockSize: 16 }) },
];

const MIN_COSINE = 0.98;

async function checkOne(testDir: string): Promise<CorpusRow[] | string> {
  const c = await loadCase(testDir, { freeze: true });
  if (typeof c === 'string') return c;
  const { name, model, feeds, ref } = c;
  const rows: CorpusRow[] = [];
  for (const mode of INT_MODES) {
    const m = cloneModel(model);
    const row: CorpusRow = { model: name, mode: mode.name, status: 'ok' };
    rows.push(row);
    try {
      const r = await mode.apply(m, feeds);
      if (!r.quantized.length) {
        row.status = 'unchanged';
        continue;
      }
    } catch (e) {
      row.status = 'refused';
      row.detail = ortMessage(e);
      continue;
    }
    let got: Awaited<ReturnType<typeof runOnce>>;
    try {
      got = await runOnce(m, feeds);
    } catch (e) {
      const msg = ortMessage(e);
      row.status = /session|load|Load model|Type Error|ShapeInferenceError|NOT_IMPLEMENTED|INVALID_GRAPH/i.test(msg) ? 'load-failure' : 'run-failure';
      row.detail = msg;
      continue;
    }
    const bad = compareRuns([got], [ref]).filter((o) => o.error !== null || o.nonFinite > 0 || (o.cosine !== null && o.cosine < MIN_COSINE));
    if (bad.length) {
      row.status = 'numeric';
      row.detail = bad.map((o) => `${o.name}: ${o.error ?? `cosine ${o.cosine?.toFixed(4)}, non-finite ${o.nonFinite}`}`).join('; ');
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`)
  await runCorpus(
    INT_MODES.map((m) => m.name),
    checkOne,
    ['load-failure', 'run-failure', 'refused'],
  );
