/** The sweep config (models, recipes, grid form, bench), job expansion, keys and shards. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { checkSweepConfig, expandGrid, expandGlob } from '../../src/sweep/config.js';
import { cacheKey, canonicalJson, expandJobs, inShard, jobKey, modelHash, parseShard } from '../../src/sweep/jobs.js';

const root = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-sweep-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
for (const f of ['bert-tiny.onnx', 'cnn-small.onnx']) fs.copyFileSync(path.join(root, 'fixtures', f), path.join(tmp, f));

const base = { models: ['*.onnx'], recipes: [{ name: 'fused', preset: 'transformer' }] };

describe('checkSweepConfig', () => {
  it('expands globs relative to the config, names models by file, and sizes every symbolic dim', () => {
    const c = checkSweepConfig({ ...base, dims: { sequence: 8 } }, tmp);
    expect(c.models.map((m) => m.name)).toEqual(['bert-tiny', 'cnn-small']);
    expect(c.models[0]!.path).toBe(path.join(tmp, 'bert-tiny.onnx'));
    expect(c.models[0]!.dims).toEqual({ batch: 1, sequence: 8 });
    expect(c.models[1]!.dims).toEqual({ batch: 1 }); // only the dims the model has
  });

  it("a model's own dims and inputs win", () => {
    const c = checkSweepConfig({ ...base, models: [{ path: 'bert-tiny.onnx', name: 'b', dims: { sequence: 4 }, inputs: 'in/' }], dims: { sequence: 8 } }, tmp);
    expect(c.models[0]).toMatchObject({ name: 'b', dims: { batch: 1, sequence: 4 }, inputs: path.join(tmp, 'in') });
  });

  it('the grid form makes one recipe per combination', () => {
    const c = checkSweepConfig(
      {
        ...base,
        recipes: [{ name: 'p', prune: { method: 'magnitude' }, grid: { 'prune.sparsity': [0.25, 0.5], 'quantize.dtype': ['fp16', 'int8'] } }],
      },
      tmp,
    );
    expect(c.recipes.map((r) => r.name)).toEqual([
      'p[sparsity=0.25,dtype=fp16]',
      'p[sparsity=0.25,dtype=int8]',
      'p[sparsity=0.5,dtype=fp16]',
      'p[sparsity=0.5,dtype=int8]',
    ]);
    expect(c.recipes[3]!.config).toEqual({ prune: { method: 'magnitude', sparsity: 0.5 }, quantize: { dtype: 'int8' } });
    expect(expandGrid('x', { a: 1 }, undefined)).toEqual([{ name: 'x', config: { a: 1 } }]);
  });

  it('refuses what optimize refuses, and sweep-level settings in a recipe', () => {
    const bad = (doc: object, re: RegExp) => expect(() => checkSweepConfig({ ...base, ...doc }, tmp)).toThrow(re);
    bad({ recipes: [{ name: 'x', quantize: { dtype: 'int3' } }] }, /recipes\[0\] \(x\): quantize.dtype/);
    bad({ recipes: [{ name: 'x', passes: ['fuse-nothing'] }] }, /fuse-nothing/);
    bad({ recipes: [{ name: 'x', bench: {} }] }, /belong to the sweep's "bench"/);
    bad({ recipes: [{ name: 'x', grid: { 'prune.sparsity': [] } }] }, /non-empty list/);
    bad({ recipes: [{ preset: 'cnn' }] }, /with a "name"/);
    bad({ models: ['nope-*.onnx'] }, /matches no file/);
    bad({ models: [{ path: '*.onnx', name: 'one' }] }, /a name applies to one file/);
    bad({ models: ['bert-tiny.onnx', { path: 'bert-tiny.onnx' }] }, /two models are named 'bert-tiny'/);
    bad({ bench: { runs: -1 } }, /bench.runs/);
    bad({ bench: { gates: 'latency' } }, /bench.gates/);
    bad({ extra: 1 }, /unknown key 'extra'/);
    bad({ dims: { batch: 0 } }, /positive integer/);
    expect(() => checkSweepConfig([], tmp)).toThrow(UsageError);
    expect(() => expandGlob(path.join(tmp, '*', 'x.onnx'))).toThrow(/file name only/);
  });
});

describe('jobs, keys and shards', () => {
  const config = checkSweepConfig(
    {
      ...base,
      recipes: [
        { name: 'fused', preset: 'transformer' },
        { name: 'int8', quantize: { dtype: 'int8' } },
        { name: 'fp16', quantize: { dtype: 'fp16' } },
      ],
    },
    tmp,
  );

  it('every model x every recipe, model by model, with file-safe ids', () => {
    const jobs = expandJobs(config);
    expect(jobs.map((j) => j.id)).toEqual(['bert-tiny__fused', 'bert-tiny__int8', 'bert-tiny__fp16', 'cnn-small__fused', 'cnn-small__int8', 'cnn-small__fp16']);
    expect(jobs.map((j) => j.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(jobs[1]!.optimize).toEqual({ quantize: { dtype: 'int8' }, dims: { batch: 1, sequence: 32 } });
  });

  it('shards are disjoint and cover every job', () => {
    const jobs = expandJobs(config);
    for (const n of [1, 2, 4, 7]) {
      const seen = Array.from({ length: n }, (_, i) => jobs.filter((j) => inShard(j, { index: i, count: n })).map((j) => j.id)).flat();
      expect(seen.sort()).toEqual(jobs.map((j) => j.id).sort());
    }
    expect(parseShard('1/3')).toEqual({ index: 1, count: 3 });
    expect(() => parseShard('3/3')).toThrow(/0..2/);
    expect(() => parseShard('1of3')).toThrow(/write i\/n/);
  });

  it('keys follow content: the model bytes, the recipe, the version and the bench settings', () => {
    const [a, b] = expandJobs(config);
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    expect(cacheKey(a!, '1')).toBe(cacheKey(a!, '1'));
    expect(cacheKey(a!, '1')).not.toBe(cacheKey(b!, '1'));
    expect(cacheKey(a!, '1')).not.toBe(cacheKey(a!, '2'));
    expect(jobKey(a!, { runs: 3 }, '1')).not.toBe(jobKey(a!, { runs: 4 }, '1'));
    // the same recipe with keys in another order is the same recipe
    const reordered = { ...a!, optimize: JSON.parse(canonicalJson(a!.optimize)) };
    expect(cacheKey(reordered, '1')).toBe(cacheKey(a!, '1'));
    // a changed model file changes its hash (and so every key of its jobs)
    const copy = path.join(tmp, 'copy.onnx');
    fs.copyFileSync(path.join(tmp, 'cnn-small.onnx'), copy);
    const h1 = modelHash(copy);
    const bytes = fs.readFileSync(copy);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(copy, bytes);
    fs.utimesSync(copy, new Date(), new Date(Date.now() + 5000));
    expect(modelHash(copy)).not.toBe(h1);
  });
});
