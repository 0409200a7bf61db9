/**
 * `autoglm quantize --dtype int8|int4`, run in-process in a temporary folder. Every model a case writes is loaded
 * again, run in onnxruntime-node against the float model on fresh seeded inputs and held to the command's stated
 * tolerance (cosine >= 0.99 for int8, >= 0.98 for int4).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import type { IntQuantizeResult } from '../../src/cli/commands/quantize-int.js';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { compareModels } from '../../src/measure/compare-models.js';
import { loadModel } from '../../src/onnx/io.js';
import type { Feeds } from '../../src/runtime/session.js';

const fixtures = path.resolve(__dirname, '../../fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-cli-quantize-int-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const bert = path.join(fixtures, 'bert-tiny.onnx');
const charTf = path.join(fixtures, 'torch/char-tf-a.onnx');

let dirCount = 0;
function workdir(): string {
  const d = path.join(tmp, `case${dirCount++}`);
  fs.mkdirSync(d);
  return d;
}

async function cli(argv: string[], cwd: string): Promise<{ code: number; out: string; err: string; info: string }> {
  const io = captureIO(cwd);
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr(), info: io.infoText() };
}

const ops = (file: string) => [...loadModel(file).allNodes()].map((n) => n.opType);

/** The written model runs in onnxruntime-node and matches the float one on fresh inputs within `minCosine`. */
async function expectClose(original: string, written: string, minCosine: number, feeds?: Feeds[]) {
  const ref = loadModel(original);
  const f = feeds ?? synthesizeInputs(ref, { dims: { batch: 2, sequence: 24 }, seed: 77, count: 2 });
  const fid = await compareModels(ref, loadModel(written), f);
  for (const o of fid) {
    expect(o.error).toBeNull();
    expect(o.nonFinite).toBe(0);
    expect(o.cosine!).toBeGreaterThanOrEqual(minCosine);
  }
  return fid;
}

/** A float32 .npy file (version 1.0, C order). */
function writeNpy(file: string, data: Float32Array, shape: number[]): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

