/** Gates on the server scenario and the decode benchmark, decided on hand-made results. */
import { describe, expect, it } from 'vitest';
import { evaluateGates, parseGate } from '../../src/bench/gates.js';
import type { DecodeStats, ServerLoadPoint, ServerStats } from '../../src/bench/types.js';
import { summarize } from '../../src/measure/stats.js';
import { candidate, model, result, samples } from './fake-result.js';

function point(ms: number[], perPhaseP99: number[]): ServerLoadPoint {
  const s = summarize(ms);
  return {
    targetQps: 100,
    achievedQps: 99,
    requests: ms.length,
    completed: ms.length,
    dropped: 0,
    late: 0,
    latency: s,
    samples: ms,
    queueWait: s,
    compute: s,
    meanBatch: 1,
    sloMet: true,
    perPhase: perPhaseP99.map((p99) => ({ p50: p99 / 3, p90: p99 / 2, p99 })),
  };
}
const server = (load: ServerLoadPoint | null, maxQps: ServerStats['maxQps']): ServerStats => ({
  workers: 2,
  threadsPerWorker: 1,
  batching: 'none',
  maxBatch: 1,
  maxWaitMs: 0,
  durationMs: 1000,
  slo: { stat: 'p99', boundMs: 50 },
  load,
  maxQps,
});

function run(gates: string[], c: { p99Scale: number; phases: number[]; maxQps: [number, number, number] }) {
  const b = model('base', { ms: samples(2, 30, 0.05, 1) });
  const k = model('cand', { ms: samples(2, 30, 0.05, 2) });
  b.server = server(point(samples(10, 400, 0.2, 3).map(Math.abs), [10, 10, 10, 10]), { value: 400, lo: 400, hi: 450, steps: [] });
  k.server = server(point(samples(10 * c.p99Scale, 400, 0.2, 4).map(Math.abs), c.phases), { value: c.maxQps[0], lo: c.maxQps[1], hi: c.maxQps[2], steps: [] });
  const r = result(b, [candidate(b, k)]);
  return evaluateGates(gates.map(parseGate), r);
}

describe('serving gates', () => {
  it('server.p99 ratio fails only when the interval and every interleaved phase are beyond the threshold', () => {
    const slow = run(['server.p99 <= 1.05x'], { p99Scale: 1.5, phases: [15, 15, 15, 15], maxQps: [400, 400, 450] });
    expect(slow[0]!.status).toBe('fail');
    const drift = run(['server.p99 <= 1.05x'], { p99Scale: 1.5, phases: [40, 9, 10, 10], maxQps: [400, 400, 450] });
    expect(drift[0]!.status).toBe('pass');
    expect(drift[0]!.inconclusive).toBe(true);
    expect(drift[0]!.message).toMatch(/per-phase ratio \(4 phases\)/);
  });

  it('server.maxQps: a ratio on the search brackets, and absolute', () => {
    const [rel, abs] = run(['server.maxQps >= 0.95x', 'server.maxQps >= 300/s'], { p99Scale: 1, phases: [10, 10, 10, 10], maxQps: [200, 200, 250] });
    expect(rel!.status).toBe('fail');
    expect(rel!.value).toBeCloseTo(0.5, 9);
    expect(rel!.interval).toMatchObject({ lo: 200 / 450, hi: 250 / 400 });
    expect(rel!.message).toMatch(/ratio of the search brackets \[0\.444x, 0\.625x\] lies entirely beyond >= 0\.950x/);
    expect(abs!.status).toBe('fail');
    const ok = run(['server.maxQps >= 0.95x', 'server.p99 <= 80ms', 'server.dropped <= 0'], { p99Scale: 1, phases: [10, 10, 10, 10], maxQps: [380, 380, 440] });
    expect(ok.map((g) => g.status)).toEqual(['pass', 'pass', 'pass']);
    expect(ok[0]!.inconclusive).toBe(true); // 0.844..1.1 straddles 0.95
  });

  it('a gate on a scenario that did not run is skipped, not passed; decode gates read the decode stats', () => {
    const b = model('base', { ms: samples(2, 30, 0.05, 1) });
    const c = model('cand', { ms: samples(2, 30, 0.05, 2) });
    const dec = (tpot: number, agreement: number | null): DecodeStats => {
      const t = samples(tpot, 60, 0.05, 9);
      return {
        promptTokens: 8,
        newTokens: 21,
        repeats: 3,
        ttft: summarize([1, 1, 1]),
        ttftSamples: [1, 1.1, 0.9],
        tpot: summarize(t),
        tpotSamples: t,
        tokensPerSecond: 1000 / tpot,
        cacheBytes: 1,
        memoryGrowth: 0,
        tokens: [],
        tokenAgreement: agreement,
      };
    };
    b.decode = dec(1, null);
    c.decode = dec(0.5, 0.97);
    const r = result(b, [candidate(b, c)]);
    const g = evaluateGates(['server.p99 <= 1.05x', 'decode.tpot <= 0.8x', 'decode.agreement >= 0.99', 'decode.tokensPerSecond >= 1.5x'].map(parseGate), r);
    expect(g[0]!).toMatchObject({ status: 'skipped', reason: 'not-measured', blocks: true });
    expect(g[0]!.message).toMatch(/use --scenario server --qps N/);
    expect(g[1]!.status).toBe('pass');
    expect(g[2]!.status).toBe('fail');
    expect(g[3]!.status).toBe('pass');
  });
});
