/**
 * CI gates: `<metric> <op> <value>` expressions evaluated against a BenchResult, for every candidate.
 *
 *   latency.p50 <= 1.05x      relative: candidate / baseline (`x` suffix)
 *   latency.p99 <= 20ms       absolute (ms, s, us)
 *   graphF1 >= 0.95           fractions (also `95%`)
 *   params <= 0.6x   size <= 0.5x   size <= 40MB   params.nonzero <= 2M
 *
 * Latency and throughput gates are decided on the bootstrap confidence interval, never on a point estimate: a
 * `<=` gate fails only when the whole interval lies above the threshold, a `>=` gate only when it lies below. An
 * interval that straddles the threshold passes and is marked inconclusive, so noise never fails a build (and a real
 * regression large enough to clear the noise always does). A latency.p50 ratio gate also needs the interval of the
 * median per-round ratio beyond the threshold: on a machine whose runs are either undisturbed or stalled, a model's
 * median can sit between the two modes and jump with a few runs, which the ratio of medians alone would read as a
 * slowdown. Other metrics are deterministic and compared directly.
 *
 * Session creation and memory gates are decided the same way, on the interval over their interleaved repeats
 * (paired per round for ratios); with fewer than MIN_REPEATS repeats such a gate is skipped: one creation time or
 * one RSS reading is noise, not a verdict.
 *
 * A gate that did not run is not a pass. It is `skipped`, with a reason: the candidate is not runnable on this
 * execution provider (static gates such as params and size are still decided), the metric was not measured, or it
 * is inconclusive (graph F1 whose baseline graph has too few edges). Skipped gates fail the run unless
 * `allowSkipped` (--allow-skipped). A candidate that failed for another reason errors its runtime gates.
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import { pairedRatioCI, ratioCI, statCI, type LatencyStat } from '../measure/bootstrap.js';
import { graphF1Score } from '../measure/fidelity.js';
import type { BenchResult, CandidateReport, GateResult, GateStatus, SkipReason } from './types.js';

/** Repeats a session or memory gate needs (interleaved creations per model). */
export const MIN_REPEATS = 3;

export type GateOp = '<=' | '<' | '>=' | '>';
type Unit = 'time' | 'rate' | 'fraction' | 'count' | 'bytes' | 'number';

export interface Gate {
  /** the expression as written */
  source: string;
  metric: string;
  op: GateOp;
  threshold: number;
  relative: boolean;
}

interface MetricDef {
  unit: Unit;
  /** needs the model to have run (skipped for not-runnable candidates) */
  runtime: boolean;
  relativeAllowed: boolean;
  absoluteAllowed: boolean;
  describe: string;
}

const LATENCY_STATS: LatencyStat[] = ['min', 'mean', 'p50', 'p90', 'p99', 'max'];

