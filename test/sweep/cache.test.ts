/** The content-addressed model cache: hits and misses, whole entries only, LRU eviction by size under a cap. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/io.js';
import { ModelCache, parseSize } from '../../src/sweep/cache.js';
import { modelHash } from '../../src/sweep/jobs.js';
import { expectSameOutputs } from '../helpers/equivalence.js';

const root = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-cache-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const key = (c: string) => c.repeat(64);

describe('ModelCache', () => {
  it('stores a model under its key and gives it back (the same model), counting hits and misses', async () => {
    const cache = new ModelCache<{ note: string }>(path.join(tmp, 'a'));
    expect(cache.get(key('a'))).toBeUndefined();
    const src = loadModel(path.join(root, 'fixtures/cnn-small.onnx'));
    const put = cache.put(key('a'), src, { note: 'made' });
    const hit = cache.get(key('a'))!;
    expect(hit.meta).toEqual({ note: 'made' });
    expect(hit.bytes).toBe(fs.statSync(hit.model).size);
    expect(put.model).toBe(hit.model);
    expect(cache.stats).toMatchObject({ hits: 1, misses: 1, evicted: 0 });
    await expectSameOutputs(loadModel(path.join(root, 'fixtures/cnn-small.onnx')), loadModel(hit.model), { dims: { batch: 2 } });
    // no temporary folder is left beside the entry
    expect(fs.readdirSync(cache.dir)).toEqual([key('a')]);
    expect(() => cache.get('../etc')).toThrow(/not a hex digest/);
  });

  it('an entry without its entry.json (a crash while it was made) is a miss', () => {
    const cache = new ModelCache(path.join(tmp, 'b'));
    fs.mkdirSync(path.join(cache.dir, key('c')));
    fs.writeFileSync(path.join(cache.dir, key('c'), 'model.onnx'), 'partial');
    expect(cache.get(key('c'))).toBeUndefined();
    expect(cache.stats.misses).toBe(1);
  });

  it('evicts the least recently used entries beyond the cap, never the one just stored', () => {
    const model = () => loadModel(path.join(root, 'fixtures/cnn-small.onnx'));
    const one = fs.statSync(path.join(root, 'fixtures/cnn-small.onnx')).size;
    const cache = new ModelCache(path.join(tmp, 'lru'), Math.round(one * 2.5 + 2000)); // room for two entries
    const old = Date.now() / 1000 - 100;
    cache.put(key('1'), model(), {});
    fs.utimesSync(path.join(cache.dir, key('1'), 'entry.json'), old, old);
    cache.put(key('2'), model(), {});
    fs.utimesSync(path.join(cache.dir, key('2'), 'entry.json'), old + 10, old + 10);
    cache.get(key('1')); // 1 is now the most recently used
    cache.put(key('3'), model(), {});
    expect(cache.stats.evicted).toBe(1);
    expect(
      cache
        .entries()
        .map((e) => e.key)
        .sort(),
    ).toEqual([key('1'), key('3')]);
    expect(cache.totalBytes()).toBeLessThanOrEqual(cache.stats.capBytes);
    const tiny = new ModelCache(path.join(tmp, 'tiny'), 10);
    tiny.put(key('4'), model(), {});
    expect(tiny.entries().map((e) => e.key)).toEqual([key('4')]); // larger than the cap alone, but kept
  });

  it('keeps external data with its model, and the model hash covers it', async () => {
    const dir = path.join(tmp, 'ext');
    fs.mkdirSync(dir);
    for (const f of ['mlp.onnx', 'mlp.onnx.data']) fs.copyFileSync(path.join(root, 'fixtures/external', f), path.join(dir, f));
    const cache = new ModelCache(path.join(tmp, 'ext-cache'));
    const put = cache.put(key('e'), loadModel(path.join(dir, 'mlp.onnx')), {});
    expect(fs.existsSync(`${put.model}.data`)).toBe(true);
    expect(put.bytes).toBe(fs.statSync(put.model).size + fs.statSync(`${put.model}.data`).size);
    await expectSameOutputs(loadModel(path.join(dir, 'mlp.onnx')), loadModel(cache.get(key('e'))!.model), { dims: { batch: 2 } });
    const before = modelHash(path.join(dir, 'mlp.onnx'));
    const data = fs.readFileSync(path.join(dir, 'mlp.onnx.data'));
    data[0] ^= 0x40; // a weight changes, the .onnx file does not
    fs.writeFileSync(path.join(dir, 'mlp.onnx.data'), data);
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(dir, 'mlp.onnx.data'), later, later);
    expect(modelHash(path.join(dir, 'mlp.onnx'))).not.toBe(before);
  });

  it('parses sizes', () => {
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize('500MB')).toBe(5e8);
    expect(parseSize('1024')).toBe(1024);
    expect(() => parseSize('lots')).toThrow(/2GiB/);
  });
});
