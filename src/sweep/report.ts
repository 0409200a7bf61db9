/**
 * Renderers of a SweepReport (merge.ts): a terminal table, JSON, Markdown and a self-contained HTML page (inline CSS
 * and SVG, no script, nothing loaded) whose chart places every measured job by size ratio (x) and latency ratio
 * (y), one colour per model, the dot's area growing with graph F1, Pareto-front jobs ringed and each model's best
 * recipe starred. Nothing is measured or decided here.
 */
import { htmlEscape } from '../bench/report-html.js';
import { fmtRatio } from '../util/format.js';
import { renderTable } from '../util/table.js';
import type { MergedJob, SweepReport } from './merge.js';

const f3 = (v: number | null): string => (v === null ? '—' : v.toFixed(3));
const latency = (j: MergedJob): string =>
  j.metrics.latencyRatio === null
    ? '—'
    : `${fmtRatio(j.metrics.latencyRatio)}${j.metrics.latencyCI ? ` [${j.metrics.latencyCI.lo.toFixed(2)}, ${j.metrics.latencyCI.hi.toFixed(2)}]` : ''}`;
const marks = (j: MergedJob): string => [j.best ? 'best' : '', j.pareto ? 'pareto' : ''].filter(Boolean).join(', ');
const verdictText = (j: MergedJob): string => (j.verdict === 'pass' ? 'pass' : j.verdict.toUpperCase());

const HEAD = ['model', 'recipe', 'verdict', 'latency (ratio, CI)', 'size', 'graph F1', 'cosine', 'cache', ''];
const cells = (j: MergedJob): string[] => [
  j.model,
  j.recipe,
  verdictText(j),
  latency(j),
  fmtRatio(j.metrics.sizeRatio),
  f3(j.metrics.graphF1),
  j.metrics.cosine === null ? '—' : j.metrics.cosine.toFixed(5),
  j.cache,
  marks(j),
];

export function summaryLine(r: SweepReport): string {
  const c = r.counts;
  return `${c.total} job(s): ${c.pass} passed, ${c.fail} failed a gate, ${c.checkFailed} failed the self-check, ${c.error} error(s); optimize cache ${c.cacheHits} hit(s), ${c.cacheMisses} miss(es)`;
}

const bestLines = (r: SweepReport): string[] =>
  r.models.map((m) => `${m.model}: best ${m.best ?? 'none passed the gates'}; Pareto front ${m.front.length ? m.front.join(', ') : '—'}`);

export function renderSweepTable(r: SweepReport): string {
  const align = HEAD.map((_, i) => (i >= 3 && i <= 6 ? 'right' : 'left') as 'left' | 'right');
  let out = renderTable(HEAD, r.jobs.map(cells), { align });
  out += `\n${summaryLine(r)}\n${bestLines(r).join('\n')}\n`;
  const why = r.jobs.filter((j) => j.message);
  if (why.length) out += `\n${why.map((j) => `${j.id}: ${j.message}`).join('\n')}\n`;
  for (const w of r.warnings) out += `warning: ${w}\n`;
  return out;
}

export function renderSweepJson(r: SweepReport): string {
  return `${JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function renderSweepMarkdown(r: SweepReport): string {
  const rows = r.jobs.map((j) => `| ${cells(j).map(esc).join(' | ')} |`);
  return [
    `## autoglm sweep: ${r.passed ? 'every job passed' : 'not every job passed'}`,
    '',
    summaryLine(r),
    r.gates.length ? `\nGates: ${r.gates.map((g) => `\`${g}\``).join(', ')}` : '\nNo gates were set.',
    '',
    `| ${HEAD.map(esc).join(' | ')} |`,
    `| ${HEAD.map((_, i) => (i >= 3 && i <= 6 ? '---:' : ':---')).join(' | ')} |`,
    ...rows,
    '',
    '### Best recipe per model (lowest latency among the jobs that passed every gate)',
    '',
    ...bestLines(r).map((l) => `- ${esc(l)}`),
    ...(r.jobs.some((j) => j.message)
      ? ['', '### Why not a pass', '', ...r.jobs.filter((j) => j.message).map((j) => `- \`${j.id}\`: ${esc(j.message!)}`)]
      : []),
    ...(r.warnings.length ? ['', ...r.warnings.map((w) => `> warning: ${esc(w)}`)] : []),
    '',
  ].join('\n');
}

