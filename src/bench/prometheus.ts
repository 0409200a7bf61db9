/**
 * `--prometheus FILE`: every metric of a BenchResult in the Prometheus text exposition format (version 0.0.4), for a
 * node exporter textfile collector or a Pushgateway. A renderer like the other reports: nothing is measured here.
 *
 * Families (base units: seconds, bytes, ratios as plain numbers):
 *   autoglm_bench_metric{model, candidate, scenario, metric}      gauge: every number of every row
 *   autoglm_bench_latency_seconds{model, candidate, scenario}     histogram of the latency samples of a scenario
 *                                                                 (single: the interleaved runs; server: end to end;
 *                                                                 decode: time per output token)
 *   autoglm_bench_gate_passed{model, candidate, scenario, metric, gate}   1 pass, 0 otherwise (skipped, failed, error)
 *   autoglm_bench_passed{model}                                   1 when the run passed
 * `model` is the baseline's label (what the run is about); `candidate` is the measured row's label, or `baseline`.
 * No timestamps: the collector stamps the scrape.
 */
import type { Summary } from '../measure/stats.js';
import type { BenchResult, CandidateReport, ModelReport, ServerLoadPoint } from './types.js';

/** Bucket upper bounds of the latency histograms (seconds): fixed, so runs can be compared and aggregated. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

type Labels = Record<string, string>;

/** A label value as the format writes it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(l: Labels): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A sample value: Go's float syntax (NaN, +Inf, -Inf, or a JavaScript number). */
export function formatValue(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return '+Inf';
  if (x === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(x);
}

class Family {
  readonly lines: string[] = [];
  constructor(
    readonly name: string,
    readonly type: 'gauge' | 'histogram',
    readonly help: string,
  ) {}
  sample(labels: Labels, value: number, suffix = ''): void {
    this.lines.push(`${this.name}${suffix}${labelText(labels)} ${formatValue(value)}`);
  }
  text(): string {
    if (!this.lines.length) return '';
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n${this.lines.join('\n')}\n`;
  }
}

/** Metric names: [a-z0-9_] only, so they read the same in PromQL label matchers. */
function metricName(parts: string[]): string {
  return parts
    .join('_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_');
}

interface Row {
  model: string;
  candidate: string;
  report: ModelReport;
  cand: CandidateReport | null;
}

function histogram(f: Family, base: Labels, samplesMs: readonly number[]): void {
  const secs = samplesMs.map((x) => x / 1000).sort((a, b) => a - b);
  let i = 0;
  for (const le of LATENCY_BUCKETS) {
    while (i < secs.length && secs[i]! <= le) i++;
    f.sample({ ...base, le: String(le) }, i, '_bucket');
  }
  f.sample({ ...base, le: '+Inf' }, secs.length, '_bucket');
  f.sample(
    base,
    secs.reduce((a, b) => a + b, 0),
    '_sum',
  );
  f.sample(base, secs.length, '_count');
}

/** Renders the whole result. Every number that is null in the result is left out (absent, not 0). */
export function renderBenchPrometheus(r: BenchResult): string {
  const model = r.baseline.label;
  const metric = new Family('autoglm_bench_metric', 'gauge', 'A metric of an autoglm bench run (label metric names it; times in seconds, sizes in bytes).');
  const hist = new Family(
    'autoglm_bench_latency_seconds',
    'histogram',
    'Latency samples of a bench scenario (single: one run; server: arrival to completion; decode: per output token).',
  );
  const gates = new Family('autoglm_bench_gate_passed', 'gauge', 'A CI gate of the bench run: 1 passed, 0 failed, errored or skipped.');
  const passed = new Family('autoglm_bench_passed', 'gauge', '1 when the bench run passed every gate, else 0.');

  const rows: Row[] = [
    { model, candidate: 'baseline', report: r.baseline, cand: null },
    ...r.candidates.map((c) => ({ model, candidate: c.label, report: c as ModelReport, cand: c })),
  ];
  const put = (row: Row, scenario: string, name: string, v: number | null | undefined) => {
    if (v === null || v === undefined || !Number.isFinite(v)) return;
    metric.sample({ model: row.model, candidate: row.candidate, scenario, metric: name }, v);
  };
  const putSummary = (row: Row, scenario: string, prefix: string, s: Summary | null | undefined) => {
    if (!s) return;
    for (const k of ['min', 'mean', 'p50', 'p90', 'p99', 'max'] as const) put(row, scenario, metricName([prefix, k, 'seconds']), s[k] / 1000);
    put(row, scenario, metricName([prefix, 'cv']), s.cv);
    put(row, scenario, metricName([prefix, 'samples']), s.n);
  };
  const putPoint = (row: Row, scenario: string, prefix: string, p: ServerLoadPoint) => {
    put(row, scenario, metricName([prefix, 'target_qps']), p.targetQps);
    put(row, scenario, metricName([prefix, 'achieved_qps']), p.achievedQps);
    put(row, scenario, metricName([prefix, 'requests']), p.requests);
    put(row, scenario, metricName([prefix, 'completed']), p.completed);
    put(row, scenario, metricName([prefix, 'dropped']), p.dropped);
    put(row, scenario, metricName([prefix, 'late']), p.late);
    put(row, scenario, metricName([prefix, 'mean_batch']), p.meanBatch);
    putSummary(row, scenario, `${prefix}_latency`, p.latency);
    putSummary(row, scenario, `${prefix}_queue_wait`, p.queueWait);
    putSummary(row, scenario, `${prefix}_compute`, p.compute);
  };

  for (const row of rows) {
    const m = row.report;
    const st = m.static;
    put(row, 'static', 'up', m.status === 'ok' ? 1 : 0);
    put(row, 'static', 'file_size_bytes', st.fileSize);
    put(row, 'static', 'parameters', st.parameters.total);
    put(row, 'static', 'parameters_nonzero', st.parameters.nonZero);
    put(row, 'static', 'parameter_bytes', st.parameters.bytes);
    put(row, 'static', 'nodes', st.nodes);
    put(row, 'static', 'flops', st.flops?.total);
    put(row, 'single', 'session_create_seconds', m.sessionCreate === null ? null : m.sessionCreate / 1000);
    put(row, 'single', 'memory_peak_delta_bytes', m.memory?.peakDelta);
    put(row, 'single', 'memory_retained_delta_bytes', m.memory?.retainedDelta);
    if (m.latency) {
      putSummary(row, 'single', 'latency', m.latency);
      put(row, 'single', 'latency_outliers', m.latency.outliers);
      put(row, 'single', 'latency_noisy', m.latency.noisy ? 1 : 0);
      histogram(hist, { model: row.model, candidate: row.candidate, scenario: 'single' }, m.latency.samples);
    }
    put(row, 'single', 'throughput_per_second', m.throughput);
    if (m.load) {
      put(row, 'load', 'concurrency', m.load.concurrency);
      put(row, 'load', 'throughput_per_second', m.load.throughput);
      putSummary(row, 'load', 'latency', m.load.latency);
    }
    if (m.profile) {
      for (const op of m.profile.byOp) put(row, 'profile', metricName(['op', op.op, 'share']), op.share);
      put(row, 'profile', 'profiler_overhead', m.profile.overhead);
    }
    const sv = m.server;
    if (sv) {
      put(row, 'server', 'workers', sv.workers);
      put(row, 'server', 'max_batch', sv.maxBatch);
      if (sv.slo) put(row, 'server', metricName(['slo', sv.slo.stat, 'seconds']), sv.slo.boundMs / 1000);
      if (sv.load) {
        putPoint(row, 'server', 'server', sv.load);
        histogram(hist, { model: row.model, candidate: row.candidate, scenario: 'server' }, sv.load.samples);
      }
      if (sv.maxQps) {
        put(row, 'server', 'max_qps', sv.maxQps.value);
        put(row, 'server', 'max_qps_lo', sv.maxQps.lo);
        put(row, 'server', 'max_qps_hi', sv.maxQps.hi);
        put(row, 'server', 'max_qps_steps', sv.maxQps.steps.length);
      }
    }
    const d = m.decode;
    if (d) {
      put(row, 'decode', 'prompt_tokens', d.promptTokens);
      put(row, 'decode', 'new_tokens', d.newTokens);
      putSummary(row, 'decode', 'ttft', d.ttft);
      putSummary(row, 'decode', 'tpot', d.tpot);
      put(row, 'decode', 'tokens_per_second', d.tokensPerSecond);
      put(row, 'decode', 'cache_bytes', d.cacheBytes);
      put(row, 'decode', 'memory_growth_bytes', d.memoryGrowth);
      put(row, 'decode', 'token_agreement', d.tokenAgreement);
      histogram(hist, { model: row.model, candidate: row.candidate, scenario: 'decode' }, d.tpotSamples);
    }
    const c = row.cand;
    if (c) {
      for (const [k, v] of Object.entries(c.ratios)) put(row, 'ratio', metricName([k, 'ratio']), v);
      if (c.latencyRatio) {
        put(row, 'ratio', 'latency_p50_ratio', c.latencyRatio.ratio);
        put(row, 'ratio', 'latency_p50_ratio_lo', c.latencyRatio.lo);
        put(row, 'ratio', 'latency_p50_ratio_hi', c.latencyRatio.hi);
      }
      const f = c.fidelity;
      if (f) {
        for (const o of f.outputs) {
          const lbl = { model: row.model, candidate: row.candidate, scenario: 'fidelity' };
          for (const [k, v] of [
            ['cosine', o.cosine],
            ['top1', o.top1],
            ['max_abs_error', o.maxAbsError],
            ['max_rel_error', o.maxRelError],
            ['range_error', o.rangeError],
            ['non_finite', o.nonFinite],
          ] as const)
            if (v !== null && Number.isFinite(v)) metric.sample({ ...lbl, metric: `${k}`, output: o.name }, v);
        }
        if (f.graphF1) {
          put(row, 'fidelity', 'graph_f1', f.graphF1.score);
          put(row, 'fidelity', 'graph_f1_last', f.graphF1.lastLayer);
          put(row, 'fidelity', 'graph_f1_all', f.graphF1.allLayers);
          put(row, 'fidelity', 'graph_edges_baseline', f.graphF1.edges.last.baseline);
          put(row, 'fidelity', 'graph_edges_candidate', f.graphF1.edges.last.candidate);
          put(row, 'fidelity', 'graph_edges_common', f.graphF1.edges.last.common);
        }
      }
    }
  }
  for (const g of r.gates) {
    const scenario = g.metric.startsWith('server.') ? 'server' : g.metric.startsWith('decode.') ? 'decode' : 'gate';
    gates.sample({ model, candidate: g.candidate, scenario, metric: g.metric, gate: g.gate }, g.status === 'pass' ? 1 : 0);
  }
  passed.sample({ model }, r.passed ? 1 : 0);
  return [metric, hist, gates, passed].map((f) => f.text()).join('');
}
