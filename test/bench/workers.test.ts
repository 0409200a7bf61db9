import { describe, expect, it } from 'vitest';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { measureUnderLoad, workerEntry } from '../../src/bench/workers.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { tinyBert, TINY_DIMS } from './models.js';

describe('--concurrency worker pool', () => {
  it('starts the TypeScript worker through tsx under vitest', () => {
    const e = workerEntry();
    expect(e.eval).toBe(true);
    expect(String(e.script)).toMatch(/bench-worker\.ts/);
  });

  it('runs every model in every worker and reports throughput and latency under load', async () => {
    const m = tinyBert();
    const feeds = synthesizeInputs(m, { dims: TINY_DIMS, count: 2 });
    const bytes = encodeModel(m);
    const phases: number[] = [];
    const stats = await measureUnderLoad(
      [
        { source: bytes, feeds },
        { source: bytes, feeds },
      ],
      { concurrency: 2, sessionOptions: {}, threadsPerWorker: 1, runsPerWorker: 5, phaseMs: 0, phases: 2, onPhase: (d) => phases.push(d) },
    );
    expect(phases).toEqual([1, 2, 3, 4]);
    expect(stats).toHaveLength(2);
    for (const s of stats) {
      expect(s.concurrency).toBe(2);
      expect(s.threadsPerWorker).toBe(1);
      expect(s.runs).toBe(2 * 2 * 5);
      expect(s.throughput).toBeGreaterThan(0);
      expect(s.latency.n).toBe(s.runs);
      expect(s.wallMs).toBeGreaterThan(0);
    }
  });

  it('reports a worker that cannot load its model', async () => {
    await expect(
      measureUnderLoad([{ source: new Uint8Array([1, 2, 3]), feeds: [{}] }], { concurrency: 1, sessionOptions: {}, runsPerWorker: 1, phaseMs: 0 }),
    ).rejects.toThrow(/worker failed to start/);
  });
});
