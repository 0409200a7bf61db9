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
    expect(r.out).toMatch(/search\s+graph F1 >= 0.9: met; reached graph F1 (0\.9\d+|1\.000)/);
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
      ['prune', cnnFile, '-o', p('x.onnx'), '--method', 'magnitude', '--target-f1', '0.9'],
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
});
