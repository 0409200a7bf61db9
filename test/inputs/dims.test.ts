import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { UsageError } from '../../src/errors.js';
import { symbolicDims } from '../../src/inputs/describe.js';
import { checkDims, dimLimits, withDefaultDims } from '../../src/inputs/dims.js';
import { loadInputs } from '../../src/inputs/load.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { encodeNpy } from '../../src/inputs/tensor-files.js';
import { DataType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import { loadModel } from '../../src/onnx/io.js';
import { createSession, ortTensorFromArray, runSession } from '../../src/runtime/session.js';
import { didYouMean } from '../../src/util/text.js';
import { torchFixture } from '../helpers/torch-fixtures.js';

const root = path.resolve(__dirname, '../..');
const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('did not throw');
};
const gpt2 = () => loadModel(torchFixture('gpt2-tiny-op14.onnx'));

describe('inputs/dims', () => {
  it('names an unknown dimension with a did-you-mean and lists the real ones', () => {
    const m = message(() => checkDims(gpt2(), { batch: 1, seqence: 32 }));
    expect(m).toContain("no dimension 'seqence' (did you mean 'sequence'?)");
    expect(m).toContain('batch, sequence');
    expect(message(() => checkDims(gpt2(), { batch: 1, sequence: 8, zzz: 2 }))).toMatch(/no dimension 'zzz'; /);
    // the library's synthesis takes one set of sizes for several models (names unchecked), but never a size beyond a limit
    expect(synthesizeInputs(gpt2(), { dims: { batch: 1, sequence: 8, zzz: 2 } })).toHaveLength(1);
    expect(message(() => synthesizeInputs(gpt2(), { dims: { batch: 1, sequence: 65 } }))).toMatch(/sequence <= 64/);
    expect(didYouMean('Batch', ['batch', 'sequence'])).toBe('batch');
    expect(didYouMean('tokens', ['batch', 'sequence'])).toBeUndefined();
  });

  it('refuses zero and non-integer sizes', () => {
    expect(message(() => checkDims(gpt2(), { batch: 1, sequence: 0 }))).toContain('--dim sequence=0: a size must be a positive integer');
    expect(message(() => checkDims(gpt2(), { batch: 1.5 }))).toContain('positive integer');
  });

  it('finds the position limits of real torch exports (Range, a sliced position buffer, past + sequence)', () => {
    const show = (file: string) => dimLimits(loadModel(file)).map((l) => `${JSON.stringify(l.terms)}${l.c ? `+${l.c}` : ''}<=${l.max}`);
    expect(show(torchFixture('gpt2-tiny-op14.onnx'))).toEqual(['{"sequence":1}<=64']);
    expect(show(torchFixture('gpt2-tiny-op17.onnx'))).toEqual(['{"sequence":1}<=64']);
    expect(show(torchFixture('char-tf-a.onnx'))).toEqual(['{"sequence":1}<=64', '{"sequence":1}<=64']);
    expect(show(path.join(root, 'fixtures/bert-tiny.onnx'))).toEqual(['{"sequence":1}<=64', '{"sequence":1}<=64']);
    expect(show(torchFixture('gpt2-past-tiny.onnx'))).toEqual(['{"sequence":1,"past_sequence":1}<=64']);
    expect(show(torchFixture('llama-tiny.onnx'))).toEqual([]); // rotary positions: no table
    const past = message(() => checkDims(loadModel(torchFixture('gpt2-past-tiny.onnx')), { batch: 1, sequence: 40, past_sequence: 40 }));
    expect(past).toContain('sequence + past_sequence <= 64');
  });

  it('the limit is exact: 64 positions run in onnxruntime, 65 are refused before running (and would fail there)', async () => {
    const model = gpt2();
    expect(message(() => checkDims(model, { batch: 1, sequence: 65 }))).toBe(
      "--dim sequence=65: beyond what the model allows: the table 'wpe.weight' has 64 rows, so sequence <= 64",
    );
    const session = await createSession(model);
    const [ok] = synthesizeInputs(model, { dims: { batch: 1, sequence: 64 } });
    const out = await runSession(session, ok!);
    expect(Object.values(out)[0]!.dims).toContain(64);
    const feeds = {
      input_ids: ortTensorFromArray(DataType.INT64, [1, 65], new BigInt64Array(65)),
      attention_mask: ortTensorFromArray(DataType.INT64, [1, 65], new BigInt64Array(65).fill(1n)),
    };
    await expect(runSession(session, feeds)).rejects.toThrow();
  });
});

