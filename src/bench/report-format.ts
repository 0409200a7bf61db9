/**
 * Shared pieces of the bench reports: number formatting and the rows of the comparison table, so the terminal,
 * Markdown and HTML reports show the same metrics in the same order. Everything here reads a BenchResult; nothing
 * is measured.
 */
import type { BenchResult, CandidateReport, GateResult, ModelReport } from './types.js';
import { fmtBytes, fmtCount, fmtMs, fmtNum, fmtPct, fmtRatio } from '../util/format.js';

/** Which way is good for a metric: a ratio below 1 is better ('lower'), above 1 is better ('higher'), or neither. */
export type Direction = 'lower' | 'higher' | 'none';

export interface Cell {
  text: string;
  /** ratio to the baseline, shown beside the value */
  ratio?: string;
  /** good / bad / neutral / warn, for colouring */
  tone?: 'good' | 'bad' | 'warn' | 'neutral';
}

export interface Row {
  metric: string;
  /** baseline first, then each candidate */
  cells: Cell[];
  section: 'model' | 'latency' | 'fidelity';
}

function toneOf(ratio: number | null | undefined, dir: Direction, tolerance = 0.02): Cell['tone'] {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio) || dir === 'none') return 'neutral';
  if (Math.abs(ratio - 1) <= tolerance) return 'neutral';
  const better = dir === 'lower' ? ratio < 1 : ratio > 1;
  return better ? 'good' : 'bad';
}

const dash: Cell = { text: '—', tone: 'neutral' };

