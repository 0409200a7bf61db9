/**
 * HTML report: one self-contained page (inline CSS and SVG, no script, no external resource; a Content-Security-
 * Policy forbids loading anything) with the verdict, the comparison table, gates (a table and a chart of each gate's
 * value and interval against its threshold), latency distributions (a histogram
 * per model on a shared axis, with p50 and p99 marked) and, with --profile, per-operator time as grouped bars.
 */
import { quantile } from '../util/numerics.js';
import {
  benchVerdict,
  comparisonRows,
  gateStatusText,
  inputsLine,
  modelNotes,
  PROFILE_TITLE,
  profileFooter,
  settingsLine,
  type Cell,
} from './report-format.js';
import { fmtMs, fmtPct } from '../util/format.js';
import { graphF1Score } from '../measure/fidelity.js';
import { formatGateValue } from './gates.js';
import type { BenchResult, GateResult, ModelReport } from './types.js';

export function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const PALETTE = ['#4c72b0', '#dd8452', '#55a868', '#c44e52', '#8172b3', '#937860', '#da8bc3', '#8c8c8c'];
const colorOf = (i: number): string => PALETTE[i % PALETTE.length]!;
const n2 = (v: number): string => (Math.round(v * 100) / 100).toString();

function toneClass(c: Cell): string {
  return c.tone && c.tone !== 'neutral' ? ` class="${c.tone}"` : '';
}

/** Histograms of every model's latency samples on one shared axis. */
export function latencyChart(models: ModelReport[]): string {
  const withSamples = models.map((m, i) => ({ m, i })).filter(({ m }) => m.latency?.samples.length);
  if (!withSamples.length) return '<p>No latency was measured.</p>';
  const all = Float64Array.from(withSamples.flatMap(({ m }) => m.latency!.samples)).sort();
  const lo = all[0]!;
  // a busy machine's stragglers must not squash the distributions into one bar: a heavy tail (the 90th percentile
  // beyond 10x the fastest run) gets a logarithmic axis; otherwise the axis ends at twice the 90th percentile (or the
  // slowest run, if sooner) and the last bin holds the few runs beyond
  const max = all[all.length - 1]!;
  const log = lo > 0 && quantile(all, 0.9) / lo > 10;
  const hi = log ? max : Math.max(Math.min(max, quantile(all, 0.9) * 2), lo * 1.0001 + 1e-9);
  const clipped = all.filter((v) => v > hi).length;
  const t = (v: number): number => (log ? Math.log(v) : v);
  /** where `v` falls on the axis, 0..1 */
  const frac = (v: number): number => (t(Math.min(Math.max(v, lo), hi)) - t(lo)) / (t(hi) - t(lo));
  const bins = 48;
  const width = 760;
  const left = 170;
  const plotW = width - left - 40;
  const rowH = 64;
  const top = 10;
  const height = top + withSamples.length * rowH + 40;
  const x = (v: number): number => left + frac(v) * plotW;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="latency distributions">`,
  );
  withSamples.forEach(({ m, i }, row) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of m.latency!.samples) counts[Math.min(bins - 1, Math.floor(frac(v) * bins))]!++;
    const max = Math.max(...counts, 1);
    const y0 = top + row * rowH;
    const base = y0 + rowH - 12;
    parts.push(`<text x="${left - 8}" y="${base - 20}" text-anchor="end" class="lbl">${htmlEscape(truncate(m.label, 24))}</text>`);
    parts.push(`<text x="${left - 8}" y="${base - 6}" text-anchor="end" class="sub">p50 ${htmlEscape(fmtMs(m.latency!.p50))}</text>`);
    counts.forEach((c, b) => {
      if (!c) return;
      const h = (c / max) * (rowH - 18);
      const bx = left + (b / bins) * plotW;
      parts.push(
        `<rect x="${n2(bx)}" y="${n2(base - h)}" width="${n2(plotW / bins - 1)}" height="${n2(h)}" fill="${colorOf(i)}" opacity="0.8"><title>${htmlEscape(`${m.label}: ${c} run(s)`)}</title></rect>`,
      );
    });
    const p50 = x(m.latency!.p50);
    const p99 = x(m.latency!.p99);
    parts.push(`<line x1="${n2(p50)}" x2="${n2(p50)}" y1="${y0 + 4}" y2="${base}" stroke="#222" stroke-width="1.5"/>`);
    parts.push(`<line x1="${n2(p99)}" x2="${n2(p99)}" y1="${y0 + 4}" y2="${base}" stroke="#222" stroke-dasharray="3 3"/>`);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${base}" y2="${base}" stroke="#999"/>`);
  });
  const axisY = top + withSamples.length * rowH;
  for (let k = 0; k <= 4; k++) {
    const v = log ? lo * (hi / lo) ** (k / 4) : lo + ((hi - lo) * k) / 4;
    const px = x(v);
    parts.push(`<line x1="${n2(px)}" x2="${n2(px)}" y1="${axisY - 8}" y2="${axisY - 4}" stroke="#666"/>`);
    parts.push(`<text x="${n2(px)}" y="${axisY + 8}" text-anchor="middle" class="sub">${htmlEscape(fmtMs(v))}</text>`);
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${axisY + 26}" text-anchor="middle" class="sub">latency per run${log ? ', log scale' : ''} (solid: p50, dashed: p99${clipped ? `; the last bin also holds ${clipped} run(s) beyond ${htmlEscape(fmtMs(hi))}, up to ${htmlEscape(fmtMs(max))}` : ''})</text>`,
  );
  parts.push('</svg>');
  return parts.join('');
}

