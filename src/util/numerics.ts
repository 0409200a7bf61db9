/**
 * Generic numerics on plain arrays: quantiles and medians, per-axis sums. No model types here: the measurement,
 * bench and prune layers all build on these.
 */

/**
 * Type-7 quantile of data already sorted ascending:
 * h = (n - 1) q; Q = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]).
 */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('quantile: empty input');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  const h = (n - 1) * q;
  const i = Math.floor(h);
  const lo = sorted[i] as number;
  if (i >= n - 1) return sorted[n - 1] as number;
  const frac = h - i;
  if (frac === 0) return lo;
  const hi = sorted[i + 1] as number;
  return lo + frac * (hi - lo);
}

/** The median (type-7 quantile 0.5) of unsorted numbers, NaN for none; the input is not modified. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  return quantile(Float64Array.from(xs).sort(), 0.5);
}

/**
 * Per-index sums along `axis`: Σ|x| ('l1') or Σx² ('l2sq') over every other axis. Returns one entry per index.
 * `finiteOnly` skips NaN and infinities (activations measured at run time may hold them).
 */
export function axisSums(values: Float32Array, dims: readonly number[], axis: number, kind: 'l1' | 'l2sq', opts: { finiteOnly?: boolean } = {}): Float64Array {
  const size = dims[axis] ?? 1;
  let inner = 1;
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i];
  const out = new Float64Array(size);
  const outer = size * inner ? values.length / (size * inner) : 0;
  const finiteOnly = opts.finiteOnly === true;
  let i = 0;
  for (let o = 0; o < outer; o++)
    for (let a = 0; a < size; a++) {
      let acc = 0;
      for (let k = 0; k < inner; k++) {
        const v = values[i++];
        if (finiteOnly && !Number.isFinite(v)) continue;
        acc += kind === 'l1' ? Math.abs(v) : v * v;
      }
      out[a] += acc;
    }
  return out;
}

/** Sums entries in blocks of `width`: [a0+..+a(w-1), aw+..]. */
export function blockSums(perIndex: Float64Array, width: number): Float64Array {
  const out = new Float64Array(Math.floor(perIndex.length / width));
  for (let i = 0; i < out.length * width; i++) out[Math.floor(i / width)] += perIndex[i];
  return out;
}
