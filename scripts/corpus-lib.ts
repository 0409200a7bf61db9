/**
 * The ONNX backend-test corpus (Debian `libonnx-testdata`) as the check:*-corpus scripts and the corpus tests read it:
 * the test directories, running a model on its test inputs, and (for weight quantization) making the weights a node
 * test feeds as graph inputs constants, so a MatMul/Gemm/Conv/Gather test becomes a model with weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adaptFeed } from '../src/inputs/adapt.js';
import { loadInputsDir } from '../src/inputs/load.js';
import { compareRuns } from '../src/measure/compare-models.js';
import { encodeModel } from '../src/onnx/encode.js';
import { decodeModelBytes, loadModel } from '../src/onnx/io.js';
import type { Model } from '../src/ir/model.js';
import { fromOrtTensor, createSession, ortMessage, runSession, type Feeds } from '../src/runtime/session.js';

export const CORPUS_DIR = '/usr/share/libonnx-testdata/data';

/** Every <dir>/<suite>/<test> holding model.onnx and test_data_set_0. */
export function corpusModels(dir: string): string[] {
  const out: string[] = [];
  if (!fs.existsSync(dir)) return out;
  for (const suite of fs.readdirSync(dir).sort()) {
    const sd = path.join(dir, suite);
    if (!fs.statSync(sd).isDirectory()) continue;
    for (const t of fs.readdirSync(sd).sort()) {
      const td = path.join(sd, t);
      if (fs.existsSync(path.join(td, 'model.onnx')) && fs.existsSync(path.join(td, 'test_data_set_0'))) out.push(td);
    }
  }
  return out;
}

/** One onnxruntime run of `model` on `feeds` (converted to the model's input types). */
export async function runOnce(model: Model, feeds: Feeds) {
  const s = await createSession(model, { logLevel: 'fatal' });
  try {
    return await runSession(s, adaptFeed(feeds, model));
  } finally {
    await s.release();
  }
}

/** Where each op reads a weight: MatMul B, Gemm B and C, Conv W and B, Gather's table. */
const WEIGHT_SLOTS: Record<string, number[]> = { MatMul: [1], Gemm: [1, 2], Conv: [1, 2], Gather: [0] };
const isWeightUse = (u: { node: { opType: string; domain: string }; index: number }): boolean =>
  u.node.domain === '' && !!WEIGHT_SLOTS[u.node.opType]?.includes(u.index);

/**
 * Makes every float32 graph input that MatMul, Gemm, Conv or Gather nodes of the main graph read only as weights (or bias) an
 * initializer holding its test value (and no longer an input), so weight quantization has constants to work on;
 * initializers listed as inputs (IR < 4) that the test does not feed stop being inputs.
 * Returns the feeds without those inputs and the names frozen.
 */
export function freezeWeights(model: Model, feeds: Feeds): { feeds: Feeds; frozen: string[] } {
  const g = model.graph;
  const frozen: string[] = [];
  const rest: Feeds = { ...feeds };
  for (const v of [...g.inputs]) {
    const t = feeds[v.name];
    // an initializer also listed as an input (IR < 4 exports) that the test does not feed: a constant
    if (v.initializer && !t) {
      g.removeInput(v);
      frozen.push(v.name);
      continue;
    }
    if (t?.type !== 'float32' || v.initializer) continue;
    // only when every use reads it as a weight (an input that is also an activation stays an input)
    if (!v.uses.length || !v.uses.every(isWeightUse) || v.isGraphOutput) continue;
    g.addInitializer(v.name, fromOrtTensor(t, v.name));
    g.removeInput(v);
    delete rest[v.name];
    frozen.push(v.name);
  }
  return { feeds: rest, frozen };
}

/** What one conversion of one corpus model came to. */
export type CorpusStatus = 'refused' | 'unchanged' | 'load-failure' | 'run-failure' | 'numeric' | 'ok';

export interface CorpusRow {
  model: string;
  mode: string;
  status: CorpusStatus;
  detail?: string;
}