/** The comparison rows: one per metric, a cell for the baseline and for each candidate. */
export function comparisonRows(r: BenchResult): Row[] {
  const models: ModelReport[] = [r.baseline, ...r.candidates];
  const cands = r.candidates;
  const rows: Row[] = [];
  const ok = (m: ModelReport) => m.status === 'ok';
  const add = (
    metric: string,
    section: Row['section'],
    value: (m: ModelReport) => string,
    ratio?: (c: CandidateReport) => number | null | undefined,
    dir: Direction = 'lower',
    runtime = true,
  ) => {
    const cells: Cell[] = models.map((m, i) => {
      if (runtime && !ok(m)) return dash;
      const text = value(m);
      if (i === 0 || !ratio) return { text, tone: 'neutral' };
      const rv = ratio(cands[i - 1]!);
      return { text, ratio: fmtRatio(rv), tone: toneOf(rv, dir) };
    });
    rows.push({ metric, cells, section });
  };
  rows.push({
    metric: 'status',
    section: 'model',
    cells: models.map((m) =>
      m.status === 'ok'
        ? { text: 'ok', tone: 'neutral' }
        : { text: m.status === 'not-runnable' ? 'not runnable on this EP' : 'failed', tone: m.status === 'failed' ? 'bad' : 'warn' },
    ),
  });
  add(
    'file size',
    'model',
    (m) => fmtBytes(m.static.fileSize),
    (c) => c.ratios.size,
    'lower',
    false,
  );
  add(
    'parameters',
    'model',
    (m) => fmtCount(m.static.parameters.total),
    (c) => c.ratios.params,
    'lower',
    false,
  );
  add(
    'non-zero parameters',
    'model',
    (m) => fmtCount(m.static.parameters.nonZero),
    (c) => c.ratios.nonZeroParams,
    'lower',
    false,
  );
  add(
    'FLOPs (estimate)',
    'model',
    (m) => fmtCount(m.static.flops?.total),
    (c) => c.ratios.flops,
  );
  add(
    'session creation',
    'model',
    (m) => fmtMs(m.sessionCreate),
    (c) => c.ratios.sessionCreate,
  );
  add(
    'peak memory (RSS growth)',
    'model',
    (m) => fmtBytes(m.memory?.peakDelta),
    (c) => c.ratios.memory,
  );
  add('latency p50', 'latency', (m) => fmtMs(m.latency?.p50));
  rows.push({
    metric: 'latency ratio (p50, CI)',
    section: 'latency',
    cells: models.map((m, i) => {
      if (i === 0) return { text: ok(m) ? 'baseline' : '—', tone: 'neutral' };
      const lr = cands[i - 1]!.latencyRatio;
      if (!lr) return dash;
      const text = `${fmtRatio(lr.ratio)} [${lr.lo.toFixed(3)}, ${lr.hi.toFixed(3)}] ${lr.verdict}`;
      return { text, tone: lr.verdict === 'faster' ? 'good' : lr.verdict === 'slower' ? 'bad' : lr.verdict === 'noisy' ? 'warn' : 'neutral' };
    }),
  });
  rows.push({
    metric: 'per-round ratio (median, CI)',
    section: 'latency',
    cells: models.map((m, i) => {
      if (i === 0) return { text: ok(m) ? 'baseline' : '—', tone: 'neutral' };
      const pr = cands[i - 1]!.latencyRatio?.perRound;
      return pr ? { text: `${fmtRatio(pr.ratio)} [${pr.lo.toFixed(3)}, ${pr.hi.toFixed(3)}]`, tone: 'neutral' } : dash;
    }),
  });
  add('latency mean ± std', 'latency', (m) => `${fmtMs(m.latency?.mean)} ± ${fmtMs(m.latency?.std)}`);
  add('latency min', 'latency', (m) => fmtMs(m.latency?.min));
  add('latency p90', 'latency', (m) => fmtMs(m.latency?.p90));
  add('latency p99', 'latency', (m) => fmtMs(m.latency?.p99));
  rows.push({
    metric: 'cv (noise)',
    section: 'latency',
    cells: models.map((m) =>
      m.latency ? { text: `${fmtPct(m.latency.cv)}${m.latency.noisy ? ' noisy' : ''}`, tone: m.latency.noisy ? 'warn' : 'neutral' } : dash,
    ),
  });
  add('runs', 'latency', (m) => String(m.latency?.n ?? '—'));
  add(
    'throughput',
    'latency',
    (m) => (m.throughput ? `${fmtCount(m.throughput)}/s` : '—'),
    (c) => c.ratios.throughput,
    'higher',
  );
  if (models.some((m) => m.load)) {
    add(
      `throughput x${r.settings.concurrency} workers`,
      'latency',
      (m) => (m.load ? `${fmtCount(m.load.throughput)}/s` : '—'),
      (c) => c.ratios.loadThroughput,
      'higher',
    );
    add('latency p50 under load', 'latency', (m) => fmtMs(m.load?.latency.p50));
    add('latency p99 under load', 'latency', (m) => fmtMs(m.load?.latency.p99));
  }
  serverRows(models, add);
  if (cands.some((c) => c.fidelity)) {
    const fid = (m: ModelReport, i: number, f: (c: CandidateReport) => string): Cell => {
      if (i === 0) return { text: ok(m) ? 'reference' : '—', tone: 'neutral' };
      const c = cands[i - 1]!;
      return c.fidelity ? { text: f(c), tone: 'neutral' } : dash;
    };
    const worst = (c: CandidateReport, key: 'maxAbsError' | 'maxRelError' | 'cosine' | 'top1', lowIsWorst: boolean): string => {
      const vals = c.fidelity!.outputs.map((o) => o[key]).filter((v): v is number => v !== null);
      if (!vals.length) return '—';
      const v = lowIsWorst ? Math.min(...vals) : Math.max(...vals);
      // similarities near 1 need their digits: 0.99999 is not 1
      return key === 'cosine' ? (v === 1 ? '1' : v.toFixed(6)) : key === 'top1' ? fmtPct(v) : fmtNum(v);
    };
    rows.push({ metric: 'max abs error (worst output)', section: 'fidelity', cells: models.map((m, i) => fid(m, i, (c) => worst(c, 'maxAbsError', false))) });
    rows.push({ metric: 'max rel error (worst output)', section: 'fidelity', cells: models.map((m, i) => fid(m, i, (c) => worst(c, 'maxRelError', false))) });
    rows.push({ metric: 'cosine similarity (worst)', section: 'fidelity', cells: models.map((m, i) => fid(m, i, (c) => worst(c, 'cosine', true))) });
    rows.push({ metric: 'top-1 agreement (worst)', section: 'fidelity', cells: models.map((m, i) => fid(m, i, (c) => worst(c, 'top1', true))) });
    rows.push({
      metric: `graph F1 last / all (edges ${r.settings.graphEdges})`,
      section: 'fidelity',
      cells: models.map((m, i) => {
        const cell = fid(m, i, (c) => {
          const g = c.fidelity!.graphF1;
          if (!g) return '—';
          const v = `${g.lastLayer.toFixed(3)} / ${g.allLayers.toFixed(3)}`;
          return g.score === null ? `INCONCLUSIVE (${v})` : v;
        });
        const g = i > 0 ? cands[i - 1]!.fidelity?.graphF1 : null;
        return g && g.score === null ? { ...cell, tone: 'warn' } : cell;
      }),
    });
    rows.push({
      metric: 'graph F1 edges baseline / candidate (last; all)',
      section: 'fidelity',
      cells: models.map((m, i) =>
        fid(m, i, (c) => {
          const e = c.fidelity!.graphF1?.edges;
          return e ? `${e.last.baseline}/${e.last.candidate}; ${e.all.baseline}/${e.all.candidate} (need ${e.all.minBaseline})` : '—';
        }),
      ),
    });
    rows.push({
      metric: 'graph F1 per layer (edges b/c)',
      section: 'fidelity',
      cells: models.map((m, i) =>
        fid(m, i, (c) => {
          const g = c.fidelity!.graphF1;
          return g ? g.perLayer.map((f, l) => `${f.toFixed(2)} (${g.edges.perLayer[l]!.baseline}/${g.edges.perLayer[l]!.candidate})`).join(' · ') : '—';
        }),
      ),
    });
    rows.push({
      metric: 'graph F1 source',
      section: 'fidelity',
      cells: models.map((m, i) => fid(m, i, (c) => c.fidelity!.graphF1?.source ?? '—')),
    });
  }
  return rows;
}

