/**
 * `autoglm quantize`, run in-process in a temporary folder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { elemTypeOf } from '../../src/ir/types.js';
import { loadModel, saveModel } from '../../src/onnx/io.js';
import type { QuantizeReport } from '../../src/quantize/report.js';
import { checkTypes } from '../../src/quantize/type-check.js';
import { Rng } from '../../src/util/rng.js';

const fixtures = path.resolve(__dirname, '../../fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-cli-quantize-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let dirCount = 0;
function workdir(): string {
  const d = path.join(tmp, `case${dirCount++}`);
  fs.mkdirSync(d);
  return d;
}

/** Runs `autoglm <argv>` in-process. */
async function cli(argv: string[], cwd: string): Promise<{ code: number; out: string; err: string; info: string }> {
  const io = captureIO(cwd);
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr(), info: io.infoText() };
}

describe('autoglm quantize', () => {
  it('converts BERT to float16: a summary table, a valid output about half the weights', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', path.join(fixtures, 'bert-tiny.onnx'), '-o', 'bert16.onnx', '--dtype', 'fp16'], cwd);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^quantize {3}.*bert-tiny\.onnx -> bert16\.onnx {2}\(float16, full\)$/m);
    expect(r.out).toMatch(/^result {5}converted 123 of 259 nodes to float16/m);
    expect(r.out).toMatch(/^tensors {4}56 converted, 23601 values, 92\.2 KiB -> 46\.1 KiB; clamped 1, flushed to zero 0, 5 kept at the smallest subnormal/m);
    expect(r.out).toMatch(/\/Constant_3_output_0 +1 +1 +0 +0 +0/); // the finfo.min mask constant, clamped
    expect(r.out).toMatch(/\/embeddings\/LayerNorm\/Constant_1_output_0 +1 +0 +0 +1 +0/); // epsilon 1e-12 kept non-zero
    expect(r.out).toMatch(/warning: .*CPU execution provider/);
    expect(r.out).toMatch(/warning: 5 constant\(s\) lie entirely below float16's smallest subnormal/);
    const m = loadModel(path.join(cwd, 'bert16.onnx'));
    expect(checkTypes(m)).toEqual([]);
    expect(m.getMetadata('autoglm.quantize')).toBe('fp16');
  });

  it('--json prints the report object; --keep-io-types takes names', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', path.join(fixtures, 'bert-tiny.onnx'), '-o', 'o.onnx', '--dtype', 'fp16', '--keep-io-types', 'logits', '--json'], cwd);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as QuantizeReport;
    expect(rep).toMatchObject({ dtype: 'fp16', mode: 'full', modified: true });
    expect(rep.outputs).toEqual([
      { name: 'last_hidden_state', dtype: 'float16' },
      { name: 'logits', dtype: 'float32' },
    ]);
    expect(rep.files!.output).toBeGreaterThan(0);
    expect(rep.timings).toMatchObject({ loadMs: expect.any(Number), convertMs: expect.any(Number), saveMs: expect.any(Number) });
    expect(rep.tensors.find((t) => t.clamped)).toMatchObject({ clamped: 1 });
  });

  it('--weights-only --dtype bf16 --compare: float32 compute, bfloat16 storage, measured on CPU', async () => {
    const cwd = workdir();
    const r = await cli(
      ['quantize', path.join(fixtures, 'cnn-small.onnx'), '-o', 'w.onnx', '--dtype', 'bf16', '--weights-only', '--compare', '--dim', 'batch=2', '--json'],
      cwd,
    );
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as QuantizeReport;
    expect(rep.mode).toBe('weights-only');
    expect(rep.fidelity![0].maxRelError).toBeLessThan(2e-2);
    expect(rep.fidelityEmulated).toBeUndefined();
    expect(rep.totals.bytesAfter * 2).toBe(rep.totals.bytesBefore);
  });

  it('--compare on float16 reports the CPU run and the emulated float16 storage', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', path.join(fixtures, 'cnn-small.onnx'), '-o', 'c.onnx', '--dtype', 'fp16', '--compare', '--dim', 'batch=1'], cwd);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/output \(onnxruntime CPU\) +max abs err +max rel err +cosine +overflows/);
    expect(r.out).toMatch(/output \(fp16 storage emulated\)/);
    expect(r.out).toMatch(/^logits +\d\.\d\de-\d +\d\.\d\de-\d +\d\.\d{6} +0$/m);
  });

  it('block lists: ops (+ extends the default) and node names or /regex/', async () => {
    const cwd = workdir();
    const r = await cli(
      [
        'quantize',
        path.join(fixtures, 'bert-tiny.onnx'),
        '-o',
        'b.onnx',
        '--dtype',
        'fp16',
        '--op-block-list',
        '+Softmax',
        '--node-block-list',
        '/pooler/,nope',
        '--json',
      ],
      cwd,
    );
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as QuantizeReport;
    const reasons = new Map<string, number>();
    for (const k of rep.nodes.kept) reasons.set(`${k.opType}:${k.reason}`, (reasons.get(`${k.opType}:${k.reason}`) ?? 0) + 1);
    expect(reasons.get('Softmax:op-block-list')).toBe(2);
    const byList = rep.nodes.kept.filter((k) => k.reason === 'node-block-list').map((k) => k.name);
    expect(byList).toEqual(['/pooler/Gather', '/pooler/dense/MatMul', '/pooler/dense/Add', '/pooler/activation/Tanh']);
    expect(byList.every((n) => n.includes('pooler'))).toBe(true);
    expect(rep.warnings).toContain('--node-block-list: nope matches no node');
  });

  it('an already converted model: a no-op with a message, exit 0', async () => {
    const cwd = workdir();
    await cli(['quantize', path.join(fixtures, 'cnn-small.onnx'), '-o', 'a.onnx', '--dtype', 'fp16'], cwd);
    const r = await cli(['quantize', 'a.onnx', '-o', 'b.onnx', '--dtype', 'fp16'], cwd);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/nothing to convert: the model is already float16 .*; it was left unchanged; wrote an unchanged copy to b\.onnx/);
    expect(fs.readFileSync(path.join(cwd, 'a.onnx')).equals(fs.readFileSync(path.join(cwd, 'b.onnx')))).toBe(true);
  });

  it('--external-data writes tensors of 1 KiB or more to <output>.data; external inputs are read', async () => {
    const cwd = workdir();
    const r = await cli(['quantize', path.join(fixtures, 'bert-tiny.onnx'), '-o', 'b16.onnx', '--dtype', 'fp16', '--external-data'], cwd);
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(cwd, 'b16.onnx.data'))).toBe(true);
    expect(r.out).toMatch(/in external data/);
    const m = loadModel(path.join(cwd, 'b16.onnx'));
    expect(m.source!.externalBytes).toBeGreaterThan(30_000);
    expect(checkTypes(m)).toEqual([]);
    // a model whose weights are external converts too (its tiny tensors come back inline)
    const e = await cli(['quantize', path.join(fixtures, 'external/mlp.onnx'), '-o', 'mlp16.onnx', '--dtype', 'fp16', '--json'], cwd);
    expect(e.code).toBe(0);
    expect((JSON.parse(e.out) as QuantizeReport).totals.tensors).toBe(4);
  });

  it('--mixed --tolerance with --calibration finds the planted overflow', async () => {
    const cwd = workdir();
    const rng = new Rng(11);
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['batch', 64]);
    const h = b.op('MatMul', [x, b.init('W1', floatTensor([64, 64], rng.fillNormal(new Float32Array(4096), 35 / 8)))]);
    b.output(b.op('Relu', [h]), 'y', DataType.FLOAT, ['batch', 64]);
    b.output(b.op('ReduceSum', [b.op('Pow', [h, b.const('two', floatTensor([], [2]))])], { keepdims: 1 }, { name: 'energy' }), 'energy', DataType.FLOAT, [
      'batch',
      1,
    ]);
    saveModel(model, path.join(cwd, 'planted.onnx'));
    const data = Array.from(new Rng(3).fillNormal(new Float32Array(128), 1));
    fs.writeFileSync(path.join(cwd, 'calib.json'), JSON.stringify({ x: { dims: [2, 64], data } }));
    const r = await cli(
      ['quantize', 'planted.onnx', '-o', 'mixed.onnx', '--dtype', 'fp16', '--keep-io-types', '--mixed', '--tolerance', '0.01', '--calibration', 'calib.json'],
      cwd,
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mixed {6}tolerance 0\.01: 1 of 4 compute nodes kept float32 after \d+ evaluations on 1 input set\(s\)/m);
    expect(r.out).toMatch(/^energy +ReduceSum +main +Infinity$/m);
    expect(r.info).toMatch(/mixed: 0 node\(s\) kept float32 -> error Infinity/);
    const m = loadModel(path.join(cwd, 'mixed.onnx'));
    expect(elemTypeOf([...m.allNodes()].find((n) => n.name === 'energy')!.outputs[0]!.type) ?? DataType.FLOAT).toBe(DataType.FLOAT);
    const j = await cli(
      ['quantize', 'planted.onnx', '-o', 'mixed2.onnx', '--dtype', 'fp16', '--keep-io-types', '--mixed', '--tolerance', '0.01', '--dim', 'batch=1', '--json'],
      cwd,
    );
    const rep = JSON.parse(j.out) as QuantizeReport;
    expect(rep.mixed!.kept).toEqual([{ name: 'energy', opType: 'ReduceSum', graph: 'main', errorIfConverted: 'inf' }]);
    expect(j.err).toBe('');
  });

  it('the tensor table puts the worst first: clamped, then NaN, then the largest share flushed', async () => {
    const cwd = workdir();
    const { model, b } = createModel({ opset: 17 });
    let h = b.input('x', DataType.FLOAT, ['batch', 8]);
    // 24 weights with one flushed value each (names a00..a23), then one with 4 of 64 flushed, one with a NaN and
    // one with a clamped value, named to sort last alphabetically
    const weights: [string, (w: Float32Array) => void][] = [];
    for (let i = 0; i < 24; i++) weights.push([`a${String(i).padStart(2, '0')}`, (w) => (w[0] = 1e-9)]);
    weights.push(['z_flushed', (w) => w.fill(1e-9, 0, 4)], ['z_nan', (w) => (w[1] = Number.NaN)], ['z_clamped', (w) => (w[2] = 1e6)]);
    for (const [name, plant] of weights) {
      const w = new Rng(name.length).fillNormal(new Float32Array(64), 0.1);
      plant(w);
      h = b.op('MatMul', [h, b.init(name, floatTensor([8, 8], w))]);
    }
    b.output(h, 'y', DataType.FLOAT, ['batch', 8]);
    saveModel(model, path.join(cwd, 'm.onnx'));
    const r = await cli(['quantize', 'm.onnx', '-o', 'h.onnx', '--dtype', 'fp16', '--clamp', '--no-check'], cwd);
    expect(r.code).toBe(0);
    const rows = r.out
      .split('\n')
      .filter((l) => /^(a\d\d|z_)/.test(l))
      .map((l) => l.split(/\s+/)[0]);
    expect(rows.slice(0, 3)).toEqual(['z_clamped', 'z_nan', 'z_flushed']);
    expect(rows).toHaveLength(20);
    expect(r.out).toMatch(/\.\.\. and 7 more tensors with clamped or flushed values, fewer than those above/);
  });

  describe('usage errors exit 2 with one clear sentence', () => {
    const bert = path.join(fixtures, 'bert-tiny.onnx');
    const cases: [string, string[], RegExp][] = [
      ['no --dtype', ['-o', 'x.onnx'], /needs --dtype fp16, bf16, int8 or int4/],
      ['a bad --dtype', ['-o', 'x.onnx', '--dtype', 'int2'], /--dtype must be fp16, bf16, int8 or int4, got 'int2'/],
      ['an int8 flag with fp16', ['-o', 'x.onnx', '--dtype', 'fp16', '--explain'], /--explain applies to --dtype int8 or int4/],
      [
        '--no-check with a check threshold',
        ['-o', 'x.onnx', '--dtype', 'fp16', '--no-check', '--min-cosine', '0.9'],
        /--min-cosine and --tolerance set the self-check, which --no-check turns off/,
      ],
      ['no output', ['--dtype', 'fp16'], /needs an output file: -o <out\.onnx>/],
      [
        '--mixed with --weights-only',
        ['-o', 'x.onnx', '--dtype', 'fp16', '--mixed', '--tolerance', '0.1', '--weights-only'],
        /--mixed and --weights-only cannot be combined/,
      ],
      ['--mixed without --tolerance', ['-o', 'x.onnx', '--dtype', 'fp16', '--mixed'], /--mixed needs --tolerance/],
      ['a bad --tolerance', ['-o', 'x.onnx', '--dtype', 'fp16', '--mixed', '--tolerance', 'abc'], /--tolerance must be a positive number, got 'abc'/],
      [
        '--calibration with --no-check',
        ['-o', 'x.onnx', '--dtype', 'fp16', '--no-check', '--calibration', 'c.json'],
        /--inputs is only used by --mixed, --compare or the self-check/,
      ],
      [
        '--dim with --no-check',
        ['-o', 'x.onnx', '--dtype', 'fp16', '--no-check', '--dim', 'batch=1'],
        /--dim is only used by --mixed, --compare or the self-check/,
      ],
      ['a bad --dim', ['-o', 'x.onnx', '--dtype', 'fp16', '--compare', '--dim', 'batch'], /--dim 'batch': write name=size/],
      [
        'an unknown --keep-io-types name',
        ['-o', 'x.onnx', '--dtype', 'fp16', '--keep-io-types', 'logit'],
        /--keep-io-types: 'logit' is not an input or output of the model; they are: input_ids, /,
      ],
      ['a bad regex', ['-o', 'x.onnx', '--dtype', 'fp16', '--node-block-list', '/(/'], /node block list: \/\(\/ is not a valid regular expression/],
    ];
    it.each(cases)('%s', async (_label, args, message) => {
      const cwd = workdir();
      const r = await cli(['quantize', bert, ...args], cwd);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.out).toBe('');
      expect(fs.existsSync(path.join(cwd, 'x.onnx'))).toBe(false);
    });

    it('refuses to overwrite without --force, overwrites with it', async () => {
      const cwd = workdir();
      fs.writeFileSync(path.join(cwd, 'out.onnx'), 'keep me');
      const r = await cli(['quantize', bert, '-o', 'out.onnx', '--dtype', 'fp16'], cwd);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/out\.onnx exists; pass --force to overwrite it/);
      expect(fs.readFileSync(path.join(cwd, 'out.onnx'), 'utf8')).toBe('keep me');
      const f = await cli(['quantize', bert, '-o', 'out.onnx', '--dtype', 'fp16', '--force'], cwd);
      expect(f.code).toBe(0);
      expect(loadModel(path.join(cwd, 'out.onnx')).getMetadata('autoglm.quantize')).toBe('fp16');
    });

    it('a missing input file is a model-format error', async () => {
      const r = await cli(['quantize', 'nope.onnx', '-o', 'x.onnx', '--dtype', 'fp16'], workdir());
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/nope\.onnx: no such file/);
    });
  });
});
