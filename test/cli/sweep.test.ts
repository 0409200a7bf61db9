/**
 * `autoglm sweep` and `autoglm report merge` end to end, on the small committed fixtures with 3 timed runs per
 * model: a sweep in one process against the same sweep as 3 shard processes (JOB_COMPLETION_INDEX set as a
 * Kubernetes Indexed Job sets it) merged by `report merge`; resume after SIGKILL; the optimize cache on a second
 * run; --init; usage errors.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import type { JobResult, SweepSummary } from '../../src/sweep/runner.js';
import type { SweepReport } from '../../src/sweep/merge.js';
import type { JournalEvent } from '../../src/sweep/journal.js';

const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'bin/autoglm.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-sweep-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const MODELS = [
  { path: path.join(root, 'fixtures/bert-tiny.onnx'), name: 'bert' },
  { path: path.join(root, 'fixtures/cnn-small.onnx'), name: 'cnn' },
  { path: path.join(root, 'fixtures/torch/char-tf-a.onnx'), name: 'chartf' },
];
const RECIPES = [
  { name: 'fused', passes: ['transformer', 'cnn'] },
  { name: 'fp16', quantize: { dtype: 'fp16', keepIoTypes: true } },
  { name: 'int8', quantize: { dtype: 'int8' } },
  // int8 with a self-check no model can meet: a deterministic check-failed verdict
  { name: 'int8-strict', quantize: { dtype: 'int8', minCosine: 0.9999999 } },
];
// deterministic gates only (fidelity and size), so that two runs must agree on every verdict
const BENCH = { runs: 3, warmup: 1, sessionRepeats: 1, gates: ['cosine >= 0.99', 'size <= 1.0x'] };

function writeConfig(name: string, doc: object): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, JSON.stringify(doc, null, 1));
  return file;
}

async function cli(args: string[]) {
  const io = captureIO(tmp);
  const code = await main(args, io);
  return { code, out: io.stdout(), err: io.stderr(), info: io.infoText() };
}

const verdicts = (jobs: { id: string; verdict: string }[]) => Object.fromEntries(jobs.map((j) => [j.id, j.verdict]).sort());
const journal = (dir: string): JournalEvent[] =>
  fs
    .readdirSync(dir)
    .filter((n) => n.startsWith('journal'))
    .flatMap((n) => fs.readFileSync(path.join(dir, n), 'utf8').split('\n'))
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

describe('autoglm sweep: 3 fixtures x 4 recipes, one process vs 3 shards merged', () => {
  const config = writeConfig('sweep-3x4.json', { models: MODELS, recipes: RECIPES, dims: { batch: 1, sequence: 16 }, bench: BENCH });

  it('gives the same jobs and the same verdicts', async () => {
    const one = await cli(['sweep', config, '-o', 'one', '--json', '--no-cache']);
    expect(one.err).toBe('');
    const summary = JSON.parse(one.out) as SweepSummary;
    expect(summary.counts.total).toBe(12);
    expect(summary.counts.ran).toBe(12);
    // int8-strict fails its self-check on every model with something to quantize; nothing passes every gate there
    expect(summary.jobs.filter((j) => j.recipe === 'int8-strict').every((j) => j.verdict === 'check-failed' || j.verdict === 'pass')).toBe(true);
    expect(summary.counts.checkFailed).toBeGreaterThan(0);
    expect(summary.counts.pass).toBeGreaterThan(0);
    expect(one.code).toBe(1); // not every job passed
    for (const j of summary.jobs) {
      const r = JSON.parse(fs.readFileSync(j.file, 'utf8')) as JobResult;
      expect(r.id).toBe(j.id);
      expect(r.verdict).toBe(j.verdict);
      if (r.verdict === 'pass' || r.verdict === 'fail') expect(r.bench?.candidates[0]?.status).toBe('ok');
    }

    // the same sweep as a Kubernetes Indexed Job runs it: 3 pods, each told its index by JOB_COMPLETION_INDEX
    const shards = await Promise.all(
      [0, 1, 2].map(
        (k) =>
          new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
            const child = spawn(
              'node',
              [bin, 'sweep', config, '-o', path.join(tmp, `shard-${k}`), '--shards', '3', '--json', '--no-cache', '--allow-failures'],
              {
                env: { ...process.env, JOB_COMPLETION_INDEX: String(k) },
              },
            );
            let out = '';
            let err = '';
            child.stdout.on('data', (d) => (out += d));
            child.stderr.on('data', (d) => (err += d));
            child.on('close', (code) => resolve({ code, out, err }));
          }),
      ),
    );
    const shardJobs = shards.map((s) => {
      expect(s.err).toBe('');
      expect(s.code).toBe(0); // --allow-failures
      return (JSON.parse(s.out) as SweepSummary).jobs;
    });
    expect(shardJobs.map((j) => j.length)).toEqual([4, 4, 4]);
    const ids = shardJobs.flat().map((j) => j.id);
    expect(new Set(ids).size).toBe(12); // disjoint, and together every job

    const html = path.join(tmp, 'merged.html');
    const md = path.join(tmp, 'merged.md');
    const merged = await cli(['report', 'merge', 'shard-0', 'shard-1', 'shard-2', '--json', '--html', html, '--markdown', md]);
    expect(merged.err).toBe('');
    expect(merged.code).toBe(1);
    const report = JSON.parse(merged.out) as SweepReport;
    expect(report.jobs.map((j) => j.id).sort()).toEqual(summary.jobs.map((j) => j.id).sort());
    expect(verdicts(report.jobs)).toEqual(verdicts(summary.jobs));
    // every model with a passing job has a best recipe, and it passed; the best is on the Pareto front's side of
    // the gates: no passing job of the same model is faster
    for (const m of report.models) {
      const mine = report.jobs.filter((j) => j.model === m.model);
      const passing = mine.filter((j) => j.verdict === 'pass');
      expect(m.best === null).toBe(passing.length === 0);
      if (m.best) {
        const best = mine.find((j) => j.recipe === m.best)!;
        for (const p of passing) expect(best.metrics.latencyRatio!).toBeLessThanOrEqual(p.metrics.latencyRatio!);
      }
      expect(m.front.length).toBeGreaterThan(0);
    }
    expect(fs.readFileSync(html, 'utf8')).toMatch(/<svg id="pareto"/);
    expect(fs.readFileSync(md, 'utf8')).toMatch(/Best recipe per model/);

    // a merged table names every job; merging one folder twice keeps each job once
    const twice = await cli(['report', 'merge', 'shard-0', 'shard-0', '--json', '--allow-failures']);
    expect(twice.code).toBe(0);
    expect((JSON.parse(twice.out) as SweepReport).jobs).toHaveLength(4);
  }, 180_000);
});

describe('autoglm sweep: resume and cache', () => {
  const config = writeConfig('sweep-2x3.json', {
    models: MODELS.slice(0, 2),
    recipes: RECIPES.slice(0, 3),
    dims: { batch: 1, sequence: 16 },
    bench: BENCH,
  });

  it('survives SIGKILL mid-run: the rerun loses no job, does none twice, and no result file is partial', async () => {
    const out = path.join(tmp, 'killed');
    const cache = path.join(tmp, 'kill-cache');
    const child = spawn('node', [bin, 'sweep', config, '-o', out, '--cache-dir', cache, '--json'], { stdio: 'ignore' });
    // kill it once two jobs are finished and a third has started
    const killedAt = await new Promise<number>((resolve, reject) => {
      const t = setInterval(() => {
        let ev: JournalEvent[] = [];
        try {
          ev = journal(out);
        } catch {
          return;
        }
        const done = ev.filter((e) => e.event === 'done').length;
        const started = ev.filter((e) => e.event === 'start').length;
        if (done >= 2 && started > done) {
          clearInterval(t);
          child.kill('SIGKILL');
          resolve(done);
        }
      }, 20);
      child.on('exit', (code) => {
        clearInterval(t);
        if (code !== null) reject(new Error(`the sweep finished (exit ${code}) before it could be killed`));
      });
    });
    await new Promise((r) => child.on('close', r));
    const jobsDir = path.join(out, 'jobs');
    const before = fs.readdirSync(jobsDir).filter((n) => n.endsWith('.json'));
    expect(before.length).toBeGreaterThanOrEqual(killedAt);
    expect(before.length).toBeLessThan(6);
    // started but without a result: what the rerun must call interrupted (the job that was running when killed)
    const startedNotFinished = new Set(
      journal(out)
        .filter((e) => e.event === 'start')
        .map((e) => e.job),
    );
    for (const n of before) startedNotFinished.delete(n.replace(/\.json$/, ''));
    expect(startedNotFinished.size).toBe(1);
    const finishedBefore = new Map(before.map((n) => [n, (JSON.parse(fs.readFileSync(path.join(jobsDir, n), 'utf8')) as JobResult).finishedAt]));

    const rerun = await cli(['sweep', config, '-o', 'killed', '--cache-dir', 'kill-cache', '--json']);
    expect(rerun.err).toBe('');
    const s = JSON.parse(rerun.out) as SweepSummary;
    expect(s.counts.total).toBe(6);
    expect(s.jobs).toHaveLength(6);
    expect(s.counts.resumed).toBe(before.length);
    expect(s.counts.ran).toBe(6 - before.length);
    expect(s.counts.interrupted).toBe(startedNotFinished.size);
    // the finished jobs were not done again: their result files are untouched
    for (const [n, at] of finishedBefore) expect((JSON.parse(fs.readFileSync(path.join(jobsDir, n), 'utf8')) as JobResult).finishedAt).toBe(at);
    // every job finished exactly once in the journal
    const done = journal(out).filter((e) => e.event === 'done');
    expect(done.map((e) => e.job).sort()).toEqual(s.jobs.map((j) => j.id).sort());
    // whole result files only, no temporary left
    const names = fs.readdirSync(jobsDir);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    for (const n of names) expect((JSON.parse(fs.readFileSync(path.join(jobsDir, n), 'utf8')) as JobResult).kind).toBe('autoglm-sweep-job');

    // a third run has nothing to do
    const third = JSON.parse((await cli(['sweep', config, '-o', 'killed', '--cache-dir', 'kill-cache', '--json'])).out) as SweepSummary;
    expect(third.counts.ran).toBe(0);
    expect(third.counts.resumed).toBe(6);
  }, 120_000);

  it('a second sweep hits the cache for every optimize step, and its optimize steps are faster', async () => {
    const first = await cli(['sweep', config, '-o', 'cache-a', '--cache-dir', 'shared-cache', '--json']);
    const a = JSON.parse(first.out) as SweepSummary;
    expect(a.cache).toMatchObject({ hits: 0, misses: 6 });
    const second = await cli(['sweep', config, '-o', 'cache-b', '--cache-dir', 'shared-cache', '--json', '--jobs', '2']);
    const b = JSON.parse(second.out) as SweepSummary;
    expect(b.cache).toMatchObject({ hits: 6, misses: 0 });
    expect(b.jobs.every((j) => j.cache === 'hit')).toBe(true);
    expect(verdicts(b.jobs)).toEqual(verdicts(a.jobs));
    const optimizeMs = (s: SweepSummary) => s.jobs.reduce((t, j) => t + (JSON.parse(fs.readFileSync(j.file, 'utf8')) as JobResult).optimize.ms, 0);
    expect(optimizeMs(b)).toBeLessThan(optimizeMs(a) / 2);
    // the table says so too
    const table = await cli(['report', 'merge', 'cache-b', '--allow-failures']);
    expect(table.out).toMatch(/optimize cache 6 hit\(s\), 0 miss\(es\)/);
  }, 120_000);
});

describe('autoglm sweep --init and usage errors', () => {
  it('--init prints a config that runs', async () => {
    const init = await cli(['sweep', '--init', path.join(root, 'fixtures/cnn-small.onnx')]);
    expect(init.code).toBe(0);
    const doc = JSON.parse(init.out);
    expect(doc.models[0].dims).toEqual({ batch: 1 });
    doc.bench.runs = 3; // keep the test short; the rest as printed
    doc.bench.warmup = 1;
    const file = writeConfig('init.json', doc);
    const run = await cli(['sweep', file, '-o', 'init-out', '--json', '--allow-failures']);
    expect(run.err).toBe('');
    const s = JSON.parse(run.out) as SweepSummary;
    expect(s.counts.total).toBe(4);
    expect(s.counts.error).toBe(0);
    expect(s.jobs.every((j) => j.metrics.sizeRatio !== null || j.verdict === 'check-failed')).toBe(true);
  }, 60_000);

  it('a job that ends in an error says why, and a rerun tries it again (finished jobs stay finished)', async () => {
    const cfg = writeConfig('errors.json', {
      models: [MODELS[1]],
      // bf16 inputs cannot be given the original's float32 values: the bench refuses the pair
      recipes: [RECIPES[0], { name: 'bf16-io', quantize: { dtype: 'bf16' } }],
      bench: BENCH,
    });
    const first = await cli(['sweep', cfg, '-o', 'errors', '--json']);
    expect(first.code).toBe(1);
    const a = JSON.parse(first.out) as SweepSummary;
    const err = a.jobs.find((j) => j.recipe === 'bf16-io')!;
    expect(err.verdict).toBe('error');
    expect(err.message).toMatch(/bfloat16/);
    expect(a.counts.error).toBe(1);
    const b = JSON.parse((await cli(['sweep', cfg, '-o', 'errors', '--json'])).out) as SweepSummary;
    expect(b.jobs.map((j) => [j.recipe, j.ran, j.verdict])).toEqual([
      ['fused', false, a.jobs[0]!.verdict],
      ['bf16-io', true, 'error'],
    ]);
  }, 60_000);

  it('refuses bad input with one line and exit 2', async () => {
    const bad = writeConfig('bad.json', { models: MODELS.slice(0, 1), recipes: [{ name: 'x', passes: ['no-such-pass'] }] });
    const cases: [string[], RegExp][] = [
      [['sweep', bad, '-o', 'x'], /no-such-pass/],
      [['sweep', writeConfig('bad2.json', { models: ['nothing-*.onnx'], recipes: RECIPES }), '-o', 'x'], /matches no file/],
      [['sweep', writeConfig('bad3.json', { models: MODELS.slice(0, 1), recipes: [RECIPES[0], RECIPES[0]] }), '-o', 'x'], /two recipes are named 'fused'/],
      [['sweep', writeConfig('bad4.json', { models: MODELS.slice(0, 1), recipes: RECIPES, bench: { gatez: [] } }), '-o', 'x'], /unknown key bench.gatez/],
      [['sweep', path.join(tmp, 'sweep-2x3.json')], /needs -o/],
      [['sweep', path.join(tmp, 'sweep-2x3.json'), '-o', 'x', '--shard', '3/3'], /shard index must be in 0..2/],
      [['sweep', path.join(tmp, 'sweep-2x3.json'), '-o', 'x', '--shard', '0/2', '--shards', '2'], /not both/],
      [['sweep', path.join(tmp, 'sweep-2x3.json'), '--emit', 'k8s'], /needs --shards/],
      [['report', 'merge', 'no-such-folder'], /no such folder/],
    ];
    // hostile files where the sweep expects a config or a model
    fs.writeFileSync(path.join(tmp, 'random.onnx'), Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 151 + 7) % 256)));
    cases.push([['sweep', writeConfig('bad5.json', { models: ['random.onnx'], recipes: RECIPES }), '-o', 'x'], /random.onnx/]);
    cases.push([['sweep', path.join(root, 'fixtures/cnn-small.onnx'), '-o', 'x'], /not valid JSON/]);
    cases.push([['sweep', tmp, '-o', 'x'], /cannot read/]);
    for (const [args, re] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.err).toMatch(re);
    }
  });

  it('--shards without JOB_COMPLETION_INDEX says where the index comes from', () => {
    const env = { ...process.env };
    delete env.JOB_COMPLETION_INDEX;
    const r = spawnSync('node', [bin, 'sweep', path.join(tmp, 'sweep-2x3.json'), '-o', path.join(tmp, 'y'), '--shards', '2'], { encoding: 'utf8', env });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/JOB_COMPLETION_INDEX.*not set/);
  });
});
