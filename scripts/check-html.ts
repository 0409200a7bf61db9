/**
 * Renders a bench HTML report in a real headless browser (Debian's chromium) and checks that it loads without a
 * single console message (script errors, CSP violations from an external resource, ...) and that the DOM holds the
 * report and its charts.
 *
 *   npx tsx scripts/check-html.ts [report.html] [--screenshot out.png]
 *
 * Without a file it benches fixtures/bert-tiny.onnx (with gates and a profile) and checks that report. It also takes
 * a screenshot (default: check-html.png in the temporary folder, path printed) to look at.
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

/** Problems with a rendered bench report (empty when it is clean). */
export function reportProblems(c: BrowserCheck): string[] {
  const p: string[] = [];
  for (const m of c.consoleMessages) p.push(`console: ${m.replace(/^\[[^\]]*\]\s*/, '')}`);
  if (!c.dom.includes('autoglm bench')) p.push('the DOM does not contain the report title');
  if (!/<svg[^>]*aria-label="latency distributions"/.test(c.dom)) p.push('the DOM has no latency chart');
  if (/<h2>Gates<\/h2>/.test(c.dom) && !/<svg[^>]*aria-label="gates"/.test(c.dom)) p.push('the report has gates but no gate chart');
  if (c.exitCode !== 0) p.push(`chromium exited with code ${c.exitCode}`);
  return p;
}

/** A PNG screenshot of `file` as headless chromium renders it (full report width). */
export async function screenshot(file: string, png: string, browser = findChromium(), timeoutMs = 60_000): Promise<void> {
  if (!browser) throw new Error('no chromium found');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-chromium-'));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${profile}`, '--window-size=1150,2600'];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(browser, [...args, `--screenshot=${path.resolve(png)}`, pathToFileURL(path.resolve(file)).href], { stdio: 'ignore' });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`chromium did not finish the screenshot within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0 && fs.existsSync(png) && fs.statSync(png).size > 0) resolve();
        else reject(new Error(`chromium exited with code ${code} without a screenshot`));
      });
    });
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const browser = findChromium();
  if (!browser) {
    console.error('check-html: skipped: no chromium found; install it (apt-get install -y chromium) or set $CHROMIUM');
    return process.env.CHECK_HTML_STRICT === '1' ? 2 : 0;
  }
  const args = process.argv.slice(2);
  const at = args.indexOf('--screenshot');
  let png = at >= 0 ? args.splice(at, 2)[1] : undefined;
  let file = args[0];
  let tmp: string | undefined;
  if (!file) {
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
    const problems = reportProblems(c);
    png ??= path.join(tmp ?? os.tmpdir(), 'check-html.png');
    if (tmp) png = path.join(os.tmpdir(), `autoglm-check-html-${process.pid}.png`);
    await screenshot(file, png, browser);
    console.log(`screenshot: ${png} (${fs.statSync(png).size} bytes)`);
    console.log(`${c.browser}: rendered ${file} (${c.dom.length} bytes of DOM), ${c.consoleMessages.length} console message(s)`);
    for (const p of problems) console.log(`  problem: ${p}`);
    console.log(problems.length ? 'FAIL' : 'OK: no console errors, report and charts present');
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
