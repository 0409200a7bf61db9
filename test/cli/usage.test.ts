/**
 * What a new user hits when something is wrong: one clear line on stderr, the right exit code, nothing else on the
 * terminal (onnxruntime's own log lines included), nothing written that was not asked for.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';

const root = path.resolve(__dirname, '../..');
const entry = path.join(root, 'test/helpers/cli-entry.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-usage-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const GPT2 = path.join(root, 'fixtures/torch/gpt2-tiny-op14.onnx');
const BERT = path.join(root, 'fixtures/bert-tiny.onnx');
const FAST = ['--runs', '2', '--warmup', '0', '--session-repeats', '1'];

async function cli(argv: string[]) {
  const io = captureIO(tmp);
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('cli usage errors', () => {
  it('--dim: an unknown name gets a did-you-mean, zero and negative sizes and sizes beyond the position table are usage errors (exit 2)', async () => {
    const cases: [string, RegExp][] = [
      ['seqence=32', /no dimension 'seqence' \(did you mean 'sequence'\?\)/],
      ['sequence=0', /--dim sequence=0: a size must be a positive integer/],
      ['sequence=-4', /--dim sequence=-4: a size must be a positive integer/],
      ['sequence=128', /--dim sequence=128: beyond what the model allows: the table 'wpe.weight' has 64 rows, so sequence <= 64/],
    ];
    for (const [dim, msg] of cases) {
      const r = await cli(['bench', GPT2, '-b', GPT2, '--dim', 'batch=1', '--dim', dim, ...FAST]);
      expect(r.code, dim).toBe(2);
      expect(r.err.trimEnd().split('\n'), r.err).toHaveLength(1);
      expect(r.err).toMatch(msg);
      expect(r.err).toContain("(see 'autoglm bench --help')");
    }
  });

  it("onnxruntime's own log lines never reach the terminal beside autoglm's one-line error", () => {
    const bad = path.join(tmp, 'bad-ids.json');
    fs.writeFileSync(
      bad,
      JSON.stringify({ input_ids: { dims: [1, 2], dtype: 'int64', data: [1000, 1] }, attention_mask: { dims: [1, 2], dtype: 'int64', data: [1, 1] } }),
    );
    const r = spawnSync('node', ['--import', 'tsx', entry, 'bench', GPT2, '-b', GPT2, '--inputs', bad, ...FAST], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).not.toContain('onnxruntime:');
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('autoglm:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/indices element out of data bounds, idx=1000/);
  }, 60_000);

  it('says that a Git LFS pointer is one (exit 2)', async () => {
    const p = path.join(tmp, 'model.onnx');
    fs.writeFileSync(
      p,
      'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n',
    );
    const r = await cli(['inspect', p]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/model\.onnx: is a Git LFS pointer, not the model: run 'git lfs pull' \(in CI, check out with LFS/);
  });

  it("a gate threshold outside its metric's range is a usage error before anything runs", async () => {
    const r = await cli(['bench', BERT, '-b', BERT, '--dim', 'batch=1', '--dim', 'sequence=8', '--gate', 'graphF1 >= 95', ...FAST]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/graphF1 is between 0 and 1, so 95 is outside its range \(did you mean graphF1 >= 0.95 or 95%\?\)/);
  });

  it('--markdown/--junit/--html refuse to overwrite an existing file without --force, like model outputs; $GITHUB_STEP_SUMMARY is appended to', async () => {
    const junit = path.join(tmp, 'bench.xml');
    fs.writeFileSync(junit, 'keep me');
    const args = ['bench', BERT, '-b', BERT, '--dim', 'batch=1', '--dim', 'sequence=8', ...FAST];
    const refused = await cli([...args, '--junit', junit]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/--junit .*bench\.xml: the file exists; pass --force to overwrite it/);
    expect(fs.readFileSync(junit, 'utf8')).toBe('keep me');
    expect((await cli([...args, '--junit', junit, '--force'])).code).toBe(0);
    expect(fs.readFileSync(junit, 'utf8')).toMatch(/^<\?xml/);
    const summary = path.join(tmp, 'step-summary.md');
    fs.writeFileSync(summary, '# earlier step\n');
    process.env.GITHUB_STEP_SUMMARY = summary;
    try {
      expect((await cli([...args, '--markdown', summary])).code).toBe(0);
    } finally {
      delete process.env.GITHUB_STEP_SUMMARY;
    }
    expect(fs.readFileSync(summary, 'utf8')).toMatch(/^# earlier step\n## autoglm bench\n/);
  }, 60_000);

  it('optimize --dry-run writes nothing and runs no bench, even with gates and reports asked for', async () => {
    const out = path.join(tmp, 'dry.onnx');
    const junit = path.join(tmp, 'dry.xml');
    const r = await cli(['optimize', BERT, '-o', out, '--dry-run', '--dim', 'batch=1', '--dim', 'sequence=8', '--gate', 'graphF1 >= 0.95', '--junit', junit]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('dry run: nothing written, no bench run');
    expect(r.out).not.toContain('latency');
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(junit)).toBe(false);
  }, 60_000);

  it('optimize writes --junit and --html reports (a bench without gates still gives a valid JUnit test case)', async () => {
    const out = path.join(tmp, 'opt.onnx');
    const junit = path.join(tmp, 'opt.xml');
    const html = path.join(tmp, 'opt.html');
    const r = await cli([
      'optimize',
      BERT,
      '-o',
      out,
      '--preset',
      'transformer',
      '--dim',
      'batch=1',
      '--dim',
      'sequence=8',
      '--runs',
      '2',
      '--warmup',
      '0',
      '--junit',
      junit,
      '--html',
      html,
    ]);
    expect(r.code, r.err).toBe(0);
    const xml = fs.readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuites name="autoglm bench" tests="1" failures="0" errors="0"/);
    expect(xml).toMatch(/<testcase classname="autoglm\.bench\.optimized" name="measured"/);
    expect(fs.readFileSync(html, 'utf8')).toMatch(/^<!doctype html>/i);
  }, 60_000);

  it('input data is --inputs in every command, --calibration still accepted as its old name', async () => {
    for (const c of ['bench', 'prune', 'quantize', 'optimize']) {
      const h = await cli([c, '--help']);
      expect(h.out, c).toMatch(/--inputs <path>/);
      expect(h.out, c).not.toMatch(/^\s+--calibration </m);
    }
    const file = path.join(tmp, 'bert-inputs.json');
    const ids = { dims: [1, 4], dtype: 'int64' };
    fs.writeFileSync(
      file,
      JSON.stringify({
        input_ids: { ...ids, data: [1, 2, 3, 4] },
        attention_mask: { ...ids, data: [1, 1, 1, 1] },
        token_type_ids: { ...ids, data: [0, 0, 0, 0] },
      }),
    );
    for (const flag of ['--inputs', '--calibration']) {
      const r = await cli(['quantize', BERT, '-o', path.join(tmp, `q${flag}.onnx`), '--dtype', 'fp16', '--compare', flag, file, '--json']);
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out).compare ?? JSON.parse(r.out)).toBeTruthy();
    }
    const both = await cli([
      'quantize',
      BERT,
      '-o',
      path.join(tmp, 'q-both.onnx'),
      '--dtype',
      'fp16',
      '--compare',
      '--inputs',
      file,
      '--calibration',
      'x.json',
    ]);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--inputs and --calibration are the same option/);
  }, 60_000);
});
