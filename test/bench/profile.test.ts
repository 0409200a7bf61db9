import { describe, expect, it } from 'vitest';
import { parseProfile, profileModel } from '../../src/bench/profile.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { tinyBert, TINY_DIMS } from './models.js';

describe('profile parsing', () => {
  it('sums kernel time per operator over the runs after warm-up', () => {
    const run = (ts: number) => ({ cat: 'Session', name: 'model_run', ts, dur: 100 });
    const k = (op: string, ts: number, dur: number) => ({ cat: 'Node', name: `${op}_node_kernel_time`, ts, dur, args: { op_name: op } });
    const events = [
      { cat: 'Session', name: 'session_initialization', ts: 0, dur: 50 },
      run(100),
      k('MatMul', 110, 1000), // warm-up run: ignored
      run(300),
      k('MatMul', 310, 40),
      k('Add', 360, 10),
      run(500),
      k('MatMul', 510, 60),
      k('Add', 560, 10),
      { cat: 'Node', name: 'x_fence_before', ts: 520, dur: 5 },
    ];
    const p = parseProfile(events, 1);
    expect(p.runs).toBe(2);
    expect(p.kernelMs).toBeCloseTo(0.06);
    expect(p.byOp).toEqual([
      { op: 'MatMul', ms: 0.05, calls: 1, share: 100 / 120, estMs: null },
      { op: 'Add', ms: 0.01, calls: 1, share: 20 / 120, estMs: null },
    ]);
    expect(p.overhead).toBeNull();
    // with the measured (unprofiled) latency: the profiler's inflation is stated and the latency spread by share
    const q = parseProfile(events, 1, 0.012);
    expect(q.overhead).toBeCloseTo(5);
    expect(q.byOp[0]!.estMs).toBeCloseTo(0.01);
    expect(q.byOp[1]!.estMs).toBeCloseTo(0.002);
  });

  it("reads onnxruntime's own profile of a model", async () => {
    const m = tinyBert();
    const feeds = synthesizeInputs(m, { dims: TINY_DIMS, count: 1 });
    const p = await profileModel(encodeModel(m), { intraOpThreads: 1 }, feeds, 2, 3);
    expect(p.runs).toBe(3);
    expect(p.kernelMs).toBeGreaterThan(0);
    const ops = p.byOp.map((o) => o.op);
    expect(ops).toContain('MatMul');
    expect(ops).toContain('Softmax');
    expect(p.byOp.reduce((a, o) => a + o.share, 0)).toBeCloseTo(1, 6);
  });
});
