import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { loadModel } from '../../src/onnx/io.js';
import { expectSameOutputs } from '../helpers/equivalence.js';
import { histogram } from '../passes/fusion-helpers.js';

const FIXTURES = path.resolve(__dirname, '../../fixtures');
const BERT = path.join(FIXTURES, 'bert-tiny.onnx');
const CNN = path.join(FIXTURES, 'cnn-small.onnx');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-fuse-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs `autoglm ...` in-process. */
async function cli(...args: string[]) {
  const io = captureIO(tmp);
  const code = await main(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

const out = (name: string) => path.join(tmp, name);

describe('autoglm fuse', () => {
  it('--target ort --json on the BERT fixture: exact counts per pass, nodes before/after, same outputs', async () => {
    const { code, out: text, err } = await cli('fuse', BERT, '-o', out('bert-ort.onnx'), '--target', 'ort', '--json', '--verify');
    expect(err).toBe('');
    expect(code).toBe(0);
    const r = JSON.parse(text);
    const counts = Object.fromEntries(r.passes.filter((p: any) => p.kind === 'fusion').map((p: any) => [p.name, p.counts]));
    expect(counts).toEqual({
      'fuse-layer-norm': { 'layer-norm': 5 },
      'fuse-gelu': { 'gelu-erf': 2 },
      'fuse-reshape-gemm': {},
      'fuse-attention': { attention: 2 },
      'fuse-skip-layer-norm': { 'skip-layer-norm': 4 },
      'fuse-bias-gelu': { 'bias-gelu': 2 },
      'fuse-matmul-add': { 'matmul-add': 2 },
      'fuse-conv-bn': {},
      'fuse-conv-add-mul': {},
      'fuse-hard-swish': {},
    });
    expect(r.fusions).toBe(17);
    expect(r.nodes.before).toBe(259);
    expect(r.nodes.after).toBeLessThan(40);
    expect(r.opsets.after).toContainEqual({ domain: 'com.microsoft', version: 1 });
    const fused = loadModel(out('bert-ort.onnx'));
    expect(histogram(fused)['com.microsoft:Attention']).toBe(2);
    await expectSameOutputs(loadModel(BERT), fused, { dims: { batch: 2, sequence: 16 } });
  });

  it('prints human tables: passes with their rewrites, op changes, the raised opset', async () => {
    const { code, out: text } = await cli('fuse', BERT, '-o', out('bert-onnx.onnx'));
    expect(code).toBe(0);
    expect(text).toMatch(/nodes\s+259 -> \d+ {2}\(11 fusions\)/);
    expect(text).toMatch(/opsets\s+ai\.onnx 14 -> ai\.onnx 23/);
    expect(text).toMatch(/fuse-attention\s+\d+\s+[\d.]+\s+attention 2/);
    expect(text).toMatch(/fuse-attention: raised the default opset to 23/);
    expect(text).toMatch(/fuse-layer-norm\s+\d+\s+[\d.]+\s+layer-norm 5/);
    expect(text).toMatch(/fuse-gelu\s+\d+\s+[\d.]+\s+gelu-erf 2/);
    expect(text).toMatch(/fuse-matmul-add\s+\d+\s+[\d.]+\s+matmul-add 2/);
    expect(text).toMatch(/fuse-gelu: raised the default opset to 20/);
    expect(text).toMatch(/LayerNormalization\s+0\s+5/);
    expect(text).not.toMatch(/\x1b\[/);
  });

  it('--passes and --disable choose what runs; the CNN preset folds every BatchNormalization', async () => {
    const r1 = JSON.parse((await cli('fuse', CNN, '-o', out('cnn.onnx'), '--passes', 'cnn', '--json')).out);
    expect(r1.passList).toContain('fuse-conv-bn');
    expect(r1.passes.find((p: any) => p.name === 'fuse-conv-bn').counts).toEqual({ 'conv-bn': 6 });
    expect(r1.opChanges).toContainEqual({ op: 'BatchNormalization', before: 6, after: 0 });
    const r2 = JSON.parse((await cli('fuse', BERT, '-o', out('bert-noatt.onnx'), '--target', 'ort', '--disable', 'fuse-attention,cleanup', '--json')).out);
    expect(r2.passList).not.toContain('fuse-attention');
    expect(r2.passList).not.toContain('fold-constants');
    expect(r2.opChanges.find((o: any) => o.op === 'Softmax')).toBeUndefined();
  });

  it('--explain lists near misses with their reasons', async () => {
    const { code, out: text } = await cli('fuse', BERT, '-o', out('bert-explain.onnx'), '--passes', 'fuse-attention,fuse-skip-layer-norm', '--explain');
    expect(code).toBe(0);
    expect(text).toMatch(
      /fuse-attention\s+attention\s+\/encoder\/layer\.0\/attention\/self\/Reshape_3\s+the standard Attention operator needs opset 23 and opset 14 cannot be raised: .*ReduceMean.*--target ort emits com\.microsoft Attention/,
    );
  });

  it('--coverage: per block type found, how many fused and why not the rest (torch exports)', async () => {
    const gpt2 = path.join(FIXTURES, 'torch', 'gpt2-tiny-op14.onnx');
    const ort = await cli('fuse', gpt2, '-o', out('gpt2-cov.onnx'), '--target', 'ort', '--coverage', '--json');
    expect(ort.code).toBe(0);
    const rows = JSON.parse(ort.out).coverage;
    expect(rows.map((r: any) => [r.block, r.found, r.fused, r.left])).toEqual([
      ['attention', 2, 2, 0],
      ['normalization', 5, 5, 0],
      ['activation', 2, 2, 0],
    ]);
    // --target onnx: the standard Attention (opset raised to 23)
    const std = await cli('fuse', gpt2, '-o', out('gpt2-cov-onnx.onnx'), '--coverage');
    expect(std.code).toBe(0);
    expect(std.out).toMatch(/^attention\s+2\s+2\s+0\s+-/m);
    // the past/present form stays ort-only, and the table says why
    const past = await cli('fuse', path.join(FIXTURES, 'torch', 'gpt2-past-tiny.onnx'), '-o', out('gpt2-past-cov-onnx.onnx'), '--coverage');
    expect(past.out).toMatch(/^attention\s+2\s+0\s+2\s+with a KV cache \(past\/present\), attention is fused for --target ort only \(2x, fuse-attention\)/m);
    const llama = await cli('fuse', path.join(FIXTURES, 'torch', 'llama-tiny.onnx'), '-o', out('llama-cov.onnx'), '--target', 'ort', '--coverage');
    expect(llama.out).toMatch(/^activation\s+2\s+0\s+2\s+x·sigmoid\(x\) \(SiLU, e\.g\. of a gated MLP\): onnxruntime has no CPU fusion of the gated MLP/m);
    expect(llama.out).toMatch(/^normalization\s+5\s+5\s+0\s+-/m);
    // rotary q/k and grouped-query attention: RotaryEmbedding + MultiHeadAttention
    expect(llama.out).toMatch(/^attention\s+2\s+2\s+0\s+-/m);
  });

  it('--list describes every pass and preset without a model', async () => {
    const { code, out: text } = await cli('fuse', '--list');
    expect(code).toBe(0);
    for (const p of ['fuse-layer-norm', 'fuse-attention', 'fuse-conv-bn', 'eliminate-identity']) expect(text).toMatch(new RegExp(`^${p}\\s+\\w+\\s+\\w`, 'm'));
    expect(text).toMatch(/^transformer\s+cleanup, fuse-layer-norm/m);
    expect(text).toMatch(/^cnn\s+cleanup, fuse-matmul-add, fuse-conv-bn/m);
  });

  it('--runtime-report says which fusions onnxruntime does itself (extended level)', async () => {
    const { code, out: text } = await cli('fuse', BERT, '-o', out('bert-rt.onnx'), '--target', 'ort', '--runtime-report', '--level', 'extended', '--json');
    expect(code).toBe(0);
    const rt = JSON.parse(text).runtime;
    expect(rt.level).toBe('extended');
    const v = Object.fromEntries(rt.verdicts.map((x: any) => [x.pass, x.verdict]));
    expect(v['fuse-layer-norm']).toBe('runtime does it');
    expect(v['fuse-attention']).toBe('additive');
    expect(rt.histograms.runtimeOriginal.LayerNormalization).toBe(5);
  });

  it('writes external data on request and refuses to overwrite without --force', async () => {
    const target = out('cnn-ext.onnx');
    expect((await cli('fuse', CNN, '-o', target, '--external-data')).code).toBe(0);
    expect(fs.existsSync(`${target}.data`)).toBe(true);
    const again = await cli('fuse', CNN, '-o', target);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/exists; pass --force/);
    expect((await cli('fuse', CNN, '-o', target, '--force')).code).toBe(0);
  });

  it.each([
    [['fuse', BERT], /needs an output file/],
    [['fuse', '-o', 'x.onnx'], /needs a model/],
    [['fuse', BERT, '-o', 'x.onnx', '--target', 'trt'], /--target must be onnx or ort/],
    [['fuse', BERT, '-o', 'x.onnx', '--passes', 'fuse-layernorm'], /unknown pass 'fuse-layernorm'/],
    [['fuse', BERT, '-o', 'x.onnx', '--level', 'basic'], /--level is only used with --runtime-report/],
    [['fuse', BERT, '-o', 'x.onnx', '--runtime-report', '--level', 'max'], /--level must be basic, extended or all/],
    [['fuse', BERT, '-o', 'x.onnx', '--passes', 'fuse-gelu', '--disable', 'fuse-gelu'], /leaves no pass to run/],
    [['fuse', path.join(tmp, 'missing.onnx'), '-o', 'x.onnx'], /no such file/],
  ])('usage errors exit 2: %j', async (args, message) => {
    const r = await cli(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});
