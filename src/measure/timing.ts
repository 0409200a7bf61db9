/**
 * Timing: warm-up, then interleaved rounds. In round j every model runs once, back to back, on input set
 * j mod sets, in an order shuffled each round (seeded), so machine drift (thermal, other load, frequency scaling)
 * hits every model alike and no model always goes first. The order is random rather than rotated (AB, BA, AB, ...)
 * because periodic load on a shared machine can alias with a fixed rotation and land on one model's runs again and
 * again. Sample j of each model comes from the same round, which is what lets stats.ts resample them as pairs.
 *
 * Each sample is the wall time of one `session.run(feeds)` call read with process.hrtime.bigint(): the runtime's own
 * work plus the binding's hop through the event loop, exactly what a caller awaiting run() sees. The loop does
 * nothing else between the two clock reads (feeds are prepared before, outputs are dropped after), which is what
 * `npm run bench:harness` checks against a bare loop.
 */
import { Rng } from '../util/rng.js';

/** One model's run on input set `set`; must do the inference and nothing else. */
export type RunFn = (set: number) => Promise<unknown>;

export interface TimingPlan {
  warmup: number;
  /** minimum number of timed rounds */
  runs: number;
  /** keep adding rounds until this much time (ms) has passed in timed rounds (0 = stop at `runs`) */
  minTimeMs: number;
  /** number of input sets (rounds cycle through them) */
  sets: number;
  /** hard cap on rounds when minTimeMs is set (default 100000) */
  maxRuns?: number;
  /** seed of the per-round order (default 0) */
  seed?: number;
  /** called after each round with (rounds done, rounds expected so far) */
  onRound?: (done: number, expected: number) => void;
}

/** A seeded random permutation of 0..n-1 (Fisher-Yates). */
function shuffle(order: number[], rng: Rng): number[] {
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Runs `fn` `n` times per model, interleaved, without recording (warm-up). */
export async function warmUp(runs: RunFn[], warmup: number, sets: number): Promise<void> {
  for (let i = 0; i < warmup; i++) {
    for (let k = 0; k < runs.length; k++) {
      const m = (k + i) % runs.length;
      await runs[m]!(i % sets);
    }
  }
}

/** Interleaved timed rounds; returns per-model latency samples in ms (all the same length). */
export async function timeInterleaved(runs: RunFn[], plan: TimingPlan): Promise<number[][]> {
  const m = runs.length;
  const samples: number[][] = runs.map(() => []);
  if (m === 0) return samples;
  const sets = Math.max(1, plan.sets);
  const maxRuns = plan.maxRuns ?? 100_000;
  await warmUp(runs, plan.warmup, sets);
  const start = process.hrtime.bigint();
  const minTimeNs = BigInt(Math.round(plan.minTimeMs * 1e6));
  const rng = new Rng(plan.seed ?? 0);
  const order = runs.map((_, i) => i);
  let round = 0;
  for (;;) {
    const set = round % sets;
    shuffle(order, rng);
    for (let k = 0; k < m; k++) {
      const idx = order[k]!;
      const fn = runs[idx]!;
      const t0 = process.hrtime.bigint();
      await fn(set);
      const t1 = process.hrtime.bigint();
      samples[idx]!.push(Number(t1 - t0) / 1e6);
    }
    round++;
    const elapsed = process.hrtime.bigint() - start;
    const enoughRuns = round >= plan.runs;
    const enoughTime = elapsed >= minTimeNs;
    let expected = plan.runs;
    if (minTimeNs > 0n && round > 0) {
      const perRound = Number(elapsed) / round;
      expected = Math.min(maxRuns, Math.max(plan.runs, Math.ceil(Number(minTimeNs) / perRound)));
    }
    plan.onRound?.(round, expected);
    if ((enoughRuns && enoughTime) || round >= maxRuns) break;
  }
  return samples;
}
