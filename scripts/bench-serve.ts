/**
 * npm run bench:serve — what each batching policy gives, side by side, on the same model and the same loads.
 *
 * For every load (requests per second, seeded Poisson arrivals) and every policy (none, fixed:N, adaptive), the
 * server scenario (src/bench/server.ts) runs on the same model, inputs, worker pool size and arrival schedule; the
 * policies alternate in a rotating order per round so drift hits each alike, and each gets `rounds` load points.
 * Prints achieved QPS, p50/p90/p99 latency, queue wait and compute p99, and the mean batch.
 *
 *   npm run bench:serve [-- --model m.onnx --dim batch=1 --dim sequence=32 --loads 100,3000 --policies none,fixed:8,adaptive
 *                          --duration 2 --rounds 2 --workers 2 --threads 1 --max-batch 16 --max-wait 5]
 *
 * Default model: a 2-layer BERT encoder (hidden 256) built from fixtures/models/bert.ts, batch 1, sequence 32.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBert } from '../fixtures/models/bert.js';
import { parseBatching } from '../src/bench/batching.js';
import { runServerScenario } from '../src/bench/server.js';
import type { ServerLoadPoint } from '../src/bench/types.js';
import { synthesizeInputs } from '../src/inputs/synthesize.js';
import { statistic } from '../src/measure/bootstrap.js';
import { loadModel, saveModel } from '../src/onnx/io.js';
import { renderTable } from '../src/util/table.js';

function args() {
  const a = process.argv.slice(2);
  const o = {
    model: undefined as string | undefined,
    dims: {} as Record<string, number>,
    loads: [100, 3000],
    policies: ['none', 'fixed:8', 'adaptive'],
    duration: 2,
    rounds: 2,
    workers: 2,
    threads: 1,
    maxBatch: 16,
    maxWait: 5,
  };
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i]!;
    const v = a[i + 1] ?? '';
    if (k === '--model') o.model = v;
    else if (k === '--dim') {
      const [n, s] = v.split('=');
      o.dims[n!] = Number(s);
    } else if (k === '--loads') o.loads = v.split(',').map(Number);
    else if (k === '--policies') o.policies = v.split(',');
    else if (k === '--duration') o.duration = Number(v);
    else if (k === '--rounds') o.rounds = Number(v);
    else if (k === '--workers') o.workers = Number(v);
    else if (k === '--threads') o.threads = Number(v);
    else if (k === '--max-batch') o.maxBatch = Number(v);
    else if (k === '--max-wait') o.maxWait = Number(v);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!Object.keys(o.dims).length) o.dims = { batch: 1, sequence: 32 };
  return o;
}

async function main(): Promise<void> {
  const o = args();
  let file = o.model;
  if (!file) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-bench-serve-'));
    file = path.join(dir, 'bert.onnx');
    saveModel(buildBert({ layers: 2, hidden: 256, heads: 4, intermediate: 512, classifier: 2 }), file, { externalData: false });
  }
  const model = loadModel(file);
  const feeds = synthesizeInputs(model, { dims: o.dims, seed: 0, count: 4 });
  console.log(
    `model ${path.basename(file)} ${JSON.stringify(o.dims)}; ${o.workers} worker(s) x ${o.threads} thread(s); max batch ${o.maxBatch}, max wait ${o.maxWait} ms; ` +
      `${o.rounds} round(s) of ${o.duration} s per load and policy; load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} on ${os.availableParallelism()} core(s)`,
  );
  const rows: string[][] = [];
  for (const qps of o.loads) {
    const points = new Map<string, ServerLoadPoint[]>(o.policies.map((p) => [p, []]));
    for (let r = 0; r < o.rounds; r++) {
      for (let k = 0; k < o.policies.length; k++) {
        const p = o.policies[(k + r) % o.policies.length]!;
        const [s] = await runServerScenario([{ source: file, feeds }], {
          workers: o.workers,
          threadsPerWorker: o.threads,
          sessionOptions: {},
          policy: parseBatching(p, o.maxBatch, o.maxWait),
          durationMs: o.duration * 1000,
          seed: 7 + r,
          qps,
          phases: 1,
        });
        points.get(p)!.push(s!.load!);
      }
    }
    for (const [p, pts] of points) {
      const lat = pts.flatMap((x) => x.samples);
      const achieved = pts.reduce((a, x) => a + x.achievedQps, 0) / pts.length;
      const batch = pts.reduce((a, x) => a + x.meanBatch, 0) / pts.length;
      const q99 = (f: (x: ServerLoadPoint) => number) => Math.max(...pts.map(f)).toFixed(2);
      rows.push([
        `${qps}/s`,
        p,
        achieved.toFixed(0),
        statistic('p50', lat).toFixed(2),
        statistic('p90', lat).toFixed(2),
        statistic('p99', lat).toFixed(2),
        q99((x) => x.queueWait.p99),
        q99((x) => x.compute.p99),
        batch.toFixed(2),
        String(pts.reduce((a, x) => a + x.dropped, 0)),
      ]);
    }
  }
  console.log(
    renderTable(
      [
        'offered',
        'batching',
        'achieved QPS',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'queue p99 ms (worst round)',
        'compute p99 ms (worst round)',
        'mean batch',
        'dropped',
      ],
      rows,
    ),
  );
}

void main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
