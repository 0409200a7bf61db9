/**
 * JUnit XML report: one testsuite per candidate, one testcase per gate (pass, <failure>, <error> or <skipped>),
 * the settings and environment as suite properties. CI systems (GitLab, Jenkins, GitHub test reporters) show each
 * gate as a test.
 */
import { settingsLine } from './report-format.js';
import type { BenchResult, GateResult } from './types.js';

export function xmlEscape(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function testcase(g: GateResult): string {
  const open = `    <testcase classname="autoglm.bench.${xmlEscape(g.candidate)}" name="${xmlEscape(g.gate)}" time="0">`;
  const msg = xmlEscape(g.message);
  switch (g.status) {
    case 'pass':
      return `${open}\n      <system-out>${msg}</system-out>\n    </testcase>`;
    case 'fail':
      return `${open}\n      <failure type="gate" message="${msg}">${msg}</failure>\n    </testcase>`;
    case 'error':
      return `${open}\n      <error type="gate" message="${msg}">${msg}</error>\n    </testcase>`;
    case 'skipped':
      // a gate that did not run fails the run unless --allow-skipped: then it is a failure here too, so every report agrees
      return g.blocks
        ? `${open}\n      <failure type="${g.reason ?? 'skipped'}" message="${msg}">${msg}</failure>\n    </testcase>`
        : `${open}\n      <skipped message="${msg}"/>\n    </testcase>`;
  }
}

/**
 * A candidate with no gates still gets one test case, 'measured' (JUnit readers such as Jenkins reject a report
 * without test cases): a pass when it was measured, an error when it failed, skipped when its execution provider
 * cannot run it.
 */
function measuredCase(r: BenchResult, c: BenchResult['candidates'][number]): { xml: string; status: 'pass' | 'error' | 'skipped' } {
  const open = `    <testcase classname="autoglm.bench.${xmlEscape(c.label)}" name="measured" time="${(r.durationMs / 1000).toFixed(3)}">`;
  const msg = xmlEscape(c.error ?? '');
  if (c.status === 'ok')
    return { xml: `${open}\n      <system-out>measured against ${xmlEscape(r.baseline.label)}; no gates set</system-out>\n    </testcase>`, status: 'pass' };
  if (c.status === 'failed') return { xml: `${open}\n      <error type="failed" message="${msg}">${msg}</error>\n    </testcase>`, status: 'error' };
  return { xml: `${open}\n      <skipped message="${msg}"/>\n    </testcase>`, status: 'skipped' };
}

export function renderBenchJunit(r: BenchResult): string {
  const count = (gs: GateResult[], s: GateResult['status']) =>
    gs.filter((g) =>
      s === 'fail' ? g.status === 'fail' || (g.status === 'skipped' && g.blocks) : s === 'skipped' ? g.status === 'skipped' && !g.blocks : g.status === s,
    ).length;
  const totals = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  const suites = r.candidates.map((c) => {
    const gs = r.gates.filter((g) => g.candidate === c.label);
    const measured = gs.length ? undefined : measuredCase(r, c);
    const n = {
      tests: gs.length || 1,
      failures: count(gs, 'fail'),
      errors: count(gs, 'error') + (measured?.status === 'error' ? 1 : 0),
      skipped: count(gs, 'skipped') + (measured?.status === 'skipped' ? 1 : 0),
    };
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += n[k];
    const props = [
      ['baseline', r.baseline.label],
      ['candidate.path', c.path ?? ''],
      ['candidate.status', c.status],
      ['passed', String(r.passed)],
      ['settings', settingsLine(r)],
      ['schema', String(r.schema)],
    ]
      .map(([k, v]) => `      <property name="${xmlEscape(k!)}" value="${xmlEscape(v!)}"/>`)
      .join('\n');
    return [
      `  <testsuite name="autoglm bench: ${xmlEscape(c.label)}" tests="${n.tests}" failures="${n.failures}" errors="${n.errors}" skipped="${n.skipped}" time="${(r.durationMs / 1000).toFixed(3)}" timestamp="${r.createdAt}">`,
      `    <properties>\n${props}\n    </properties>`,
      ...(measured ? [measured.xml] : gs.map(testcase)),
      '  </testsuite>',
    ].join('\n');
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="autoglm bench" tests="${totals.tests}" failures="${totals.failures}" errors="${totals.errors}" skipped="${totals.skipped}" time="${(r.durationMs / 1000).toFixed(3)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
