/**
 * Renders a bench HTML report in a real headless browser (Debian's chromium) and checks that it loads without a
 * single console message (script errors, CSP violations from an external resource, ...) and that the DOM holds the
 * report and its charts.
 *
 *   npx tsx scripts/check-html.ts [report.html]     without a file: benches fixtures/bert-tiny.onnx and checks that
 *   npx tsx scripts/check-html.ts --sweep [merged.html]   a `report merge` page: without a file, sweeps two fixtures x
 *                                                   3 recipes, merges, and checks the page and its Pareto chart
 *
 * Each check also takes a screenshot (PNG, 1200 px wide) and checks it is a non-blank image of the page; the
 * screenshot is kept where $SCREENSHOT says (default: beside the report, report.png).
 *
 * Chromium: /usr/bin/chromium (Debian: apt-get install -y chromium), or $CHROMIUM. Exit code 0 when the page is
 * clean, 1 when not; without a browser the check is skipped with a message (exit 0; CHECK_HTML_STRICT=1 makes it 2).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface BrowserCheck {
  browser: string;
  /** console messages the page produced (any level), as chromium logged them */
  consoleMessages: string[];
  dom: string;
  exitCode: number | null;
}

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** The chromium executable, or null when none is installed ($CHROMIUM=none pretends there is none). */
export function findChromium(): string | null {
  const env = process.env.CHROMIUM;
  if (env === 'none') return null;
  if (env && fs.existsSync(env)) return env;
  return CANDIDATES.find((p) => fs.existsSync(p)) ?? null;
}

