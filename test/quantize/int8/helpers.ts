/**
 * Shared by the integer quantization tests: seeded feeds, running a model in onnxruntime-node, and the error
 * measures the tolerances are stated in (cosine similarity, and max |a - b| relative to the reference's RMS).
 */
import * as ort from 'onnxruntime-node';
import { DataType } from '../../../src/ir/dtype.js';
import type { Model } from '../../../src/ir/model.js';
import { encodeModel } from '../../../src/onnx/encode.js';
import { decodeModelBytes } from '../../../src/onnx/io.js';
import { createSession, runSession, type Feeds } from '../../../src/runtime/session.js';
import { Rng } from '../../../src/util/rng.js';

/** A deep copy through the wire format (so the original stays as reference). */
export const copyModel = (m: Model): Model => decodeModelBytes(encodeModel(m));

export function floatFeed(dims: number[], seed: number, std = 1): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return new ort.Tensor('float32', new Rng(seed).fillNormal(new Float32Array(n), std), dims);
}

export function int64Feed(dims: number[], seed: number, hi: number): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const r = new Rng(seed);
  return new ort.Tensor(
    'int64',
    BigInt64Array.from({ length: n }, () => BigInt(r.int(0, hi))),
    dims,
  );
}

export async function run(model: Model, feeds: Feeds, level: 'disabled' | 'all' = 'disabled'): Promise<Record<string, Float32Array>> {
  const s = await createSession(model, { optimizationLevel: level });
  try {
    const out = await runSession(s, feeds);
    const r: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(out)) r[k] = v.data as Float32Array;
    return r;
  } finally {
    await s.release();
  }
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 && bb === 0 ? 1 : ab / Math.sqrt(aa * bb);
}

/** max |got - ref| divided by the RMS of ref: the worst element's error in units of the output's typical size */
export function relMaxError(ref: Float32Array, got: Float32Array): number {
  let ss = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    ss += ref[i] * ref[i];
    worst = Math.max(worst, Math.abs(got[i] - ref[i]));
  }
  return worst / Math.sqrt(ss / ref.length);
}

export function opTypes(m: Model): string[] {
  return [...m.allNodes()].map((n) => (n.domain ? `${n.domain}::${n.opType}` : n.opType));
}

export function countOps(m: Model, op: string): number {
  return opTypes(m).filter((o) => o === op || o.endsWith(`::${op}`)).length;
}

export { DataType };
