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

export function renderBenchJunit(r: BenchResult): string {
  const count = (gs: GateResult[], s: GateResult['status']) =>
    gs.filter((g) =>
      s === 'fail' ? g.status === 'fail' || (g.status === 'skipped' && g.blocks) : s === 'skipped' ? g.status === 'skipped' && !g.blocks : g.status === s,
    ).length;
  const suites = r.candidates.map((c) => {
    const gs = r.gates.filter((g) => g.candidate === c.label);
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
      `  <testsuite name="autoglm bench: ${xmlEscape(c.label)}" tests="${gs.length}" failures="${count(gs, 'fail')}" errors="${count(gs, 'error')}" skipped="${count(gs, 'skipped')}" time="${(r.durationMs / 1000).toFixed(3)}" timestamp="${r.createdAt}">`,
      `    <properties>\n${props}\n    </properties>`,
      ...gs.map(testcase),
      '  </testsuite>',
    ].join('\n');
  });
  const all = r.gates;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="autoglm bench" tests="${all.length}" failures="${count(all, 'fail')}" errors="${count(all, 'error')}" skipped="${count(all, 'skipped')}" time="${(r.durationMs / 1000).toFixed(3)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
