import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.js';

function draw(r: Rng, n: number): number[] {
  return Array.from({ length: n }, () => r.next());
}

describe('Rng', () => {
  it('implements xoshiro128** (reference vector from state [1,2,3,4])', () => {
    const r = Rng.fromState(1, 2, 3, 4);
    expect(draw(r, 10)).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
  });

  it('is pinned for a seed (fixtures depend on this exact stream)', () => {
    expect(draw(new Rng(42), 5)).toEqual([418557914, 3482067312, 3563183866, 3040517743, 3419992532]);
    expect(draw(new Rng(42).fork('bench'), 3)).toEqual([2995618071, 3840011581, 2556588222]);
    const r = new Rng(42);
    expect(r.float()).toBe(0.09745310852304101);
    // range 3*2^30 rejects 25% of raw words, so this pins the rejection loop too
    expect([0, 1, 2, 3].map(() => r.int(0, 3 * 2 ** 30))).toEqual([3040517743, 1909031435, 684583383, 1026688810]);
    expect(r.int(-5, 5)).toBe(-1);
    expect(r.normal()).toBeCloseTo(1.0706246693034895, 12);
    expect(r.normal()).toBeCloseTo(0.21813115349154233, 12);
  });

  it('is deterministic for the same seed and differs across seeds', () => {
    expect(draw(new Rng(7), 50)).toEqual(draw(new Rng(7), 50));
    expect(draw(new Rng(7), 20)).not.toEqual(draw(new Rng(8), 20));
    // seeds that collide under a naive `seed >>> 0` stay distinct
    expect(draw(new Rng(0), 8)).not.toEqual(draw(new Rng(2 ** 32), 8));
    expect(draw(new Rng(1), 8)).not.toEqual(draw(new Rng(1.5), 8));
    expect(draw(new Rng(-0), 8)).toEqual(draw(new Rng(0), 8));
    expect(() => new Rng(Number.NaN)).toThrow(RangeError);
  });

  it('next() returns uint32 and float() lies in [0,1) with mean ~0.5', () => {
    const r = new Rng(1);
    let sum = 0;
    let bad = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      if (!(Number.isInteger(u) && u >= 0 && u < 2 ** 32)) bad++;
      const f = r.float();
      if (!(f >= 0 && f < 1)) bad++;
      sum += f;
    }
    expect(bad).toBe(0);
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
  });

  it('int() stays in range and is roughly uniform', () => {
    const r = new Rng(3);
    const counts = new Array<number>(7).fill(0);
    const n = 70000;
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const v = r.int(-3, 4);
      if (!(v >= -3 && v < 4 && Number.isInteger(v))) bad++;
      else counts[v + 3]!++;
    }
    expect(bad).toBe(0);
    // chi-square with 6 dof; 99.9% critical value is 22.46
    const e = n / 7;
    const chi2 = counts.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
    expect(chi2).toBeLessThan(22.46);
    expect(r.int(5, 6)).toBe(5);
    const big = r.int(0, 2 ** 40);
    expect(big >= 0 && big < 2 ** 40).toBe(true);
    expect(() => r.int(3, 3)).toThrow(RangeError);
    expect(() => r.int(0, 1.5)).toThrow(RangeError);
  });

  it('normal() has mean ~0 and sd ~1', () => {
    const r = new Rng(11);
    const n = 40000;
    let s = 0;
    let s2 = 0;
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const x = r.normal();
      if (!Number.isFinite(x)) bad++;
      s += x;
      s2 += x * x;
    }
    expect(bad).toBe(0);
    const mean = s / n;
    const sd = Math.sqrt(s2 / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
  });

  it('pick() and shuffle()', () => {
    const r = new Rng(5);
    const arr = ['a', 'b', 'c'] as const;
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(r.pick(arr));
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    expect(() => r.pick([])).toThrow(RangeError);

    const xs = Array.from({ length: 20 }, (_, i) => i);
    const out = new Rng(9).shuffle(xs);
    expect(out).toBe(xs); // in place
    expect([...out].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(out).not.toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(new Rng(9).shuffle(Array.from({ length: 20 }, (_, i) => i))).toEqual(out);
  });

  it('fork() gives deterministic, independent child streams without touching the parent', () => {
    const parent = new Rng(123);
    const a1 = draw(parent.fork('a'), 10);
    // parent state untouched by forking
    expect(draw(parent, 5)).toEqual(draw(new Rng(123), 5));
    // child does not depend on how much the parent has drawn
    expect(draw(parent.fork('a'), 10)).toEqual(a1);
    expect(draw(parent.fork('b'), 10)).not.toEqual(a1);
    expect(draw(parent.fork(1), 10)).not.toEqual(draw(parent.fork('1'), 10));
    expect(draw(parent.fork('a'), 10)).not.toEqual(draw(new Rng(123), 10));
    expect(draw(new Rng(124).fork('a'), 10)).not.toEqual(a1);
    // nested forks are deterministic and distinct
    expect(draw(parent.fork('a').fork('x'), 5)).toEqual(draw(new Rng(123).fork('a').fork('x'), 5));
    expect(draw(parent.fork('a').fork('x'), 5)).not.toEqual(draw(parent.fork('a'), 5));
  });

  it('fillUniform() and fillNormal()', () => {
    const r = new Rng(77);
    const u = r.fillUniform(new Float32Array(10000), -2, 3);
    let s = 0;
    let bad = 0;
    for (const v of u) {
      if (!(v >= -2 && v < 3)) bad++;
      s += v;
    }
    expect(bad).toBe(0);
    expect(Math.abs(s / u.length - 0.5)).toBeLessThan(0.05);
    expect(Array.from(new Rng(1).fillUniform(new Float32Array(3), 4, 4))).toEqual([4, 4, 4]);

    const g = r.fillNormal(new Float32Array(20000), 2, 5);
    let m = 0;
    for (const v of g) m += v;
    m /= g.length;
    let v2 = 0;
    for (const v of g) v2 += (v - m) ** 2;
    expect(Math.abs(m - 5)).toBeLessThan(0.06);
    expect(Math.abs(Math.sqrt(v2 / (g.length - 1)) - 2)).toBeLessThan(0.06);
    expect(Array.from(new Rng(3).fillNormal(new Float32Array(4), 0, 1.5))).toEqual([1.5, 1.5, 1.5, 1.5]);
    expect(Array.from(new Rng(4).fillUniform(new Float32Array(4), 0, 1))).toEqual(Array.from(new Rng(4).fillUniform(new Float32Array(4), 0, 1)));
  });
});
