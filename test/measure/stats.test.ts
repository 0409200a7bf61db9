import { describe, it, expect } from 'vitest';
import { quantile } from '../../src/util/numerics.js';
import { summarize, ratioOfMediansCI, outlierCount, isNoisy } from '../../src/measure/stats.js';
import { Rng } from '../../src/util/rng.js';

describe('quantile (type 7)', () => {
  it('matches hand-computed values', () => {
    const xs = [1, 2, 3, 4];
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile(xs, 1)).toBe(4);
    expect(quantile(xs, 0.5)).toBeCloseTo(2.5, 12);
    expect(quantile(xs, 0.25)).toBeCloseTo(1.75, 12); // h = 0.75
    expect(quantile(xs, 0.9)).toBeCloseTo(3.7, 12); // h = 2.7, numpy.percentile gives 3.7
    expect(quantile([10, 20, 30], 0.5)).toBe(20);
    expect(quantile(Float64Array.from([5]), 0.99)).toBe(5);
  });

  it('rejects bad input', () => {
    expect(() => quantile([], 0.5)).toThrow(RangeError);
    expect(() => quantile([1, 2], 1.5)).toThrow(RangeError);
    expect(() => quantile([1, 2], Number.NaN)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('computes the sample std of a known set', () => {
    // mean 5, sum of squared deviations 32 -> sample variance 32/7
    const s = summarize([9, 2, 4, 4, 5, 4, 5, 7]);
    expect(s.n).toBe(8);
    expect(s.min).toBe(2);
    expect(s.max).toBe(9);
    expect(s.mean).toBe(5);
    expect(s.std).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(s.cv).toBeCloseTo(Math.sqrt(32 / 7) / 5, 12);
    expect(s.p50).toBe(4.5);
  });

  it('computes percentiles of 1..100 and does not mutate its input', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    const copy = [...xs];
    const s = summarize(xs);
    expect(xs).toEqual(copy);
    expect(s.p50).toBeCloseTo(50.5, 12);
    expect(s.p90).toBeCloseTo(90.1, 12); // h = 89.1
    expect(s.p99).toBeCloseTo(99.01, 12); // h = 98.01
  });

  it('is numerically stable for large offsets', () => {
    const s = summarize([1e9 + 1, 1e9 + 2, 1e9 + 3]);
    expect(s.std).toBeCloseTo(1, 9);
  });

  it('handles degenerate inputs', () => {
    const one = summarize([3]);
    expect(one.std).toBeNaN();
    expect(one.cv).toBeNaN();
    expect(isNoisy(one)).toBe(true);
    const flat = summarize([2, 2, 2]);
    expect(flat.std).toBe(0);
    expect(flat.cv).toBe(0);
    expect(() => summarize([])).toThrow(RangeError);
    expect(() => summarize([1, Number.NaN])).toThrow(RangeError);
  });
});

describe('isNoisy', () => {
  it('compares cv with the threshold', () => {
    expect(isNoisy(summarize([10, 10.5, 9.5, 10]))).toBe(false); // cv ~0.04
    expect(isNoisy(summarize([10, 15, 5, 10]))).toBe(true); // cv ~0.41
    expect(isNoisy(summarize([10, 15, 5, 10]), 0.5)).toBe(false);
    expect(isNoisy(summarize([10, 10.5, 9.5, 10]), 0.01)).toBe(true);
  });
});

describe('outlierCount', () => {
  it('counts samples outside Tukey fences', () => {
    // q1 = 3.25, q3 = 7.75, iqr = 4.5, fences [-3.5, 14.5]
    expect(outlierCount([1, 2, 3, 4, 5, 6, 7, 8, 9, 100])).toBe(1);
    // q1 = 2.5, q3 = 7.5, iqr = 5, fences [-5, 15]
    expect(outlierCount([-50, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100])).toBe(2);
    expect(outlierCount([5, 5, 5, 5])).toBe(0);
    expect(outlierCount([])).toBe(0);
  });

  it('treats a value exactly on a fence as inside', () => {
    // sorted 1..9, x: q1 = 3.25, q3 = 7.75, iqr = 4.5 -> upper fence exactly 14.5
    expect(outlierCount([1, 2, 3, 4, 5, 6, 7, 8, 9, 14.5])).toBe(0);
    expect(outlierCount([1, 2, 3, 4, 5, 6, 7, 8, 9, 14.51])).toBe(1);
  });
});

function noisy(rng: Rng, n: number, center: number, relSd: number): number[] {
  return Array.from({ length: n }, () => center * (1 + relSd * rng.normal()));
}

describe('ratioOfMediansCI', () => {
  it('contains 1 for two draws of the same distribution', () => {
    const rng = new Rng(2024);
    const base = noisy(rng, 80, 10, 0.05);
    const cand = noisy(rng, 80, 10, 0.05);
    const ci = ratioOfMediansCI(cand, base);
    expect(ci.level).toBe(0.95);
    expect(ci.lo).toBeLessThan(1);
    expect(ci.hi).toBeGreaterThan(1);
    expect(ci.lo).toBeLessThanOrEqual(ci.ratio);
    expect(ci.hi).toBeGreaterThanOrEqual(ci.ratio);
    expect(ci.hi - ci.lo).toBeLessThan(0.1);
  });

  it('excludes 1 when the candidate is 1.3x slower with small noise', () => {
    const rng = new Rng(99);
    const base = noisy(rng, 50, 10, 0.03);
    const cand = noisy(rng, 50, 13, 0.03);
    const ci = ratioOfMediansCI(cand, base);
    expect(ci.ratio).toBeGreaterThan(1.25);
    expect(ci.ratio).toBeLessThan(1.35);
    expect(ci.lo).toBeGreaterThan(1.2);
    expect(ci.hi).toBeLessThan(1.4);
    // and the reverse direction is a speed-up
    const rev = ratioOfMediansCI(base, cand);
    expect(rev.hi).toBeLessThan(1);
  });

  it('computes the point estimate as the ratio of medians', () => {
    const ci = ratioOfMediansCI([3, 1, 2], [4, 8, 6, 5], { resamples: 50 });
    expect(ci.ratio).toBeCloseTo(2 / 5.5, 12);
  });

  it('is reproducible with the same seed and changes with the seed', () => {
    const rng = new Rng(1);
    const base = noisy(rng, 40, 10, 0.1);
    const cand = noisy(rng, 40, 11, 0.1);
    const a = ratioOfMediansCI(cand, base, { seed: 5 });
    const b = ratioOfMediansCI(cand, base, { seed: 5 });
    const c = ratioOfMediansCI(cand, base, { seed: 6 });
    expect(a).toEqual(b);
    expect([c.lo, c.hi]).not.toEqual([a.lo, a.hi]);
    expect(c.ratio).toBe(a.ratio);
  });

  it('resamples rounds jointly when lengths match (paired bootstrap)', () => {
    // Strong round-to-round drift shared by both arms: each round j has a
    // machine-state factor f_j in [1, 3]. The candidate is 1.1x slower within
    // every round. Pairing cancels the drift; independent resampling cannot.
    const rng = new Rng(31337);
    const n = 60;
    const f = Array.from({ length: n }, () => 1 + 2 * rng.float());
    const base = f.map((x) => 10 * x * (1 + 0.005 * rng.normal()));
    const cand = f.map((x) => 11 * x * (1 + 0.005 * rng.normal()));
    const paired = ratioOfMediansCI(cand, base);
    expect(paired.lo).toBeGreaterThan(1.05);
    expect(paired.hi).toBeLessThan(1.15);
    // Unequal lengths -> independent resampling -> the drift dominates.
    const independent = ratioOfMediansCI(cand, base.slice(1));
    expect(independent.lo).toBeLessThan(1);
    expect(independent.hi - independent.lo).toBeGreaterThan(3 * (paired.hi - paired.lo));
  });

  it('honours level and resamples', () => {
    const rng = new Rng(8);
    const base = noisy(rng, 40, 10, 0.1);
    const cand = noisy(rng, 40, 10, 0.1);
    const wide = ratioOfMediansCI(cand, base, { level: 0.99 });
    const narrow = ratioOfMediansCI(cand, base, { level: 0.5 });
    expect(wide.level).toBe(0.99);
    expect(wide.hi - wide.lo).toBeGreaterThan(narrow.hi - narrow.lo);
    expect(() => ratioOfMediansCI(cand, base, { level: 1 })).toThrow(RangeError);
    expect(() => ratioOfMediansCI(cand, base, { resamples: 0 })).toThrow(RangeError);
    expect(() => ratioOfMediansCI([], base)).toThrow(RangeError);
    expect(() => ratioOfMediansCI(cand, [0, 0, 1])).toThrow(RangeError);
  });
});
