/**
 * The numeric-equivalence check every pass test uses: run the model before and after a rewrite in onnxruntime on
 * the same seeded inputs and compare every output of `before` by name.
 *
 * Both models run with the runtime's graph optimisations disabled, so its own fusions cannot hide (or repair) what
 * a pass did. Inputs are synthesized from `before` (src/bench/inputs.ts); `after` gets the ones it declares.
 * An element passes when |after - before| <= atol + rtol * |before|, or both are the same infinity; NaN must sit at
 * the same positions in both. float16 (and any other numeric) outputs are compared as float32.
 */
import { AssertionError } from 'node:assert';
import type * as ort from 'onnxruntime-node';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import type { Model } from '../../src/ir/model.js';
import { createSession, ortToFloat32, runSession, type Feeds } from '../../src/runtime/session.js';

export interface EquivalenceOptions {
  /** sizes of the symbolic dimensions (see synthesizeInputs) */
  dims?: Record<string, number>;
  /** seed of the synthesized inputs (default 0) */
  seed?: number;
  /** default 1e-4 */
  rtol?: number;
  /** default 1e-5 */
  atol?: number;
  /** number of input sets to compare on (default 1) */
  sets?: number;
}

export interface EquivalenceResult {
  /** largest |after - before| over all outputs and sets (NaN pairs and equal infinities count as 0) */
  maxAbs: number;
  /** largest |after - before| / |before| over elements where before != 0 */
  maxRel: number;
}

/** Runs a model once on the given feeds (runtime optimisations off); only the inputs the model declares are fed. */
export async function runModel(model: Model, feeds: Feeds, opts: { outputNames?: string[] } = {}): Promise<Record<string, ort.Tensor>> {
  const session = await createSession(model, { optimizationLevel: 'disabled' });
  try {
    const used: Feeds = {};
    for (const n of session.inputNames) if (n in feeds) used[n] = feeds[n];
    return await runSession(session, used, opts.outputNames);
  } finally {
    await session.release();
  }
}

/** Asserts `after` computes what `before` does, within tolerance. Resolves to the largest differences seen. */
export async function expectSameOutputs(before: Model, after: Model, opts: EquivalenceOptions = {}): Promise<EquivalenceResult> {
  const rtol = opts.rtol ?? 1e-4;
  const atol = opts.atol ?? 1e-5;
  const sets = synthesizeInputs(before, { dims: opts.dims, seed: opts.seed ?? 0, count: opts.sets ?? 1 });
  const outputNames = before.graph.outputs.map((v) => v.name);
  const afterOutputs = new Set(after.graph.outputs.map((v) => v.name));
  const lost = outputNames.filter((n) => !afterOutputs.has(n));
  if (lost.length) fail(`the rewritten model lost output(s) ${lost.join(', ')}; it has ${[...afterOutputs].join(', ') || '(none)'}`);

  const sBefore = await createSession(before, { optimizationLevel: 'disabled' });
  const sAfter = await createSession(after, { optimizationLevel: 'disabled' });
  let maxAbs = 0;
  let maxRel = 0;
  try {
    const extra = sAfter.inputNames.filter((n) => !sBefore.inputNames.includes(n));
    if (extra.length) fail(`the rewritten model takes input(s) the original does not: ${extra.join(', ')}`);
    for (let s = 0; s < sets.length; s++) {
      const feeds = sets[s];
      const ref = await runSession(sBefore, feeds, outputNames);
      const afterFeeds: Feeds = {};
      for (const n of sAfter.inputNames) afterFeeds[n] = feeds[n];
      const got = await runSession(sAfter, afterFeeds, outputNames);
      const where = sets.length > 1 ? ` (input set ${s})` : '';
      for (const name of outputNames) {
        const r = compareTensors(name + where, ref[name], got[name], rtol, atol);
        maxAbs = Math.max(maxAbs, r.maxAbs);
        maxRel = Math.max(maxRel, r.maxRel);
      }
    }
  } finally {
    await sBefore.release();
    await sAfter.release();
  }
  return { maxAbs, maxRel };
}

/** Element-wise comparison of two runtime tensors; throws an AssertionError at the first element out of tolerance. */
export function compareTensors(name: string, before: ort.Tensor, after: ort.Tensor, rtol: number, atol: number): EquivalenceResult {
  const db = before.dims.map(Number);
  const da = after.dims.map(Number);
  if (db.length !== da.length || db.some((d, i) => d !== da[i]))
    fail(`output '${name}': shape [${da.join(', ')}] differs from the original [${db.join(', ')}]`);
  if (before.type === 'string' || after.type === 'string') {
    const a = after.data as string[];
    const b = before.data as string[];
    const i = b.findIndex((v, k) => v !== a[k]);
    if (i >= 0) fail(`output '${name}' differs at index ${i}${indexSuffix(i, db)}: before=${JSON.stringify(b[i])}, after=${JSON.stringify(a[i])}`);
    return { maxAbs: 0, maxRel: 0 };
  }
  const b = exactValues(before);
  const a = exactValues(after);
  let maxAbs = 0;
  let maxRel = 0;
  let firstBad = -1;
  let bad = 0;
  let nanMismatch = -1;
  for (let i = 0; i < b.length; i++) {
    const x = b[i];
    const y = a[i];
    const xn = Number.isNaN(x);
    const yn = Number.isNaN(y);
    if (xn || yn) {
      if (xn !== yn && nanMismatch < 0) nanMismatch = i;
      continue;
    }
    if (x === y) continue; // also equal infinities
    const diff = Math.abs(y - x);
    if (!(diff <= atol + rtol * Math.abs(x))) {
      bad++;
      if (firstBad < 0) firstBad = i;
    }
    if (Number.isFinite(diff)) {
      maxAbs = Math.max(maxAbs, diff);
      if (x !== 0) maxRel = Math.max(maxRel, diff / Math.abs(x));
    } else {
      maxAbs = Infinity;
      maxRel = Infinity;
    }
  }
  if (nanMismatch >= 0)
    fail(
      `output '${name}': NaN positions differ, first at index ${nanMismatch}${indexSuffix(nanMismatch, db)}: before=${b[nanMismatch]}, after=${a[nanMismatch]}`,
    );
  if (firstBad >= 0) {
    const x = b[firstBad];
    const y = a[firstBad];
    fail(
      `output '${name}' differs at index ${firstBad}${indexSuffix(firstBad, db)}: before=${x}, after=${y}, |diff|=${Math.abs(y - x)} > atol ${atol} + rtol ${rtol} * |before|` +
        ` (${bad} of ${b.length} elements out of tolerance; max |diff| ${maxAbs})`,
    );
  }
  return { maxAbs, maxRel };
}

/** float64 copies of the values (int64 exactly where representable, float16 decoded, bool 0/1). */
function exactValues(t: ort.Tensor): Float64Array {
  const d = t.data as unknown;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float64Array.from(d, (v) => Number(v));
  if (d instanceof Float64Array) return d;
  if (t.type === 'float16') return Float64Array.from(ortToFloat32(t));
  return Float64Array.from(d as ArrayLike<number>);
}

function indexSuffix(flat: number, dims: number[]): string {
  if (dims.length < 2) return '';
  const idx: number[] = [];
  let r = flat;
  for (let k = dims.length - 1; k >= 0; k--) {
    idx.unshift(r % dims[k]);
    r = Math.floor(r / dims[k]);
  }
  return ` [${idx.join(', ')}]`;
}

function fail(message: string): never {
  throw new AssertionError({ message });
}
