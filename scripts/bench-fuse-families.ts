/**
 * `npm run bench:fuse -- --families 1`: a row per committed torch export (fixtures/torch/): nodes before/after,
 * Softmax left, fuse time (transformer preset, --target ort, no I/O), session creation (median of --creations,
 * interleaved, from bytes) and latency (median of --runs interleaved runs on the export's first reference case) of
 * the original and the fused model at onnxruntime's level `all`. Run on a shared machine, the figures are noisy.
 */
import * as fs from 'node:fs';
import { timeInterleaved } from '../src/measure/timing.js';
import { encodeModel } from '../src/onnx/encode.js';
import { decodeModelBytes } from '../src/onnx/io.js';
import { runPasses } from '../src/optimize/registry.js';
import { resolveFusePasses } from '../src/passes/index.js';
import { createSession } from '../src/runtime/session.js';
import { exportCases, feedsOf, torchFixture } from '../test/helpers/torch-fixtures.js';

const FAMILIES: [string, string][] = [
  ['gpt2-tiny-op14.onnx', 'gpt2-tiny.json'],
  ['gpt2-tiny-op17.onnx', 'gpt2-tiny.json'],
  ['gpt2-past-tiny.onnx', 'gpt2-past-tiny.json'],
  ['mha-encoder-tiny-op14.onnx', 'mha-encoder-tiny.json'],
  ['mha-encoder-tiny-op17.onnx', 'mha-encoder-tiny.json'],
  ['llama-tiny.onnx', 'llama-tiny.json'],
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function familyRows(o: { runs: number; warmup: number; creations: number }): Promise<(string | number)[][]> {
  const rows: (string | number)[][] = [];
  for (const [file, ref] of FAMILIES) {
    const bytes = new Uint8Array(fs.readFileSync(torchFixture(file)));
    const model = decodeModelBytes(bytes);
    const t = performance.now();
    const report = runPasses(model, resolveFusePasses(['transformer']), { target: 'ort' });
    const fuseMs = performance.now() - t;
    const fused = encodeModel(model);
    const softmax = model.graph.nodes.filter((n) => n.opType === 'Softmax').length;
    const create = { o: [] as number[], f: [] as number[] };
    await (await createSession(bytes)).release();
    for (let i = 0; i < o.creations; i++)
      for (const k of i % 2 ? (['f', 'o'] as const) : (['o', 'f'] as const)) {
        const t0 = performance.now();
        const s = await createSession(k === 'o' ? bytes : fused);
        create[k].push(performance.now() - t0);
        await s.release();
      }
    const feeds = feedsOf(exportCases(ref).cases[0]!.inputs);
    const [so, sf] = [await createSession(bytes), await createSession(fused)];
    const [lo, lf] = await timeInterleaved([() => so.run(feeds), () => sf.run(feeds)], { warmup: o.warmup, runs: o.runs, minTimeMs: 0, sets: 1 });
    await so.release();
    await sf.release();
    const [co, cf, mo, mf] = [median(create.o), median(create.f), median(lo!), median(lf!)];
    rows.push([
      file.replace('.onnx', ''),
      `${report.nodesBefore} -> ${report.nodesAfter}`,
      softmax,
      fuseMs.toFixed(0),
      co.toFixed(1),
      cf.toFixed(1),
      (cf / co).toFixed(2),
      (mo * 1000).toFixed(0),
      (mf * 1000).toFixed(0),
      (mf / mo).toFixed(2),
    ]);
  }
  return rows;
}

export const FAMILY_HEADERS = [
  'export',
  'nodes',
  'Softmax left',
  'fuse (ms)',
  'create orig (ms)',
  'create fused (ms)',
  'ratio',
  'latency orig (µs)',
  'latency fused (µs)',
  'ratio',
];
