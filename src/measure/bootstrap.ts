/**
 * Bootstrap intervals for the latency statistics that stats.ts's ratioOfMediansCI does not cover (p90, p99, mean,
 * min, max; absolute values). Same conventions as stats.ts: type-7 quantiles, percentile intervals, a seeded Rng,
 * and paired resampling when both sample arrays have the same length (round j of an interleaved run contributes
 * candidate[j] and baseline[j] together). The p50 ratio itself comes from ratioOfMediansCI.
 */
import { Rng } from '../util/rng.js';
import { quantile } from '../util/numerics.js';
import { bootstrapRatios } from './stats.js';

export type LatencyStat = 'min' | 'mean' | 'p50' | 'p90' | 'p99' | 'max';

export interface Interval {
  value: number;
  lo: number;
  hi: number;
  level: number;
}

const DEFAULT_RESAMPLES = 2000;

/** The statistic of samples; `buf` is scratch space of the same length (sorted in place). */
export function statistic(stat: LatencyStat, samples: ArrayLike<number>, buf = new Float64Array(samples.length)): number {
  for (let i = 0; i < samples.length; i++) buf[i] = samples[i] as number;
  if (stat === 'mean') {
    let s = 0;
    for (let i = 0; i < buf.length; i++) s += buf[i] as number;
    return s / buf.length;
  }
  buf.sort();
  switch (stat) {
    case 'min':
      return buf[0] as number;
    case 'max':
      return buf[buf.length - 1] as number;
    case 'p50':
      return quantile(buf, 0.5);
    case 'p90':
      return quantile(buf, 0.9);
    case 'p99':
      return quantile(buf, 0.99);
  }
}

function check(samples: readonly number[], what: string): void {
  if (samples.length === 0) throw new RangeError(`${what}: no samples`);
  for (const v of samples) if (!Number.isFinite(v)) throw new RangeError(`${what}: sample ${v} is not finite`);
}

function percentileInterval(values: Float64Array<ArrayBufferLike>, value: number, level: number): Interval {
  values.sort();
  const alpha = (1 - level) / 2;
  return { value, lo: quantile(values, alpha), hi: quantile(values, 1 - alpha), level };
}

/** Interval of stat(candidate) / stat(baseline). */
export function ratioCI(
  stat: LatencyStat,
  candidate: readonly number[],
  baseline: readonly number[],
  opts: { level?: number; resamples?: number; seed?: number } = {},
): Interval {
  check(candidate, 'ratioCI(candidate)');
  check(baseline, 'ratioCI(baseline)');
  const level = opts.level ?? 0.95;
  const ratios = bootstrapRatios(candidate, baseline, (buf) => statistic(stat, buf, buf), opts.resamples ?? DEFAULT_RESAMPLES, opts.seed ?? 0x5eed);
  return percentileInterval(ratios, statistic(stat, candidate) / statistic(stat, baseline), level);
}

/**
 * Interval of the median of per-round ratios candidate[j] / baseline[j] (samples of an interleaved run, paired by
 * round). Robust where the ratio of medians is not: on a busy machine whose runs are either undisturbed or stalled,
 * each model's median can sit at the edge between the two modes and jump between them with a few runs, while a
 * round in which both runs were alike still gives a ratio near the truth.
 */
export function pairedRatioCI(
  candidate: readonly number[],
  baseline: readonly number[],
  opts: { level?: number; resamples?: number; seed?: number } = {},
): Interval {
  if (candidate.length !== baseline.length)
    throw new RangeError(`pairedRatioCI: ${candidate.length} candidate samples but ${baseline.length} baseline samples`);
  check(candidate, 'pairedRatioCI(candidate)');
  check(baseline, 'pairedRatioCI(baseline)');
  const ratios = candidate.map((c, j) => c / baseline[j]!);
  if (ratios.some((r) => !Number.isFinite(r))) throw new RangeError('pairedRatioCI: a baseline sample is 0');
  return statCI('p50', ratios, opts);
}

/** Interval of stat(samples) itself (absolute gates such as `latency.p99 <= 20ms`). */
export function statCI(stat: LatencyStat, samples: readonly number[], opts: { level?: number; resamples?: number; seed?: number } = {}): Interval {
  check(samples, 'statCI');
  const level = opts.level ?? 0.95;
  const resamples = opts.resamples ?? DEFAULT_RESAMPLES;
  const rng = new Rng(opts.seed ?? 0x5eed);
  const n = samples.length;
  const buf = new Float64Array(n);
  const scratch = new Float64Array(n);
  const values = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    for (let k = 0; k < n; k++) buf[k] = samples[rng.int(0, n)] as number;
    values[r] = statistic(stat, buf, scratch);
  }
  return percentileInterval(values, statistic(stat, samples), level);
}
