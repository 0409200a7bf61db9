/**
 * Terminal report: the comparison table (a column per model, ratios to the baseline beside candidate values),
 * gates, notes, and the per-operator profile when there is one. Colour only through the chalk instance it is given
 * (the CLI passes io.color, which has no colour off a TTY or under NO_COLOR).
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { renderTable } from '../util/table.js';
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
  type Cell,
} from './report-format.js';
import type { BenchResult, GateResult } from './types.js';

export function renderBenchTable(r: BenchResult, color: ChalkInstance = new Chalk({ level: 0 })): string {
  const paint = (c: Cell): string => {
    const text = c.ratio ? `${c.text} (${c.ratio})` : c.text;
    switch (c.tone) {
      case 'good':
        return color.green(text);
      case 'bad':
        return color.red(text);
      case 'warn':
        return color.yellow(text);
      default:
        return text;
    }
  };
  const out: string[] = [];
  out.push(`${color.bold('autoglm bench')}  ${settingsLine(r)}`);
  out.push(inputsLine(r));
  out.push('');
  const headers = ['', `${r.baseline.label} (baseline)`, ...r.candidates.map((c) => c.label)];
  const rows = comparisonRows(r).map((row) => [row.metric, ...row.cells.map(paint)]);
  out.push(renderTable(headers, rows, { align: headers.map((_, i) => (i === 0 ? 'left' : 'right')) }));
  if (r.gates.length) {
    const gateRow = (g: GateResult): string[] => {
      const st = gateStatusText(g);
      const painted =
        g.status === 'pass' ? (g.inconclusive ? color.yellow(st) : color.green(st)) : g.status === 'skipped' && !g.blocks ? color.yellow(st) : color.red(st);
      return [painted, g.candidate, g.gate, g.message];
    };
    out.push(renderTable(['gate', 'candidate', 'expression', 'result'], r.gates.map(gateRow), { align: ['left', 'left', 'left', 'left'] }));
  }
  const withProfile = [r.baseline, ...r.candidates].filter((m) => m.profile);
  if (withProfile.length) {
    const ops = [...new Set(withProfile.flatMap((m) => m.profile!.byOp.slice(0, 10).map((o) => o.op)))].slice(0, 12);
    const rows = ops.map((op) => [
      op,
      ...withProfile.map((m) => {
        const o = m.profile!.byOp.find((x) => x.op === op);
        return profileCell(o);
      }),
    ]);
    rows.push(['profiler overhead', ...withProfile.map(profileFooter)]);
    out.push(color.bold(PROFILE_TITLE));
    out.push(renderTable(['operator', ...withProfile.map((m) => m.label)], rows));
  }
  const notes = modelNotes(r);
  if (notes.length) {
    out.push(color.bold('notes'));
    for (const n of notes) out.push(`  - ${n}`);
    out.push('');
  }
  const v = benchVerdict(r);
  if (r.gates.length || !r.passed) out.push(r.passed ? (v.skipped ? color.yellow(v.line) : color.green(v.line)) : color.red(v.line));
  return out.join('\n') + '\n';
}
