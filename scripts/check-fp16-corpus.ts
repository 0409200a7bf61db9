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
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadInputsDir } from '../src/inputs/load.js';
import type { Model } from '../src/ir/model.js';
import { encodeModel } from '../src/onnx/encode.js';
import { decodeModelBytes, loadModel } from '../src/onnx/io.js';
import { ortMessage, type Feeds } from '../src/runtime/session.js';
import { CORPUS_DIR, corpusModels, runOnce } from './corpus-lib.js';
import { compareRuns } from '../src/measure/compare-models.js';
import { convertFloat } from '../src/quantize/convert.js';
import type { ConvertOptions } from '../src/quantize/options.js';
import { verifyConverted } from '../src/quantize/verify.js';

type Status = 'refused' | 'unchanged' | 'load-failure' | 'run-failure' | 'numeric-failure' | 'ok';

interface Row {
  model: string;
  mode: string;
  status: Status;
  detail?: string;
}

const MODES: { name: string; opts: ConvertOptions; tol: number }[] = [
  { name: 'fp16', opts: { dtype: 'fp16' }, tol: 2e-2 },
  { name: 'fp16-keep-io', opts: { dtype: 'fp16', keepIoTypes: true }, tol: 2e-2 },
  { name: 'bf16-weights', opts: { dtype: 'bf16', weightsOnly: true, weightsMinElements: 1 }, tol: 2e-2 },
];

function args() {
  const a = process.argv.slice(2);
  const out = { dir: CORPUS_DIR, filter: undefined as RegExp | undefined, verbose: false, json: undefined as string | undefined };
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--dir') out.dir = a[++i];
    else if (a[i] === '--filter') out.filter = new RegExp(a[++i]);
    else if (a[i] === '--verbose') out.verbose = true;
    else if (a[i] === '--json') out.json = a[++i];
    else throw new Error(`unknown argument ${a[i]}; use --dir, --filter, --verbose, --json`);
  }
  return out;
}

const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));

async function checkOne(testDir: string): Promise<Row[] | string> {
  let model: Model;
  let feeds: Feeds;
  try {
    model = loadModel(path.join(testDir, 'model.onnx'));
    feeds = loadInputsDir(path.join(testDir, 'test_data_set_0'), model)[0];
  } catch (e) {
    return `cannot load the model or its inputs: ${ortMessage(e)}`;
  }
  let ref: Awaited<ReturnType<typeof runOnce>>;
  try {
    ref = await runOnce(model, feeds);
  } catch (e) {
    return `onnxruntime cannot run it in float32: ${ortMessage(e)}`;
  }
  // random generators without a seed: two float32 runs differ, so outputs cannot be compared
  const again = await runOnce(model, feeds);
  const noise = compareRuns([again], [ref]).some((o) => (o.maxAbsError ?? 0) > 0);
  if (noise) return 'nondeterministic: two float32 runs differ';
  const rows: Row[] = [];
  const name = path.relative(path.dirname(path.dirname(testDir)), testDir);
  for (const mode of MODES) {
    const m = clone(model);
    const row: Row = { model: name, mode: mode.name, status: 'ok' };
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
      row.status = 'numeric-failure';
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

async function main() {
  const a = args();
  const dirs = corpusModels(a.dir).filter((d) => !a.filter || a.filter.test(d));
  if (!dirs.length) {
    console.error(`no models under ${a.dir} (apt-get install -y libonnx-testdata)`);
    process.exit(2);
  }
  const skipped: { model: string; why: string }[] = [];
  const rows: Row[] = [];
  const t0 = performance.now();
  for (const d of dirs) {
    const r = await checkOne(d);
    if (typeof r === 'string') skipped.push({ model: d, why: r });
    else rows.push(...r);
  }
  const ms = performance.now() - t0;
  console.log(`${dirs.length} models under ${a.dir}; ${dirs.length - skipped.length} run in float32 on onnxruntime-node (${skipped.length} do not)`);
  const statuses: Status[] = ['ok', 'unchanged', 'refused', 'load-failure', 'run-failure', 'numeric-failure'];
  console.log(`${'mode'.padEnd(14)}${statuses.map((s) => s.padStart(17)).join('')}`);
  for (const mode of MODES) {
    const mine = rows.filter((r) => r.mode === mode.name);
    console.log(`${mode.name.padEnd(14)}${statuses.map((s) => String(mine.filter((r) => r.status === s).length).padStart(17)).join('')}`);
  }
  for (const s of ['refused', 'load-failure', 'run-failure', 'numeric-failure'] as Status[]) {
    const bad = rows.filter((r) => r.status === s);
    if (!bad.length) continue;
    console.log(`\n${s} (${bad.length}):`);
    for (const r of bad) console.log(`  ${r.mode.padEnd(13)} ${r.model}: ${(r.detail ?? '').slice(0, a.verbose ? 2000 : 220)}`);
  }
  if (a.verbose) for (const s of skipped) console.log(`skipped ${s.model}: ${s.why.slice(0, 200)}`);
  console.log(`\n${(ms / 1000).toFixed(1)} s`);
  if (a.json) fs.writeFileSync(a.json, JSON.stringify({ rows, skipped }, null, 2));
}

await main();
