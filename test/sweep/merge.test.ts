/**
 * report merge: the Pareto front (latency vs size vs graph F1), the best recipe per model under the gates,
 * duplicates across folders, and the four renderings of one report. Job results here are written by hand so each
 * decision can be checked against a known answer; test/cli/sweep.test.ts merges real shard results.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findChromium, renderInBrowser, reportProblems, screenshot } from '../../scripts/check-html.js';
import { mergeResults, paretoFront } from '../../src/sweep/merge.js';
import { renderSweepHtml, renderSweepJson, renderSweepMarkdown, renderSweepTable } from '../../src/sweep/report.js';
import type { JobResult, JobVerdict } from '../../src/sweep/runner.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-merge-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let index = 0;
function job(
  model: string,
  recipe: string,
  verdict: JobVerdict,
  lat: number | null,
  size: number | null,
  f1: number | null,
  finishedAt = '2026-12-07T10:00:00Z',
): JobResult {
  return {
    schema: 1,
    kind: 'autoglm-sweep-job',
    id: `${model}__${recipe}`,
    index: index++,
    key: `k-${model}-${recipe}`,
    model: { name: model, path: `/m/${model}.onnx`, hash: 'h', dims: {} },
    recipe: { name: recipe, config: {} },
    verdict,
    message: verdict === 'pass' ? null : `${recipe} did not pass`,
    optimize: { cache: 'miss', cacheKey: 'c', ms: 1, model: null, report: null },
    metrics: {
      latencyRatio: lat,
      latencyCI: lat === null ? null : { lo: lat - 0.05, hi: lat + 0.05 },
      latencyP50Ms: 1,
      baselineP50Ms: 1,
      sizeRatio: size,
      sizeBytes: 1,
      paramsRatio: 1,
      graphF1: f1,
      cosine: 0.999,
    },
    gates: [{ gate: 'graphF1 >= 0.9', status: verdict === 'pass' ? 'pass' : 'fail', value: f1, message: '' }],
    bench: null,
    host: 'h',
    autoglm: '0.1.0',
    durationMs: 1,
    finishedAt,
  };
}

function folder(name: string, jobs: JobResult[]): string {
  const dir = path.join(tmp, name, 'jobs');
  fs.mkdirSync(dir, { recursive: true });
  for (const j of jobs) fs.writeFileSync(path.join(dir, `${j.id}.json`), JSON.stringify(j));
  return path.join(tmp, name);
}

describe('paretoFront', () => {
  it('keeps exactly the points no other point beats on latency, size and F1', () => {
    const p = (lat: number, size: number, f1: number) => ({ lat, size, f1 });
    const pts = [p(1, 1, 1), p(0.5, 1, 1), p(0.5, 0.5, 0.9), p(0.6, 0.6, 0.8), p(0.4, 0.9, 0.5), null];
    // (1,1,1) loses to (0.5,1,1); (0.6,0.6,0.8) loses to (0.5,0.5,0.9)
    expect([...paretoFront(pts)].sort()).toEqual([1, 2, 4]);
    expect([...paretoFront([p(1, 1, 1), p(1, 1, 1)])]).toEqual([0, 1]); // ties dominate neither
  });
});

describe('mergeResults', () => {
  const a = folder('shard-0', [
    job('bert', 'fused', 'pass', 0.98, 0.99, 1),
    job('bert', 'int8', 'pass', 0.4, 0.3, 0.92),
    job('bert', 'int4', 'fail', 0.3, 0.2, 0.7),
    job('cnn', 'fused', 'fail', 1.0, 0.9, null),
  ]);
  const b = folder('shard-1', [
    job('bert', 'fp16', 'pass', 1.1, 0.5, 1),
    job('bert', 'prune', 'check-failed', null, null, null),
    job('cnn', 'int8', 'error', null, null, null),
    job('bert', 'slow', 'pass', 1.5, 1.0, 0.95),
  ]);

  it('finds the front and the best recipe under the gates per model', () => {
    const r = mergeResults([a, b]);
    expect(r.counts).toMatchObject({ total: 8, pass: 4, fail: 2, checkFailed: 1, error: 1 });
    const bert = r.models.find((m) => m.model === 'bert')!;
    // int4 is on the front (fastest, smallest) though it failed a gate; the best is the fastest that passed
    expect(bert.best).toBe('int8');
    expect(bert.front.sort()).toEqual(['fp16', 'fused', 'int4', 'int8']);
    expect(r.jobs.find((j) => j.id === 'bert__slow')!.pareto).toBe(false);
    const cnn = r.models.find((m) => m.model === 'cnn')!;
    expect(cnn.best).toBeNull();
    expect(cnn.front).toEqual(['fused']);
    expect(r.passed).toBe(false);
    expect(r.gates).toEqual(['graphF1 >= 0.9']);
  });

  it('keeps one result per job, the one finished last, and warns when their settings differ', () => {
    const newer = job('bert', 'fused', 'fail', 1.2, 0.99, 1, '2026-12-07T11:00:00Z');
    newer.index = 0;
    newer.key = 'other-settings';
    const c = folder('rerun', [newer]);
    const r = mergeResults([a, c, a]);
    expect(r.jobs.filter((j) => j.id === 'bert__fused')).toHaveLength(1);
    expect(r.jobs.find((j) => j.id === 'bert__fused')!.verdict).toBe('fail');
    expect(r.warnings.some((w) => /different settings/.test(w))).toBe(true);
  });

  it('renders one report four ways: table, JSON, Markdown and HTML with the Pareto chart', () => {
    const r = mergeResults([a, b]);
    const table = renderSweepTable(r);
    expect(table).toMatch(/bert\s+int8\s+pass\s+0\.40x/);
    expect(table).toMatch(/bert: best int8; Pareto front/);
    expect(table).toMatch(/cnn: best none passed the gates/);
    expect(JSON.parse(renderSweepJson(r))).toMatchObject({ kind: 'autoglm-sweep-report', counts: { total: 8 } });
    const md = renderSweepMarkdown(r);
    expect(md).toMatch(/\| bert \| int8 \| pass \|/);
    expect(md).toMatch(/- bert: best int8/);
    const html = renderSweepHtml(r);
    expect(html).toMatch(/<svg id="pareto"/);
    // one dot per measured job, the front ringed, the best starred
    expect(html.match(/<g class="job/g)).toHaveLength(6);
    expect(html.match(/<g class="job front/g)).toHaveLength(5);
    expect(html.match(/★<\/text>/g)).toHaveLength(1);
    expect(html).not.toMatch(/<script/);
  });
});

const chromium = findChromium();
if (!chromium) console.warn('merge.test.ts: browser check SKIPPED, no chromium found (apt-get install -y chromium, or set $CHROMIUM)');

describe.skipIf(!chromium)('the merged HTML report in headless chromium', () => {
  it('renders without console messages, with the Pareto chart, and screenshots as a non-blank page', async () => {
    const dir = folder('browser', [
      job('bert', 'fused', 'pass', 0.9, 0.99, 1),
      job('bert', 'int8', 'pass', 0.4, 0.3, 0.95),
      job('cnn', 'fp16', 'fail', 1.1, 0.5, null),
    ]);
    const file = path.join(tmp, 'merged.html');
    fs.writeFileSync(file, renderSweepHtml(mergeResults([dir])));
    const c = await renderInBrowser(file, chromium);
    expect(reportProblems(c, 'sweep')).toEqual([]);
    expect(await screenshot(file, path.join(tmp, 'merged.png'), chromium)).toEqual([]);
    // and the check fails on a page without the chart
    const bare = path.join(tmp, 'bare.html');
    fs.writeFileSync(bare, '<!DOCTYPE html><html><body><h1>autoglm sweep</h1></body></html>');
    expect(reportProblems(await renderInBrowser(bare, chromium), 'sweep')).toContain('the DOM has no Pareto chart');
  }, 60_000);
});