describe('autoglm quantize --dtype int8 (dynamic)', () => {
  it('BERT: MatMuls become DynamicQuantizeMatMul, a table, a passed self-check, a model that runs and matches', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', bert, '-o', 'b8.onnx', '--dtype', 'int8'], cwd);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^quantize {3}.*bert-tiny\.onnx -> b8\.onnx {2}\(int8 dynamic, per-channel\)$/m);
    expect(r.out).toMatch(/^cpu {8}int8 weights/m);
    expect(r.out).toMatch(/^result {5}14 node\(s\) quantized to int8/m);
    expect(r.out).toMatch(/^weights {4}14 tensor\(s\), 68\.3 KiB -> 18\.9 KiB/m);
    expect(r.out).toMatch(/^DynamicQuantizeMatMul +MatMul +14$/m);
    expect(r.out).toMatch(/^skipped {4}4 node\(s\): 4 weight-not-constant \(--explain lists them\)$/m);
    expect(r.out).toMatch(/^logits +0\.99\d+ .* ok$/m);
    expect(r.out).toMatch(/^check {6}passed \(cosine >= 0\.99\) on 2 synthesized input set\(s\) \(batch=1, sequence=32\)$/m);
    const out = path.join(cwd, 'b8.onnx');
    expect(ops(out).filter((o) => o === 'DynamicQuantizeMatMul')).toHaveLength(14);
    await expectClose(bert, out, 0.99);
  });

  it('--json: a stable object (schema 1) with weight bytes, file sizes and the check; --per-tensor', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', bert, '-o', 'b8.onnx', '--dtype', 'int8', '--per-tensor', '--json'], cwd);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as IntQuantizeResult;
    expect(Object.keys(j)).toEqual([
      'schema',
      'dtype',
      'mode',
      'modeReason',
      'input',
      'output',
      'written',
      'cpu',
      'report',
      'check',
      'guided',
      'dims',
      'files',
      'timings',
      'warnings',
    ]);
    expect(j).toMatchObject({ schema: 1, dtype: 'int8', mode: 'dynamic', written: true, guided: null });
    expect(j.report.settings.perChannel).toBe(false);
    expect(j.report.totals).toMatchObject({ nodesQuantized: 14, bytesBefore: 69_888 });
    expect(j.report.totals.bytesAfter).toBeLessThan(j.report.totals.bytesBefore / 3.5);
    expect(j.files.output).toBe(fs.statSync(path.join(cwd, 'b8.onnx')).size);
    expect(j.check!.passed).toBe(true);
    expect(j.check!.outputs.map((o) => o.name)).toEqual(['last_hidden_state', 'logits']);
    await expectClose(bert, path.join(cwd, 'b8.onnx'), 0.99);
  });

  it('--explain prints the CPU decision with its reason, every skipped node and the settings', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', bert, '-o', 'e.onnx', '--dtype', 'int8', '--explain', '--exclude', '/pooler/dense/MatMul,nope'], cwd);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^cpu {8}int8 weights(, full range|, reduce_range \(7-bit\)): (this CPU|CPU flags|\w+:)/m);
    expect(r.out).toMatch(/^\/encoder\/layer\.0\/attention\/self\/MatMul +MatMul +main +weight-not-constant +input B .* is computed by Transpose$/m);
    expect(r.out).toMatch(/^\/pooler\/dense\/MatMul +MatMul +main +excluded +\/pooler\/dense\/MatMul is on the exclude list$/m);
    expect(r.out).toMatch(/^settings {3}\{"perChannel":true/m);
    expect(r.out).toMatch(/warning: --exclude: no node named nope/);
    expect(ops(path.join(cwd, 'e.onnx')).filter((o) => o === 'MatMul')).toHaveLength(5);
  });

  it('--no-check writes without running anything and says so', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', bert, '-o', 'n.onnx', '--dtype', 'int8', '--no-check'], cwd);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^check {6}skipped \(--no-check\)/m);
    await expectClose(bert, path.join(cwd, 'n.onnx'), 0.99);
  });

  it('a failed self-check exits 1, names the output and writes nothing', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', bert, '-o', 'f.onnx', '--dtype', 'int8', '--min-cosine', '0.9999999', '--tolerance', '1e-4'], cwd);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^check {6}FAILED \(cosine >= 0\.9999999, range error <= 0\.0001\) .*: nothing written to f\.onnx$/m);
    expect(r.out).toMatch(/^logits .* FAIL$/m);
    expect(r.err).toMatch(/^autoglm: self-check failed \(last_hidden_state: cosine 0\.99\d+ < 0\.9999999; .*\); nothing written to f\.onnx\. Try --mixed/m);
    // the worst output and the first node whose value is beyond the same tolerance (a quantized MatMul of layer 0)
    expect(r.err).toMatch(/; worst output: (logits|last_hidden_state|pooler_output); the divergence first appears at node \S+ \(\w+\), value \S+: cosine/);
    expect(fs.existsSync(path.join(cwd, 'f.onnx'))).toBe(false);
  });

  it('--mixed keeps the most sensitive layers float until within the tolerance, and says what each cost', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', charTf, '-o', 'm.onnx', '--dtype', 'int8', '--mixed', '--min-cosine', '0.99999', '--json'], cwd);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as IntQuantizeResult;
    const g = j.guided!;
    expect(g.cosineAllQuantized).toBeLessThan(0.99999);
    expect(g.within).toBe(true);
    expect(g.cosine).toBeGreaterThanOrEqual(0.99999);
    expect(g.kept.length).toBeGreaterThan(0);
    expect(g.kept.length).toBeLessThan(g.candidates);
    expect(g.evaluations).toBeLessThanOrEqual(g.maxEvaluations);
    for (const k of g.kept) expect(k.bytesCost).toBeGreaterThan(0);
    const keptNames = g.kept.flatMap((k) => k.nodes);
    expect(
      j.report.skipped
        .filter((s) => s.reason === 'excluded')
        .map((s) => s.name)
        .sort(),
    ).toEqual([...keptNames].sort());
    expect(j.check!.passed).toBe(true);
    await expectClose(charTf, path.join(cwd, 'm.onnx'), 0.9999);
  });
});

describe('autoglm quantize --dtype int4', () => {
  it('MatMulNBits with the chosen block size; --weights-only is accepted; runs and matches within 0.98', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', charTf, '-o', 'c4.onnx', '--dtype', 'int4', '--weights-only', '--block-size', '64', '--accuracy-level', '0'], cwd);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\(int4 weights-only, block 64, accuracy level 0\)/);
    expect(r.out).toMatch(/^MatMulNBits\(block 64\) +MatMul +13$/m);
    expect(r.out).toMatch(/^check {6}passed \(cosine >= 0\.98\)/m);
    const m = loadModel(path.join(cwd, 'c4.onnx'));
    const nb = [...m.allNodes()].filter((n) => n.opType === 'MatMulNBits');
    expect(nb.every((n) => n.getInt('block_size', 0) === 64 && n.getInt('accuracy_level', -1) === 0)).toBe(true);
    await expectClose(charTf, path.join(cwd, 'c4.onnx'), 0.98);
  });
});

