import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bertParameterCount, buildBert } from '../../fixtures/models/bert.js';
import { buildCnn } from '../../fixtures/models/cnn.js';
import { encodeNpy } from '../../src/inputs/tensor-files.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { countParameters } from '../../src/inspect.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { loadModel, saveModel } from '../../src/onnx/io.js';
import { fromOrtTensor } from '../../src/runtime/session.js';
import { expectSameOutputs } from '../helpers/equivalence.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-prune-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const p = (name: string) => path.join(tmp, name);

/** Runs `autoglm ...` in-process. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string; info: string }> {
  const io = captureIO(tmp);
  const code = await main(args, io);
  return { code, out: io.stdout(), err: io.stderr(), info: io.infoText() };
}

/** x -> MatMul -> Relu -> y, plus a dead branch and an input nothing reads. */
function deadModel(file: string): string {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, ['n', 4]);
  b.input('unused', DataType.FLOAT, ['n', 4]);
  const h = b.op(
    'MatMul',
    [
      x,
      b.init(
        'w',
        floatTensor(
          [4, 4],
          Array.from({ length: 16 }, (_, i) => i / 8 - 1),
        ),
      ),
    ],
    {},
    { name: 'mm', outputs: ['h'] },
  );
  b.op('Tanh', [b.op('Sigmoid', [h])]);
  b.output(b.op('Relu', [h], {}, { name: 'relu', outputs: ['y'] }), undefined, DataType.FLOAT, ['n', 4]);
  saveModel(model, p(file));
  return p(file);
}

const bertFile = p('bert.onnx');
saveModel(buildBert(), bertFile);
const cnnFile = p('cnn.onnx');
saveModel(buildCnn(), cnnFile);

