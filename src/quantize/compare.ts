/**
 * Numeric fidelity of a converted model against its float32 original, on the same inputs: per output the maximum
 * absolute error, the maximum error relative to the output's range (max |a - b| / max |reference|), the cosine
 * similarity, and the positions where exactly one side is NaN or infinite (an overflow).
 */
import type * as ort from 'onnxruntime-node';
import { DataType } from '../ir/dtype.js';
import { float32ToFloat16 } from '../ir/float-codecs.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { elemTypeOf } from '../ir/types.js';
import { encodeModel } from '../onnx/encode.js';
import { decodeModelBytes } from '../onnx/io.js';
import { createSession, ortToFloat32, runSession, toOrtTensor, type Feeds } from '../runtime/session.js';
import { emulateConversion } from './emulate.js';
import type { ConvertOptions } from './options.js';
import type { OutputFidelity } from './report.js';

/** Compares two arrays of the same length. */
export function compareArrays(name: string, got: ArrayLike<number>, ref: ArrayLike<number>): OutputFidelity {
  let maxAbs = 0;
  let refMax = 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  let nonFinite = 0;
  const n = Math.min(got.length, ref.length);
  for (let i = 0; i < n; i++) {
    const a = got[i];
    const b = ref[i];
    const fa = Number.isFinite(a);
    const fb = Number.isFinite(b);
    if (fa !== fb || Number.isNaN(a) !== Number.isNaN(b)) {
      nonFinite++;
      continue;
    }
    if (!fa) continue;
    const d = Math.abs(a - b);
    if (d > maxAbs) maxAbs = d;
    if (Math.abs(b) > refMax) refMax = Math.abs(b);
    dot += a * b;
    na += a * a;
    nb += b * b;
  }
  if (got.length !== ref.length) nonFinite += Math.abs(got.length - ref.length);
  const cosine = na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
  return { name, maxAbsError: maxAbs, maxRelError: refMax > 0 ? maxAbs / refMax : maxAbs, cosine, nonFiniteMismatch: nonFinite };
}

/** Per-output fidelity over several runs (worst case over runs). */
export function compareRuns(got: Record<string, ort.Tensor>[], ref: Record<string, ort.Tensor>[]): OutputFidelity[] {
  const acc = new Map<string, OutputFidelity>();
  ref.forEach((r, k) => {
    for (const name of Object.keys(r)) {
      const g = got[k]?.[name];
      const f = g
        ? compareArrays(name, ortToFloat32(g), ortToFloat32(r[name]))
        : { name, maxAbsError: Infinity, maxRelError: Infinity, cosine: 0, nonFiniteMismatch: 1 };
      const prev = acc.get(name);
      acc.set(
        name,
        prev
          ? {
              name,
              maxAbsError: Math.max(prev.maxAbsError, f.maxAbsError),
              maxRelError: Math.max(prev.maxRelError, f.maxRelError),
              cosine: Math.min(prev.cosine, f.cosine),
              nonFiniteMismatch: prev.nonFiniteMismatch + f.nonFiniteMismatch,
            }
          : f,
      );
    }
  });
  return [...acc.values()];
}

/** The single error the --mixed search compares with its tolerance: worst relative error, Infinity on overflow. */
export function worstError(f: OutputFidelity[]): number {
  let w = 0;
  for (const o of f) {
    if (o.nonFiniteMismatch > 0) return Infinity;
    w = Math.max(w, o.maxRelError);
  }
  return w;
}

/** Feeds made for the float32 model, adapted to a converted model's input types (float32 -> float16). */
export function adaptFeeds(feeds: Feeds, model: Model): Feeds {
  const out: Feeds = {};
  for (const [name, t] of Object.entries(feeds)) {
    const v = model.graph.inputs.find((i) => i.name === name);
    const want = v ? elemTypeOf(v.type) : undefined;
    if (want === DataType.FLOAT16 && t.type === 'float32') {
      out[name] = toOrtTensor(Tensor.fromArray(DataType.FLOAT16, t.dims.map(Number), float32ToFloat16(t.data as Float32Array)));
    } else out[name] = t;
  }
  return out;
}

/** Runs two models on the same float32 feeds (adapted to the candidate's input types) and compares every output. */
export async function measureFidelity(reference: Model, candidate: Model, feeds: Feeds[]): Promise<OutputFidelity[]> {
  const s0 = await createSession(reference);
  const s1 = await createSession(candidate);
  try {
    const ref = [];
    const got = [];
    for (const f of feeds) {
      ref.push(await runSession(s0, f));
      got.push(await runSession(s1, adaptFeeds(f, candidate)));
    }
    return compareRuns(got, ref);
  } finally {
    await s0.release();
    await s1.release();
  }
}

/** Fidelity of a conversion with low-type storage emulated (see emulate.ts), measured against the float32 model. */
export async function measureEmulated(reference: Model, opts: ConvertOptions, feeds: Feeds[]): Promise<OutputFidelity[]> {
  const emulated = decodeModelBytes(encodeModel(reference), reference.source?.baseDir);
  emulateConversion(emulated, opts);
  return measureFidelity(reference, emulated, feeds);
}
