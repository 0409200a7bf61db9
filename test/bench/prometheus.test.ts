import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, renderBenchPrometheus } from '../../src/bench/prometheus.js';
import { summarize } from '../../src/measure/stats.js';
import type { BenchResult, ServerLoadPoint } from '../../src/bench/types.js';
import { candidate, model, result, samples } from './fake-result.js';
import { tempDir } from './models.js';
import { hasPromtool, parseExposition, promtoolCheck } from '../helpers/prometheus.js';

function point(ms: number[], qps: number): ServerLoadPoint {
  return {
    targetQps: qps,
    achievedQps: qps * 0.98,
    requests: ms.length,
    completed: ms.length,
    dropped: 0,
    late: 1,
    latency: summarize(ms),
    samples: ms,
    queueWait: summarize(ms.map((x) => x / 4)),
    compute: summarize(ms.map((x) => (3 * x) / 4)),
    meanBatch: 1.5,
    sloMet: true,
    perPhase: [],
  };
}

function fakeRun(): BenchResult {
  const b = model('bert "base".onnx', { ms: samples(2, 60, 0.05, 1) });
  const c = model('bert-int8.onnx', { ms: samples(1.5, 60, 0.05, 2) });
  const ms = samples(4, 200, 0.3, 3).map(Math.abs);
  b.server = {
    workers: 2,
    threadsPerWorker: 1,
    batching: 'adaptive',
    maxBatch: 8,
    maxWaitMs: 2,
    durationMs: 1000,
    slo: { stat: 'p99', boundMs: 50 },
    load: point(ms, 200),
    maxQps: { value: 400, lo: 400, hi: 450, steps: [point(ms, 400)] },
  };
  const r = result(b, [candidate(b, c)]);
  r.gates = [
    {
      gate: 'server.p99 <= 1.05x',
      candidate: 'bert-int8.onnx',
      metric: 'server.p99',
      op: '<=',
      threshold: 1.05,
      relative: true,
      status: 'pass',
      value: 0.9,
      interval: null,
      inconclusive: false,
      reason: null,
      blocks: false,
      message: '',
    },
  ];
  return r;
}

describe('--prometheus', () => {
  it('writes every metric in the text exposition format, with latency histograms', () => {
    const r = fakeRun();
    const text = renderBenchPrometheus(r);
    const { types, samples: ss } = parseExposition(text);
    expect(types.get('autoglm_bench_metric')).toBe('gauge');
    expect(types.get('autoglm_bench_latency_seconds')).toBe('histogram');
    const get = (cand: string, scenario: string, metric: string) =>
      ss.find((s) => s.name === 'autoglm_bench_metric' && s.labels.candidate === cand && s.labels.scenario === scenario && s.labels.metric === metric)?.value;
    // the label value with a quote survives escaping
    expect(ss.every((s) => s.labels.model === undefined || s.labels.model === 'bert "base".onnx')).toBe(true);
    expect(get('baseline', 'single', 'latency_p50_seconds')).toBeCloseTo(r.baseline.latency!.p50 / 1000, 12);
    expect(get('bert-int8.onnx', 'single', 'latency_p99_seconds')).toBeCloseTo(r.candidates[0]!.latency!.p99 / 1000, 12);
    expect(get('baseline', 'static', 'parameters')).toBe(r.baseline.static.parameters.total);
    expect(get('baseline', 'server', 'max_qps')).toBe(400);
    expect(get('baseline', 'server', 'server_latency_p99_seconds')).toBeCloseTo(r.baseline.server!.load!.latency.p99 / 1000, 12);
    expect(get('bert-int8.onnx', 'fidelity', 'graph_f1')).toBe(1);
    // histogram of the server scenario: every sample counted, buckets agree with the samples
    const bucket = (scenario: string, le: string) =>
      ss.find(
        (s) => s.name === 'autoglm_bench_latency_seconds_bucket' && s.labels.candidate === 'baseline' && s.labels.scenario === scenario && s.labels.le === le,
      )!.value;
    const sm = r.baseline.server!.load!.samples;
    expect(bucket('server', '+Inf')).toBe(sm.length);
    for (const le of LATENCY_BUCKETS) expect(bucket('server', String(le))).toBe(sm.filter((x) => x / 1000 <= le).length);
    const gate = ss.find((s) => s.name === 'autoglm_bench_gate_passed')!;
    expect(gate.labels).toMatchObject({ scenario: 'server', metric: 'server.p99', gate: 'server.p99 <= 1.05x', candidate: 'bert-int8.onnx' });
    expect(ss.find((s) => s.name === 'autoglm_bench_passed')!.value).toBe(r.passed ? 1 : 0);
  });

  it('the parser rejects what the format does not allow', () => {
    expect(() => parseExposition('# TYPE a gauge\na{x="1} 1\n')).toThrow();
    expect(() => parseExposition('# TYPE a gauge\nb 1\n')).toThrow(/outside its family/);
    expect(() => parseExposition('# TYPE a gauge\na 1\na 2\n')).toThrow(/repeated/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 1\n')).toThrow(/cumulative/);
  });

  if (!hasPromtool) console.warn('promtool is not installed (Debian package prometheus): skipping `promtool check metrics`');
  it.skipIf(!hasPromtool)('promtool check metrics accepts the output', () => {
    const dir = tempDir('autoglm-prom-');
    const file = path.join(dir, 'bench.prom');
    fs.writeFileSync(file, renderBenchPrometheus(fakeRun()));
    expect(promtoolCheck(fs.readFileSync(file, 'utf8'))).toEqual({ status: 0, output: '' });
  });
});