const GATE_COLOR = { pass: '#17803d', fail: '#c62828', error: '#c62828', skipped: '#a15c00' } as const;

/**
 * Every gate at a glance: one row per gate on its own axis, the threshold as a vertical line with the allowed side
 * shaded, the measured value as a dot and its confidence interval as a bar (latency, throughput, session and memory
 * gates). A gate with no value (not measured, not runnable) gets its reason instead of a dot.
 */
export function gateChart(gates: GateResult[]): string {
  if (!gates.length) return '';
  const width = 760;
  const left = 250;
  const plotW = width - left - 30;
  const rowH = 44;
  const top = 8;
  const height = top + gates.length * rowH + 26;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="gates">`,
  ];
  gates.forEach((g, row) => {
    const y = top + row * rowH + rowH / 2;
    const color = g.inconclusive ? GATE_COLOR.skipped : g.status === 'skipped' && g.blocks ? GATE_COLOR.fail : GATE_COLOR[g.status];
    parts.push(`<text x="${left - 10}" y="${y - 2}" text-anchor="end" class="lbl">${htmlEscape(truncate(g.gate, 34))}</text>`);
    parts.push(
      `<text x="${left - 10}" y="${y + 11}" text-anchor="end" class="sub">${htmlEscape(truncate(g.candidate, 24))}: ${htmlEscape(gateStatusText(g))}</text>`,
    );
    const vals = [g.threshold, ...(g.value !== null ? [g.value] : []), ...(g.interval ? [g.interval.lo, g.interval.hi] : [])].filter(Number.isFinite);
    let lo = Math.min(...vals);
    let hi = Math.max(...vals);
    const pad = (hi - lo || Math.abs(g.threshold) || 1) * 0.25;
    lo -= pad;
    hi += pad;
    const x = (v: number): number => left + ((v - lo) / (hi - lo)) * plotW;
    const tx = x(g.threshold);
    const below = g.op === '<=' || g.op === '<';
    // the allowed side of the threshold
    parts.push(
      `<rect x="${n2(below ? left : tx)}" y="${y - 9}" width="${n2(below ? tx - left : left + plotW - tx)}" height="18" fill="#e6f4ea"><title>allowed: ${htmlEscape(`${g.op} ${formatGateValue(g, g.threshold)}`)}</title></rect>`,
    );
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" stroke="#bbb"/>`);
    parts.push(`<line x1="${n2(tx)}" x2="${n2(tx)}" y1="${y - 12}" y2="${y + 12}" stroke="#222" stroke-width="1.5"/>`);
    parts.push(`<text x="${n2(tx)}" y="${y - 13}" text-anchor="middle" class="sub">${htmlEscape(formatGateValue(g, g.threshold))}</text>`);
    if (g.value === null || !Number.isFinite(g.value)) {
      parts.push(`<text x="${left + 6}" y="${y + 4}" class="sub">${htmlEscape(truncate(g.message, 80))}</text>`);
      return;
    }
    if (g.interval) {
      const [a, b] = [x(g.interval.lo), x(g.interval.hi)];
      parts.push(
        `<line x1="${n2(a)}" x2="${n2(b)}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="4" stroke-linecap="round"><title>${htmlEscape(`${Math.round(g.interval.level * 100)}% CI ${formatGateValue(g, g.interval.lo)} .. ${formatGateValue(g, g.interval.hi)}`)}</title></line>`,
      );
    }
    parts.push(
      `<circle cx="${n2(x(g.value))}" cy="${y}" r="5" fill="${color}"><title>${htmlEscape(`${g.candidate}: ${formatGateValue(g, g.value)}`)}</title></circle>`,
    );
    parts.push(`<text x="${n2(x(g.value))}" y="${y + 17}" text-anchor="middle" class="sub">${htmlEscape(formatGateValue(g, g.value))}</text>`);
  });
  parts.push(
    `<text x="${left}" y="${height - 6}" class="sub">each gate on its own axis · threshold: line · allowed: green · value: dot · interval: bar</text>`,
  );
  parts.push('</svg>');
  return parts.join('');
}

