/**
 * npm run bench:prune — what structured FFN pruning buys on a BERT-base-sized encoder.
 *
 * Builds buildBert({ layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocab: 30522, maxPositions: 512 }) in
 * memory (no file), prunes 50% of the FFN neurons of every layer (structured, L2 importance) on a copy, and prints:
 *
 *   parameters      before, after, ratio (exact counts)
 *   FLOPs (est.)    MatMul/Gemm/Conv FLOPs of one run at batch 1, sequence 128 (runtime shapes)
 *   latency         median of interleaved runs (original, pruned, pruned, original, ...) at batch 1, sequence 128,
 *                   onnxruntime-node CPU, default session options; the ratio of the medians
 *   graph F1        of the pruned model against the original on 4 seeded input sets (all layers, last layer)
 *   prune time      wall time of prune (graph pruning, parameter statistics before and after, analysis,
 *                   importance, cutting, clean-up, verification; no onnxruntime runs), its CPU time (the figure to
 *                   trust on a loaded machine), and the analysis + cut alone
 *
 *   npm run bench:prune [-- --runs 30 --layers 12 --sparsity 0.5 --threads 0]
 */
import { buildBert } from '../fixtures/models/bert.js';
import { synthesizeInputs } from '../src/inputs/synthesize.js';
import { timeInterleaved } from '../src/measure/timing.js';
import { countParameters } from '../src/inspect.js';
import { decodeModelBytes } from '../src/onnx/io.js';
import { encodeModel } from '../src/onnx/encode.js';
import { fidelityReference, measureFidelity } from '../src/measure/fidelity-probe.js';
import { probeModel } from '../src/measure/probe.js';
import { prune } from '../src/prune/prune.js';
import { median } from '../src/util/numerics.js';
import { createSession, type Feeds } from '../src/runtime/session.js';

function args(): { runs: number; layers: number; sparsity: number; threads: number; warmup: number } {
  const a = process.argv.slice(2);
  const out = { runs: 30, layers: 12, sparsity: 0.5, threads: 0, warmup: 5 };
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i].replace(/^--/, '') as keyof typeof out;
    if (!(k in out) || a[i + 1] === undefined) throw new Error(`unknown argument ${a[i]}; use --runs, --layers, --sparsity, --threads, --warmup`);
    out[k] = Number(a[i + 1]);
  }
  return out;
}

const fmt = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : String(n));

async function main(): Promise<void> {
  const o = args();
  const t0 = performance.now();
  const original = buildBert({ layers: o.layers, hidden: 768, heads: 12, intermediate: 3072, vocab: 30522, maxPositions: 512 });
  const bytes = encodeModel(original);
  const pruned = decodeModelBytes(bytes);
  const tBuild = performance.now();
  process.stderr.write(`built BERT-base (${o.layers} layers, ${(bytes.length / 2 ** 20).toFixed(0)} MiB) in ${((tBuild - t0) / 1000).toFixed(1)} s\n`);

  const tp = performance.now();
  const cpu0 = process.cpuUsage();
  const { report } = await prune(pruned, { method: 'structured', units: ['ffn'], sparsity: o.sparsity, measure: false });
  const cpu = process.cpuUsage(cpu0);
  const pruneMs = performance.now() - tp;
  const pb = countParameters(original).total;
  const pa = countParameters(pruned).total;

  const dims = { batch: 1, sequence: 128 };
  const feeds: Feeds[] = synthesizeInputs(original, { dims, seed: 0, count: 4 });
  process.stderr.write('measuring graph F1 and FLOPs...\n');
  const ref = await fidelityReference(original, feeds);
  const fid = await measureFidelity(pruned, ref);
  const fb = (await probeModel(original, feeds.slice(0, 1), { flops: true })).flops!.total;
  const fa = (await probeModel(pruned, feeds.slice(0, 1), { flops: true })).flops!.total;

  process.stderr.write(`timing ${o.runs} interleaved rounds (warm-up ${o.warmup})...\n`);
  const sessionOpts = o.threads ? { intraOpThreads: o.threads } : {};
  const sb = await createSession(original, sessionOpts);
  const sa = await createSession(pruned, sessionOpts);
  const feed = feeds[0];
  const [lb, la] = await timeInterleaved([() => sb.run(feed), () => sa.run(feed)], { warmup: o.warmup, runs: o.runs, minTimeMs: 0, sets: 1 });
  await sb.release();
  await sa.release();
  const mb = median(lb);
  const ma = median(la);

  const rows: [string, string, string, string][] = [
    ['parameters', fmt(pb), fmt(pa), (pa / pb).toFixed(3)],
    ['FLOPs (est., b1 s128)', fmt(fb), fmt(fa), (fa / fb).toFixed(3)],
    ['latency median (ms)', mb.toFixed(1), ma.toFixed(1), (ma / mb).toFixed(3)],
    ['graph F1 all layers', '1', fid.graphF1.allLayers.toFixed(4), ''],
    ['graph F1 last layer', '1', fid.graphF1.lastLayer.toFixed(4), ''],
    ['prune time, prune (s)', '', (pruneMs / 1000).toFixed(2), ''],
    ['  CPU time of it (s)', '', ((cpu.user + cpu.system) / 1e6).toFixed(2), ''],
    ['  of which analysis + cut (s)', '', (report.ms.prune / 1000).toFixed(2), ''],
  ];
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), ['', 'original', `FFN -${o.sparsity * 100}%`, 'ratio'][i].length));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const out = [
    `BERT-base (layers ${o.layers}, hidden 768, heads 12, intermediate 3072), structured FFN pruning ${o.sparsity * 100}% (L2), onnxruntime-node CPU, batch 1, sequence 128`,
    line(['', 'original', `FFN -${o.sparsity * 100}%`, 'ratio']),
    w.map((x) => '-'.repeat(x)).join('  '),
    ...rows.map(line),
    '',
    `groups pruned: ${report.groups.length} (${report.groups
      .map((g) => `${g.units}->${g.kept}`)
      .filter((x, i, a) => a.indexOf(x) === i)
      .join(
        ', ',
      )}); left alone: ${report.skipped.length}; latency runs: ${o.runs} per model, interleaved; graph F1 on ${feeds.length} input sets (${fid.graphF1.source})`,
  ];
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench:prune failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
