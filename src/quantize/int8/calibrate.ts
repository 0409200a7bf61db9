/**
 * Calibration for static quantization: run the model on the caller's feeds with the tensors of interest exposed as
 * extra graph outputs, and record each tensor's range.
 *
 *   minmax:      [min, max] over every element of every run
 *   percentile:  a first pass finds [min, max]; a second pass counts a 4096-bin histogram over it; the range is the
 *                (100 - p)-th and p-th percentiles (p = 99.999 by default), so rare outliers do not stretch the scale
 *
 * The model is changed only for the duration of the session creation (outputs added, then restored); onnxruntime
 * runs with its graph optimisations disabled so every requested tensor exists. Graph inputs are measured from the
 * feeds directly. Main graph only.
 */
import type * as ort from 'onnxruntime-node';
import { OperationError } from '../../errors.js';
import type { Value } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { createSession, ortToFloat32, runSession, type Feeds } from '../../runtime/session.js';

export interface CalibrationOptions {
  method?: 'minmax' | 'percentile';
  /** for 'percentile' (default 99.999) */
  percentile?: number;
}

export interface TensorRange {
  /** range of the finite values (0 when there were none) */
  lo: number;
  hi: number;
  /** values that were NaN or infinite (an activation that overflows float32): no scale represents them */
  nonFinite?: number;
}

const BINS = 4096;

export async function calibrateRanges(
  model: Model,
  tensors: readonly Value[],
  feeds: readonly Feeds[],
  opts: CalibrationOptions = {},
): Promise<Map<Value, TensorRange>> {
  if (feeds.length === 0) throw new OperationError('static quantization needs at least one calibration input set');
  const method = opts.method ?? 'minmax';
  const p = opts.percentile ?? 99.999;
  if (!(p > 50 && p <= 100)) throw new OperationError(`percentile ${p} is not in (50, 100]`);
  const g = model.graph;
  const wanted = [...new Set(tensors)];
  const exposed = wanted.filter((v) => !v.isGraphInput && !v.isGraphOutput);
  const original = [...g.outputs];
  let session: ort.InferenceSession;
  try {
    for (const v of exposed) g.addOutput(v);
    session = await createSession(model, { optimizationLevel: 'disabled' });
  } finally {
    g.setOutputs(original);
  }
  const names = wanted.filter((v) => !v.isGraphInput).map((v) => v.name);
  const lo = new Map<Value, number>(wanted.map((v) => [v, Infinity]));
  const hi = new Map<Value, number>(wanted.map((v) => [v, -Infinity]));
  const bad = new Map<Value, number>();
  const valuesOf = async (f: Feeds, use: (v: Value, data: Float32Array) => void) => {
    const out = names.length ? await runSession(session, f, names) : {};
    for (const v of wanted) {
      const t = v.isGraphInput ? f[v.name] : out[v.name];
      if (!t) throw new OperationError(`calibration: no value for ${v.name} (missing from the feeds?)`);
      use(v, ortToFloat32(t));
    }
  };
  try {
    for (const f of feeds)
      await valuesOf(f, (v, d) => {
        let a = lo.get(v)!;
        let b = hi.get(v)!;
        let n = 0;
        for (let i = 0; i < d.length; i++) {
          const x = d[i];
          if (x - x !== 0) {
            n++;
            continue;
          }
          if (x < a) a = x;
          if (x > b) b = x;
        }
        lo.set(v, a);
        hi.set(v, b);
        if (n) bad.set(v, (bad.get(v) ?? 0) + n);
      });
    const ranges = new Map<Value, TensorRange>();
    if (method === 'minmax' || p === 100) {
      for (const v of wanted) ranges.set(v, withBad({ lo: finite(lo.get(v)!), hi: finite(hi.get(v)!) }, bad.get(v)));
      return ranges;
    }
    const hist = new Map<Value, Float64Array>(wanted.map((v) => [v, new Float64Array(BINS)]));
    for (const f of feeds)
      await valuesOf(f, (v, d) => {
        const a = lo.get(v)!;
        const w = (hi.get(v)! - a) / BINS || 1;
        const h = hist.get(v)!;
        for (let i = 0; i < d.length; i++) {
          const x = d[i];
          if (!Number.isFinite(x)) continue;
          h[Math.min(BINS - 1, Math.max(0, Math.floor((x - a) / w)))]++;
        }
      });
    for (const v of wanted) {
      const h = hist.get(v)!;
      const a = lo.get(v)!;
      const w = (hi.get(v)! - a) / BINS || 1;
      const total = h.reduce((s, x) => s + x, 0);
      const cut = (total * (100 - p)) / 100;
      let i0 = 0;
      for (let acc = 0; i0 < BINS && acc + h[i0] <= cut; i0++) acc += h[i0];
      let i1 = BINS - 1;
      for (let acc = 0; i1 > 0 && acc + h[i1] <= cut; i1--) acc += h[i1];
      ranges.set(v, withBad({ lo: finite(a + i0 * w), hi: finite(a + (i1 + 1) * w) }, bad.get(v)));
    }
    return ranges;
  } finally {
    await session.release();
  }
}

const finite = (x: number): number => (Number.isFinite(x) ? x : 0);
const withBad = (r: TensorRange, n: number | undefined): TensorRange => (n ? { ...r, nonFinite: n } : r);
