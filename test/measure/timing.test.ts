import { describe, expect, it } from 'vitest';
import { timeInterleaved, warmUp } from '../../src/measure/timing.js';

describe('interleaved timing', () => {
  it('runs every model once per round, in a seeded random order, cycling input sets', async () => {
    const go = async (seed: number) => {
      const log: string[] = [];
      const runs = ['A', 'B', 'C'].map((m) => async (set: number) => void log.push(`${m}${set}`));
      const samples = await timeInterleaved(runs, { warmup: 0, runs: 40, minTimeMs: 0, sets: 2, seed });
      return { log, samples };
    };
    const { log, samples } = await go(1);
    expect(samples.map((s) => s.length)).toEqual([40, 40, 40]);
    for (const s of samples) for (const v of s) expect(v).toBeGreaterThanOrEqual(0);
    const rounds = Array.from({ length: 40 }, (_, j) => log.slice(3 * j, 3 * j + 3));
    rounds.forEach((r, j) => {
      expect(
        [...r]
          .map((x) => x[0])
          .sort()
          .join(''),
      ).toBe('ABC');
      for (const x of r) expect(x[1]).toBe(String(j % 2));
    });
    // every model goes first sometimes, and the order is reproducible for a seed and differs between seeds
    const firsts = new Set(rounds.map((r) => r[0]![0]));
    expect(firsts).toEqual(new Set(['A', 'B', 'C']));
    expect((await go(1)).log).toEqual(log);
    expect((await go(2)).log).not.toEqual(log);
  });

  it('warms up without recording, alternating the models', async () => {
    const log: string[] = [];
    await warmUp(
      ['A', 'B'].map((m) => async (set: number) => void log.push(`${m}${set}`)),
      3,
      2,
    );
    expect(log).toEqual(['A0', 'B0', 'B1', 'A1', 'A0', 'B0']);
  });

  it('measures the awaited call and keeps adding rounds until min-time', async () => {
    const sleep = (ms: number) => () => new Promise<void>((r) => setTimeout(r, ms));
    const samples = await timeInterleaved([sleep(2), sleep(6)], { warmup: 1, runs: 3, minTimeMs: 60, sets: 1 });
    expect(samples[0]!.length).toBe(samples[1]!.length);
    expect(samples[0]!.length).toBeGreaterThan(3);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    expect(med(samples[1]!)).toBeGreaterThan(med(samples[0]!));
    expect(med(samples[1]!)).toBeGreaterThanOrEqual(5);
  });

  it('reports progress and honours the cap on rounds', async () => {
    const seen: number[] = [];
    const s = await timeInterleaved([async () => undefined], { warmup: 0, runs: 1, minTimeMs: 10_000, sets: 1, maxRuns: 25, onRound: (d) => seen.push(d) });
    expect(s[0]!.length).toBe(25);
    expect(seen.at(-1)).toBe(25);
  });
});
