/**
 * npm run check:fp16-corpus — float16 / bfloat16 conversion over the ONNX backend-test models (development only).
 *
 * The corpus is Debian's `libonnx-testdata` (apt-get install -y libonnx-testdata): /usr/share/libonnx-testdata/data/
 * {node,pytorch-converted,pytorch-operator,simple}/<test>/model.onnx with test_data_set_0/input_*.pb. For every model
 * that onnxruntime-node runs in float32 on its test inputs, each conversion is applied to a fresh copy:
 *
 *   fp16            convertFloat({ dtype: 'fp16' })              (float16 compute, float16 I/O)
 *   fp16-keep-io    the same with keepIoTypes (float32 I/O: Casts at the model's boundary)
 *   bf16-weights    convertFloat({ dtype: 'bf16', weightsOnly })  (bfloat16 storage, float32 compute)
 *
 * and then: refused (convertFloat threw: the reason), unchanged (nothing to convert), load failure (verifyConverted:
 * onnxruntime refuses the model), run failure, numeric failure (an output beyond the tolerance: relative to the
 * output's range, 2e-2 for fp16 and bf16 weights, plus non-finite values where float32 had finite ones) or ok.
 * The reference is onnxruntime's own float32 run, not the expected outputs (a runtime that differs from the ONNX
 * reference is not our business here); models whose two float32 runs differ (unseeded random generators) are skipped.
 * Inputs are the test inputs, converted to the model's input types.
 *
 *   npm run check:fp16-corpus [-- --dir /usr/share/libonnx-testdata/data] [--filter regex] [--verbose] [--json out.json]
 */
import { ortMessage } from '../src/runtime/session.js';
import { cloneModel, type CorpusRow, loadCase, runCorpus, runOnce } from './corpus-lib.js';
import { compareRuns } from '../src/measure/compare-models.js';
import { convertFloat } from '../src/quantize/convert.js';
import type { ConvertOptions } from '../src/quantize/options.js';
import { verifyConverted } from '../src/quantize/verify.js';

const MODES: { name: string; opts: ConvertOptions; tol: number }[] = [
  { name: 'fp16', opts: { dtype: 'fp16' }, tol: 2e-2 },
  { name: 'fp16-keep-io', opts: { dtype: 'fp16', keepIoTypes: true }, tol: 2e-2 },
  { name: 'bf16-weights', opts: { dtype: 'bf16', weightsOnly: true, weightsMinElements: 1 }, tol: 2e-2 },
];

async function checkOne(testDir: string): Promise<CorpusRow[] | string> {
  const c = await loadCase(testDir);
  if (typeof c === 'string') return c;
  const { name, model, feeds, ref } = c;
  const rows: CorpusRow[] = [];
  for (const mode of MODES) {
    const m = cloneModel(model);
    const row: CorpusRow = { model: name, mode: mode.name, status: 'ok' };
    rows.push(row);
    try {
      const r = convertFloat(m, mode.opts);
      if (!r.modified) {
        row.status = 'unchanged';
        continue;
      }
    } catch (e) {
      row.status = 'refused';
      row.detail = ortMessage(e);
      continue;
    }
    const check = await verifyConverted(m, { convert: mode.opts });
    if (!check.loads) {
      row.status = 'load-failure';
      row.detail = `${check.kind}: ${check.message}`;
      continue;
    }
    let got: Awaited<ReturnType<typeof runOnce>>;
    try {
      got = await runOnce(m, feeds);
    } catch (e) {
      row.status = 'run-failure';
      row.detail = ortMessage(e);
      continue;
    }
    const fid = compareRuns([got], [ref]);
    const sameStrings = (name: string) => {
      const a = ref[name];
      const b = got[name];
      return a?.type === 'string' && b?.type === 'string' && JSON.stringify(a.data) === JSON.stringify(b.data);
    };
    const bad = fid.filter((o) => (o.error !== null && !sameStrings(o.name)) || o.nonFinite > 0 || (o.rangeError !== null && o.rangeError > mode.tol));
    if (bad.length) {
      row.status = 'numeric';
      row.detail = bad
        .map(
          (o) =>
            `${o.name}: ${o.error ?? `range error ${o.rangeError?.toExponential(2)}, max abs ${o.maxAbsError?.toExponential(2)}, non-finite ${o.nonFinite}`}`,
        )
        .join('; ');
    }
  }
  return rows;
}

await runCorpus(
  MODES.map((m) => m.name),
  checkOne,
  ['load-failure', 'run-failure'],
);
