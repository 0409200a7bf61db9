import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { createModel, DataType, floatTensor, int64Tensor, saveModel, Tensor } from '../../src/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-inspect-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(...args: string[]) {
  const io = captureIO(tmp);
  const code = await main(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

/** 3x4 weight (12, 2 zeros) + 4 bias + a 1-element scale (not a parameter) + int64 shape (not a parameter) + fp16 2x2 */
function model() {
  const { model, b } = createModel({ opset: 17 });
  model.setMetadata('k', 'v');
  const x = b.input('x', DataType.FLOAT, ['batch', 3]);
  const w = b.init('w', floatTensor([3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0]));
  const bias = b.constantNode(floatTensor([4], [1, 1, 1, 1]), 'bias');
  const s = b.init('s', floatTensor([1], [2]));
  const h = b.init('h', Tensor.fromArray(DataType.FLOAT16, [2, 2], new Uint16Array([0x3c00, 0, 0x3c00, 0x3c00])));
  const y = b.op('Mul', [b.op('Add', [b.op('MatMul', [x, w]), bias]), s]);
  const r = b.op('Reshape', [y, b.init('shape', int64Tensor([2], [-1, 2]))]);
  b.output(b.op('MatMul', [r, b.op('Cast', [h], { to: DataType.FLOAT })]), 'out', DataType.FLOAT, [null, 2]);
  const file = path.join(tmp, 'm.onnx');
  saveModel(model, file);
  return file;
}

describe('autoglm inspect', () => {
  it('--json gives hand-checked parameter counts, I/O and op histogram', async () => {
    const { code, out } = await cli('inspect', model(), '--json');
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.parameters.total).toBe(12 + 4 + 4);
    expect(r.parameters.nonZero).toBe(10 + 4 + 3);
    expect(r.parameters.bySource).toEqual({ initializer: 16, constantNode: 4, sparse: 0 });
    expect(r.parameters.byDtype.map((d: any) => [d.dtype, d.params])).toEqual([
      ['float32', 16],
      ['float16', 4],
    ]);
    expect(r.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: ['batch', 3] }]);
    expect(r.outputs).toEqual([{ name: 'out', dtype: 'float32', shape: [null, 2] }]);
    expect(r.ops.find((o: any) => o.opType === 'MatMul').count).toBe(2);
    expect(r.nodes.total).toBe(7);
    expect(r.opsets).toEqual([{ domain: 'ai.onnx', version: 17 }]);
    expect(r.metadata).toEqual({ k: 'v' });
    expect(r.file.size).toBe(fs.statSync(path.join(tmp, 'm.onnx')).size);
  });

  it('prints human tables', async () => {
    const { code, out } = await cli('inspect', model());
    expect(code).toBe(0);
    expect(out).toMatch(/parameters 20 \(20\), non-zero 17/);
    expect(out).toMatch(/input\s+x\s+float32\s+\[batch, 3\]/);
    expect(out).not.toMatch(/\x1b\[/); // no colour when not a TTY
  });

  it('exits 2 with one line for bad input and bad usage', async () => {
    const missing = await cli('inspect', path.join(tmp, 'nope.onnx'));
    expect(missing.code).toBe(2);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
    expect(missing.err).toMatch(/no such file/);
    fs.writeFileSync(path.join(tmp, 'junk.onnx'), 'not a model at all, just text\n');
    const junk = await cli('inspect', path.join(tmp, 'junk.onnx'));
    expect(junk.code).toBe(2);
    expect(junk.err).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect((await cli('inspect')).code).toBe(2);
    expect((await cli('no-such-command')).code).toBe(2);
  });

  it('--help and --version exit 0', async () => {
    const h = await cli('--help');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/inspect/);
    const v = await cli('--version');
    expect(v.code).toBe(0);
    expect(v.out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe("inspect on the fixtures (parameter counts worked out by hand from the builders' sizes)", () => {
  const fx = (f: string) => path.resolve(__dirname, '../../fixtures', f);
  // BERT-tiny: embeddings (100 + 64 + 2) x 32 + LayerNorm 64; per layer 4 x (32x32 + 32) + 2 x 64 (LN)
  // + 32x64 + 64 + 64x32 + 32 = 8544, two layers; pooler 32x32 + 32 = 1056; classifier 32x2 + 2 = 66.
  // Its 20 scalar Constant nodes (0.5, sqrt 2, epsilon, ...) are not parameters.
  const bert = (100 + 64 + 2) * 32 + 64 + 2 * (4 * (32 * 32 + 32) + 2 * 64 + 32 * 64 + 64 + 64 * 32 + 32) + 1056 + 66;
  const cases: [string, number, Partial<Record<'initializer' | 'constantNode', number>>][] = [
    ['bert-tiny.onnx', bert, { initializer: bert, constantNode: 0 }],
    // stem conv 8x3x3x3 + bias 8 + BN 4x8 = 256; two residual blocks of 2 x (conv 8x8x3x3 + BN 32) = 2432;
    // depthwise conv 8x1x3x3 + BN 32 = 104; Gemm 8x10 + 10 = 90
    ['cnn-small.onnx', 256 + 2432 + 104 + 90, { initializer: 2882 }],
    // weights in If/Loop bodies count; the 1-element threshold does not
    ['control-flow.onnx', 60, { initializer: 60 }],
    // paddle2onnx style: every weight in a Constant node
    ['paddle-style.onnx', 1024, { initializer: 0, constantNode: 1024 }],
    ['external/mlp.onnx', 8 * 16 + 16 + 16 * 4 + 4, { initializer: 212 }],
  ];
  for (const [file, total, bySource] of cases) {
    it(file, async () => {
      const { code, out } = await cli('inspect', fx(file), '--json');
      expect(code).toBe(0);
      const r = JSON.parse(out);
      expect(r.parameters.total).toBe(total);
      expect(r.parameters.bySource).toMatchObject(bySource);
    });
  }
  it('counts subgraph nodes and reports external data', async () => {
    const cf = JSON.parse((await cli('inspect', fx('control-flow.onnx'), '--json')).out);
    expect(cf.nodes.subgraphs).toBeGreaterThan(0);
    expect(cf.nodes.total).toBe(cf.nodes.mainGraph + cf.nodes.subgraphs);
    const ext = JSON.parse((await cli('inspect', fx('external/mlp.onnx'), '--json')).out);
    expect(ext.file.externalBytes).toBe(212 * 4);
    expect(ext.file.externalFiles).toEqual(['mlp.onnx.data']);
  });
});
