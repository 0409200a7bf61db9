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
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadInputsDir } from '../src/inputs/load.js';
import type { Model } from '../src/ir/model.js';
import { compareRuns } from '../src/measure/compare-models.js';
import { encodeModel } from '../src/onnx/encode.js';
import { decodeModelBytes, loadModel } from '../src/onnx/io.js';
import type { IntQuantizeReport } from '../src/quantize/int8/index.js';
import { quantizeDynamic, quantizeInt4, quantizeStatic } from '../src/quantize/int8/index.js';
import { ortMessage, type Feeds } from '../src/runtime/session.js';
import { CORPUS_DIR, corpusModels, freezeWeights, runOnce } from './corpus-lib.js';

type Status = 'refused' | 'unchanged' | 'load-failure' | 'run-failure' | 'numeric' | 'ok';

interface Row {
  model: string;
  mode: string;
  status: Status;
  detail?: string;
}

export const INT_MODES: { name: string; apply: (m: Model, feeds: Feeds) => Promise<IntQuantizeReport> | IntQuantizeReport }[] = [
  { name: 'int8', apply: (m) => quantizeDynamic(m, { embeddings: { minElements: 0 } }) },
  { name: 'int8-integer', apply: (m) => quantizeDynamic(m, { format: 'integer', embeddings: { minElements: 0 } }) },
  { name: 'int8-static', apply: (m, f) => quantizeStatic(m, { calibration: [f] }) },
  { name: 'int4', apply: (m) => quantizeInt4(m, { blockSize: 16 }) },
];

const MIN_COSINE = 0.98;

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
    feeds = freezeWeights(model, feeds).feeds;
  } catch (e) {
    return `cannot load the model or its inputs: ${ortMessage(e)}`;
  }
  let ref: Awaited<ReturnType<typeof runOnce>>;
  try {
    ref = await runOnce(model, feeds);
  } catch (e) {
    return `onnxruntime cannot run it in float32: ${ortMessage(e)}`;
  }
  const again = await runOnce(model, feeds);
  if (compareRuns([again], [ref]).some((o) => (o.maxAbsError ?? 0) > 0)) return 'nondeterministic: two float32 runs differ';
  const rows: Row[] = [];
  const name = path.relative(path.dirname(path.dirname(testDir)), testDir);
  for (const mode of INT_MODES) {
    const m = clone(model);
    const row: Row = { model: name, mode: mode.name, status: 'ok' };
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
  const statuses: Status[] = ['ok', 'unchanged', 'refused', 'load-failure', 'run-failure', 'numeric'];
  console.log(`${'mode'.padEnd(14)}${statuses.map((s) => s.padStart(14)).join('')}`);
  for (const mode of INT_MODES) {
    const mine = rows.filter((r) => r.mode === mode.name);
    console.log(`${mode.name.padEnd(14)}${statuses.map((s) => String(mine.filter((r) => r.status === s).length).padStart(14)).join('')}`);
  }
  for (const s of ['refused', 'load-failure', 'run-failure', 'numeric'] as Status[]) {
    const bad = rows.filter((r) => r.status === s);
    if (!bad.length) continue;
    console.log(`\n${s} (${bad.length}):`);
    for (const r of bad) console.log(`  ${r.mode.padEnd(13)} ${r.model}: ${(r.detail ?? '').slice(0, a.verbose ? 2000 : 220)}`);
  }
  if (a.verbose) for (const s of skipped) console.log(`skipped ${s.model}: ${s.why.slice(0, 200)}`);
  console.log(`\n${(ms / 1000).toFixed(1)} s`);
  if (a.json) fs.writeFileSync(a.json, JSON.stringify({ rows, skipped }, null, 2));
  if (rows.some((r) => r.status === 'load-failure' || r.status === 'run-failure' || r.status === 'refused')) process.exitCode = 1;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
