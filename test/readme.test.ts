/**
 * README.md cannot drift: every `autoglm` command in its shell blocks runs, as written, on the bundled fixtures. The
 * only substitution is the user's model: `model.onnx` is fixtures/bert-tiny.onnx, `cnn.onnx` the trained CNN,
 * `decoder.onnx` the trained character transformer, `gpt2-past.onnx` the KV-cache decoder export
 * (fixtures/torch/gpt2-past-tiny.onnx); `inputs/` and `calib/` hold input sets for them, `models/` two small
 * fixtures (bert-tiny, cnn-small) for the sweep; the candidates the examples name (`fused.onnx`, `fp16.onnx`,
 * `int8.onnx`, `gpt2-past-int8.onnx`) are made by fuse and quantize first, and the README's JSON config block is
 * `autoglm.config.json`. Words are split as a shell would for these lines: quotes, "$VAR", a glob such as
 * `models/*.onnx` (expanded in the run folder), `> file` (stdout written to that file in the run folder), and an
 * absolute path outside the project (`/var/lib/node_exporter/autoglm.prom`) is taken inside the run folder.
 * Each command runs in a fresh folder, except in a block whose commands depend on each other (one reads what an
 * earlier one writes with `-o` or `> file`: the sweep block's init, sweep, shards and `report merge`): those run in
 * order in ONE folder, as one test. A command passes when it exits 0, or 1 on a gate verdict (a gate is about the
 * model, the command itself ran); never 2 (usage) or an internal error.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { captureIO } from '../src/cli/ui/io.js';
import { encodeNpy } from '../src/inputs/tensor-files.js';
import { DataType } from '../src/ir/dtype.js';
import { Tensor } from '../src/ir/tensor.js';

const root = path.resolve(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-readme-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const MODELS: Record<string, string> = {
  'model.onnx': 'fixtures/bert-tiny.onnx',
  'cnn.onnx': 'fixtures/torch/cnn-trained.onnx',
  'decoder.onnx': 'fixtures/torch/char-tf-a.onnx',
  'gpt2-past.onnx': 'fixtures/torch/gpt2-past-tiny.onnx',
  'models/bert-tiny.onnx': 'fixtures/bert-tiny.onnx',
  'models/cnn-small.onnx': 'fixtures/cnn-small.onnx',
};

interface Example {
  line: number;
  /** which fenced block it is in */
  block: number;
  command: string;
  /** the output the README shows right after a `$ ` command, if any */
  shown?: string;
}

/** The `autoglm` commands of the README's shell blocks (```sh or plain ```), continuation lines joined. */
function readmeCommands(text: string): Example[] {
  const out: Example[] = [];
  const lines = text.split('\n');
  let lang: string | null = null;
  let block = 0;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]!);
    if (fence) {
      lang = lang === null ? fence[1]! : null;
      if (lang !== null) block++;
      continue;
    }
    if (lang === null || (lang !== '' && lang !== 'sh')) continue;
    const m = /^(\$ )?(?:npm install && )?npx autoglm\b(.*)$/.exec(lines[i]!);
    if (!m) continue;
    const start = i;
    let cmd = `autoglm${m[2]}`;
    while (/\\\s*$/.test(cmd) && i + 1 < lines.length) cmd = cmd.replace(/\\\s*$/, ' ') + lines[++i]!.trim();
    cmd = cmd.replace(/\s+#.*$/, '').trim();
    const next = lines[i + 1];
    const shown = m[1] && next !== undefined && !next.startsWith('```') && next.trim() !== '' && !next.startsWith('$') ? next.trim() : undefined;
    out.push({ line: start + 1, block, command: cmd, shown });
  }
  return out;
}

/** Shell words: single and double quotes, "$VAR" from `env`, an unquoted glob (`*` in the last part) expanded in `cwd`. */
function words(cmd: string, env: Record<string, string>, cwd: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of cmd.matchAll(re)) {
    const w = m[1] ?? (m[2] ?? m[3]!).replace(/\$\{?(\w+)\}?/g, (_, v: string) => env[v] ?? '');
    if (m[3]?.includes('*')) {
      const dir = path.dirname(w);
      const pattern = new RegExp(
        `^${path
          .basename(w)
          .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')}$`,
      );
      const found = fs.existsSync(path.join(cwd, dir)) ? fs.readdirSync(path.join(cwd, dir)).filter((f) => pattern.test(f)) : [];
      // as sh does: no match leaves the word as written
      out.push(...(found.length ? found.sort().map((f) => path.join(dir, f)) : [w]));
    } else if (m[3] && path.isAbsolute(w) && !w.startsWith(root)) {
      // an absolute path the README names for the user's machine: inside the run folder here
      const inside = path.join(cwd, w);
      fs.mkdirSync(path.dirname(inside), { recursive: true });
      out.push(inside);
    } else out.push(w);
  }
  return out;
}