export function gateStatusText(g: GateResult): string {
  switch (g.status) {
    case 'pass':
      return g.inconclusive ? 'PASS (inconclusive)' : 'PASS';
    case 'fail':
      return 'FAIL';
    case 'skipped':
      return g.reason === 'inconclusive' ? 'INCONCLUSIVE' : 'SKIPPED';
    case 'error':
      return 'ERROR';
  }
}

export interface Verdict {
  passed: boolean;
  total: number;
  /** failed or errored gates */
  failed: number;
  /** skipped (or inconclusive) gates */
  skipped: number;
  /** skipped gates that fail the run (no --allow-skipped) */
  blockingSkipped: number;
  /** the one summary line every report shows */
  line: string;
}

/** The verdict of a run, one line that the table, Markdown, HTML and stderr summary all show (JSON: `passed`). */
export function benchVerdict(r: BenchResult): Verdict {
  const total = r.gates.length;
  const failed = r.gates.filter((g) => g.status === 'fail' || g.status === 'error').length;
  const skipped = r.gates.filter((g) => g.status === 'skipped').length;
  const blockingSkipped = r.gates.filter((g) => g.status === 'skipped' && g.blocks).length;
  const broken = r.candidates.some((c) => c.status === 'failed');
  let line: string;
  if (!total) line = broken ? 'a candidate could not be measured' : 'no gates were set';
  else if (failed) line = `${failed} of ${total} gate(s) failed${skipped ? `, ${skipped} skipped or inconclusive` : ''}`;
  else if (blockingSkipped) line = `${blockingSkipped} of ${total} gate(s) skipped or inconclusive: not a pass (--allow-skipped accepts them)`;
  else if (skipped) line = `${total - skipped} of ${total} gate(s) passed, ${skipped} skipped (allowed by --allow-skipped)`;
  else line = `all ${total} gate(s) passed`;
  if (total && broken) line += '; a candidate could not be measured';
  return { passed: r.passed, total, failed, skipped, blockingSkipped, line };
}

