/**
 * npm run bench:fuse — what operator fusion costs and buys on a BERT-base-sized encoder.
 *
 * Builds buildBert({ layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocab: 30522, maxPositions: 512 }) in
 * memory (no file), copies it through its bytes (as a loaded model: weights are views on the bytes), and prints:
 *
 *   fuse pipeline   wall time of runPasses(transformer preset, --target ort by default), no I/O; the growth of the
 *                   process's resident memory during it (peak RSS sampled by a thread) and of the JS heap; nodes
 *                   before/after; the passes that took longest
 *   sessions        for onnxruntime levels disabled / basic / all: session creation time of original and fused
 *                   (median of --creations, interleaved, from in-memory bytes so our encoding is not counted) and
 *                   latency (median of --runs interleaved runs, batch 1, sequence 128, seeded inputs)
 *   check           max |Δ| of last_hidden_state against the original at level disabled, for the fused model and
 *                   for onnxruntime's own optimisation of the original at each level (a deep encoder amplifies
 *                   float rounding: the runtime's own fusions move it about as much as ours)
 *
 *   npm run bench:fuse [-- --runs 20 --warmup 3 --creations 5 --layers 12 --threads 0 --target ort --levels disabled,basic,all]
 *   npm run bench:fuse -- --families 1 [--runs 200 --creations 5]   instead: a row per torch export (bench-fuse-families.ts)
 */
import { buildBert } from '../fixtures/models/bert.js';
import { FAMILY_HEADERS, familyRows } from './bench-fuse-families.js';
import { synthesizeInputs } from '../src/inputs/synthesize.js';
import { RssSampler } from '../src/bench/memory.js';
import { timeInterleaved } from '../src/measure/timing.js';
import { resolveFusePasses } from '../src/passes/index.js';
import { encodeModel } from '../src/onnx/encode.js';
import { decodeModelBytes } from '../src/onnx/io.js';
import { runPasses } from '../src/optimize/registry.js';
import type { Target } from '../src/pass/pass.js';
import { createSession, ortToFloat32, type SessionOptions } from '../src/runtime/session.js';

type Level = 'disabled' | 'basic' | 'all';
interface Args {
  runs: number;
  warmup: number;
  creations: number;
  layers: number;
  threads: number;
  target: Target;
  levels: Level[];
  families: number;
}

function args(): Args {
  const a = process.argv.slice(2);
  const out: Args = { runs: 20, warmup: 3, creations: 5, layers: 12, threads: 0, target: 'ort', levels: ['disabled', 'basic', 'all'], families: 0 };
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i].replace(/^--/, '');
    const v = a[i + 1];
    if (v === undefined) throw new Error(`missing value for ${a[i]}`);
    if (k === 'target') out.target = v === 'onnx' ? 'onnx' : 'ort';
    else if (k === 'levels') out.levels = v.split(',') as Level[];
    else if (k in out) (out as unknown as Record<string, number>)[k] = Number(v);
    else throw new Error(`unknown argument ${a[i]}; use --runs, --warmup, --creations, --layers, --threads, --target, --levels, --families`);
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
const log = (s: string): void => void process.stderr.write(`${s}\n`);