/** What a command writes: the word after `-o`/`--output` and after `>`. */
const writes = (cmd: string): string[] => [...cmd.matchAll(/(?:^|\s)(?:-o|--output|>)\s+(\S+)/g)].map((m) => m[1]!);

// each distinct command once (the demo is shown twice)
const examples = readmeCommands(readme).filter((e, i, all) => all.findIndex((o) => o.command === e.command) === i);
/** The blocks whose commands depend on each other: one names what an earlier one of the block writes. */
const sequential = new Set(
  examples
    .filter((e, i) => {
      const earlier = examples.slice(0, i).filter((o) => o.block === e.block);
      const written = new Set(earlier.flatMap((o) => writes(o.command)));
      return e.command.split(/\s+/).some((w) => written.has(w) && !writes(e.command).includes(w));
    })
    .map((e) => e.block),
);
let base: string;

beforeAll(async () => {
  base = path.join(tmp, 'base');
  fs.mkdirSync(base);
  fs.mkdirSync(path.join(base, 'models'));
  for (const [name, fixture] of Object.entries(MODELS)) fs.copyFileSync(path.join(root, fixture), path.join(base, name));
  // inputs/: two input sets for model.onnx; calib/: 64 of the CNN's calibration images
  const ids = (seed: number) => Array.from({ length: 32 }, (_, k) => (seed * 7 + k * 13) % 100);
  for (const s of [0, 1]) {
    fs.mkdirSync(path.join(base, `inputs/set_${s}`), { recursive: true });
    const t = (v: number[]) => ({ dims: [1, 32], dtype: 'int64', data: v });
    fs.writeFileSync(
      path.join(base, `inputs/set_${s}/inputs.json`),
      JSON.stringify({ input_ids: t(ids(s)), attention_mask: t(ids(s).map(() => 1)), token_type_ids: t(ids(s).map(() => 0)) }),
    );
  }
  fs.mkdirSync(path.join(base, 'calib'));
  const px = new Float32Array(fs.readFileSync(path.join(root, 'fixtures/torch/cnn-calib.bin')).buffer.slice(0, 64 * 4096));
  fs.writeFileSync(path.join(base, 'calib/pixel_values.npy'), encodeNpy(Tensor.fromArray(DataType.FLOAT, [64, 1, 32, 32], px, 'pixel_values')));
  const config = /```json\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('### `autoglm optimize`')))![1]!;
  fs.writeFileSync(path.join(base, 'autoglm.config.json'), config);
  for (const argv of [
    ['fuse', 'model.onnx', '-o', 'fused.onnx'],
    ['quantize', 'model.onnx', '-o', 'fp16.onnx', '--dtype', 'fp16'],
    ['quantize', 'model.onnx', '-o', 'int8.onnx', '--dtype', 'int8'],
    ['quantize', 'gpt2-past.onnx', '-o', 'gpt2-past-int8.onnx', '--dtype', 'int8'],
  ]) {
    const io = captureIO(base);
    expect(await main(argv, io), io.stderr()).toBe(0);
  }
}, 120_000);

describe('README.md', () => {
  it('has the commands this test runs (the extraction itself works)', () => {
    const cmds = examples.map((e) => e.command.split(' ')[1]);
    for (const c of ['demo', 'inspect', 'fuse', 'quantize', 'prune', 'optimize', 'bench']) expect(cmds, c).toContain(c);
    expect(examples.find((e) => e.command.startsWith('autoglm bench'))!.command).toMatch(/--html bench\.html$/);
  });

  it('runs the sweep block in sequence (its commands depend on each other) and no other block', () => {
    const blocks = [...sequential].map((b) => examples.filter((e) => e.block === b).map((e) => e.command.split(' ')[1]));
    expect(blocks).toEqual([['sweep', 'sweep', 'sweep', 'sweep', 'sweep', 'sweep', 'report']]);
  });

  /**
   * `sweep` and `report merge` exit 1 when a job failed a gate, with the verdicts in the table and the result files:
   * a gate verdict when every job's result (the `-o` folder's, or the merged folders') is `pass` or `fail` (a gate),
   * none `check-failed` or `error`.
   */
  function sweepGateVerdict(argv: string[], dir: string): boolean {
    const folders =
      argv[0] === 'sweep'
        ? [argv[argv.indexOf('-o') + 1]!]
        : argv[0] === 'report' && argv[1] === 'merge'
          ? argv.slice(2).filter((w, i, all) => !w.startsWith('-') && !all[i - 1]?.startsWith('--'))
          : [];
    const verdicts = folders.flatMap((f) => {
      const jobs = path.join(dir, f, 'jobs');
      if (!fs.existsSync(jobs)) return [];
      return fs
        .readdirSync(jobs)
        .filter((j) => j.endsWith('.json'))
        .map((j) => JSON.parse(fs.readFileSync(path.join(jobs, j), 'utf8')).verdict as string);
    });
    return verdicts.includes('fail') && verdicts.every((v) => v === 'pass' || v === 'fail');
  }

  /** Runs one README command in `dir` and checks its exit code (and a `| jq` value against what the README shows). */
  async function run(ex: Example, dir: string, fresh: boolean): Promise<void> {
    const summary = path.join(dir, 'step-summary.md');
    if (!fs.existsSync(summary)) fs.writeFileSync(summary, '');
    const [cmdPart, jq] = ex.command.split(/\s*\|\s*jq\s+/);
    let argv = words(cmdPart!, { GITHUB_STEP_SUMMARY: summary }, dir)
      .slice(1)
      .map((w) => (w.startsWith('fixtures/') ? path.join(root, w) : w));
    // `> file`: stdout goes to that file
    const gt = argv.indexOf('>');
    const redirect = gt >= 0 ? argv[gt + 1] : undefined;
    if (gt >= 0) argv = [...argv.slice(0, gt), ...argv.slice(gt + 2)];
    // a fresh folder: what the command writes does not exist yet
    const o = argv.findIndex((w) => w === '-o' || w === '--output');
    if (fresh && o >= 0) fs.rmSync(path.join(dir, argv[o + 1]!), { force: true, recursive: true });
    const io = captureIO(dir);
    process.env.GITHUB_STEP_SUMMARY = summary;
    let code: number;
    try {
      code = await main(argv, io);
    } finally {
      delete process.env.GITHUB_STEP_SUMMARY;
    }
    const gateVerdict =
      code === 1 && ((/gate/.test(io.stderr()) && !/self-check|internal error/.test(io.stderr())) || (io.stderr() === '' && sweepGateVerdict(argv, dir)));
    expect(code === 0 || gateVerdict, `line ${ex.line}: exit ${code}: ${io.stderr()}`).toBe(true);
    if (redirect) {
      expect(io.stdout().length, `line ${ex.line}: nothing on stdout for ${redirect}`).toBeGreaterThan(0);
      fs.writeFileSync(path.join(dir, redirect), io.stdout());
    }
    if (jq) {
      const value = jq
        .trim()
        .replace(/^\./, '')
        .split('.')
        .reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], JSON.parse(io.stdout()));
      expect(value).toBeDefined();
      if (ex.shown) expect(String(value)).toBe(ex.shown);
    }
  }

  let n = 0;
  for (const ex of examples) {
    const id = ++n;
    if (sequential.has(ex.block)) continue;
    it(`line ${ex.line}: ${ex.command}`, async () => {
      if (/--format svg/.test(ex.command) && spawnSync('dot', ['-V']).status !== 0)
        return console.warn(`README line ${ex.line} skipped: --format svg needs Graphviz's dot (apt-get install graphviz)`);
      const dir = path.join(tmp, `run-${id}`);
      fs.cpSync(base, dir, { recursive: true });
      await run(ex, dir, true);
    }, 240_000);
  }

  for (const block of sequential) {
    const cmds = examples.filter((e) => e.block === block);
    it(`lines ${cmds[0]!.line}-${cmds.at(-1)!.line}, in sequence in one folder: ${cmds.map((e) => e.command.split(' ').slice(1, 3).join(' ')).join('; ')}`, async () => {
      const dir = path.join(tmp, `block-${block}`);
      fs.cpSync(base, dir, { recursive: true });
      for (const ex of cmds) await run(ex, dir, false);
      // what the block promises: a config naming both models, every job run once over the shards, a merged report
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8'));
      expect(config.models.map((m: { path: string }) => m.path)).toEqual(['models/bert-tiny.onnx', 'models/cnn-small.onnx']);
      const jobs = (d: string) => (fs.existsSync(path.join(dir, d, 'jobs')) ? fs.readdirSync(path.join(dir, d, 'jobs')) : []);
      const all = jobs('results').sort();
      expect(all.length).toBe(config.models.length * config.recipes.length);
      expect([...jobs('shard-0'), ...jobs('shard-1'), ...jobs('shard-2')].sort()).toEqual(all);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'job.json'), 'utf8')).kind).toBe('Job');
      expect(fs.readFileSync(path.join(dir, 'report.html'), 'utf8')).toMatch(/<svg/);
      expect(fs.readFileSync(path.join(dir, 'report.md'), 'utf8')).toMatch(/bert-tiny/);
    }, 240_000);
  }

  it('the Library example runs as written (imports from the package, model.onnx the bundled BERT)', () => {
    const block = /## Library\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(block).toMatch(/from 'autoglm'/);
    const dir = path.join(tmp, 'library');
    fs.cpSync(base, dir, { recursive: true });
    const file = path.join(dir, 'example.mts');
    fs.writeFileSync(file, block.replace("from 'autoglm'", `from ${JSON.stringify(path.join(root, 'src/index.ts'))}`));
    const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const r = spawnSync('node', ['--import', tsx, file], { cwd: dir, encoding: 'utf8', timeout: 200_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+\ngates passed\n$/);
    expect(fs.existsSync(path.join(dir, 'model.opt.onnx'))).toBe(true);
  }, 240_000);
});