/** Loads `file` in headless chromium; returns its DOM after load and every console message. */
export async function renderInBrowser(file: string, browser = findChromium(), timeoutMs = 60_000): Promise<BrowserCheck> {
  if (!browser) throw new Error('no chromium found (apt-get install -y chromium, or set $CHROMIUM)');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-extensions',
    `--user-data-dir=${profile}`,
    '--enable-logging=stderr',
    '--v=0',
    '--dump-dom',
    pathToFileURL(path.resolve(file)).href,
  ];
  try {
    return await new Promise<BrowserCheck>((resolve, reject) => {
      const child = spawn(browser, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`chromium did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        const consoleMessages = err.split('\n').filter((l) => /:CONSOLE[:(]/.test(l) || /Uncaught|Refused to/.test(l));
        resolve({ browser, consoleMessages, dom: out, exitCode: code });
      });
    });
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** Problems with a rendered bench report, or with a merged sweep report (`kind: 'sweep'`); empty when it is clean. */
export function reportProblems(c: BrowserCheck, kind: 'bench' | 'sweep' = 'bench'): string[] {
  const p: string[] = [];
  for (const m of c.consoleMessages) p.push(`console: ${m.replace(/^\[[^\]]*\]\s*/, '')}`);
  if (kind === 'bench') {
    if (!c.dom.includes('autoglm bench')) p.push('the DOM does not contain the report title');
    if (!/<svg[^>]*aria-label="latency distributions"/.test(c.dom)) p.push('the DOM has no latency chart');
    if (/<h2>Gates<\/h2>/.test(c.dom) && !/<svg[^>]*aria-label="gates"/.test(c.dom)) p.push('the report has gates but no gate chart');
  } else {
    if (!c.dom.includes('autoglm sweep')) p.push('the DOM does not contain the report title');
    if (!/<svg id="pareto"/.test(c.dom)) p.push('the DOM has no Pareto chart');
    if (!/<g class="job[^"]*front/.test(c.dom)) p.push('the Pareto chart marks no job on the front');
  }
  if (c.exitCode !== 0) p.push(`chromium exited with code ${c.exitCode}`);
  return p;
}

/** Takes a PNG screenshot of `file` (1200 px wide) and checks it: a PNG of that width with more than one colour. */
export async function screenshot(file: string, png: string, browser = findChromium(), timeoutMs = 60_000): Promise<string[]> {
  if (!browser) throw new Error('no chromium found (apt-get install -y chromium, or set $CHROMIUM)');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--hide-scrollbars',
    '--no-first-run',
    `--user-data-dir=${profile}`,
    '--window-size=1200,2600',
    `--screenshot=${png}`,
    pathToFileURL(path.resolve(file)).href,
  ];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(browser, args, { stdio: 'ignore' });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`chromium did not finish the screenshot within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('error', reject);
      child.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (!fs.existsSync(png)) return ['no screenshot was written'];
  const b = fs.readFileSync(png);
  const p: string[] = [];
  if (b.subarray(1, 4).toString('latin1') !== 'PNG') return ['the screenshot is not a PNG'];
  const width = b.readUInt32BE(16);
  if (width !== 1200) p.push(`the screenshot is ${width} px wide, not 1200`);
  // a blank page compresses to almost nothing: a rendered report with a chart does not
  if (b.length < 20_000) p.push(`the screenshot is ${b.length} bytes: the page looks blank`);
  return p;
}

/** A merged sweep report of two fixtures x 3 recipes (a real, small sweep), written to `dir`/report.html. */
async function sweepReport(dir: string): Promise<string> {
  const { checkSweepConfig } = await import('../src/sweep/config.js');
  const { runSweep } = await import('../src/sweep/runner.js');
  const { mergeResults } = await import('../src/sweep/merge.js');
  const { renderSweepHtml } = await import('../src/sweep/report.js');
  const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
  const config = checkSweepConfig(
    {
      models: ['bert-tiny.onnx', 'cnn-small.onnx'],
      recipes: [
        { name: 'fused', passes: ['transformer', 'cnn'] },
        { name: 'fp16', quantize: { dtype: 'fp16', keepIoTypes: true } },
        { name: 'int8', quantize: { dtype: 'int8' } },
      ],
      dims: { batch: 1, sequence: 16 },
      bench: { runs: 5, warmup: 1, sessionRepeats: 1, gates: ['cosine >= 0.99', 'size <= 0.9x'] },
    },
    fixtures,
  );
  await runSweep(config, { outDir: path.join(dir, 'results') });
  const file = path.join(dir, 'report.html');
  fs.writeFileSync(file, renderSweepHtml(mergeResults([path.join(dir, 'results')])));
  return file;
}

async function main(): Promise<number> {
  const browser = findChromium();
  if (!browser) {
    console.error('check-html: skipped: no chromium found; install it (apt-get install -y chromium) or set $CHROMIUM');
    return process.env.CHECK_HTML_STRICT === '1' ? 2 : 0;
  }
  const kind = process.argv.includes('--sweep') ? 'sweep' : 'bench';
  let file = process.argv.slice(2).find((a) => !a.startsWith('--'));
  let tmp: string | undefined;
  if (!file && kind === 'sweep') {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-html-'));
    file = await sweepReport(tmp);
  } else if (!file) {
    const { benchmark } = await import('../src/bench/benchmark.js');
    const { renderBenchHtml } = await import('../src/bench/report-html.js');
    const here = path.dirname(fileURLToPath(import.meta.url));
    const model = path.join(here, '..', 'fixtures', 'bert-tiny.onnx');
    const r = await benchmark({
      baseline: model,
      candidates: [model],
      dims: { batch: 2, sequence: 16 },
      runs: 30,
      profile: true,
      gates: ['latency.p50 <= 1.05x', 'graphF1 >= 0.95'],
    });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-html-'));
    file = path.join(tmp, 'report.html');
    fs.writeFileSync(file, renderBenchHtml(r));
  }
  try {
    const c = await renderInBrowser(file, browser);
    const problems = reportProblems(c, kind);
    const png = process.env.SCREENSHOT ?? (tmp ? path.join(os.tmpdir(), `autoglm-${kind}-report.png`) : file.replace(/\.html?$/i, '') + '.png');
    problems.push(...(await screenshot(file, png, browser)));
    console.log(`${c.browser}: rendered ${file} (${c.dom.length} bytes of DOM), ${c.consoleMessages.length} console message(s); screenshot ${png}`);
    for (const p of problems) console.log(`  problem: ${p}`);
    console.log(problems.length ? 'FAIL' : 'OK: no console errors, report and charts present, screenshot taken');
    return problems.length ? 1 : 0;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().then(
    (code) => (process.exitCode = code),
    (e) => {
      console.error(`check-html: ${(e as Error).message}`);
      process.exitCode = 1;
    },
  );
}
