import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { buildGpt } from '../../fixtures/models/gpt.js';
import { loadModel, saveModel } from '../../src/index.js';
import { expectSameOutputs } from '../helpers/equivalence.js';

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
    expect((await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--tolerance', '0.1', '--dtype', 'fp16')).code).toBe(2);
    expect((await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--weights-only')).code).toBe(2);
    expect((await cli('optimize', fixture('bert-tiny.onnx'))).code).toBe(2);
    expect((await cli('optimize', fixture('bert-tiny.onnx'), '-o', fixture('bert-tiny.onnx'))).code).toBe(2);
    const unknown = config('unknown.json', { presett: 'cnn' });
    const r = await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--config', unknown);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown key 'presett'/);
    expect((await cli('optimize', fixture('bert-tiny.onnx'), '-o', out, '--passes', 'no-such-pass')).code).toBe(2);
  });
});
