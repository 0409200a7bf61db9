/**
 * Pure statistics for latency samples (milliseconds).
 *
 * Conventions:
 * - Quantiles use linear interpolation between order statistics
 *   (Hyndman & Fan type 7, the default of R, NumPy and Excel's PERCENTILE.INC).
 * - `std` is the sample standard deviation (n - 1 denominator). With a single
 *   sample it is undefined and reported as NaN (so is `cv`); `isNoisy` treats a
 *   non-finite cv as noisy, because one sample cannot show stability.
 * - Non-finite samples (NaN, ±Infinity) are rejected with a RangeError rather
 *   than silently propagated into a CI verdict.
 */
import { quantile } from '../util/numerics.js';
import { Rng } from '../util/rng.js';

export interface Summary {
  n: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  cv: number;
  p50: number;
  p90: number;
  p99: number;
}

export interface RatioInterval {
  ratio: number;
  lo: number;
  hi: number;
  level: number;
}

const DEFAULT_RESAMPLES = 2000;
const DEFAULT_LEVEL = 0.95;
const DEFAULT_SEED = 0x5eed;

function assertFiniteSamples(samples: ArrayLike<number>, what: string): void {
  if (samples.length === 0) throw new RangeError(`${what}: no samples`);
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i] as number;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new RangeError(`${what}: sample ${i} is not a finite number (${String(v)})`);
    }
  }
}

function sortedCopy(samples: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(samples as ArrayLike<number>);
  out.sort(); // typed-array sort is numeric
  return out;
}

export function summarize(samples: readonly number[]): Summary {
  assertFiniteSamples(samples, 'summarize');
  const n = samples.length;
  const sorted = sortedCopy(samples);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i] as number;
  const mean = sum / n;
  // Two-pass with correction term (Chan, Golub & LeVeque) for accuracy.
  let ss = 0;
  let comp = 0;
  for (let i = 0; i < n; i++) {
    const d = (sorted[i] as number) - mean;
    ss += d * d;
    comp += d;
  }
  let std: number;
  if (n < 2) {
    std = Number.NaN;
  } else {
    const variance = Math.max(0, (ss - (comp * comp) / n) / (n - 1));
    std = Math.sqrt(variance);
  }
  let cv: number;
  if (Number.isNaN(std)) cv = Number.NaN;
  else if (std === 0) cv = 0;
  else cv = std / Math.abs(mean); // mean 0 with spread -> Infinity (noisy)
  return {
    n,
    min: sorted[0] as number,
    max: sorted[n - 1] as number,
    mean,
    std,
    cv,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
  };
}

function medianInPlace(buf: Float64Array): number {
  buf.sort();
  return quantile(buf, 0.5);
}

/**
 * Bootstrap distribution (sorted) of stat(candidate) / stat(baseline). Arrays of equal length are rounds of an
 * interleaved run and are resampled jointly (index j gives candidate[j] and baseline[j]); otherwise each is resampled
 * on its own. `stat` may reorder the buffer it gets. A ratio that is NaN (0/0) counts as +Infinity.
 */
export function bootstrapRatios(
  candidate: readonly number[],
  baseline: readonly number[],
  stat: (buf: Float64Array<ArrayBuffer>) => number,
  resamples: number,
  seed: number,
): Float64Array {
  const nc = candidate.length;
  const nb = baseline.length;
  const rng = new Rng(seed);
  const paired = nc === nb;
  const cBuf = new Float64Array(nc);
  const bBuf = new Float64Array(nb);
  const ratios = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    if (paired) {
      for (let k = 0; k < nc; k++) {
        const j = rng.int(0, nc);
        cBuf[k] = candidate[j] as number;
        bBuf[k] = baseline[j] as number;
      }
    } else {
      for (let k = 0; k < nc; k++) cBuf[k] = candidate[rng.int(0, nc)] as number;
      for (let k = 0; k < nb; k++) bBuf[k] = baseline[rng.int(0, nb)] as number;
    }
    const v = stat(cBuf) / stat(bBuf);
    ratios[r] = Number.isNaN(v) ? Number.POSITIVE_INFINITY : v;
  }
  return ratios.sort();
}

/**
 * Ratio of medians candidate/baseline with a bootstrap percentile CI.
 *
 * When both arrays have the same length the samples are treated as paired
 * rounds of an interleaved run and resampled jointly (index j contributes
 * candidate[j] and baseline[j]); otherwise each array is resampled
 * independently. Ratios > 1 mean the candidate is slower.
 */
export function ratioOfMediansCI(
  candidate: readonly number[],
  baseline: readonly number[],
  opts: { resamples?: number; level?: number; seed?: number } = {},
): RatioInterval {
  assertFiniteSamples(candidate, 'ratioOfMediansCI(candidate)');
  assertFiniteSamples(baseline, 'ratioOfMediansCI(baseline)');
  const resamples = opts.resamples ?? DEFAULT_RESAMPLES;
  const level = opts.level ?? DEFAULT_LEVEL;
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new RangeError(`ratioOfMediansCI: resamples must be a positive integer, got ${resamples}`);
  }
  if (!(level > 0 && level < 1)) {
    throw new RangeError(`ratioOfMediansCI: level must be in (0, 1), got ${level}`);
  }

  const _nc = candidate.length;
  const _nb = baseline.length;
  const baseMedian = medianInPlace(Float64Array.from(baseline));
  if (!(baseMedian > 0)) {
    throw new RangeError(`ratioOfMediansCI: baseline median must be > 0, got ${baseMedian}`);
  }
  const ratio = medianInPlace(Float64Array.from(candidate)) / baseMedian;

  const ratios = bootstrapRatios(candidate, baseline, medianInPlace, resamples, seed);
  const alpha = (1 - level) / 2;
  return {
    ratio,
    lo: quantile(ratios, alpha),
    hi: quantile(ratios, 1 - alpha),
    level,
  };
}

/**
 * Number of samples outside Tukey's fences [q1 - 1.5 iqr, q3 + 1.5 iqr]
 * (q1, q3 by type-7 quantiles). For reporting only; samples are not dropped.
 */
export function outlierCount(samples: readonly number[]): number {
  if (samples.length === 0) return 0;
  assertFiniteSamples(samples, 'outlierCount');
  const sorted = sortedCopy(samples);
  const q1 = quantile(sorted, 0.25);
  const q3 = quantile(sorted, 0.75);
  const iqr = q3 - q1;
  const lo = q1 - 1.5 * iqr;
  const hi = q3 + 1.5 * iqr;
  let count = 0;
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i] as number;
    if (v < lo || v > hi) count++;
  }
  return count;
}

/** True when cv exceeds the threshold (default 0.1) or cannot be computed. */
export function isNoisy(s: Summary, cvThreshold = 0.1): boolean {
  return !(s.cv <= cvThreshold);
}