describe('withDefaultDims', () => {
  it('gives a batch-like dimension 1 and others 32, keeps given sizes', () => {
    expect(withDefaultDims(['batch', 'sequence'], { sequence: 8 })).toEqual({ batch: 1, sequence: 8 });
  });

  it("sizes a dimension named as a sum (torch's past_sequence + sequence) as the sum, unless given", () => {
    const names = ['batch', 'sequence', 'past_sequence', 'past_sequence + sequence'];
    expect(withDefaultDims(names, { sequence: 4, past_sequence: 6 })['past_sequence + sequence']).toBe(10);
    expect(withDefaultDims(names, {})['past_sequence + sequence']).toBe(64);
    expect(withDefaultDims(names, { 'past_sequence + sequence': 5 })['past_sequence + sequence']).toBe(5);
    // a term the model does not size leaves the default
    expect(withDefaultDims(['a + b', 'a'], {})['a + b']).toBe(32);
  });

  it('the KV-cache decoder export runs on its default sizes (mask length = past + new tokens)', async () => {
    const model = loadModel(torchFixture('gpt2-past-tiny.onnx'));
    const dims = withDefaultDims(symbolicDims(model), { past_sequence: 8, sequence: 4 });
    const [feeds] = synthesizeInputs(model, { dims, seed: 1 });
    expect(feeds!.attention_mask!.dims).toEqual([1, 12]);
    const s = await createSession(model);
    try {
      const out = await runSession(s, feeds!);
      expect(out['present.0.key']!.dims).toEqual([1, 4, 12, 16]);
    } finally {
      await s.release();
    }
  });
});

describe('--inputs files against the model limits', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-dims-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const inputsOf = (n: number): string => {
    const file = path.join(tmp, `seq-${n}.json`);
    const t = (v: number) => ({ dims: [1, n], dtype: 'int64', data: Array.from({ length: n }, (_, k) => (v < 0 ? k % 50 : v)) });
    fs.writeFileSync(file, JSON.stringify({ input_ids: t(-1), attention_mask: t(1) }));
    return file;
  };

  it('a set beyond a position table is refused on loading, naming the input, its size and the limit; 64 loads', () => {
    const model = gpt2();
    expect(loadInputs(inputsOf(64), model)[0]!.input_ids!.dims).toEqual([1, 64]);
    const file = inputsOf(128);
    expect(message(() => loadInputs(file, model))).toBe(
      `${file}: input 'input_ids' has sequence=128 (axis 1), beyond what the model allows: the table 'wpe.weight' has 64 rows, so sequence <= 64`,
    );
    // a folder of sets: the set that is too long is named
    fs.mkdirSync(path.join(tmp, 'sets/set_0'), { recursive: true });
    fs.mkdirSync(path.join(tmp, 'sets/set_1'), { recursive: true });
    fs.copyFileSync(inputsOf(8), path.join(tmp, 'sets/set_0/inputs.json'));
    fs.copyFileSync(inputsOf(65), path.join(tmp, 'sets/set_1/inputs.json'));
    expect(message(() => loadInputs(path.join(tmp, 'sets'), model))).toMatch(/sets\/set_1: input 'input_ids' has sequence=65 .*so sequence <= 64$/);
  });

  it('past + sequence of a KV-cache decoder is checked as a sum', () => {
    const model = loadModel(torchFixture('gpt2-past-tiny.onnx'));
    const dir = path.join(tmp, 'past');
    fs.mkdirSync(dir);
    const write = (name: string, dtype: DataType, dims: number[]) => {
      const n = dims.reduce((a, b) => a * b, 1);
      const data = dtype === DataType.INT64 ? new BigInt64Array(n).fill(1n) : new Float32Array(n);
      fs.writeFileSync(path.join(dir, `${name}.npy`), encodeNpy(Tensor.fromArray(dtype, dims, data, name)));
    };
    write('input_ids', DataType.INT64, [1, 40]);
    write('attention_mask', DataType.INT64, [1, 70]);
    for (const l of [0, 1]) for (const kv of ['key', 'value']) write(`past_key_values.${l}.${kv}`, DataType.FLOAT, [1, 4, 30, 16]);
    const file = dir;
    expect(message(() => loadInputs(file, model))).toMatch(
      /sequence=40 \(axis 1\), input '[^']+' has past_sequence=30 \(axis 2\), beyond what the model allows: .*sequence \+ past_sequence <= 64$/,
    );
  });

  it('the CLI: bench --inputs with 128 positions on a 64-position model exits 2 with that line, before running', async () => {
    const io = captureIO(tmp);
    const code = await main(
      ['bench', torchFixture('gpt2-tiny-op14.onnx'), '-b', torchFixture('gpt2-tiny-op14.onnx'), '--inputs', inputsOf(128), '--runs', '2', '--warmup', '0'],
      io,
    );
    expect(code).toBe(2);
    expect(io.stderr()).toMatch(
      /input 'input_ids' has sequence=128 \(axis 1\), beyond what the model allows: the table 'wpe.weight' has 64 rows, so sequence <= 64/,
    );
    expect(io.stderr()).not.toMatch(/onnxruntime|Gather|indices/i);
  });
});