describe('autoglm prune', () => {
  it('graph pruning (default): dead nodes and unused inputs go, outputs identical', async () => {
    const file = deadModel('dead.onnx');
    const r = await cli('prune', file, '-o', p('dead-out.onnx'), '--dim', 'n=2');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/graph \(lossless\)/);
    expect(r.out).toMatch(/2 node\(s\), 0 initializer\(s\) removed, inputs removed: unused/);
    const out = loadModel(p('dead-out.onnx'));
    expect(out.graph.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Relu']);
    await expectSameOutputs(loadModel(file), out, { dims: { n: 2 }, rtol: 0, atol: 0 });
  });

  it('a fixed-sparsity prune is self-checked: beyond --min-cosine exits 1 and writes nothing, naming the worst output; --no-check writes', async () => {
    const dims = ['--dim', 'batch=2', '--dim', 'sequence=8'];
    const ok = await cli('prune', bertFile, '-o', p('mag-ok.onnx'), '--method', 'magnitude', '--sparsity', '0.3', ...dims);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^check {6}passed \(finite outputs\)$/m);
    const bad = await cli('prune', bertFile, '-o', p('mag-bad.onnx'), '--method', 'magnitude', '--sparsity', '0.6', '--min-cosine', '0.9999', ...dims);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/^check {6}FAILED \(cosine >= 0\.9999, finite outputs\): last_hidden_state: cosine 0\.\d+ < 0\.9999/m);
    expect(bad.err).toMatch(/^autoglm: self-check failed \(last_hidden_state: cosine .*; worst output: last_hidden_state\); nothing was written\. Prune less/m);
    expect(fs.existsSync(p('mag-bad.onnx'))).toBe(false);
    const json = await cli(
      'prune',
      bertFile,
      '-o',
      p('mag-bad.onnx'),
      '--method',
      'magnitude',
      '--sparsity',
      '0.6',
      '--min-cosine',
      '0.9999',
      '--json',
      ...dims,
    );
    expect(JSON.parse(json.out).check).toMatchObject({ passed: false, minCosine: 0.9999, worstOutput: 'last_hidden_state' });
    const skip = await cli('prune', bertFile, '-o', p('mag-bad.onnx'), '--method', 'magnitude', '--sparsity', '0.6', '--no-check', ...dims);
    expect(skip.code).toBe(0);
    expect(skip.out).not.toMatch(/^check/m);
    expect(fs.existsSync(p('mag-bad.onnx'))).toBe(true);
    const usage = await cli('prune', bertFile, '-o', p('x.onnx'), '--method', 'magnitude', '--min-cosine', '0.9', '--no-check', ...dims);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/--min-cosine is a self-check threshold: it does not combine with --no-check/);
  });

  it('--outputs extracts a sub-model (--json report)', async () => {
    const r = await cli(
      'prune',
      bertFile,
      '-o',
      p('bert-l0.onnx'),
      '--outputs',
      '/encoder/layer.0/attention/self/Softmax_output_0',
      '--json',
      '--dim',
      'batch=1',
      '--dim',
      'sequence=4',
    );
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.graph.outputs).toEqual(['/encoder/layer.0/attention/self/Softmax_output_0']);
    expect(rep.graph.droppedOutputs).toEqual(['last_hidden_state']);
    expect(rep.after.nodes).toBeLessThan(rep.before.nodes / 2);
    expect(loadModel(p('bert-l0.onnx')).graph.outputs.map((v) => v.name)).toEqual(['/encoder/layer.0/attention/self/Softmax_output_0']);
  });

  it('structured FFN 50% with --json: exact parameter counts, the written file is valid and its size reported', async () => {
    const out = p('bert-ffn.onnx');
    const r = await cli(
      'prune',
      bertFile,
      '-o',
      out,
      '--method',
      'structured',
      '--units',
      'ffn',
      '--sparsity',
      '0.5',
      '--json',
      '--dim',
      'batch=2',
      '--dim',
      'sequence=8',
    );
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.parameters.removed).toBe(bertParameterCount() - bertParameterCount({ intermediate: 32 }));
    expect(rep.parameters.zeroed).toBe(0);
    expect(rep.groups).toHaveLength(2);
    expect(rep.skipped.length).toBe(10);
    expect(rep.after.fileSize).toBe(fs.statSync(out).size);
    expect(rep.after.flops).toBeLessThan(rep.before.flops);
    expect(rep.fidelity.graphF1.source).toBe('attention');
    expect(rep.layers.find((l: { name: string }) => l.name === 'onnx::MatMul_1004').shapeAfter).toEqual([32, 32]);
    expect(countParameters(loadModel(out)).total).toBe(bertParameterCount({ intermediate: 32 }));
  });

  it('magnitude prints the before/after table and says plainly that zeros do not speed up dense runtimes', async () => {
    const r = await cli('prune', cnnFile, '-o', p('cnn-mag.onnx'), '--method', 'magnitude', '--sparsity', '0.5', '--global', '--dim', 'batch=1');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/parameters\s+2\.88K\s+2\.88K/);
    expect(r.out).toMatch(/zeroed\s+1\.34K/); // half of the 2672 Conv/Gemm weights (BN and biases are not pruned)
    expect(r.out).toMatch(/FLOPs \(est\.\)/);
    expect(r.out).toMatch(/zeros do not make dense runtimes faster/);
    expect(r.out).not.toMatch(/\x1b\[/);
  });

  it('nm with --calibration from a folder of .npy files and activation-aware scores', async () => {
    const dir = p('calib');
    fs.mkdirSync(dir);
    const feeds = synthesizeInputs(buildCnn(), { dims: { batch: 2 }, seed: 3 })[0];
    fs.writeFileSync(path.join(dir, 'pixel_values.npy'), encodeNpy(fromOrtTensor(feeds.pixel_values, 'pixel_values')));
    const r = await cli('prune', cnnFile, '-o', p('cnn-nm.onnx'), '--method', 'nm', '--nm', '2:4', '--criterion', 'activation', '--calibration', dir, '--json');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.settings.calibration).toEqual({ sets: 1, source: 'given' });
    expect(rep.settings.nm).toBe('2:4');
    expect(rep.skippedWeights.map((s: { name: string }) => s.name).sort()).toEqual(['dw.conv.weight', 'stem.conv.weight']);
  });

  it('--target-f1 with a checkpoint: progress on stderr, the target met, the search resumable', async () => {
    const args = [
      'prune',
      bertFile,
      '-o',
      p('bert-search.onnx'),
      '--method',
      'structured',
      '--units',
      'ffn',
      '--target-f1',
      '0.9',
      '--dim',
      'batch=2',
      '--dim',
      'sequence=8',
      '--checkpoint',
      'search.json',
    ];
    const r = await cli(...args);
    expect(r.code).toBe(0);
    expect(r.info).toMatch(/^search: \d+\/\d+/m);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/search\s+graph F1 >= 0.9, top-1 >= 0.9, cosine >= 0.99: met; reached graph F1 (0\.9\d+|1\.000)/);
    expect(fs.existsSync(p('search.json'))).toBe(true);
    const again = await cli(...args, '--force', '--json');
    expect(again.code).toBe(0);
    const rep = JSON.parse(again.out);
    expect(rep.search.evaluations).toBe(0);
    expect(rep.search.fromCheckpoint).toBeGreaterThan(0);
  });

  it('a search that misses its target writes nothing and exits 1', async () => {
    const out = p('never.onnx');
    const r = await cli('prune', cnnFile, '-o', out, '--method', 'magnitude', '--target-latency', '0.01', '--dim', 'batch=1');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/not met/);
    expect(r.err).toMatch(/nothing was written/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('bad usage exits 2 with one line', async () => {
    const cases: string[][] = [
      ['prune', cnnFile],
      ['prune', cnnFile, '-o', p('x.onnx'), '--method', 'structured', '--global'],
      ['prune', cnnFile, '-o', p('x.onnx'), '--method', 'nm', '--nm', '4:2'],
      ['prune', cnnFile, '-o', p('x.onnx'), '--method', 'structured', '--target-f1', '0.9', '--max-error', '0.1'],
      ['prune', cnnFile, '-o', p('x.onnx'), '--method', 'structured', '--units', 'rows'],
      ['prune', cnnFile, '-o', p('x.onnx'), '--method', 'fancy'],
      ['prune', cnnFile, '-o', p('x.onnx'), '--sparsity', '0.5'],
      ['prune', cnnFile, '-o', p('x.onnx'), '--outputs', 'nope'],
      ['prune', cnnFile, '-o', p('x.onnx'), '--method', 'magnitude', '--target-f1', '0.9', '--dim', 'batch=0'],
      ['prune', cnnFile, '-o', cnnFile],
      ['prune', p('missing.onnx'), '-o', p('x.onnx')],
    ];
    for (const args of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    expect(fs.existsSync(p('x.onnx'))).toBe(false);
  });

  // issue 13: the search, its report and the bench gate mean the same graph F1; the search holds output fidelity
  const charA = path.resolve('fixtures/torch/char-tf-a.onnx');
  const evalJson = path.resolve('fixtures/torch/char-tf-eval.json');
  const haveCharTf = fs.existsSync(charA) && fs.existsSync(evalJson);
  /** the first two held-out text windows of the trained char-level transformer, as a --inputs/--calibration file */
  const textInputs = (): string => {
    const file = p('char-text.json');
    if (!fs.existsSync(file)) {
      const ids = JSON.parse(fs.readFileSync(evalJson, 'utf8')).inputs.input_ids.data.slice(0, 128);
      fs.writeFileSync(file, JSON.stringify({ input_ids: { dims: [2, 64], dtype: 'int64', data: ids } }));
    }
    return file;
  };

  it.skipIf(!haveCharTf)("prune --target-f1 X, then bench --gate 'graphF1 >= X' on its output passes, with the same number (trained char-tf)", async () => {
    const out = p('char-pruned.onnx');
    const inputs = textInputs();
    const pr = await cli(
      'prune',
      charA,
      '-o',
      out,
      '--method',
      'structured',
      '--units',
      'ffn',
      '--target-f1',
      '0.8',
      '--min-top1',
      '0.8',
      '--min-cosine',
      '0.95',
      '--calibration',
      inputs,
      '--json',
    );
    expect(pr.code, pr.err).toBe(0);
    const rep = JSON.parse(pr.out);
    const s = rep.search;
    expect(s.met).toBe(true);
    expect(Object.values(s.config as Record<string, number>).some((x) => x > 0)).toBe(true);
    // one definition: the lower of last layer and all layers (the last layer is the lower one here)
    expect(s.reached.f1).toBe(Math.min(s.reached.lastLayerF1, s.reached.allLayersF1));
    expect(s.reached.f1).toBeGreaterThanOrEqual(0.8);
    expect(s.reached.top1).toBeGreaterThanOrEqual(0.8);
    expect(s.reached.cosine).toBeGreaterThanOrEqual(0.95);
    expect(rep.fidelity.graphF1.score).toBeCloseTo(s.reached.f1, 12);
    const b = await cli(
      'bench',
      out,
      '--baseline',
      charA,
      '--inputs',
      inputs,
      '--runs',
      '3',
      '--warmup',
      '1',
      '--threads',
      '1',
      '--session-repeats',
      '1',
      '--gate',
      'graphF1 >= 0.8',
      '--json',
    );
    expect(b.code, b.err).toBe(0);
    const r = JSON.parse(b.out);
    expect(r.gates[0]).toMatchObject({ status: 'pass', blocks: false });
    expect(r.gates[0].value).toBeCloseTo(s.reached.f1, 12);
    expect(r.candidates[0].fidelity.graphF1.edges.all.baseline).toBeGreaterThan(0);
  });

  it.skipIf(!haveCharTf)('units after the last attention Softmax: held by the output co-limits, or left dense when those are off', async () => {
    const inputs = textInputs();
    const off = await cli(
      'prune',
      charA,
      '-o',
      p('char-off.onnx'),
      '--method',
      'structured',
      '--units',
      'ffn',
      '--target-f1',
      '0.9',
      '--min-top1',
      '0',
      '--min-cosine',
      '0',
      '--calibration',
      inputs,
      '--json',
    );
    expect(off.code, off.err).toBe(0);
    const rep = JSON.parse(off.out);
    expect(rep.search.leftDense).toEqual(['ffn:/layers.1/intermediate/MatMul']);
    expect(rep.notes.join('\n')).toMatch(/invisible to graph F1 and no output limit is set: left dense/);
    expect(rep.groups.find((g: { id: string }) => g.id === 'ffn:/layers.1/intermediate/MatMul')?.kept ?? 256).toBe(256);
    const on = await cli(
      'prune',
      charA,
      '-o',
      p('char-on.onnx'),
      '--method',
      'structured',
      '--units',
      'ffn',
      '--target-f1',
      '0.9',
      '--calibration',
      inputs,
      '--json',
    );
    expect(on.code, on.err).toBe(0);
    const r2 = JSON.parse(on.out);
    expect(r2.search.target).toMatchObject({ minTop1: 0.9, minCosine: 0.99 });
    expect(r2.search.leftDense).toEqual([]);
    expect(r2.notes.join('\n')).toMatch(/invisible to graph F1: held by the output limits \(top-1 >= 0\.9, cosine >= 0\.99\)/);
    expect(r2.search.reached.top1).toBeGreaterThanOrEqual(0.9);
  });

  it('--target-f1 on a model whose attention graph is empty (near-uniform attention) is refused with the reason', async () => {
    const g = buildBert({ layers: 2, hidden: 32, heads: 2, intermediate: 64, classifier: 2 });
    for (const sm of g.graph.nodes.filter((n) => n.opType === 'Softmax')) {
      const k = g.graph.addConstant('flat', floatTensor([], [0.01]));
      const scaled = g.graph.addNode('Mul', [sm.input(0)!, k], {}, { before: sm }).output(0);
      sm.setInput(0, scaled);
    }
    const file = p('flat-bert.onnx');
    saveModel(g, file);
    const r = await cli(
      'prune',
      file,
      '-o',
      p('flat-out.onnx'),
      '--method',
      'structured',
      '--units',
      'ffn',
      '--target-f1',
      '0.95',
      '--dim',
      'batch=2',
      '--dim',
      'sequence=16',
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--target-f1 cannot steer this search: graph F1 is inconclusive.*0 baseline edge/);
    expect(fs.existsSync(p('flat-out.onnx'))).toBe(false);
  });
});
