/**
 * The HTML report in a real browser: headless chromium loads it and must log nothing to the console (no script
 * error, no blocked external resource) and show the report and its charts. Skipped, saying so, where chromium is
 * not installed (apt-get install -y chromium).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findChromium, renderInBrowser, reportProblems } from '../../scripts/check-html.js';
import { benchmark } from '../../src/bench/benchmark.js';
import { renderBenchHtml } from '../../src/bench/report-html.js';
import { bf16MatMul, perturbAttention, tempDir, tinyBert, TINY_DIMS } from './models.js';

const chromium = findChromium();
if (!chromium) console.warn('html-browser.test.ts: SKIPPED, no chromium found (apt-get install -y chromium, or set $CHROMIUM)');

describe.skipIf(!chromium)('HTML report in headless chromium', () => {
  it('renders without console errors, with the comparison, gates and charts', async () => {
    const r = await benchmark({
      baseline: { model: tinyBert(), label: 'base' },
      candidates: [
        { model: perturbAttention(tinyBert(), 0.5), label: 'perturbed <attn>' },
        { model: bf16MatMul(tinyBert()), label: 'bf16' },
      ],
      dims: TINY_DIMS,
      runs: 10,
      warmup: 1,
      sessionRepeats: 1,
      threads: 1,
      profile: true,
      profileRuns: 3,
      gates: ['latency.p50 <= 1.05x', 'graphF1 >= 0.95'],
    });
    const dir = tempDir();
    try {
      const file = path.join(dir, 'report.html');
      fs.writeFileSync(file, renderBenchHtml(r));
      const c = await renderInBrowser(file, chromium);
      expect(reportProblems(c)).toEqual([]);
      expect(c.consoleMessages).toEqual([]);
      expect(c.dom).toMatch(/aria-label="time per operator"/);
      expect(c.dom).toContain('perturbed &lt;attn&gt;');
      expect(c.dom).toMatch(/not runnable on this EP/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the checker itself notices console errors and external loads', async () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'bad.html');
      fs.writeFileSync(
        file,
        `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'"></head><body><img src="https://example.invalid/x.png"><script>console.error('boom')</script></body></html>`,
      );
      const c = await renderInBrowser(file, chromium);
      const problems = reportProblems(c);
      expect(problems.some((p) => /boom/.test(p))).toBe(true);
      expect(problems.some((p) => /Content Security Policy/.test(p))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