function table(headers: string[], rows: (string | number)[][]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const o = args();
  if (o.families) {
    log('torch exports: fuse, then session creation and latency at level all (medians, interleaved)...');
    const rows = await familyRows(o);
    process.stdout.write(`${table(FAMILY_HEADERS, rows)}\n`);
    return;
  }
  const t0 = performance.now();
  const original = buildBert({ layers: o.layers, hidden: 768, heads: 12, intermediate: 3072, vocab: 30522, maxPositions: 512 });
  const bytes = encodeModel(original);
  const model = decodeModelBytes(bytes);
  log(`built BERT-base (${o.layers} layers, ${mib(bytes.length)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const sampler = new RssSampler(2);
  const heap0 = process.memoryUsage().heapUsed;
  sampler.start();
  const tf = performance.now();
  const report = runPasses(model, resolveFusePasses(['transformer']), { target: o.target });
  const fuseMs = performance.now() - tf;
  const mem = sampler.stop();
  const heapGrowth = process.memoryUsage().heapUsed - heap0;
  await sampler.close();
  const fusionMs = report.passes.filter((p) => p.kind === 'fusion').reduce((s, p) => s + p.ms, 0);
  const fusedBytes = encodeModel(model);

  const lines: string[] = [];
  lines.push(`fuse pipeline (transformer preset, --target ${o.target}, no I/O)`);
  lines.push(
    table(
      ['', 'value'],
      [
        ['wall time', `${fuseMs.toFixed(0)} ms`],
        ['  of which fusion passes', `${fusionMs.toFixed(0)} ms`],
        ['  of which clean-up passes', `${(fuseMs - fusionMs).toFixed(0)} ms`],
        ['peak RSS growth', mib(mem.peak - mem.before)],
        ['JS heap growth', mib(heapGrowth)],
        ['nodes', `${report.nodesBefore} -> ${report.nodesAfter}`],
        ['model bytes', `${mib(bytes.length)} -> ${mib(fusedBytes.length)}`],
      ],
    ),
  );
  const slow = [...report.passes].sort((a, b) => b.ms - a.ms).slice(0, 6);
  lines.push(
    '',
    table(
      ['slowest passes', 'ms', 'rewrites'],
      slow.map((p) => [
        p.name,
        p.ms.toFixed(0),
        Object.entries(p.counts)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ') || '-',
      ]),
    ),
  );

  const feeds = synthesizeInputs(original, { dims: { batch: 1, sequence: 128 }, seed: 0, count: 1 })[0];
  const rows: (string | number)[][] = [];
  const checks: (string | number)[][] = [];
  let ref: Float32Array | undefined;
  const diff = (a: Float32Array) => (ref ? a.reduce((m, x, i) => Math.max(m, Math.abs(x - ref![i])), 0).toExponential(2) : '-');
  // one creation before measuring, so the first measured one does not pay for loading the runtime
  await (await createSession(bytes, { optimizationLevel: 'disabled' })).release();
  for (const level of o.levels) {
    const opts: SessionOptions = { optimizationLevel: level, ...(o.threads ? { intraOpThreads: o.threads } : {}) };
    log(`level ${level}: ${o.creations} session creations each, interleaved...`);
    const create = { original: [] as number[], fused: [] as number[] };
    for (let i = 0; i < o.creations; i++) {
      for (const [name, b] of (i % 2
        ? [
            ['fused', fusedBytes],
            ['original', bytes],
          ]
        : [
            ['original', bytes],
            ['fused', fusedBytes],
          ]) as ['original' | 'fused', Uint8Array][]) {
        const t = performance.now();
        const s = await createSession(b, opts);
        create[name].push(performance.now() - t);
        await s.release();
      }
    }
    const so = await createSession(bytes, opts);
    const sf = await createSession(fusedBytes, opts);
    const yo = ortToFloat32((await so.run(feeds)).last_hidden_state);
    const yf = ortToFloat32((await sf.run(feeds)).last_hidden_state);
    if (level === 'disabled') ref = yo;
    checks.push([level, diff(yo), diff(yf)]);
    log(`level ${level}: ${o.runs} interleaved runs (warm-up ${o.warmup})...`);
    const [lo, lf] = await timeInterleaved([() => so.run(feeds), () => sf.run(feeds)], { warmup: o.warmup, runs: o.runs, minTimeMs: 0, sets: 1 });
    await so.release();
    await sf.release();
    const [co, cf, mo, mf] = [median(create.original), median(create.fused), median(lo), median(lf)];
    rows.push([level, co.toFixed(0), cf.toFixed(0), (cf / co).toFixed(2), mo.toFixed(1), mf.toFixed(1), (mf / mo).toFixed(2)]);
  }
  lines.push('', 'onnxruntime-node CPU, batch 1, sequence 128 (medians)');
  lines.push(table(['level', 'create orig (ms)', 'create fused (ms)', 'ratio', 'latency orig (ms)', 'latency fused (ms)', 'ratio'], rows));
  lines.push('', 'max |Δ last_hidden_state| against the original at level disabled');
  lines.push(table(['level', 'original', 'fused'], checks));
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