/**
 * The candidates side by side: file size ratio (x) against latency ratio (y, with its confidence interval), the
 * baseline at (1, 1); each point labelled with its fidelity (worst output cosine, graph F1) and coloured by it.
 */
export function tradeoffChart(r: BenchResult): string {
  const pts = r.candidates
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.ratios.size !== null && c.latencyRatio !== null && Number.isFinite(c.ratios.size) && Number.isFinite(c.latencyRatio.ratio));
  if (!pts.length) return '';
  const width = 760;
  const height = 340;
  const left = 70;
  const right = 200;
  const top = 16;
  const bottom = 46;
  const xs = [1, ...pts.map(({ c }) => c.ratios.size!)];
  // the axis follows the ratios (an interval from a noisy run could span 0.05x..20x); intervals are cut at its ends
  const ys = [1, ...pts.map(({ c }) => c.latencyRatio!.ratio)];
  const span = (v: number[]): [number, number] => {
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    const pad = (hi - lo || 0.2) * 0.25;
    return [Math.max(0, lo - pad), hi + pad];
  };
  const [x0, x1] = span(xs);
  const [y0, y1] = span(ys);
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const x = (v: number): number => left + ((v - x0) / (x1 - x0)) * plotW;
  const y = (v: number): number => top + plotH - ((Math.min(Math.max(v, y0), y1) - y0) / (y1 - y0)) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="size, latency and fidelity of the candidates">`,
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#ccc"/>`,
    `<line x1="${n2(x(1))}" x2="${n2(x(1))}" y1="${top}" y2="${top + plotH}" stroke="#999" stroke-dasharray="4 3"/>`,
    `<line x1="${left}" x2="${left + plotW}" y1="${n2(y(1))}" y2="${n2(y(1))}" stroke="#999" stroke-dasharray="4 3"/>`,
    `<circle cx="${n2(x(1))}" cy="${n2(y(1))}" r="4" fill="#fff" stroke="#222"><title>${htmlEscape(r.baseline.label)} (baseline)</title></circle>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const xv = x0 + ((x1 - x0) * k) / 4;
    const yv = y0 + ((y1 - y0) * k) / 4;
    parts.push(`<text x="${n2(x(xv))}" y="${top + plotH + 16}" text-anchor="middle" class="sub">${xv.toFixed(2)}x</text>`);
    parts.push(`<text x="${left - 6}" y="${n2(y(yv) + 4)}" text-anchor="end" class="sub">${yv.toFixed(2)}x</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle" class="sub">file size / baseline (left is smaller)</text>`);
  parts.push(
    `<text x="14" y="${top + plotH / 2}" text-anchor="middle" class="sub" transform="rotate(-90 14 ${top + plotH / 2})">latency p50 / baseline (down is faster)</text>`,
  );
  for (const { c, i } of pts) {
    const cosines = c.fidelity?.outputs.map((o) => o.cosine).filter((v): v is number => v !== null) ?? [];
    const cos = cosines.length ? Math.min(...cosines) : null;
    const f1 = c.fidelity?.graphF1 ? graphF1Score(c.fidelity.graphF1).value : null;
    const color = cos === null ? '#8c8c8c' : cos >= 0.999 ? '#17803d' : cos >= 0.99 ? '#a15c00' : '#c62828';
    const px = x(c.ratios.size!);
    const l = c.latencyRatio!;
    const fid =
      [cos !== null ? `cos ${cos.toFixed(4)}` : null, f1 !== null ? `F1 ${f1.toFixed(3)}` : null].filter(Boolean).join(', ') || 'fidelity not measured';
    parts.push(`<line x1="${n2(px)}" x2="${n2(px)}" y1="${n2(y(l.hi))}" y2="${n2(y(l.lo))}" stroke="${color}" stroke-width="2" opacity="0.6"/>`);
    parts.push(
      `<circle cx="${n2(px)}" cy="${n2(y(l.ratio))}" r="6" fill="${color}" stroke="${colorOf(i + 1)}" stroke-width="2"><title>${htmlEscape(`${c.label}: size ${c.ratios.size!.toFixed(2)}x, latency ${l.ratio.toFixed(2)}x [${l.lo.toFixed(2)}, ${l.hi.toFixed(2)}], ${fid}`)}</title></circle>`,
    );
    parts.push(`<text x="${n2(px + 9)}" y="${n2(y(l.ratio) - 2)}" class="lbl">${htmlEscape(truncate(c.label, 22))}</text>`);
    parts.push(`<text x="${n2(px + 9)}" y="${n2(y(l.ratio) + 11)}" class="sub">${htmlEscape(fid)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Grouped horizontal bars: time per operator type, one bar per profiled model. */
export function operatorChart(models: ModelReport[]): string {
  const profiled = models.map((m, i) => ({ m, i })).filter(({ m }) => m.profile?.byOp.length);
  if (!profiled.length) return '';
  const ops = [...new Set(profiled.flatMap(({ m }) => m.profile!.byOp.slice(0, 10).map((o) => o.op)))].slice(0, 12);
  const maxShare = Math.max(...profiled.flatMap(({ m }) => m.profile!.byOp.filter((o) => ops.includes(o.op)).map((o) => o.share)), 1e-9);
  const barH = 12;
  const groupH = profiled.length * barH + 10;
  const left = 170;
  const width = 760;
  const plotW = width - left - 110;
  const height = ops.length * groupH + 20 + profiled.length * 16;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="time per operator">`,
  ];
  ops.forEach((op, g) => {
    const y0 = 6 + g * groupH;
    parts.push(`<text x="${left - 8}" y="${y0 + (profiled.length * barH) / 2 + 4}" text-anchor="end" class="lbl">${htmlEscape(truncate(op, 24))}</text>`);
    profiled.forEach(({ m, i }, k) => {
      const o = m.profile!.byOp.find((x) => x.op === op);
      const w = o ? (o.share / maxShare) * plotW : 0;
      const y = y0 + k * barH;
      parts.push(
        `<rect x="${left}" y="${y}" width="${n2(Math.max(w, 0.5))}" height="${barH - 2}" fill="${colorOf(i)}"><title>${htmlEscape(`${m.label}: ${o ? `${fmtPct(o.share)} of profiled time${o.estMs !== null ? `, ≈${fmtMs(o.estMs)} of the measured p50` : ''}` : 'none'}`)}</title></rect>`,
      );
      parts.push(
        `<text x="${n2(left + w + 4)}" y="${y + barH - 3}" class="sub">${htmlEscape(o ? `${fmtPct(o.share)}${o.estMs !== null ? ` ≈${fmtMs(o.estMs)}` : ''}` : '—')}</text>`,
      );
    });
  });
  const ly = ops.length * groupH + 12;
  profiled.forEach(({ m, i }, k) => {
    parts.push(`<rect x="${left}" y="${ly + k * 16}" width="10" height="10" fill="${colorOf(i)}"/>`);
    parts.push(`<text x="${left + 16}" y="${ly + k * 16 + 9}" class="sub">${htmlEscape(m.label)} (${htmlEscape(profileFooter(m))})</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:12px}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.l{text-align:left}
th{background:#f5f5f5}
.good{color:#17803d}.bad{color:#c62828;font-weight:600}.warn{color:#a15c00}
.ratio{color:#666;font-size:12px;margin-left:4px}
.verdict{font-size:16px;font-weight:600;padding:8px 12px;border-radius:4px;display:inline-block;margin:8px 0}
.verdict.pass{background:#e6f4ea;color:#17803d}.verdict.fail{background:#fdecea;color:#c62828}.verdict.none{background:#f1f1f1}
td.gate-pass{color:#17803d}td.gate-fail,td.gate-error{color:#c62828;font-weight:600}td.gate-skipped,td.gate-inconclusive{color:#a15c00}
.lbl{font-size:12px;fill:#222}.sub{font-size:11px;fill:#555}
ul.notes li{margin:2px 0}
svg{max-width:100%;height:auto}
`;

export function renderBenchHtml(r: BenchResult): string {
  const models = [r.baseline, ...r.candidates];
  const v = benchVerdict(r);
  const verdict = `<div class="verdict ${r.passed ? (r.gates.length ? 'pass' : 'none') : 'fail'}">${htmlEscape(v.line.charAt(0).toUpperCase() + v.line.slice(1))}</div>`;
  const head = ['', `${r.baseline.label} (baseline)`, ...r.candidates.map((c) => c.label)];
  const rows = comparisonRows(r)
    .map(
      (row) =>
        `<tr><td>${htmlEscape(row.metric)}</td>${row.cells.map((c) => `<td${toneClass(c)}>${htmlEscape(c.text)}${c.ratio ? `<span class="ratio">${htmlEscape(c.ratio)}</span>` : ''}</td>`).join('')}</tr>`,
    )
    .join('\n');
  const gates = r.gates.length
    ? `<h2>Gates</h2><table><tr><th>status</th><th>candidate</th><th>gate</th><th>result</th></tr>${r.gates
        .map(
          (g) =>
            `<tr><td class="gate-${g.status === 'skipped' && g.blocks ? 'fail' : g.inconclusive ? 'inconclusive' : g.status}">${htmlEscape(gateStatusText(g))}</td><td class="l">${htmlEscape(g.candidate)}</td><td class="l"><code>${htmlEscape(g.gate)}</code></td><td class="l">${htmlEscape(g.message)}</td></tr>`,
        )
        .join('\n')}</table>${gateChart(r.gates)}`
    : '';
  const opChart = operatorChart(models);
  const tradeoff = tradeoffChart(r);
  const notes = modelNotes(r);
  const fidelityRows = r.candidates
    .filter((c) => c.fidelity)
    .flatMap((c) =>
      c.fidelity!.outputs.map(
        (o) =>
          `<tr><td>${htmlEscape(c.label)}</td><td class="l">${htmlEscape(o.name)}</td><td>${o.maxAbsError === null ? '—' : o.maxAbsError.toExponential(2)}</td><td>${o.maxRelError === null ? '—' : o.maxRelError.toExponential(2)}</td><td>${o.cosine === null ? '—' : o.cosine.toFixed(6)}</td><td>${o.top1 === null ? '—' : fmtPct(o.top1)}</td><td>${htmlEscape(o.error ?? '')}</td></tr>`,
      ),
    );
  const graphRows = r.candidates
    .filter((c) => c.fidelity?.graphF1)
    .flatMap((c) => {
      const g = c.fidelity!.graphF1!;
      const row = (name: string, f: number, e: (typeof g.edges)['all']) =>
        `<tr><td>${htmlEscape(c.label)}</td><td class="l">${htmlEscape(name)}</td><td${e.conclusive ? '' : ' class="warn"'}>${e.conclusive ? f.toFixed(3) : `inconclusive (${f.toFixed(3)})`}</td><td>${e.baseline}</td><td>${e.candidate}</td><td>${e.common}</td><td>${e.rows}</td><td>${e.minBaseline}</td></tr>`;
      return [...g.perLayer.map((f, l) => row(`layer ${l}`, f, g.edges.perLayer[l]!)), row('all layers', g.allLayers, g.edges.all)];
    });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>autoglm bench: ${htmlEscape(r.candidates.map((c) => c.label).join(', ') || r.baseline.label)} vs ${htmlEscape(r.baseline.label)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>autoglm bench</h1>
<div class="meta">${htmlEscape(settingsLine(r))}<br>${htmlEscape(inputsLine(r))}<br>schema ${r.schema} · ${htmlEscape(r.createdAt)} · ${(r.durationMs / 1000).toFixed(1)} s</div>
${verdict}
<h2>Comparison</h2>
<table>
<tr>${head.map((h) => `<th>${htmlEscape(h)}</th>`).join('')}</tr>
${rows}
</table>
${gates}
${tradeoff ? `<h2>Size, latency and fidelity</h2>${tradeoff}` : ''}
<h2>Latency distributions</h2>
${latencyChart(models)}
${fidelityRows.length ? `<h2>Fidelity per output</h2><table><tr><th>candidate</th><th>output</th><th>max abs</th><th>max rel</th><th>cosine</th><th>top-1</th><th></th></tr>${fidelityRows.join('\n')}</table>` : ''}
${graphRows.length ? `<h2>Graph F1 (edge rule ${htmlEscape(r.settings.graphEdges)})</h2><table><tr><th>candidate</th><th>part</th><th>F1</th><th>baseline edges</th><th>candidate edges</th><th>common</th><th>rows</th><th>edges needed</th></tr>${graphRows.join('\n')}</table>` : ''}
${opChart ? `<h2>${htmlEscape(PROFILE_TITLE)}</h2>${opChart}` : ''}
${notes.length ? `<h2>Notes</h2><ul class="notes">${notes.map((n) => `<li>${htmlEscape(n)}</li>`).join('')}</ul>` : ''}
</body>
</html>
`;
}