describe('autoglm quantize --dtype int8 --static', () => {
  it('a CNN gets static QDQ by itself, with a warning that synthesized calibration is no substitute for real data', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', path.join(fixtures, 'cnn-small.onnx'), '-o', 's.onnx', '--dtype', 'int8', '--dim', 'batch=2'], cwd);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mode {7}6 Conv and 1 MatMul\/Gemm weight\(s\): a CNN, so static QDQ/m);
    expect(r.out).toMatch(/^QDQ +Conv, Gemm +7$/m);
    expect(r.out).toMatch(/warning: static int8 calibrated on 8 synthesized input sets .* pass --inputs/);
    await expectClose(
      path.join(fixtures, 'cnn-small.onnx'),
      path.join(cwd, 's.onnx'),
      0.99,
      synthesizeInputs(loadModel(path.join(fixtures, 'cnn-small.onnx')), { dims: { batch: 2 }, seed: 5, count: 2 }),
    );
  });

  it('the trained CNN calibrated on its calibration images keeps top-1 on its distinct test images (--method percentile)', async () => {
    const cwd = workdir();
    const read = (name: string, n: number) => new Float32Array(fs.readFileSync(path.join(fixtures, `torch/${name}.bin`)).buffer.slice(0, n * 4096));
    fs.mkdirSync(path.join(cwd, 'calib'));
    writeNpy(path.join(cwd, 'calib/pixel_values.npy'), read('cnn-calib', 64), [64, 1, 32, 32]);
    const cnn = path.join(fixtures, 'torch/cnn-trained.onnx');
    const r = await cli(['quantize', cnn, '-o', 'q.onnx', '--dtype', 'int8', '--static', '--calibration', 'calib', '--method', 'percentile', '--json'], cwd);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as IntQuantizeResult;
    expect(j).toMatchObject({ mode: 'static', modeReason: null, dims: null });
    expect(j.report.settings.method).toBe('percentile');
    expect(j.check!.inputs).toBe('calibration');
    const test = read('cnn-test', 200);
    const feeds = [{ pixel_values: new ort.Tensor('float32', test, [200, 1, 32, 32]) }];
    const [logits] = await expectClose(cnn, path.join(cwd, 'q.onnx'), 0.99, feeds);
    expect(logits.top1!).toBeGreaterThanOrEqual(0.98);
  });
});

describe('integer usage errors exit 2 with one clear sentence and write nothing', () => {
  const cases: [string, string[], RegExp][] = [
    ['int4 with --static', ['--dtype', 'int4', '--static'], /--static applies to int8: int4 is weights-only/],
    ['int4 with --per-tensor', ['--dtype', 'int4', '--per-tensor'], /--per-tensor applies to int8/],
    ['int8 with --weights-only', ['--dtype', 'int8', '--weights-only'], /--weights-only applies to fp16, bf16 and int4/],
    ['int8 with --block-size', ['--dtype', 'int8', '--block-size', '32'], /--block-size applies to --dtype int4/],
    ['a bad --block-size', ['--dtype', 'int4', '--block-size', '48'], /--block-size must be 32, 64 or 128, got '48'/],
    ['a bad --accuracy-level', ['--dtype', 'int4', '--accuracy-level', '7'], /--accuracy-level must be an integer from 0 to 4, got '7'/],
    ['--method without --static', ['--dtype', 'int8', '--method', 'minmax'], /--method applies to --static/],
    ['a bad --method', ['--dtype', 'int8', '--static', '--method', 'entropy'], /--method must be minmax or percentile, got 'entropy'/],
    ['--static with --mixed', ['--dtype', 'int8', '--static', '--mixed'], /--mixed applies to dynamic int8 and int4, not --static/],
    ['--mixed with --no-check', ['--dtype', 'int8', '--mixed', '--no-check'], /--mixed measures the outputs; it cannot be combined with --no-check/],
    ['--min-cosine with --no-check', ['--dtype', 'int8', '--min-cosine', '0.9', '--no-check'], /cannot be combined with --no-check/],
    ['a bad --min-cosine', ['--dtype', 'int8', '--min-cosine', '2'], /--min-cosine must be a number in \(-1, 1\], got '2'/],
    ['--calibration with --no-check', ['--dtype', 'int8', '--no-check', '--calibration', 'c.json'], /with --no-check they are unused/],
  ];
  it.each(cases)('%s', async (_label, args, message) => {
    const cwd = workdir();
    const r = await cli(['quantize', bert, '-o', 'x.onnx', ...args], cwd);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.out).toBe('');
    expect(fs.existsSync(path.join(cwd, 'x.onnx'))).toBe(false);
  });

  it('a model with nothing to quantize is refused, not copied', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', path.join(fixtures, 'cnn-small.onnx'), '-o', 'x.onnx', '--dtype', 'int4'], cwd);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cnn-small\.onnx: nothing to quantize.*; nothing written/);
    expect(fs.existsSync(path.join(cwd, 'x.onnx'))).toBe(false);
  });
});