const PALETTE = ['#4c72b0', '#dd8452', '#55a868', '#c44e52', '#8172b3', '#937860', '#da8bc3', '#8c8c8c'];

/** The Pareto chart: size ratio (x) vs latency ratio (y), dot area by graph F1; front ringed, best starred. */
export function paretoChart(r: SweepReport): string {
  const pts = r.jobs.filter((j) => j.metrics.latencyRatio !== null && j.metrics.sizeRatio !== null);
  if (!pts.length) return '<p>No job was measured: nothing to chart.</p>';
  const W = 720;
  const H = 420;
  const L = 64;
  const R = 180;
  const T = 20;
  const B = 48;
  const xs = pts.map((j) => j.metrics.sizeRatio!);
  const ys = pts.map((j) => j.metrics.latencyRatio!);
  const span = (v: number[]) => {
    const lo = Math.min(1, ...v);
    const hi = Math.max(1, ...v);
    const pad = (hi - lo || 0.1) * 0.08;
    return [Math.max(0, lo - pad), hi + pad] as const;
  };
  const [x0, x1] = span(xs);
  const [y0, y1] = span(ys);
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const n2 = (v: number) => (Math.round(v * 10) / 10).toString();
  const ticks = (lo: number, hi: number) => Array.from({ length: 5 }, (_, i) => lo + ((hi - lo) * i) / 4);
  const models = [...new Set(pts.map((j) => j.model))];
  const color = (m: string) => PALETTE[models.indexOf(m) % PALETTE.length]!;
  const grid = [
    ...ticks(x0, x1).map(
      (t) =>
        `<line x1="${n2(px(t))}" y1="${T}" x2="${n2(px(t))}" y2="${H - B}" stroke="#eee"/><text class="sub" x="${n2(px(t))}" y="${H - B + 16}" text-anchor="middle">${t.toFixed(2)}</text>`,
    ),
    ...ticks(y0, y1).map(
      (t) =>
        `<line x1="${L}" y1="${n2(py(t))}" x2="${W - R}" y2="${n2(py(t))}" stroke="#eee"/><text class="sub" x="${L - 6}" y="${n2(py(t) + 4)}" text-anchor="end">${t.toFixed(2)}</text>`,
    ),
    `<line x1="${n2(px(1))}" y1="${T}" x2="${n2(px(1))}" y2="${H - B}" stroke="#999" stroke-dasharray="4 3"/>`,
    `<line x1="${L}" y1="${n2(py(1))}" x2="${W - R}" y2="${n2(py(1))}" stroke="#999" stroke-dasharray="4 3"/>`,
  ].join('');
  const dots = pts
    .map((j) => {
      const f1 = j.metrics.graphF1;
      const rad = 4 + 6 * Math.max(0, f1 ?? 0);
      const x = n2(px(j.metrics.sizeRatio!));
      const y = n2(py(j.metrics.latencyRatio!));
      const title = `${j.model} / ${j.recipe}: latency ${fmtRatio(j.metrics.latencyRatio)}, size ${fmtRatio(j.metrics.sizeRatio)}, graph F1 ${f3(f1)}, ${j.verdict}${j.pareto ? ', Pareto front' : ''}${j.best ? ', best' : ''}`;
      return `<g class="job${j.pareto ? ' front' : ''}${j.best ? ' best' : ''}"><title>${htmlEscape(title)}</title><circle cx="${x}" cy="${y}" r="${n2(rad)}" fill="${color(j.model)}" fill-opacity="${j.verdict === 'pass' ? 0.85 : 0.3}"${j.pareto ? ' stroke="#000" stroke-width="2"' : ''}/>${j.best ? `<text x="${x}" y="${n2(Number(y) - rad - 3)}" text-anchor="middle" class="lbl">★</text>` : ''}${j.pareto ? `<text x="${n2(Number(x) + rad + 3)}" y="${n2(Number(y) + 4)}" class="sub">${htmlEscape(j.recipe)}</text>` : ''}</g>`;
    })
    .join('');
  const legend = models
    .map(
      (m, i) =>
        `<circle cx="${W - R + 20}" cy="${T + 10 + i * 18}" r="5" fill="${color(m)}"/><text class="lbl" x="${W - R + 30}" y="${T + 14 + i * 18}">${htmlEscape(m)}</text>`,
    )
    .join('');
  const key = `<text class="sub" x="${W - R + 14}" y="${T + 24 + models.length * 18}">ringed: Pareto front</text><text class="sub" x="${W - R + 14}" y="${T + 40 + models.length * 18}">★ best under the gates</text><text class="sub" x="${W - R + 14}" y="${T + 56 + models.length * 18}">faded: failed a gate</text><text class="sub" x="${W - R + 14}" y="${T + 72 + models.length * 18}">dot area: graph F1</text>`;
  return `<svg id="pareto" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="latency ratio vs size ratio per job">${grid}<text class="lbl" x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">file size (ratio to the original)</text><text class="lbl" transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">latency p50 (ratio to the original)</text>${dots}${legend}${key}</svg>`;
}

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f6f6f6}
td.l{text-align:left}.pass{color:#17803d}.fail{color:#c62828;font-weight:600}tr.best td{background:#fff8e1}
.verdict{font-size:16px;font-weight:600;padding:8px 12px;border-radius:4px;display:inline-block;margin:8px 0}
.verdict.ok{background:#e6f4ea;color:#17803d}.verdict.bad{background:#fdecea;color:#c62828}
.lbl{font-size:12px;fill:#222}.sub{font-size:11px;fill:#555}svg{max-width:100%;height:auto}`;

export function renderSweepHtml(r: SweepReport): string {
  const rows = r.jobs
    .map((j) => {
      const c = cells(j).map(htmlEscape);
      return `<tr${j.best ? ' class="best"' : ''}><td class="l">${c[0]}</td><td class="l">${c[1]}</td><td class="${j.verdict === 'pass' ? 'pass' : 'fail'}">${c[2]}</td>${c
        .slice(3, 8)
        .map((x) => `<td>${x}</td>`)
        .join('')}<td class="l">${c[8]}</td></tr>`;
    })
    .join('\n');
  const best = r.models
    .map(
      (m) =>
        `<tr><td class="l">${htmlEscape(m.model)}</td><td class="l">${htmlEscape(m.best ?? 'none passed the gates')}</td><td>${m.passed} / ${m.jobs}</td><td class="l">${htmlEscape(m.front.join(', ') || '—')}</td></tr>`,
    )
    .join('\n');
  const why = r.jobs.filter((j) => j.message);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>autoglm sweep: ${r.counts.total} job(s), ${r.models.length} model(s)</title>
<style>${CSS}</style>
</head>
<body>
<h1>autoglm sweep</h1>
<div class="verdict ${r.passed ? 'ok' : 'bad'}">${htmlEscape(summaryLine(r))}</div>
<p>${r.gates.length ? `Gates: ${r.gates.map((g) => `<code>${htmlEscape(g)}</code>`).join(', ')}` : 'No gates were set.'} · merged from ${r.sources.length} folder(s) · ${htmlEscape(r.createdAt)}</p>
<h2>Pareto front: latency vs size vs graph F1</h2>
${paretoChart(r)}
<h2>Best recipe per model</h2>
<table><tr><th>model</th><th>best under the gates (lowest latency)</th><th>passed</th><th>Pareto front</th></tr>
${best}
</table>
<h2>Jobs</h2>
<table>
<tr>${HEAD.map((h) => `<th>${htmlEscape(h)}</th>`).join('')}</tr>
${rows}
</table>
${why.length ? `<h2>Why not a pass</h2><ul>${why.map((j) => `<li><code>${htmlEscape(j.id)}</code>: ${htmlEscape(j.message!)}</li>`).join('')}</ul>` : ''}
${r.warnings.length ? `<h2>Warnings</h2><ul>${r.warnings.map((w) => `<li>${htmlEscape(w)}</li>`).join('')}</ul>` : ''}
</body>
</html>
`;
}