/** Profile cells: the share of profiled time (what to read) and the measured latency spread by it. */
export function profileCell(o: { share: number; estMs: number | null } | undefined): string {
  if (!o) return '—';
  return `${fmtPct(o.share)}${o.estMs !== null ? ` (≈${fmtMs(o.estMs)})` : ''}`;
}

export const PROFILE_TITLE = 'operator share of profiled kernel time (≈ share x measured p50)';

export function profileFooter(m: ModelReport): string {
  const p = m.profile!;
  return `profiled ${fmtMs(p.kernelMs)}/run${p.overhead !== null ? ` = ${p.overhead.toFixed(1)}x the measured p50` : ''}`;
}

export const PROFILE_NOTE =
  "per-operator times come from onnxruntime's profiler, whose own overhead inflates them (on small models several times the real latency): read the shares; the ≈ times spread the measured, unprofiled p50 latency by those shares";

export function settingsLine(r: BenchResult): string {
  const s = r.settings;
  const e = r.environment;
  return [
    `ep ${s.executionProvider}`,
    `threads ${s.threads || 'auto'}`,
    `opt-level ${s.optimizationLevel}`,
    `${s.runs}${s.minTime ? `+ (>= ${s.minTime}s)` : ''} runs after ${s.warmup} warm-up`,
    ...(s.concurrency > 1 ? [`concurrency ${s.concurrency}`] : []),
    `${e.cpu.model} x${e.cpu.cores}`,
    `${e.os.platform}-${e.os.arch}`,
    `node ${e.node}`,
    `onnxruntime ${e.onnxruntime}`,
  ].join(' | ');
}

export function inputsLine(r: BenchResult): string {
  const i = r.settings.inputs;
  const src = i.source === 'synthesized' ? `synthesized (seed ${r.settings.seed})` : i.path ? `${i.source} ${i.path}` : i.source;
  return `inputs: ${src}, ${i.sets} set(s): ${i.tensors.map((t) => `${t.name} ${t.dtype}[${t.shape.join(',')}]`).join(', ')}`;
}

/** Lines worth reading beside the numbers: why a model did not run, fallbacks, noise. */
export function modelNotes(r: BenchResult): string[] {
  const out: string[] = [];
  for (const m of [r.baseline, ...r.candidates]) {
    if (m.error) out.push(`${m.label}: ${m.error}`);
    for (const n of m.notes) out.push(`${m.label}: ${n}`);
    const f = (m as CandidateReport).fidelity;
    if (f) {
      if (f.graphF1 && f.graphF1.source !== 'attention') out.push(`${m.label}: graph F1 ${f.graphF1.note}`);
      if (f.graphF1?.inconclusive) out.push(`${m.label}: ${f.graphF1.inconclusive}`);
      for (const n of f.notes) out.push(`${m.label}: ${n}`);
      for (const o of f.outputs) if (o.error) out.push(`${m.label}: output ${o.name}: ${o.error}`);
    }
  }
  if ([r.baseline, ...r.candidates].some((m) => m.profile)) out.push(PROFILE_NOTE);
  return out;
}

/** One line saying why a run did not pass (for stderr, so a CI log shows the reason next to the exit code). */
export function failureSummary(r: BenchResult): string {
  const failed = r.gates.filter((g) => g.status === 'fail' || g.status === 'error');
  const skipped = r.gates.filter((g) => g.status === 'skipped' && g.blocks);
  const broken = r.candidates.filter((c) => c.status === 'failed');
  const parts: string[] = [];
  if (failed.length) parts.push(`${failed.length} of ${r.gates.length} gate(s) failed (${failed.map((g) => `${g.candidate} ${g.gate}`).join('; ')})`);
  if (skipped.length)
    parts.push(
      `${skipped.length} of ${r.gates.length} gate(s) did not run, which is not a pass (${skipped.map((g) => `${g.candidate} ${g.gate}: ${gateStatusText(g).toLowerCase()}`).join('; ')}; --allow-skipped accepts them)`,
    );
  if (broken.length) parts.push(`${broken.length} candidate(s) could not be measured (${broken.map((c) => `${c.label}: ${c.error ?? 'failed'}`).join('; ')})`);
  return parts.join('; ') || 'the bench did not pass';
}

