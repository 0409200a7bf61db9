/**
 * quantizeGuided (accuracy-guided int8/int4) and the self-check's judgement, on the trained character transformer
 * fixture. Each chosen model is run again in onnxruntime-node and must hold the tolerance it was searched for.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthesizeInputs } from '../../../src/inputs/synthesize.js';
import { compareModels } from '../../../src/measure/compare-models.js';
import { loadModel } from '../../../src/onnx/io.js';
import { checkQuantized, judgeFidelity } from '../../../src/quantize/check.js';
import { quantizeGuided } from '../../../src/quantize/int8/guided.js';
import { copyModel } from './helpers.js';

const charTf = path.resolve(__dirname, '../../../fixtures/torch/char-tf-a.onnx');

describe('quantizeGuided', () => {
  const float = loadModel(charTf);
  const feeds = synthesizeInputs(float, { dims: { batch: 1, sequence: 32 }, seed: 4, count: 2 });

  it('within the tolerance at once: one evaluation, nothing kept float', async () => {
    const m = copyModel(float);
    const { report, guided } = await quantizeGuided(m, { dtype: 'int8', feeds, minCosine: 0.99 });
    expect(guided).toMatchObject({ within: true, evaluations: 1, kept: [] });
    expect(report.totals.nodesQuantized).toBe(13);
  });

  it('a tight cosine keeps the most sensitive layers float, and the result holds it', async () => {
    const m = copyModel(float);
    const { report, guided } = await quantizeGuided(m, { dtype: 'int8', feeds, minCosine: 0.99999 });
    expect(guided.cosineAllQuantized).toBeLessThan(0.99999);
    expect(guided.within).toBe(true);
    expect(guided.groupSize).toBe(1);
    const kept = guided.kept.flatMap((k) => k.nodes);
    expect(kept.length).toBeGreaterThan(0);
    expect(report.totals.nodesQuantized).toBe(13 - kept.length);
    const check = await checkQuantized(float, m, feeds, { minCosine: 0.99999 });
    expect(check.passed).toBe(true);
  });

  it('the evaluation budget is kept: groups of neighbouring nodes, at most maxEvaluations runs', async () => {
    const m = copyModel(float);
    const { guided } = await quantizeGuided(m, { dtype: 'int8', feeds, maxError: 1e-3, maxEvaluations: 6 });
    expect(guided.evaluations).toBeLessThanOrEqual(6);
    expect(guided.groupSize).toBeGreaterThan(1);
    expect(guided.maxError).toBe(1e-3);
    // whatever it chose runs and is no worse than everything quantized
    const fid = await compareModels(float, m, feeds);
    expect(fid[0].rangeError!).toBeLessThanOrEqual(guided.errorAllQuantized + 1e-9);
  });
});

describe('judgeFidelity', () => {
  const out = (o: Partial<Parameters<typeof judgeFidelity>[0][0]>) => ({
    name: 'y',
    baselineName: 'y',
    maxAbsError: 0.1,
    rangeError: 0.01,
    maxRelError: 0.5,
    cosine: 0.995,
    top1: 1,
    nonFinite: 0,
    error: null,
    ...o,
  });
  it('passes within both thresholds and names each violation otherwise', () => {
    expect(judgeFidelity([out({})], { minCosine: 0.99, maxError: 0.02 }).passed).toBe(true);
    const bad = judgeFidelity([out({ cosine: 0.9 }), out({ name: 'z', rangeError: 0.5 })], { minCosine: 0.99, maxError: 0.02 });
    expect(bad.passed).toBe(false);
    expect(bad.failures).toEqual(['y: cosine 0.900000 < 0.99', 'z: range error 5.00e-1 > 0.02']);
    expect(bad.outputs.map((o) => o.passed)).toEqual([false, false]);
    expect(judgeFidelity([out({ nonFinite: 3 })], { minCosine: 0, maxError: null }).failures).toEqual([
      "y: 3 non-finite value(s) where the float model's are finite",
    ]);
  });
});
