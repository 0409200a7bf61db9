import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { evaluateGates, parseGate } from '../../src/bench/gates.js';
import { gateChart, htmlEscape, latencyChart, renderBenchHtml, tradeoffChart } from '../../src/bench/report-html.js';
import { renderBenchJson } from '../../src/bench/report-json.js';
import { renderBenchJunit } from '../../src/bench/report-junit.js';
import { renderBenchMarkdown } from '../../src/bench/report-markdown.js';
import { renderBenchTable } from '../../src/bench/report-table.js';
import type { BenchResult, GateResult } from '../../src/bench/types.js';
import { candidate, model, result, samples } from './fake-result.js';

function sample(): BenchResult {
  const base = model('base.onnx', { ms: samples(10, 40, 0.03, 1), params: 1000 });
  base.profile = {
    runs: 10,
    kernelMs: 8,
    overhead: null,
    byOp: [
      { op: 'MatMul', ms: 6, calls: 12, share: 0.75, estMs: null },
      { op: 'Add', ms: 2, calls: 20, share: 0.25, estMs: null },
    ],
  };
  const fast = candidate(base, model('fast <&"q"> | x.onnx', { ms: samples(6, 40, 0.03, 2), params: 500 }), { graphF1: [0.98, 0.99] });
  fast.profile = {
    runs: 10,
    kernelMs: 5,
    overhead: null,
    byOp: [
      { op: 'MatMul', ms: 4, calls: 12, share: 0.8, estMs: null },
      { op: 'Add', ms: 1, calls: 20, share: 0.2, estMs: null },
    ],
  };
  const bf16 = candidate(base, {
    ...model('bf16.onnx', { params: 1000 }),
    status: 'not-runnable',
    error: 'not runnable on this execution provider (cpu): no bf16 MatMul',
  });
  const r = result(base, [fast, bf16]);
  r.gates = evaluateGates(['latency.p50 <= 1.05x', 'graphF1 >= 0.99', 'params <= 0.6x'].map(parseGate), r);
  r.passed = !r.gates.some((g) => g.status === 'fail' || g.status === 'error');
  return r;
}

/** A minimal well-formedness check: tags balance and attributes are quoted. */
function wellFormed(xml: string): boolean {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    if (m[1]) {
      if (stack.pop() !== m[2]) return false;
    } else if (!m[4]) stack.push(m[2]!);
  }
  const stripped = body.replace(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g, '');
  return stack.length === 0 && !/[<>]/.test(stripped) && !/&(?!amp;|lt;|gt;|quot;|apos;)/.test(stripped);
}

