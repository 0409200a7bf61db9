import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { buildGpt } from '../../fixtures/models/gpt.js';
import { loadModel, saveModel } from '../../src/index.js';
import { expectSameOutputs } from '../helpers/equivalence.js';
import { compareModels } from '../../src/measure/compare-models.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-optimize-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const fixture = (f: string) => path.resolve(__dirname, '../../fixtures', f);

async function cli(...args: string[]) {
  const io = captureIO(tmp);
  const code = await main(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

function config(name: string, doc: object): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, JSON.stringify(doc, null, 2));
  return p;
}

describe('autoglm optimize', () => {
  it('runs a config whose gate passes (exit 0) and one whose gate fails (exit 1)', async () => {
    const bench = { dims: { batch: 1, sequence: 16 }, runs: 10, warmup: 2 };
    const ok = config('ok.json', {
      preset: 'transformer',
      quantize: { dtype: 'fp16', keepIoTypes: true },
      bench: { ...bench, gates: ['graphF1 >= 0.9', 'size <= 0.7x'] },
    });
    const pass = await cli('optimize', fixture('bert-tiny.onnx'), '-o', path.join(tmp, 'ok.onnx'), '--config', ok);
    expect(pass.err).not.toMatch(/internal error/);
    expect(pass.code).toBe(0);
    expect(pass.out).toMatch(/all 2 gate\(s\) passed/);
    // the same pipeline cannot make the file 10x smaller: the gate fails the job
    const bad = config('bad.json', { preset: 'transformer', quantize: { dtype: 'fp16', keepIoTypes: true }, bench: { ...bench, gates: ['size <= 0.1x'] } });
    const fail = await cli('optimize', fixture('bert-tiny.onnx'), '-o', path.join(tmp, 'bad.onnx'), '--config', bad);
    expect(fail.code).toBe(1);
    expect(fail.out).toMatch(/FAIL/);
    // the output was still written and is numerically the fp16 model (checked against the input)
    await expectSameOutputs(loadModel(fixture('bert-tiny.onnx')), loadModel(path.join(tmp, 'ok.onnx')), {
      dims: { batch: 1, sequence: 16 },
      rtol: 2e-2,
      atol: 2e-2,
    });
  });

  it('lossless pipeline keeps outputs equal and --json reports every step', async () => {
    const out = path.join(tmp, 'clean.onnx');
    const r = await cli('optimize', fixture('cnn-small.onnx'), '-o', out, '--preset', 'cnn', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.report.steps.map((s: any) => s.step)).toEqual(['passes']);
    expect(j.report.after.nodes).toBeLessThanOrEqual(j.report.before.nodes);
    await expectSameOutputs(loadModel(fixture('cnn-small.onnx')), loadModel(out), { dims: { batch: 2 } });
  });

  it('a GPT-2 export with Conv1D linear layers: fused for onnxruntime and converted to float16 in one command, gated on graph F1', async () => {
    const src = path.join(tmp, 'gpt.onnx');
    const out = path.join(tmp, 'gpt-opt.onnx');
    saveModel(buildGpt({ linear: 'conv1d' }), src);
    const r = await cli(
      'optimize',
      src,
      '-o',
      out,
      '--preset',
      'transformer',
      '--target',
      'ort',
      '--dtype',
      'fp16',
      '--keep-io-types',
      '--dim',
      'batch=1',
      '--dim',
      'sequence=12',
      '--runs',
      '5',
      '--warmup',
      '1',
      '--gate',
      'graphF1 >= 0.9',
      '--json',
    );
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const m = loadModel(out);
    const ops = [...m.allNodes()].map((n) => n.opType);
    expect(ops.filter((o) => o === 'Attention')).toHaveLength(2);
    expect(ops).not.toContain('Gemm');
    expect(ops).not.toContain('Softmax');
    expect([...m.allNodes()].filter((n) => n.opType === 'Attention').every((n) => n.getInt('unidirectional') === 1)).toBe(true);
    // float16 inside, float32 at the interface, outputs within float16 tolerance of the original
    await expectSameOutputs(loadModel(src), m, { dims: { batch: 1, sequence: 12 }, rtol: 2e-2, atol: 2e-2 });
  });

  it('--dry-run writes nothing', async () => {
    const out = path.join(tmp, 'dry.onnx');
    const r = await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--dry-run', '--dtype', 'fp16');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/dry run: nothing written/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('rejects impossible combinations and bad configs with exit 2', async () => {
    const out = path.join(tmp, 'x.onnx');
    expect((await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--no-check', '--min-cosine', '0.9', '--dtype', 'fp16')).code).toBe(2);
    expect((await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--weights-only')).code).toBe(2);
    expect((await cli('optimize', fixture('bert-tiny.onnx'))).code).toBe(2);
    expect((await cli('optimize', fixture('bert-tiny.onnx'), '-o', fixture('bert-tiny.onnx'))).code).toBe(2);
    const unknown = config('unknown.json', { presett: 'cnn' });
    const r = await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--config', unknown);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown key 'presett'/);
    expect((await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--passes', 'no-such-pass')).code).toBe(2);
  });

  describe('--dtype int8 / int4', () => {
    /** the written model runs in onnxruntime-node and matches the input within `minCosine` on fresh inputs */
    async function expectClose(src: string, out: string, minCosine: number) {
      const ref = loadModel(src);
      const fid = await compareModels(ref, loadModel(out), synthesizeInputs(ref, { dims: { batch: 2, sequence: 20 }, seed: 9, count: 2 }));
      for (const o of fid) expect(o.cosine!).toBeGreaterThanOrEqual(minCosine);
    }

    it('--preset transformer --target ort --dtype int8: quantized before the fusions, checked against the input', async () => {
      const out = path.join(tmp, 'int8.onnx');
      const r = await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--preset', 'transformer', '--target', 'ort', '--dtype', 'int8', '--json');
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out);
      expect(j.report.steps.map((s: { step: string }) => s.step)).toEqual(['quantize', 'passes']);
      expect(j.report.intQuantize.totals.nodesQuantized).toBe(14);
      expect(j.report.check).toMatchObject({ passed: true, tolerance: { minCosine: 0.99, maxError: null } });
      expect(j.report.after.weightBytes).toBeLessThan(j.report.before.weightBytes * 0.75);
      const ops = [...loadModel(out).allNodes()].map((n) => n.opType);
      expect(ops.filter((o) => o === 'DynamicQuantizeMatMul')).toHaveLength(14);
      expect(ops).toContain('LayerNormalization');
      expect(ops).not.toContain('Erf'); // GELU fused after quantization
      await expectClose(fixture('bert-tiny.onnx'), out, 0.99);
    });

    it("the config file's quantize.dtype int4 works, and a failed check exits 1 without writing", async () => {
      const out = path.join(tmp, 'int4.onnx');
      const c = config('int4.json', { preset: 'transformer', quantize: { dtype: 'int4', blockSize: 32 } });
      const r = await cli('optimize', fixture('torch/char-tf-a.onnx'), '-o', out, '--config', c);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^check: passed \(cosine >= 0\.98\) on 2 synthesized input set\(s\)$/m);
      expect([...loadModel(out).allNodes()].filter((n) => n.opType === 'MatMulNBits').length).toBe(13);
      await expectClose(fixture('torch/char-tf-a.onnx'), out, 0.98);
      const bad = path.join(tmp, 'int8-bad.onnx');
      const f = await cli('optimize', fixture('bert-tiny.onnx'), '-o', bad, '--dtype', 'int8', '--min-cosine', '0.9999999');
      expect(f.code).toBe(1);
      expect(f.err).toMatch(/int8 self-check failed \(.*cosine 0\.99\d+ < 0\.9999999.*\); nothing written/);
      expect(f.err).toMatch(/; worst output: \S+; the divergence first appears at node \S+ \(\w+\)/);
      expect(fs.existsSync(bad)).toBe(false);
    });

    it('float-only flags with int8, int flags without it, and bad int configs are usage errors', async () => {
      const out = path.join(tmp, 'y.onnx');
      const e1 = await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--dtype', 'int8', '--keep-io-types');
      expect(e1.code).toBe(2);
      expect(e1.err).toMatch(/apply to fp16\/bf16, not int8\/int4/);
      const e2 = await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--static');
      expect(e2.code).toBe(2);
      expect(e2.err).toMatch(/need --dtype int8 or int4/);
      const e3 = await cli(
        'optimize',
        fixture('bert-tiny.onnx'),
        '-o',
        out,
        '--config',
        config('bad-int.json', { quantize: { dtype: 'int8', keepIoTypes: true } }),
      );
      expect(e3.code).toBe(2);
      expect(e3.err).toMatch(/quantize\.keepIoTypes does not apply to int8/);
      expect(fs.existsSync(out)).toBe(false);
    });
  });
});