export const METRICS: Record<string, MetricDef> = {
  ...Object.fromEntries(
    LATENCY_STATS.map((s) => [
      `latency.${s}`,
      { unit: 'time', runtime: true, relativeAllowed: true, absoluteAllowed: true, describe: `${s} latency per run` } as MetricDef,
    ]),
  ),
  throughput: { unit: 'rate', runtime: true, relativeAllowed: true, absoluteAllowed: true, describe: 'sequential inferences per second' },
  'load.throughput': { unit: 'rate', runtime: true, relativeAllowed: true, absoluteAllowed: true, describe: 'inferences per second under --concurrency' },
  session: {
    unit: 'time',
    runtime: true,
    relativeAllowed: true,
    absoluteAllowed: true,
    describe: 'median session creation time (on an interval over the repeats)',
  },
  memory: {
    unit: 'bytes',
    runtime: true,
    relativeAllowed: true,
    absoluteAllowed: true,
    describe: 'median peak RSS growth during creation and a first run (on an interval over the repeats)',
  },
  graphF1: {
    unit: 'fraction',
    runtime: true,
    relativeAllowed: false,
    absoluteAllowed: true,
    describe: 'the lower of last-layer and all-layer graph F1 (graphF1Score)',
  },
  'graphF1.last': { unit: 'fraction', runtime: true, relativeAllowed: false, absoluteAllowed: true, describe: 'graph F1 of the last attention layer' },
  'graphF1.all': { unit: 'fraction', runtime: true, relativeAllowed: false, absoluteAllowed: true, describe: 'graph F1 micro-averaged over all layers' },
  cosine: { unit: 'fraction', runtime: true, relativeAllowed: false, absoluteAllowed: true, describe: 'lowest cosine similarity over the outputs' },
  top1: { unit: 'fraction', runtime: true, relativeAllowed: false, absoluteAllowed: true, describe: 'lowest top-1 agreement over the outputs' },
  maxAbsError: { unit: 'number', runtime: true, relativeAllowed: false, absoluteAllowed: true, describe: 'largest absolute error over the outputs' },
  maxRelError: { unit: 'number', runtime: true, relativeAllowed: false, absoluteAllowed: true, describe: 'largest relative error over the outputs' },
  params: { unit: 'count', runtime: false, relativeAllowed: true, absoluteAllowed: true, describe: 'weight parameters' },
  'params.nonzero': { unit: 'count', runtime: false, relativeAllowed: true, absoluteAllowed: true, describe: 'non-zero weight parameters' },
  size: { unit: 'bytes', runtime: false, relativeAllowed: true, absoluteAllowed: true, describe: 'model file size (with external data)' },
  flops: { unit: 'count', runtime: true, relativeAllowed: true, absoluteAllowed: true, describe: 'estimated FLOPs per run' },
  ...Object.fromEntries(
    (['p50', 'p90', 'p99'] as const).map((s) => [
      `server.${s}`,
      {
        unit: 'time',
        runtime: true,
        relativeAllowed: true,
        absoluteAllowed: true,
        describe: `${s} request latency (queueing included) of the server scenario at --qps`,
      } as MetricDef,
    ]),
  ),
  'server.qps': {
    unit: 'rate',
    runtime: true,
    relativeAllowed: true,
    absoluteAllowed: true,
    describe: 'achieved requests per second of the server scenario at --qps',
  },
  'server.maxQps': {
    unit: 'rate',
    runtime: true,
    relativeAllowed: true,
    absoluteAllowed: true,
    describe: 'highest request rate that held the --slo (--find-max-qps), on its search bracket',
  },
  'server.late': { unit: 'count', runtime: true, relativeAllowed: false, absoluteAllowed: true, describe: 'requests over the --slo bound at --qps' },
  'server.dropped': {
    unit: 'count',
    runtime: true,
    relativeAllowed: false,
    absoluteAllowed: true,
    describe: 'requests not completed within the drain time at --qps',
  },
  'decode.ttft': { unit: 'time', runtime: true, relativeAllowed: true, absoluteAllowed: true, describe: 'median time to first token (--decode)' },
  'decode.tpot': { unit: 'time', runtime: true, relativeAllowed: true, absoluteAllowed: true, describe: 'median time per output token (--decode)' },
  'decode.tokensPerSecond': { unit: 'rate', runtime: true, relativeAllowed: true, absoluteAllowed: true, describe: 'generated tokens per second (--decode)' },
  'decode.agreement': {
    unit: 'fraction',
    runtime: true,
    relativeAllowed: false,
    absoluteAllowed: true,
    describe: "share of next-token choices equal to the baseline's (--decode)",
  },
};
const ALIASES: Record<string, string> = {
  latency: 'latency.p50',
  'latency.median': 'latency.p50',
  'params.nonZero': 'params.nonzero',
  nonzero: 'params.nonzero',
  f1: 'graphF1',
  graphf1: 'graphF1',
  'graphF1.micro': 'graphF1.all',
  'graphF1.lastLayer': 'graphF1.last',
  'graphF1.allLayers': 'graphF1.all',
  sessionCreate: 'session',
  top1Agreement: 'top1',
  maxAbs: 'maxAbsError',
  maxRel: 'maxRelError',
  'server.maxqps': 'server.maxQps',
  'decode.tokens': 'decode.tokensPerSecond',
  'decode.tps': 'decode.tokensPerSecond',
};

const UNIT_SCALE: Record<Unit, Record<string, number>> = {
  time: { ms: 1, s: 1000, us: 1e-3, µs: 1e-3 },
  rate: { '/s': 1 },
  fraction: { '%': 0.01 },
  count: { k: 1e3, K: 1e3, M: 1e6, G: 1e9, B: 1e9 },
  bytes: { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 },
  number: {},
};