describe('reports render one result object', () => {
  const r = sample();

  it('JSON: schema 1, stable key order, valid JSON without NaN', () => {
    const x = structuredClone(r);
    x.baseline.latency!.std = NaN;
    const text = renderBenchJson(x);
    expect(text).toBe(renderBenchJson(x));
    const doc = JSON.parse(text);
    expect(Object.keys(doc)).toEqual(['schema', 'createdAt', 'durationMs', 'environment', 'settings', 'baseline', 'candidates', 'gates', 'passed', 'notes']);
    expect(doc.schema).toBe(1);
    expect(doc.baseline.latency.std).toBeNull();
    expect(doc.candidates[0].latencyRatio.verdict).toBe('faster');
    expect(doc.candidates[1].status).toBe('not-runnable');
    expect(doc.baseline.latency.samples).toHaveLength(40);
    expect(JSON.parse(renderBenchJson(x, { samples: false })).baseline.latency.samples).toEqual([]);
  });

  it('table: the numbers, ratios, gates and the not-runnable row; colour only when asked', () => {
    const plain = renderBenchTable(r, new Chalk({ level: 0 }));
    expect(plain).not.toMatch(/\x1b\[/);
    expect(plain).toMatch(/base\.onnx \(baseline\)/);
    expect(plain).toMatch(/latency ratio \(p50, CI\)\s+baseline\s+0\.\d\dx \[[\d.]+, [\d.]+\] faster/);
    expect(plain).toMatch(/not runnable on this EP/);
    expect(plain).toMatch(/bf16\.onnx: not runnable on this execution provider \(cpu\)/);
    expect(plain).toMatch(/SKIPPED\s+bf16\.onnx\s+latency\.p50 <= 1\.05x/);
    expect(plain).toMatch(/FAIL\s+fast.*graphF1 >= 0\.99/);
    expect(plain).toMatch(/operator share of profiled kernel time/);
    expect(plain).toMatch(/75\.0%/);
    expect(plain).toMatch(/2 of 6 gate\(s\) failed, 2 skipped or inconclusive/);
    expect(renderBenchTable(r, new Chalk({ level: 1 }))).toMatch(/\x1b\[3[12]m/);
  });

  it('Markdown: verdict, a well-formed table, escaped pipes, gates', () => {
    const md = renderBenchMarkdown(r);
    expect(md.startsWith('## autoglm bench\n')).toBe(true);
    expect(md).toMatch(/\*\*❌ 2 of 6 gate\(s\) failed, 2 skipped or inconclusive\*\*/);
    const rows = md.split('\n').filter((l) => l.startsWith('| '));
    const header = rows[0]!;
    const cols = (l: string) => l.replace(/\\\|/g, '').split('|').length;
    for (const l of rows.slice(0, 20)) expect(cols(l), l).toBe(cols(header));
    expect(md).toContain('fast <&"q"> \\| x.onnx');
    expect(md).toMatch(/❌ SKIPPED \| bf16\.onnx/);
  });

  it('JUnit: one testcase per gate, failures and skips counted, escaped, well-formed', () => {
    const xml = renderBenchJunit(r);
    expect(wellFormed(xml)).toBe(true);
    expect(xml.match(/<testcase /g)).toHaveLength(r.gates.length);
    // skipped gates fail the run, so they are failures here too (type="not-runnable"), unless --allow-skipped
    expect(xml).toMatch(/<testsuites name="autoglm bench" tests="6" failures="4" errors="0" skipped="0"/);
    expect(xml.match(/<failure /g)).toHaveLength(4);
    expect(xml).toMatch(/<failure type="not-runnable"/);
    const allowed = structuredClone(r);
    allowed.settings.allowSkipped = true;
    allowed.gates = evaluateGates(['latency.p50 <= 1.05x', 'graphF1 >= 0.99', 'params <= 0.6x'].map(parseGate), allowed);
    const ax = renderBenchJunit(allowed);
    expect(ax).toMatch(/<testsuites name="autoglm bench" tests="6" failures="2" errors="0" skipped="2"/);
    expect(ax.match(/<skipped /g)).toHaveLength(2);
    expect(xml).toContain('fast &lt;&amp;&quot;q&quot;&gt; | x.onnx');
  });

  it('JUnit without gates: still one testcase per candidate (Jenkins rejects an empty report), failed candidates are errors', () => {
    const none = structuredClone(r);
    none.gates = [];
    const xml = renderBenchJunit(none);
    expect(wellFormed(xml)).toBe(true);
    expect(xml.match(/<testcase /g)).toHaveLength(none.candidates.length);
    expect(xml).toMatch(/<testsuites name="autoglm bench" tests="(\d+)"/);
    expect(Number(/tests="(\d+)"/.exec(xml)![1])).toBe(none.candidates.length);
    for (const suite of xml.split('<testsuite ').slice(1)) expect(suite).toMatch(/^name="[^"]*" tests="1"/);
    none.candidates[0]!.status = 'failed';
    none.candidates[0]!.error = 'first run failed';
    const failed = renderBenchJunit(none);
    expect(failed).toMatch(/<error type="failed" message="first run failed">/);
    expect(failed).toMatch(/<testsuites name="autoglm bench" tests="\d+" failures="0" errors="1"/);
  });

  it('HTML gate chart: threshold line, allowed side, value dot and CI bar per gate, the verdict readable from the geometry', () => {
    const gate = (over: Partial<GateResult>): GateResult => ({
      gate: 'latency.p50 <= 1.05x',
      candidate: 'fast.onnx',
      metric: 'latency.p50',
      op: '<=',
      threshold: 1.05,
      relative: true,
      status: 'pass',
      value: 0.9,
      interval: { lo: 0.85, hi: 0.95, level: 0.95 },
      inconclusive: false,
      reason: null,
      blocks: false,
      message: '',
      ...over,
    });
    const gates = [
      gate({}),
      gate({
        gate: 'graphF1 >= 0.95',
        metric: 'graphF1',
        op: '>=',
        threshold: 0.95,
        relative: false,
        status: 'fail',
        value: 0.9,
        interval: null,
        blocks: true,
      }),
      gate({
        gate: 'cosine >= 0.99',
        metric: 'cosine',
        op: '>=',
        threshold: 0.99,
        relative: false,
        status: 'skipped',
        value: null,
        interval: null,
        reason: 'not-measured',
        blocks: true,
        message: 'not measured: no outputs',
      }),
    ];
    const svg = gateChart(gates);
    expect(svg).toMatch(/^<svg[^>]*aria-label="gates"/);
    const rows = svg.split('<text x="240"').length - 1;
    expect(rows).toBe(gates.length * 2);
    const num = (re: RegExp, text: string) => [...text.matchAll(re)].map((m) => Number(m[1]));
    const thresholdX = num(/<line x1="([\d.]+)" x2="[\d.]+" y1="[\d.]+" y2="[\d.]+" stroke="#222" stroke-width="1.5"\/>/g, svg);
    const dotX = num(/<circle cx="([\d.]+)"/g, svg);
    expect(thresholdX).toHaveLength(3);
    expect(dotX).toHaveLength(2); // the unmeasured gate has no dot, its reason instead
    expect(dotX[0]!).toBeLessThan(thresholdX[0]!); // latency 0.9x <= 1.05x: left of the line
    expect(dotX[1]!).toBeLessThan(thresholdX[1]!); // graphF1 0.9 < 0.95: on the wrong side of a >= gate
    expect(svg).toContain('95% CI 0.850x .. 0.950x');
    expect(svg).toContain('not measured: no outputs');
    expect(svg).toMatch(/<circle [^>]*fill="#c62828"/);
    expect(renderBenchHtml(r)).toMatch(/<svg[^>]*aria-label="gates"/);
  });

  it('HTML latency chart: stragglers do not squash the distributions (axis to 2 x p90, the rest in the last bin; a log axis for a heavy tail)', () => {
    const ticks = (svg: string) => [...svg.matchAll(/class="sub">([\d.]+) ms<\/text>/g)].map((m) => Number(m[1]));
    const straggler = latencyChart([model('m', { ms: [...samples(1, 59, 0.05, 3), 40] })]);
    expect(Math.max(...ticks(straggler))).toBeLessThan(3);
    expect(straggler).toMatch(/the last bin also holds 1 run\(s\) beyond [\d.]+ ms, up to 40(\.0+)? ms/);
    // a busy machine: a third of the runs 5..60x slower
    const heavy = latencyChart([model('m', { ms: [...samples(1, 40, 0.05, 3), ...Array.from({ length: 20 }, (_, k) => 5 + k * 3)] })]);
    expect(heavy).toContain('latency per run, log scale');
    expect(heavy).not.toContain('beyond');
    const w = ticks(heavy);
    expect(w[w.length - 1]! / w[w.length - 2]!).toBeCloseTo(w[1]! / w[0]!, 1); // log-spaced ticks
    expect(Math.max(...w)).toBeCloseTo(62, 0);
    const steady = latencyChart([model('m', { ms: samples(1, 60, 0.05, 3) })]);
    expect(steady).not.toMatch(/beyond|log scale/);
  });

  it('HTML size/latency/fidelity chart: one point per measured candidate, placed by its ratios, labelled with its fidelity', () => {
    const two = structuredClone(r);
    const first = two.candidates.find((c) => c.ratios.size !== null && c.latencyRatio !== null)!;
    two.candidates.push({ ...structuredClone(first), label: 'half.onnx', ratios: { ...first.ratios, size: first.ratios.size! / 2 } });
    const svg = tradeoffChart(two);
    const measured = two.candidates.filter((c) => c.ratios.size !== null && c.latencyRatio !== null);
    expect(measured.length).toBeGreaterThan(1);
    expect(svg).toMatch(/^<svg[^>]*aria-label="size, latency and fidelity of the candidates"/);
    const points = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="6"[^>]*><title>([^<]*)<\/title>/g)];
    expect(points).toHaveLength(measured.length);
    const bySize = [...measured].sort((a, b) => a.ratios.size! - b.ratios.size!).map((c) => c.label);
    const byX = [...points].sort((a, b) => Number(a[1]) - Number(b[1])).map((p) => measured.find((c) => p[3]!.startsWith(htmlEscape(c.label)))!.label);
    expect(byX).toEqual(bySize);
    expect(renderBenchHtml(r)).toContain('<h2>Size, latency and fidelity</h2>');
  });

  it('HTML: self-contained (CSP, no script, no external resource), charts, escaped labels', () => {
    const html = renderBenchHtml(r);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'/);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|url\(|@import/i);
    const urls = [...html.matchAll(/https?:\/\/[^\s"')]+/g)].map((m) => m[0]);
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg']));
    expect(html).toMatch(/<svg[^>]*aria-label="latency distributions"/);
    expect(html).toMatch(/<svg[^>]*aria-label="time per operator"/);
    expect(html).not.toContain('<&"q">');
    expect(html).toContain('fast &lt;&amp;&quot;q&quot;&gt; | x.onnx');
    expect((html.match(/<rect /g) ?? []).length).toBeGreaterThan(10);
  });
});
