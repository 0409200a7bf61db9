/**
 * Markdown report, for a CI job summary ($GITHUB_STEP_SUMMARY) or a pull-request comment: verdict first, then the
 * comparison table, gates, notes and the settings the numbers were measured with.
 */
import {
  benchVerdict,
  comparisonRows,
  gateStatusText,
  inputsLine,
  modelNotes,
  PROFILE_TITLE,
  profileCell,
  profileFooter,
  settingsLine,
} from './report-format.js';
import type { BenchResult, GateResult } from './types.js';

const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function table(headers: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const a = align ?? headers.map((_, i) => (i === 0 ? 'l' : 'r'));
  return [
    `| ${headers.map(esc).join(' | ')} |`,
    `| ${a.map((x) => (x === 'r' ? '---:' : ':---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const icon = (g: GateResult): string => (g.status === 'pass' ? '✅' : g.status === 'error' ? '⚠️' : g.blocks ? '❌' : '⏭️');

export function renderBenchMarkdown(r: BenchResult): string {
  const out: string[] = [];
  const v = benchVerdict(r);
  out.push('## autoglm bench');
  out.push('');
  if (r.gates.length || !r.passed) out.push(`**${r.passed ? (v.skipped ? '⏭️' : '✅') : '❌'} ${v.line}**`);
  else out.push('No gates were set.');
  out.push('');
  const headers = ['metric', `${r.baseline.label} (baseline)`, ...r.candidates.map((c) => c.label)];
  out.push(
    table(
      headers,
      comparisonRows(r).map((row) => [row.metric, ...row.cells.map((c) => (c.ratio ? `${c.text} (${c.ratio})` : c.text))]),
    ),
  );
  out.push('');
  if (r.gates.length) {
    out.push('### Gates');
    out.push('');
    out.push(
      table(
        ['', 'candidate', 'gate', 'result'],
        r.gates.map((g) => [`${icon(g)} ${gateStatusText(g)}`, g.candidate, `\`${g.gate}\``, g.message]),
        ['l', 'l', 'l', 'l'],
      ),
    );
    out.push('');
  }
  const withProfile = [r.baseline, ...r.candidates].filter((m) => m.profile);
  if (withProfile.length) {
    out.push(`### ${PROFILE_TITLE}`);
    out.push('');
    const ops = [...new Set(withProfile.flatMap((m) => m.profile!.byOp.slice(0, 10).map((o) => o.op)))].slice(0, 12);
    out.push(
      table(
        ['operator', ...withProfile.map((m) => m.label)],
        [
          ...ops.map((op) => [op, ...withProfile.map((m) => profileCell(m.profile!.byOp.find((x) => x.op === op)))]),
          ['profiler overhead', ...withProfile.map(profileFooter)],
        ],
      ),
    );
    out.push('');
  }
  const notes = modelNotes(r);
  if (notes.length) {
    out.push('### Notes');
    out.push('');
    for (const n of notes) out.push(`- ${n.replace(/\r?\n/g, ' ')}`);
    out.push('');
  }
  out.push('<details><summary>Settings</summary>');
  out.push('');
  out.push(`${settingsLine(r)}  `);
  out.push(`${inputsLine(r)}  `);
  out.push(`schema ${r.schema}, ${r.createdAt}, ${(r.durationMs / 1000).toFixed(1)} s`);
  out.push('');
  out.push('</details>');
  return out.join('\n') + '\n';
}
