/**
 * Hand-made BenchResults for the gate and report tests: the same shape benchmark() returns, with latency samples
 * drawn from a seeded RNG around a chosen median (so gate decisions are deterministic).
 */
import { pairedRatioCI } from '../../src/measure/bootstrap.js';
import { outlierCount, ratioOfMediansCI, summarize } from '../../src/measure/stats.js';
import type { BenchResult, CandidateReport, LatencyStats, ModelReport } from '../../src/bench/types.js';
import { Rng } from '../../src/util/rng.js';
import { graphF1Score } from '../../src/measure/fidelity.js';
import { minBaselineEdges } from '../../src/measure/graph-f1.js';
import type { EdgeCountReport, GraphF1Report } from '../../src/measure/types.js';

export function samples(median: number, n: number, spread: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => median * (1 + spread * rng.normal()));
}

export function latency(s: number[], cvThreshold = 0.1): LatencyStats {
  const sum = summarize(s);
  return { ...sum, samples: s, outliers: outlierCount(s), noisy: !(sum.cv <= cvThreshold) };
}

export function model(label: string, opts: { ms?: number[]; params?: number; size?: number; flops?: number } = {}): ModelReport {
  const lat = opts.ms ? latency(opts.ms) : null;
  return {
    label,
    path: `/models/${label}`,
    status: 'ok',
    error: null,
    static: {
      fileSize: opts.size ?? 1_000_000,
      parameters: { total: opts.params ?? 250_000, nonZero: opts.params ?? 250_000, bytes: (opts.params ?? 250_000) * 4 },
      nodes: 120,
      flops: { total: opts.flops ?? 5e7, byOp: [{ op: 'MatMul', flops: opts.flops ?? 5e7, nodes: 12 }], unknownNodes: 0, method: 'runtime-shapes' },
    },
    sessionCreateMs: [20, 21, 19],
    sessionCreate: 20,
    latency: lat,
    throughput: lat ? 1000 / lat.mean : null,
    memory: { peakDelta: 8 << 20, peakDeltas: [8 << 20, 8 << 20, 8 << 20], retainedDelta: 6 << 20, sampleIntervalMs: 2, samples: 3 },
    load: null,
    profile: null,
    notes: [],
  };
}

/** Edge counts of a graph F1 report: `baseline` edges over `rows` rows (conclusive when baseline >= max(3, rows / 10)). */
export function edges(baseline: number, candidate: number, rows: number): EdgeCountReport {
  const minBaseline = minBaselineEdges(rows);
  return { baseline, candidate, common: Math.min(baseline, candidate), rows, minBaseline, conclusive: baseline >= minBaseline };
}

export function candidate(
  base: ModelReport,
  m: ModelReport,
  opts: { graphF1?: [number, number]; cosine?: number; baselineEdges?: number } = {},
): CandidateReport {
  const r = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || !b ? null : a / b);
  let latencyRatio: CandidateReport['latencyRatio'] = null;
  if (m.latency && base.latency) {
    const ci = ratioOfMediansCI(m.latency.samples, base.latency.samples);
    const pr = pairedRatioCI(m.latency.samples, base.latency.samples);
    const noisy = m.latency.noisy || base.latency.noisy;
    latencyRatio = {
      ...ci,
      perRound: { ratio: pr.value, lo: pr.lo, hi: pr.hi },
      noisy,
      verdict: noisy ? 'noisy' : ci.hi < 1 ? 'faster' : ci.lo > 1 ? 'slower' : 'same',
    };
  }
  return {
    ...m,
    ratios: {
      params: r(m.static.parameters.total, base.static.parameters.total),
      nonZeroParams: r(m.static.parameters.nonZero, base.static.parameters.nonZero),
      size: r(m.static.fileSize, base.static.fileSize),
      flops: r(m.static.flops?.total, base.static.flops?.total),
      sessionCreate: r(m.sessionCreate, base.sessionCreate),
      memory: r(m.memory?.peakDelta, base.memory?.peakDelta),
      throughput: r(m.throughput, base.throughput),
      loadThroughput: null,
    },
    latencyRatio,
    fidelity:
      m.status === 'ok'
        ? {
            outputs: [
              {
                name: 'logits',
                baselineName: 'logits',
                maxAbsError: 1e-3,
                rangeError: 1e-3,
                maxRelError: 2e-3,
                cosine: opts.cosine ?? 0.9999,
                top1: 1,
                nonFinite: 0,
                error: null,
              },
            ],
            graphF1: graphF1Report(opts.graphF1?.[0] ?? 1, opts.graphF1?.[1] ?? 1, opts.baselineEdges ?? 16),
            notes: [],
          }
        : null,
  };
}

/** A two-layer graph F1 report over 16 rows per layer with `be` baseline edges per layer. */
export function graphF1Report(last: number, all: number, be: number): GraphF1Report {
  const r: GraphF1Report = {
    threshold: 0.2,
    edgeRule: '0.2',
    lastLayer: last,
    allLayers: all,
    perLayer: [1, last],
    layers: 2,
    source: 'attention',
    note: 'attention probabilities of 2 layer(s)',
    edges: { last: edges(be, be, 16), all: edges(2 * be, 2 * be, 32), perLayer: [edges(be, be, 16), edges(be, be, 16)] },
    score: null,
    inconclusive: null,
  };
  const s = graphF1Score(r);
  r.score = s.value;
  r.inconclusive = s.why;
  return r;
}

export function result(baseline: ModelReport, candidates: CandidateReport[]): BenchResult {
  return {
    schema: 1,
    createdAt: '2025-01-01T00:00:00.000Z',
    durationMs: 1234,
    environment: {
      os: { platform: 'linux', release: '6', arch: 'x64' },
      cpu: { model: 'Test CPU', cores: 2 },
      totalMemory: 8e9,
      node: 'v20',
      onnxruntime: '1.30.0',
      autoglm: '0.1.0',
    },
    settings: {
      executionProvider: 'cpu',
      threads: 1,
      optimizationLevel: 'all',
      warmup: 5,
      runs: 50,
      minTime: 0,
      concurrency: 1,
      sessionRepeats: 3,
      seed: 0,
      graphThreshold: 0.2,
      graphEdges: '0.2',
      allowSkipped: false,
      cvThreshold: 0.1,
      confidence: 0.95,
      inputs: { source: 'synthesized', path: null, sets: 1, dims: { batch: 2 }, tensors: [{ name: 'x', dtype: 'float32', shape: [2, 8] }] },
    },
    baseline,
    candidates,
    gates: [],
    passed: true,
    notes: [],
  };
}
