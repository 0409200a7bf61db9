import { describe, expect, it } from 'vitest';
import { pairedRatioCI, ratioCI, statCI, statistic } from '../../src/measure/bootstrap.js';
import { ratioOfMediansCI } from '../../src/measure/stats.js';
import { samples } from '../bench/fake-result.js';

describe('bootstrap intervals', () => {
  it('computes the statistics with type-7 quantiles', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(statistic('min', xs)).toBe(1);
    expect(statistic('max', xs)).toBe(5);
    expect(statistic('mean', xs)).toBe(3);
    expect(statistic('p50', xs)).toBe(3);
    expect(statistic('p90', xs)).toBeCloseTo(4.6);
    expect(statistic('p99', xs)).toBeCloseTo(4.96);
  });

  it('brackets the true ratio of a scaled copy and agrees with ratioOfMediansCI on p50', () => {
    const b = samples(10, 80, 0.05, 1);
    const c = b.map((v) => v * 1.3);
    for (const stat of ['p50', 'p90', 'p99', 'mean', 'min'] as const) {
      const ci = ratioCI(stat, c, b);
      expect(ci.value, stat).toBeCloseTo(1.3, 6);
      expect(ci.lo, stat).toBeLessThanOrEqual(1.3 + 1e-9);
      expect(ci.hi, stat).toBeGreaterThanOrEqual(1.3 - 1e-9);
    }
    const noisy = samples(10, 80, 0.05, 2);
    const mine = ratioCI('p50', noisy, b, { seed: 9 });
    const theirs = ratioOfMediansCI(noisy, b, { seed: 9 });
    expect(mine.value).toBeCloseTo(theirs.ratio, 12);
    expect(Math.abs(mine.lo - theirs.lo)).toBeLessThan(0.02);
    expect(Math.abs(mine.hi - theirs.hi)).toBeLessThan(0.02);
  });

  it('gives the median per-round ratio of paired samples', () => {
    const b = samples(10, 50, 0.05, 5);
    const c = b.map((v, j) => v * (j % 2 ? 1.2 : 1.4));
    const pr = pairedRatioCI(c, b);
    expect(pr.value).toBeCloseTo(1.3, 6);
    expect(pr.lo).toBeGreaterThanOrEqual(1.2 - 1e-9);
    expect(pr.hi).toBeLessThanOrEqual(1.4 + 1e-9);
    expect(() => pairedRatioCI([1, 2], [1])).toThrow(/2 candidate samples but 1/);
  });

  it('is deterministic for a seed and narrows with more samples', () => {
    const a = samples(5, 40, 0.1, 3);
    expect(statCI('p50', a, { seed: 1 })).toEqual(statCI('p50', a, { seed: 1 }));
    const wide = statCI('p50', samples(5, 20, 0.1, 4));
    const narrow = statCI('p50', samples(5, 400, 0.1, 4));
    expect(narrow.hi - narrow.lo).toBeLessThan(wide.hi - wide.lo);
    expect(() => statCI('p50', [])).toThrow(RangeError);
    expect(() => ratioCI('p50', [1, NaN], [1, 2])).toThrow(RangeError);
  });
});
