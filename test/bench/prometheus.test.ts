import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, renderBenchPrometheus } from '../../src/bench/prometheus.js';
import { summarize } from '../../src/measure/stats.js';
import type { BenchResult, ServerLoadPoint } from '../../src/bench/types.js';
import { candidate, model, result, samples } from './fake-result.js';
import { tempDir } from './models.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text exposition format 0.0.4: every line is a HELP, a TYPE, or a sample of the
 * family declared just before; names and label names are valid; label values are properly escaped; no series twice;
 * histograms have cumulative buckets ending in +Inf equal to _count. Throws on the first violation.
 */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  if (!text.endsWith('\n')) throw new Error('the text must end with a line feed');
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const out: Sample[] = [];
  const seen = new Set<string>();
  let current: string | null = null;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith('# HELP ')) {
      const name = line.slice(7).split(' ')[0]!;
      if (!NAME.test(name) || helps.has(name)) throw new Error(`bad or repeated HELP: ${where}`);
      helps.add(name);
      return;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (!NAME.test(name!) || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type!) || types.has(name!))
        throw new Error(`bad TYPE: ${where}`);
      types.set(name!, type!);
      current = name!;
      return;
    }
    if (line.startsWith('#') || line.trim() === '') throw new Error(`unexpected line: ${where}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample: ${where}`);
    const name = m[1]!;
    const family = current!;
    const ok = types.get(family) === 'histogram' ? [`${family}_bucket`, `${family}_sum`, `${family}_count`].includes(name) : name === family;
    if (!current || !ok) throw new Error(`sample outside its family: ${where}`);
    const labels: Record<string, string> = {};
    let rest = m[3] ?? '';
    while (rest.length) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      if (!lm || !LABEL.test(lm[1]!)) throw new Error(`bad label set: ${where}`);
      if (lm[1]! in labels) throw new Error(`label repeated: ${where}`);
      labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(lm[0].length);
    }
    const v = m[4]!;
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : v === 'NaN' ? NaN : Number(v);
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$|^[-+]Inf$|^NaN$/i.test(v)) throw new Error(`bad value: ${where}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`series repeated: ${where}`);
    seen.add(key);
    out.push({ name, labels, value });
  });
  // histograms: cumulative buckets, +Inf == _count
  for (const [fam, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of out.filter((x) => x.name === `${fam}_bucket`)) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${fam}_bucket without le`);
      const k = JSON.stringify(Object.entries(rest).sort());
      (series.get(k) ?? series.set(k, []).get(k)!).push(s);
    }
    for (const [k, bs] of series) {
      for (let i = 1; i < bs.length; i++) {
        if (!(Number(bs[i]!.labels.le === '+Inf' ? Infinity : bs[i]!.labels.le) > Number(bs[i - 1]!.labels.le))) throw new Error(`${fam}: le not increasing`);
        if (bs[i]!.value < bs[i - 1]!.value) throw new Error(`${fam}: buckets not cumulative`);
      }
      if (bs[bs.length - 1]!.labels.le !== '+Inf') throw new Error(`${fam}: no +Inf bucket`);
      const count = out.find((x) => x.name === `${fam}_count` && JSON.stringify(Object.entries(x.labels).sort()) === k);
      if (!count || count.value !== bs[bs.length - 1]!.value) throw new Error(`${fam}: _count differs from the +Inf bucket`);
    }
  }
  return { types, samples: out };
}

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

  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  const hasPromtool = promtool.status === 0;
  if (!hasPromtool) console.warn('promtool is not installed (Debian package prometheus): skipping `promtool check metrics`');
  it.skipIf(!hasPromtool)('promtool check metrics accepts the output', () => {
    const dir = tempDir('autoglm-prom-');
    const file = path.join(dir, 'bench.prom');
    fs.writeFileSync(file, renderBenchPrometheus(fakeRun()));
    const r = spawnSync('promtool', ['check', 'metrics'], { input: fs.readFileSync(file), encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });
});
