/** `autoglm graph` in-process: formats, --against, --vocab, --inputs, usage errors (exit 2). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { createModel } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { saveModel } from '../../src/onnx/io.js';
import { save, tempDir, tinyBert } from '../bench/models.js';
import { charEvalFeeds } from '../helpers/torch-fixtures.js';

const FIX = path.resolve(__dirname, '../../fixtures/torch');
let tmp: string;
beforeAll(() => {
  tmp = tempDir('autoglm-cli-graph-');
  save(tinyBert(), tmp, 'bert.onnx');
  const ids = charEvalFeeds().feeds.input_ids!;
  const row = Array.from((ids.data as BigInt64Array).slice(0, 64), Number);
  fs.writeFileSync(path.join(tmp, 'in.json'), JSON.stringify({ input_ids: { dims: [1, 64], dtype: 'int64', data: row } }));
  fs.writeFileSync(path.join(tmp, 'ascii.json'), JSON.stringify(Array.from({ length: 128 }, (_, i) => String.fromCharCode(i))));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(...args: string[]) {
  const io = captureIO(tmp);
  const code = await main(['graph', ...args], io);
  return { code, out: io.stdout(), err: io.stderr(), info: io.infoText() };
}

describe('autoglm graph', () => {
  it('JSON of a trained model against another, with token labels', async () => {
    const a = path.join(FIX, 'char-tf-a.onnx');
    const b = path.join(FIX, 'char-tf-b.onnx');
    const r = await cli(b, '--against', a, '--inputs', 'in.json', '--vocab', 'ascii.json', '--format', 'json', '--graph-threshold', '4/T');
    expect(r.code, r.err).toBe(0);
    const g = JSON.parse(r.out);
    expect(g.edgeRule).toBe('4/T');
    expect(g.rows).toBe(64);
    expect(g.labels[1]).toMatch(/^1:./);
    expect(g.counts.kept).toBeGreaterThan(0);
    expect(new Set(g.edges.map((e: { status: string }) => e.status))).toEqual(new Set(['kept', 'lost', 'added']));
  });

  it('DOT to a file, atomically; svg when dot is installed', async () => {
    const r = await cli('bert.onnx', '--dim', 'batch=1', '--dim', 'sequence=8', '--graph-edges', 'topk:2', '-o', 'g.dot');
    expect(r.code, r.err).toBe(0);
    expect(r.info).toMatch(/wrote dot graph: g\.dot \(16 edge\(s\)\)/);
    expect(fs.readFileSync(path.join(tmp, 'g.dot'), 'utf8')).toMatch(/^digraph "bert\.onnx" \{/);
    if (spawnSync('dot', ['-V']).status !== 0) return console.warn('Graphviz dot is not installed: svg not checked');
    const s = await cli('bert.onnx', '--dim', 'batch=1', '--dim', 'sequence=8', '--format', 'svg');
    expect(s.code, s.err).toBe(0);
    expect(s.out).toMatch(/<svg /);
  });

  it('bad usage exits 2 with one line', async () => {
    expect((await cli('bert.onnx', '--format', 'png')).err).toMatch(/--format must be dot, json or svg/);
    const r = await cli('bert.onnx', '--graph-threshold', '2');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--graph-threshold must be/);
    expect((await cli('bert.onnx', '-o', 'nowhere/g.dot')).code).toBe(2);
  });

  // the hostile-input harness (test/hostile/cli.test.ts) leaves graph out: its valid model has no attention and its
  // output is not a model; these are graph's own bad inputs
  it('bad models exit 2 with one line: not ONNX, truncated, no attention', async () => {
    fs.writeFileSync(path.join(tmp, 'text.onnx'), 'not a model\n');
    const bytes = fs.readFileSync(path.join(tmp, 'bert.onnx'));
    fs.writeFileSync(path.join(tmp, 'cut.onnx'), bytes.subarray(0, bytes.length >> 1));
    const mlp = createModel({ opset: 17 });
    const x = mlp.b.input('x', DataType.FLOAT, [1, 4]);
    mlp.b.output(mlp.b.op('Relu', [x]), 'y', DataType.FLOAT, [1, 4]);
    saveModel(mlp.model, path.join(tmp, 'mlp.onnx'));
    for (const [file, why] of [
      ['text.onnx', /not an ONNX|ONNX model|protobuf|parse/i],
      ['cut.onnx', /truncated|end of|ONNX|parse/i],
      ['mlp.onnx', /no attention to draw/],
    ] as const) {
      const r = await cli(file, '-o', `${file}.dot`);
      expect(r.code, `${file}: ${r.err}`).toBe(2);
      expect(r.err.trim().split('\n'), file).toHaveLength(1);
      expect(r.err).toMatch(why);
      expect(fs.existsSync(path.join(tmp, `${file}.dot`))).toBe(false);
    }
  });
});
