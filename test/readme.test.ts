/**
 * README.md cannot drift: every `autoglm` command in its shell blocks runs, as written, on the bundled fixtures. The
 * only substitution is the user's model: `model.onnx` is fixtures/bert-tiny.onnx, `cnn.onnx` the trained CNN,
 * `decoder.onnx` the trained character transformer; `inputs/` and `calib/` hold input sets for them, `fused.onnx` and `fp16.onnx`
 * (the bench example's candidates) are made by fuse and quantize first, and the README's JSON config block is
 * `autoglm.config.json`. Each command runs in a fresh folder. A command passes when it exits 0, or 1 on a gate
 * verdict (a gate is about the model, the command itself ran); never 2 (usage) or an internal error.
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
};

interface Example {
  line: number;
  command: string;
  /** the output the README shows right after a `$ ` command, if any */
  shown?: string;
}

/** The `autoglm` commands of the README's shell blocks (```sh or plain ```), continuation lines joined. */
function readmeCommands(text: string): Example[] {
  const out: Example[] = [];
  const lines = text.split('\n');
  let lang: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]!);
    if (fence) {
      lang = lang === null ? fence[1]! : null;
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
    out.push({ line: start + 1, command: cmd, shown });
  }
  return out;
}

/** Shell words: single and double quotes, "$VAR" from `env`. */
function words(cmd: string, env: Record<string, string>): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of cmd.matchAll(re)) {
    const w = m[1] ?? (m[2] ?? m[3]!).replace(/\$\{?(\w+)\}?/g, (_, v: string) => env[v] ?? '');
    out.push(w);
  }
  return out;
}

// each distinct command once (the demo is shown twice)
const examples = readmeCommands(readme).filter((e, i, all) => all.findIndex((o) => o.command === e.command) === i);
let base: string;

beforeAll(async () => {
  base = path.join(tmp, 'base');
  fs.mkdirSync(base);
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

  let n = 0;
  for (const ex of examples) {
    const id = ++n;
    it(`line ${ex.line}: ${ex.command}`, async () => {
      const dir = path.join(tmp, `run-${id}`);
      fs.cpSync(base, dir, { recursive: true });
      const summary = path.join(dir, 'step-summary.md');
      fs.writeFileSync(summary, '');
      const [cmdPart, jq] = ex.command.split(/\s*\|\s*jq\s+/);
      const argv = words(cmdPart!, { GITHUB_STEP_SUMMARY: summary })
        .slice(1)
        .map((w) => (w.startsWith('fixtures/') ? path.join(root, w) : w));
      // a fresh folder: what the command writes does not exist yet
      const o = argv.findIndex((w) => w === '-o' || w === '--output');
      if (o >= 0) fs.rmSync(path.join(dir, argv[o + 1]!), { force: true });
      const io = captureIO(dir);
      process.env.GITHUB_STEP_SUMMARY = summary;
      let code: number;
      try {
        code = await main(argv, io);
      } finally {
        delete process.env.GITHUB_STEP_SUMMARY;
      }
      const gateVerdict = code === 1 && /gate/.test(io.stderr()) && !/self-check|internal error/.test(io.stderr());
      expect(code === 0 || gateVerdict, `exit ${code}: ${io.stderr()}`).toBe(true);
      if (jq) {
        const value = jq
          .trim()
          .replace(/^\./, '')
          .split('.')
          .reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], JSON.parse(io.stdout()));
        expect(value).toBeDefined();
        if (ex.shown) expect(String(value)).toBe(ex.shown);
      }
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
