/**
 * npm run bench:harness — does the bench measure the model, not itself?
 *
 * Compares the median latency that benchmark() reports with that of a bare loop of `await session.run(feeds)` (a
 * clock read before and after each call, nothing else), on the same model, inputs and session options. The two
 * alternate in blocks (bare then bench, bench then bare, ...), each block with a fresh session, so drift and the
 * placement of a session in memory hit both alike; the figure is the difference of the medians of all runs of each.
 * Medians, because on a shared machine a few runs stalled by other processes would otherwise decide the figure. It
 * passes when they differ by less than 3%. It also prints a noise floor (the same comparison with the same code on one
 * session) and the load average, so a figure from a busy machine is read as such.
 *
 *   npm run bench:harness [-- --model m.onnx --dim batch=2 --dim sequence=32 --runs 60 --blocks 25 --threads 1]
 *
 * Default model: a 4-layer BERT encoder (hidden 128) built from fixtures/models/bert.ts, about 1 ms per run here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBert } from '../fixtures/models/bert.js';
import { benchmark } from '../src/bench/benchmark.js';
import { synthesizeInputs } from '../src/inputs/synthesize.js';
import { timeInterleaved } from '../src/measure/timing.js';
import { loadModel, saveModel } from '../src/onnx/io.js';
import { createSession, type Feeds } from '../src/runtime/session.js';

function args(): { model?: string; dims: Record<string, number>; runs: number; blocks: number; threads: number; warmup: number } {
  const a = process.argv.slice(2);
  const out = { model: undefined as string | undefined, dims: {} as Record<string, number>, runs: 60, blocks: 25, threads: 1, warmup: 10 };
  for (let i = 0; i < a.length; i++) {
    const k = a[i];
    const v = a[i + 1];
    if (k === '--model') out.model = v;
    else if (k === '--dim') {
      const [n, s] = (v ?? '').split('=');
      out.dims[n!] = Number(s);
    } else if (k === '--runs') out.runs = Number(v);
    else if (k === '--blocks') out.blocks = Number(v);
    else if (k === '--threads') out.threads = Number(v);
    else if (k === '--warmup') out.warmup = Number(v);
    else throw new Error(`unknown argument ${k}`);
    i++;
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = (s.length - 1) / 2;
  return (s[Math.floor(m)]! + s[Math.ceil(m)]!) / 2;
};

/** A bare loop of session.run with one clock read before and after each call; per-run latencies in ms. */
async function bareLoop(file: string, feeds: Feeds, runs: number, warmup: number, threads: number): Promise<number[]> {
  const session = await createSession(file, { intraOpThreads: threads, optimizationLevel: 'all' });
  try {
    for (let i = 0; i < warmup; i++) await session.run(feeds);
    const out = new Array<number>(runs);
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      out[i] = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Median per-run latency of the bench's timing loop and of a bare loop, alternating blocks on one session. */
async function sameSession(file: string, feeds: Feeds, threads: number, warmup: number, blocks: number, runs: number): Promise<{ bare: number; loop: number }> {
  const session = await createSession(file, { intraOpThreads: threads, optimizationLevel: 'all' });
  try {
    for (let i = 0; i < warmup; i++) await session.run(feeds);
    const bare: number[] = [];
    const loop: number[] = [];
    const fn = () => session.run(feeds);
    const bareBlock = async () => {
      for (let i = 0; i < runs; i++) {
        const t0 = process.hrtime.bigint();
        await session.run(feeds);
        bare.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    const loopBlock = async () => void loop.push(...(await timeInterleaved([fn], { warmup: 0, runs, minTimeMs: 0, sets: 1 }))[0]!);
    for (let b = 0; b < blocks; b++) {
      if (b % 2 === 0) {
        await bareBlock();
        await loopBlock();
      } else {
        await loopBlock();
        await bareBlock();
      }
    }
    return { bare: median(bare), loop: median(loop) };
  } finally {
    await session.release();
  }
}

async function main(): Promise<number> {
  const o = args();
  let tmp: string | undefined;
  let file = o.model;
  if (!file) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-harness-'));
    file = path.join(tmp, 'bert-4x128.onnx');
    saveModel(buildBert({ layers: 4, hidden: 128, heads: 4, intermediate: 512, classifier: 2 }), file);
    if (!Object.keys(o.dims).length) o.dims = { batch: 2, sequence: 32 };
  }
  try {
    const feeds = synthesizeInputs(loadModel(file), { dims: o.dims, seed: 0, count: 1 })[0]!;
    const bare: number[] = [];
    const bench: number[] = [];
    for (let b = 0; b < o.blocks; b++) {
      const viaBench = async () =>
        (
          await benchmark({
            baseline: file,
            inputs: [feeds],
            runs: o.runs,
            warmup: o.warmup,
            threads: o.threads,
            sessionRepeats: 1,
            analysis: false,
            memory: process.env.HARNESS_MEMORY !== '0',
          })
        ).baseline.latency!.samples;
      // alternate which goes first, so neither always follows the other
      let x: number[];
      let y: number[];
      if (b % 2 === 0) {
        x = await bareLoop(file, feeds, o.runs, o.warmup, o.threads);
        y = await viaBench();
      } else {
        y = await viaBench();
        x = await bareLoop(file, feeds, o.runs, o.warmup, o.threads);
      }
      bare.push(...x);
      bench.push(...y);
      if (process.env.HARNESS_VERBOSE)
        process.stderr.write(`block ${b + 1}/${o.blocks}: median bare ${median(x).toFixed(4)} ms, bench ${median(y).toFixed(4)} ms\n`);
    }
    // the noise floor: the timing loop against the bare loop on ONE session, alternating every 20 runs. Both are the
    // same few instructions around session.run, so what this shows is how much this machine moves on its own
    const floor = await sameSession(file, feeds, o.threads, o.warmup, 40, 20);
    const mb = median(bare);
    const mh = median(bench);
    const diff = (mh - mb) / mb;
    const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
    const load = os.loadavg()[0]!;
    const cores = os.availableParallelism();
    console.log(
      `model: ${o.model ?? 'BERT 4 layers x hidden 128 (built)'}, dims ${JSON.stringify(o.dims)}, threads ${o.threads}, ${o.blocks} blocks x ${o.runs} runs`,
    );
    console.log(`bare loop of session.run   median ${mb.toFixed(4)} ms per run`);
    console.log(`bench (benchmark())        median ${mh.toFixed(4)} ms per run`);
    console.log(`difference                 ${pct(diff)} (limit 3%)`);
    console.log(
      `noise floor                ${pct((floor.loop - floor.bare) / floor.bare)} (same code, one session; load average ${load.toFixed(2)} on ${cores} cores)`,
    );
    if (load > cores)
      console.log(`warning: the machine is busy (load average ${load.toFixed(1)} > ${cores} cores); differences this small are not resolvable now`);
    const ok = Math.abs(diff) < 0.03;
    console.log(ok ? 'OK' : 'FAIL: the harness adds or hides more than 3%');
    return ok ? 0 : 1;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    console.error(`bench-harness: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  },
);