type AddRow = (
  metric: string,
  section: Row['section'],
  value: (m: ModelReport) => string,
  ratio?: (c: CandidateReport) => number | null | undefined,
  dir?: Direction,
) => void;

/** Rows of the server scenario and of the decode benchmark, when they ran. */
function serverRows(models: ModelReport[], add: AddRow): void {
  const ratioOf = (c: CandidateReport, f: (m: ModelReport) => number | null | undefined): number | null => {
    const b = models[0]!;
    const x = f(c);
    const y = f(b);
    return x == null || y == null || !(y > 0) ? null : x / y;
  };
  const sv = models.find((m) => m.server)?.server;
  if (sv) {
    const what = `${sv.workers} worker(s) x ${sv.threadsPerWorker} thread(s), batching ${sv.batching}`;
    if (sv.load) {
      const q = sv.load.targetQps;
      add(
        `server @ ${q}/s: achieved QPS (${what})`,
        'latency',
        (m) => (m.server?.load ? `${fmtCount(m.server.load.achievedQps)}/s` : '—'),
        (c) => ratioOf(c, (m) => m.server?.load?.achievedQps),
        'higher',
      );
      add(
        `server @ ${q}/s: latency p50 / p90 / p99`,
        'latency',
        (m) => {
          const l = m.server?.load?.latency;
          return l ? `${fmtMs(l.p50)} / ${fmtMs(l.p90)} / ${fmtMs(l.p99)}` : '—';
        },
        (c) => ratioOf(c, (m) => m.server?.load?.latency.p99),
      );
      add(`server @ ${q}/s: queue wait p99 / compute p99`, 'latency', (m) => {
        const l = m.server?.load;
        return l ? `${fmtMs(l.queueWait.p99)} / ${fmtMs(l.compute.p99)}` : '—';
      });
      add(`server @ ${q}/s: requests, late, dropped, mean batch`, 'latency', (m) => {
        const l = m.server?.load;
        return l ? `${l.requests}, ${l.late}, ${l.dropped}, ${l.meanBatch.toFixed(2)}` : '—';
      });
    }
    if (sv.maxQps && sv.slo) {
      add(
        `server: max QPS with ${sv.slo.stat} <= ${fmtMs(sv.slo.boundMs)} [held, missed]`,
        'latency',
        (m) => {
          const x = m.server?.maxQps;
          return x ? `${fmtCount(x.value)}/s [${fmtCount(x.lo)}, ${fmtCount(x.hi)}]` : '—';
        },
        (c) => ratioOf(c, (m) => m.server?.maxQps?.value),
        'higher',
      );
    }
  }
  const dc = models.find((m) => m.decode)?.decode;
  if (dc) {
    add(
      `decode: time to first token (prompt ${dc.promptTokens})`,
      'latency',
      (m) => fmtMs(m.decode?.ttft.p50),
      (c) => ratioOf(c, (m) => m.decode?.ttft.p50),
    );
    add(
      `decode: time per output token p50 / p99 (${dc.newTokens} tokens)`,
      'latency',
      (m) => (m.decode ? `${fmtMs(m.decode.tpot.p50)} / ${fmtMs(m.decode.tpot.p99)}` : '—'),
      (c) => ratioOf(c, (m) => m.decode?.tpot.p50),
    );
    add(
      'decode: tokens/s',
      'latency',
      (m) => (m.decode ? `${m.decode.tokensPerSecond.toFixed(1)}/s` : '—'),
      (c) => ratioOf(c, (m) => m.decode?.tokensPerSecond),
      'higher',
    );
    add('decode: KV cache / RSS growth', 'latency', (m) => (m.decode ? `${fmtBytes(m.decode.cacheBytes)} / ${fmtBytes(m.decode.memoryGrowth)}` : '—'));
    add('decode: token agreement with baseline', 'latency', (m) =>
      m.decode?.tokenAgreement == null ? (m === models[0] && m.decode ? 'reference' : '—') : fmtPct(m.decode.tokenAgreement),
    );
  }
}