/** Parses one gate expression; UsageError with the accepted forms when it is not one. */
export function parseGate(expr: string): Gate {
  const m = /^\s*([A-Za-z][A-Za-z0-9_.]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*([A-Za-zµ%/]*)\s*$/i.exec(expr);
  if (!m) {
    throw new UsageError(
      `cannot read the gate '${expr}': write '<metric> <op> <value>', e.g. 'latency.p50 <= 1.05x', 'graphF1 >= 0.95', 'latency.p99 <= 20ms'`,
    );
  }
  const metric = ALIASES[m[1]!] ?? m[1]!;
  const def = METRICS[metric];
  if (!def) throw new UsageError(`gate '${expr}': unknown metric '${m[1]}'; known: ${Object.keys(METRICS).join(', ')}`);
  const num = Number(m[3]);
  const suffix = m[4] ?? '';
  let threshold = num;
  let relative = false;
  if (suffix === 'x' || suffix === 'X') {
    if (!def.relativeAllowed)
      throw new UsageError(`gate '${expr}': ${metric} is not compared to the baseline; give an absolute value (e.g. ${metric} >= 0.95)`);
    relative = true;
  } else if (suffix !== '') {
    const scale = UNIT_SCALE[def.unit][suffix];
    if (scale === undefined) {
      const units = Object.keys(UNIT_SCALE[def.unit]);
      throw new UsageError(
        `gate '${expr}': '${suffix}' is not a unit of ${metric}; use ${[...(def.relativeAllowed ? ['x (relative to the baseline)'] : []), ...units].join(', ') || 'a plain number'}`,
      );
    }
    threshold = num * scale;
  } else if (!def.absoluteAllowed) {
    throw new UsageError(`gate '${expr}': ${metric} needs a ratio to the baseline, e.g. ${metric} <= 1.05x`);
  } else if (def.unit === 'time' || def.unit === 'bytes' || def.unit === 'rate') {
    const hint = def.unit === 'time' ? `${num}ms` : def.unit === 'bytes' ? `${num}MB` : `${num}/s`;
    if (def.unit !== 'rate') throw new UsageError(`gate '${expr}': give a unit (e.g. ${hint}) or a ratio (${num}x)`);
  }
  if (!Number.isFinite(threshold) || (relative && threshold <= 0)) throw new UsageError(`gate '${expr}': the threshold must be a positive number`);
  if (def.unit === 'fraction') {
    const low = metric === 'cosine' ? -1 : 0;
    if (threshold < low || threshold > 1) {
      const hint = num > 1 && num <= 100 && suffix === '' ? ` (did you mean ${metric} ${m[2]} ${num / 100} or ${num}%?)` : '';
      throw new UsageError(`gate '${expr}': ${metric} is between ${low} and 1, so ${threshold} is outside its range${hint}`);
    }
  }
  return { source: expr.trim(), metric, op: m[2] as GateOp, threshold, relative };
}

/**
 * Reads a budget file (JSON): `{"gates": ["latency.p50 <= 1.05x", ...]}`, a plain array of expressions, or an object
 * of metric -> condition (`{"latency.p50": "<= 1.05x", "graphF1": ">= 0.95"}`).
 */
export function loadBudget(file: string): Gate[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`budget file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`budget file ${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseBudget(doc, `budget file ${file}`);
}

export function parseBudget(doc: unknown, label = 'budget'): Gate[] {
  const fromList = (list: unknown[]): Gate[] =>
    list.map((g, i) => {
      if (typeof g !== 'string') throw new UsageError(`${label}: gate ${i} is not a string`);
      return parseGate(g);
    });
  if (Array.isArray(doc)) return fromList(doc);
  if (doc && typeof doc === 'object') {
    const o = doc as Record<string, unknown>;
    if ('gates' in o) {
      if (!Array.isArray(o.gates)) throw new UsageError(`${label}: "gates" must be an array of expressions`);
      const rest = Object.keys(o).filter((k) => k !== 'gates' && k !== '$schema' && k !== 'description');
      if (rest.length) throw new UsageError(`${label}: unknown key(s) ${rest.join(', ')} beside "gates"`);
      return fromList(o.gates);
    }
    return Object.entries(o)
      .filter(([k]) => k !== '$schema' && k !== 'description')
      .map(([k, v]) => {
        if (typeof v !== 'string') throw new UsageError(`${label}: the condition of '${k}' must be a string such as "<= 1.05x"`);
        return parseGate(`${k} ${v}`);
      });
  }
  throw new UsageError(`${label}: expected {"gates": [...]}, an array of expressions, or an object of metric -> condition`);
}

// ------------------------------------------------------------------------------------------------ evaluation

interface Measured {
  value: number | null;
  interval: { lo: number; hi: number; level: number } | null;
  /** a second interval that must also lie beyond the threshold before the gate fails (latency.p50 ratios) */
  confirm?: { lo: number; hi: number; what: string };
  /** why value is null */
  missing?: string;
  /** what the interval is, when it is not a confidence interval (default '95% interval') */
  intervalName?: string;
  /** a skip other than 'not-measured' (graph F1 inconclusive) */
  skip?: SkipReason;
  note?: string;
}

/** Interval gate over repeated measurements (session creation, memory): paired per-round ratios, or the median. */
function repeated(g: Gate, what: string, c: readonly number[] | undefined, b: readonly number[] | undefined, level: number, seed: number): Measured {
  if (!c?.length) return { value: null, interval: null, missing: `${what} was not measured` };
  if (c.length < MIN_REPEATS)
    return {
      value: null,
      interval: null,
      missing: `${what} was measured ${c.length} time(s); a gate on it needs at least ${MIN_REPEATS} interleaved repeats (one reading is noise, not a verdict): use --session-repeats ${Math.max(5, MIN_REPEATS)}`,
    };
  if (g.relative) {
    if (!b || b.length !== c.length) return { value: null, interval: null, missing: `the baseline's ${what} was not measured as often` };
    if (b.some((x) => !(x > 0)))
      return { value: null, interval: null, missing: `the baseline's ${what} was 0 in a repeat: too small to compare as a ratio; use an absolute gate` };
    const ci = pairedRatioCI(c, b, { level, seed });
    return { value: ci.value, interval: { lo: ci.lo, hi: ci.hi, level } };
  }
  const ci = statCI('p50', c, { level, seed });
  return { value: ci.value, interval: { lo: ci.lo, hi: ci.hi, level } };
}

function holds(op: GateOp, v: number, t: number): boolean {
  switch (op) {
    case '<=':
      return v <= t;
    case '<':
      return v < t;
    case '>=':
      return v >= t;
    case '>':
      return v > t;
  }
}

const ratio = (c: number | null | undefined, b: number | null | undefined): number | null =>
  c === null || c === undefined || b === null || b === undefined || !(b > 0) ? null : c / b;

function measure(g: Gate, c: CandidateReport, r: BenchResult): Measured {
  const b = r.baseline;
  const level = r.settings.confidence;
  const seed = r.settings.seed ^ 0x6a7e;
  const metric = g.metric;
  if (metric.startsWith('latency.')) {
    const stat = metric.slice('latency.'.length) as LatencyStat;
    if (!c.latency) return { value: null, interval: null, missing: 'no latency was measured' };
    const noisy = c.latency.noisy || (g.relative && !!b.latency?.noisy) ? 'noisy measurement (cv above threshold)' : undefined;
    if (g.relative) {
      if (!b.latency) return { value: null, interval: null, missing: 'the baseline latency was not measured' };
      if (stat === 'p50' && c.latencyRatio) {
        const lr = c.latencyRatio;
        const pr = lr.perRound;
        return {
          value: lr.ratio,
          interval: { lo: lr.lo, hi: lr.hi, level: lr.level },
          confirm: { lo: pr.lo, hi: pr.hi, what: 'per-round ratio' },
          note: noisy,
        };
      }
      const ci = ratioCI(stat, c.latency.samples, b.latency.samples, { level, seed });
      return { value: ci.value, interval: { lo: ci.lo, hi: ci.hi, level }, note: noisy };
    }
    const ci = statCI(stat, c.latency.samples, { level, seed });
    return { value: ci.value, interval: { lo: ci.lo, hi: ci.hi, level }, note: noisy };
  }
  if (metric.startsWith('server.') || metric.startsWith('decode.')) return measureServing(g, c, r, level, seed);
  switch (metric) {
    case 'throughput': {
      if (!c.latency) return { value: null, interval: null, missing: 'no latency was measured' };
      if (g.relative) {
        if (!b.latency) return { value: null, interval: null, missing: 'the baseline latency was not measured' };
        // throughput ratio = mean_b / mean_c: invert the interval of the mean-latency ratio
        const ci = ratioCI('mean', c.latency.samples, b.latency.samples, { level, seed });
        return { value: 1 / ci.value, interval: { lo: 1 / ci.hi, hi: 1 / ci.lo, level } };
      }
      const ci = statCI('mean', c.latency.samples, { level, seed });
      return { value: 1000 / ci.value, interval: { lo: 1000 / ci.hi, hi: 1000 / ci.lo, level } };
    }
    case 'load.throughput': {
      if (!c.load) return { value: null, interval: null, missing: 'no load test was run (use --concurrency N with N > 1)' };
      if (g.relative) return { value: ratio(c.load.throughput, b.load?.throughput), interval: null, missing: 'the baseline was not load tested' };
      return { value: c.load.throughput, interval: null };
    }
    case 'session':
      return repeated(g, 'session creation', c.sessionCreateMs, b.sessionCreateMs, level, seed);
    case 'memory':
      return repeated(g, 'memory', c.memory?.peakDeltas, b.memory?.peakDeltas, level, seed);
    case 'graphF1':
    case 'graphF1.last':
    case 'graphF1.all': {
      const f = c.fidelity?.graphF1;
      if (!f) return { value: null, interval: null, missing: 'graph F1 was not measured' };
      const sc = graphF1Score(f, metric === 'graphF1.last' ? 'last' : metric === 'graphF1.all' ? 'all' : 'min');
      const e = f.edges;
      const edges = `edges baseline/candidate: last layer ${e.last.baseline}/${e.last.candidate}, all layers ${e.all.baseline}/${e.all.candidate}`;
      if (sc.value === null) return { value: null, interval: null, missing: sc.why!, skip: 'inconclusive' };
      return { value: sc.value, interval: null, note: `source: ${f.source}, edge rule ${f.edgeRule}, ${edges}` };
    }
    case 'cosine':
    case 'top1':
    case 'maxAbsError':
    case 'maxRelError': {
      const outs = c.fidelity?.outputs.filter((o) => !o.error) ?? [];
      const key = metric as 'cosine' | 'top1' | 'maxAbsError' | 'maxRelError';
      const vals = outs.map((o) => o[key]).filter((v): v is number => v !== null);
      if (!vals.length) return { value: null, interval: null, missing: `no output has a ${metric}` };
      const worst = metric === 'cosine' || metric === 'top1' ? Math.min(...vals) : Math.max(...vals);
      return { value: worst, interval: null };
    }
    case 'params':
      return g.relative
        ? { value: c.ratios.params, interval: null, missing: 'the baseline has no parameters' }
        : { value: c.static.parameters.total, interval: null };
    case 'params.nonzero':
      return g.relative
        ? { value: c.ratios.nonZeroParams, interval: null, missing: 'the baseline has no parameters' }
        : { value: c.static.parameters.nonZero, interval: null };
    case 'size':
      return g.relative ? { value: c.ratios.size, interval: null } : { value: c.static.fileSize, interval: null };
    case 'flops':
      if (!c.static.flops) return { value: null, interval: null, missing: 'FLOPs could not be estimated' };
      return g.relative
        ? { value: c.ratios.flops, interval: null, missing: 'the baseline FLOPs could not be estimated' }
        : { value: c.static.flops.total, interval: null };
  }
  return { value: null, interval: null, missing: `metric ${metric} is not known` };
}

/** Gates on the server scenario and the decode benchmark. */
function measureServing(g: Gate, c: CandidateReport, r: BenchResult, level: number, seed: number): Measured {
  const b = r.baseline;
  const metric = g.metric;
  if (metric === 'server.maxQps') {
    const cm = c.server?.maxQps;
    if (!cm) return { value: null, interval: null, missing: "no max-QPS search was run (use --scenario server --find-max-qps --slo 'p99 <= 50ms')" };
    if (!g.relative) return { value: cm.value, interval: { lo: cm.lo, hi: cm.hi, level: 1 }, intervalName: 'search bracket [held, missed]' };
    const bm = b.server?.maxQps;
    if (!bm) return { value: null, interval: null, missing: 'the baseline was not searched' };
    if (!(bm.value > 0)) return { value: null, interval: null, missing: 'the baseline held the SLO at no load probed: no ratio' };
    return {
      value: cm.value / bm.value,
      interval: { lo: cm.lo / bm.hi, hi: cm.hi / Math.max(bm.lo, 1e-9), level: 1 },
      intervalName: 'ratio of the search brackets',
    };
  }
  if (metric.startsWith('server.')) {
    const cl = c.server?.load;
    if (!cl) return { value: null, interval: null, missing: 'no server load was run (use --scenario server --qps N)' };
    if (!cl.completed) return { value: null, interval: null, missing: 'no request completed' };
    const bl = b.server?.load;
    const what = metric.slice('server.'.length);
    if (what === 'late' || what === 'dropped') return { value: cl[what], interval: null };
    if (what === 'qps') {
      if (!g.relative) return { value: cl.achievedQps, interval: null };
      return { value: ratio(cl.achievedQps, bl?.achievedQps), interval: null, missing: 'the baseline was not served' };
    }
    const stat = what as 'p50' | 'p90' | 'p99';
    if (g.relative) {
      if (!bl?.completed) return { value: null, interval: null, missing: 'the baseline was not served' };
      const ci = ratioCI(stat, cl.samples, bl.samples, { level, seed });
      // the bootstrap sees sampling noise only; a busy machine drifts between phases: fail only when the candidate
      // was beyond the threshold in every interleaved phase too
      const pr = cl.perPhase.map((x, k) => (bl.perPhase[k] ? x[stat] / bl.perPhase[k]![stat] : Number.NaN)).filter(Number.isFinite);
      const confirm = pr.length ? { lo: Math.min(...pr), hi: Math.max(...pr), what: `per-phase ratio (${pr.length} phases)` } : undefined;
      return { value: ci.value, interval: { lo: ci.lo, hi: ci.hi, level }, confirm };
    }
    const ci = statCI(stat, cl.samples, { level, seed });
    return { value: ci.value, interval: { lo: ci.lo, hi: ci.hi, level } };
  }
  const cd = c.decode;
  if (!cd) return { value: null, interval: null, missing: 'no decode benchmark was run (use --decode)' };
  const bd = b.decode;
  if (metric === 'decode.agreement') return { value: cd.tokenAgreement, interval: null, missing: 'no agreement was measured' };
  if (metric === 'decode.tokensPerSecond') {
    if (!g.relative) return { value: cd.tokensPerSecond, interval: null };
    return { value: ratio(cd.tokensPerSecond, bd?.tokensPerSecond), interval: null, missing: 'the baseline was not decoded' };
  }
  const [cs, bs] = metric === 'decode.ttft' ? [cd.ttftSamples, bd?.ttftSamples] : [cd.tpotSamples, bd?.tpotSamples];
  if (g.relative) {
    if (!bs?.length) return { value: null, interval: null, missing: 'the baseline was not decoded' };
    const ci = ratioCI('p50', cs, bs, { level, seed });
    return { value: ci.value, interval: { lo: ci.lo, hi: ci.hi, level } };
  }
  const ci = statCI('p50', cs, { level, seed });
  return { value: ci.value, interval: { lo: ci.lo, hi: ci.hi, level } };
}

export function formatGateValue(g: Pick<Gate, 'metric' | 'relative'>, v: number): string {
  if (g.relative) return `${v.toFixed(3)}x`;
  const unit = METRICS[g.metric]?.unit;
  switch (unit) {
    case 'time':
      return v >= 1000 ? `${(v / 1000).toFixed(3)}s` : `${v.toPrecision(4)}ms`;
    case 'rate':
      return `${v.toPrecision(4)}/s`;
    case 'fraction':
      return v.toFixed(4);
    case 'bytes':
      return v >= 1e6 ? `${(v / 1e6).toFixed(2)}MB` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}KB` : `${v}B`;
    case 'count':
      return v >= 1e9 ? `${(v / 1e9).toFixed(2)}G` : v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}K` : String(v);
    default:
      return v.toPrecision(4);
  }
}

/** Decides one gate for one candidate. */
export function evaluateGate(g: Gate, c: CandidateReport, r: BenchResult): GateResult {
  const def = METRICS[g.metric]!;
  const base = { gate: g.source, candidate: c.label, metric: g.metric, op: g.op, threshold: g.threshold, relative: g.relative };
  const allow = !!r.settings.allowSkipped;
  const done = (
    status: GateStatus,
    value: number | null,
    interval: GateResult['interval'],
    inconclusive: boolean,
    message: string,
    reason: SkipReason | null = null,
  ): GateResult => ({
    ...base,
    status,
    value,
    interval,
    inconclusive,
    reason: status === 'skipped' ? reason : null,
    blocks: status === 'fail' || status === 'error' || (status === 'skipped' && !allow),
    message:
      status === 'skipped'
        ? `${message}${allow ? ' (allowed by --allow-skipped)' : ' -- a gate that did not run is not a pass (--allow-skipped accepts it)'}`
        : message,
  });
  if (c.status === 'not-runnable' && def.runtime)
    return done('skipped', null, null, false, `${c.label} is not runnable on this execution provider (${r.settings.executionProvider})`, 'not-runnable');
  if (c.status === 'failed' && def.runtime) return done('error', null, null, false, `${c.label} could not be measured: ${c.error}`);
  if (g.relative && r.baseline.status !== 'ok' && def.runtime) return done('error', null, null, false, 'the baseline could not be measured');
  const m = measure(g, c, r);
  const thr = formatGateValue(g, g.threshold);
  if (m.value === null || !Number.isFinite(m.value))
    return done(
      'skipped',
      null,
      null,
      false,
      m.skip === 'inconclusive' ? `INCONCLUSIVE: ${m.missing}` : `not measured: ${m.missing ?? 'no value'}`,
      m.skip ?? 'not-measured',
    );
  const val = formatGateValue(g, m.value);
  const note = m.note ? ` (${m.note})` : '';
  if (m.interval) {
    const { lo, hi } = m.interval;
    const iv = `[${formatGateValue(g, lo)}, ${formatGateValue(g, hi)}]`;
    const pct = Math.round(m.interval.level * 100);
    const ivName = m.intervalName ?? `${pct}% interval`;
    const upper = g.op === '<=' || g.op === '<';
    // fail only when the whole interval is beyond the threshold (and the confirming interval too, when there is one)
    const beyond = (l: number, h: number): boolean => (upper ? !holds(g.op, l, g.threshold) : !holds(g.op, h, g.threshold));
    const fails = beyond(lo, hi);
    const sure = upper ? holds(g.op, hi, g.threshold) : holds(g.op, lo, g.threshold);
    const cf = m.confirm;
    if (fails && cf && !beyond(cf.lo, cf.hi)) {
      const civ = `[${formatGateValue(g, cf.lo)}, ${formatGateValue(g, cf.hi)}]`;
      return done(
        'pass',
        m.value,
        m.interval,
        true,
        `${val}, ${ivName} ${iv} is beyond ${thr}, but the ${cf.what} interval ${civ} is not: the medians moved with noise; inconclusive, not failed${note}`,
      );
    }
    if (fails)
      return done(
        'fail',
        m.value,
        m.interval,
        false,
        `${val}, ${ivName} ${iv} lies entirely beyond ${g.op} ${thr}${cf ? ` (${cf.what} [${formatGateValue(g, cf.lo)}, ${formatGateValue(g, cf.hi)}] too)` : ''}${note}`,
      );
    if (sure) return done('pass', m.value, m.interval, false, `${val}, ${ivName} ${iv} within ${g.op} ${thr}${note}`);
    return done('pass', m.value, m.interval, true, `${val}, ${ivName} ${iv} straddles ${thr}: inconclusive, not failed${note}`);
  }
  const ok = holds(g.op, m.value, g.threshold);
  return done(ok ? 'pass' : 'fail', m.value, null, false, `${val} ${ok ? 'meets' : 'does not meet'} ${g.op} ${thr}${note}`);
}

/** Every gate for every candidate, candidate by candidate. */
export function evaluateGates(gates: readonly Gate[], r: BenchResult): GateResult[] {
  const out: GateResult[] = [];
  for (const c of r.candidates) for (const g of gates) out.push(evaluateGate(g, c, r));
  return out;
}

export const gateFailed = (g: GateResult): boolean => g.status === 'fail' || g.status === 'error';
/** The gate makes the run fail (failed, errored, or skipped without --allow-skipped). */
export const gateBlocks = (g: GateResult): boolean => g.blocks;