/** The corpus scripts' arguments: --dir, --filter regex, --verbose, --json out.json. */
export function corpusArgs(argv = process.argv.slice(2)) {
  const out = { dir: CORPUS_DIR, filter: undefined as RegExp | undefined, verbose: false, json: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--dir') out.dir = argv[++i]!;
    else if (argv[i] === '--filter') out.filter = new RegExp(argv[++i]!);
    else if (argv[i] === '--verbose') out.verbose = true;
    else if (argv[i] === '--json') out.json = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}; use --dir, --filter, --verbose, --json`);
  }
  return out;
}

/**
 * Runs `checkOne` over every corpus model (a reason string: the model is skipped, e.g. float32 itself does not run),
 * prints a table of statuses per mode and the failures, writes --json, and sets exit code 1 when a row has one of
 * the `failOn` statuses.
 */
export async function runCorpus(modes: readonly string[], checkOne: (testDir: string) => Promise<CorpusRow[] | string>, failOn: readonly CorpusStatus[]) {
  const a = corpusArgs();
  const dirs = corpusModels(a.dir).filter((d) => !a.filter || a.filter.test(d));
  if (!dirs.length) {
    console.error(`no models under ${a.dir} (apt-get install -y libonnx-testdata)`);
    process.exit(2);
  }
  const skipped: { model: string; why: string }[] = [];
  const rows: CorpusRow[] = [];
  const t0 = performance.now();
  for (const d of dirs) {
    const r = await checkOne(d);
    if (typeof r === 'string') skipped.push({ model: d, why: r });
    else rows.push(...r);
  }
  const ms = performance.now() - t0;
  console.log(`${dirs.length} models under ${a.dir}; ${dirs.length - skipped.length} run in float32 on onnxruntime-node (${skipped.length} do not)`);
  const statuses: CorpusStatus[] = ['ok', 'unchanged', 'refused', 'load-failure', 'run-failure', 'numeric'];
  console.log(`${'mode'.padEnd(14)}${statuses.map((s) => s.padStart(14)).join('')}`);
  for (const mode of modes) {
    const mine = rows.filter((r) => r.mode === mode);
    console.log(`${mode.padEnd(14)}${statuses.map((s) => String(mine.filter((r) => r.status === s).length).padStart(14)).join('')}`);
  }
  for (const s of ['refused', 'load-failure', 'run-failure', 'numeric'] as CorpusStatus[]) {
    const bad = rows.filter((r) => r.status === s);
    if (!bad.length) continue;
    console.log(`\n${s} (${bad.length}):`);
    for (const r of bad) console.log(`  ${r.mode.padEnd(13)} ${r.model}: ${(r.detail ?? '').slice(0, a.verbose ? 2000 : 220)}`);
  }
  if (a.verbose) for (const s of skipped) console.log(`skipped ${s.model}: ${s.why.slice(0, 200)}`);
  console.log(`\n${(ms / 1000).toFixed(1)} s`);
  if (a.json) fs.writeFileSync(a.json, JSON.stringify({ rows, skipped }, null, 2));
  if (rows.some((r) => failOn.includes(r.status))) process.exitCode = 1;
}

/** A corpus model with its test inputs and onnxruntime's float32 outputs, ready to be rewritten and compared. */
export interface CorpusCase {
  /** the test's name relative to the corpus (suite/test) */
  name: string;
  model: Model;
  feeds: Feeds;
  ref: Awaited<ReturnType<typeof runOnce>>;
}

/**
 * Loads `testDir`'s model and first input set (`freeze`: the weights a node test feeds as inputs become constants),
 * runs it twice in float32; a string says why the model is skipped (not loadable, not runnable, or two runs differ:
 * random generators without a seed, whose outputs cannot be compared).
 */
export async function loadCase(testDir: string, opts: { freeze?: boolean } = {}): Promise<CorpusCase | string> {
  let model: Model;
  let feeds: Feeds;
  try {
    model = loadModel(path.join(testDir, 'model.onnx'));
    feeds = loadInputsDir(path.join(testDir, 'test_data_set_0'), model)[0]!;
    if (opts.freeze) feeds = freezeWeights(model, feeds).feeds;
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
  return { name: path.relative(path.dirname(path.dirname(testDir)), testDir), model, feeds, ref };
}

/** A fresh copy of a model through its bytes (each mode rewrites its own). */
export const cloneModel = (m: Model): Model => decodeModelBytes(encodeModel(m));
