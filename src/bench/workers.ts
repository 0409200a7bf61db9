/**
 * `--concurrency N`: throughput and latency under load, from a pool of N worker threads, each with its own session
 * of every model (so N requests are in flight at once, as in a server handling N clients).
 *
 * Models are loaded one at a time in phases that alternate between them (A B A B), each phase running all workers in
 * a closed loop, so drift hits every model alike. Throughput = runs of all workers / the wall-clock span from the
 * first worker's start to the last one's end; latency under load is the distribution of every run of every worker.
 * Each worker's session gets `threadsPerWorker` intra-op threads (default: cores / N, at least 1), so the pool does
 * not oversubscribe the machine unless asked.
 *
 * The worker script is bench-worker.js beside this file in the built package; under vitest or tsx this file is the
 * TypeScript source, and the worker is started through tsx's loader so that the same bench-worker.ts runs.
 */
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { OperationError } from '../errors.js';
import type { Feeds, SessionOptions } from '../runtime/session.js';
import type { WireTensor, WorkerInit, WorkerReply, WorkerRequest } from './bench-worker.js';
import { summarize } from '../measure/stats.js';
import type { LoadStats } from './types.js';

export interface LoadModel {
  source: string | Uint8Array;
  feeds: Feeds[];
}

export interface LoadOptions {
  concurrency: number;
  sessionOptions: SessionOptions;
  /** intra-op threads per worker session (default max(1, floor(cores / concurrency))) */
  threadsPerWorker?: number;
  /** minimum runs per worker per phase */
  runsPerWorker: number;
  /** minimum duration of each phase (ms) */
  phaseMs: number;
  /** phases per model (alternating between models) */
  phases?: number;
  warmup?: number;
  onPhase?: (done: number, total: number) => void;
}

export function toWire(f: Feeds): Record<string, WireTensor> {
  const out: Record<string, WireTensor> = {};
  for (const [k, t] of Object.entries(f)) out[k] = { type: t.type, dims: t.dims.map(Number), data: t.data as ArrayBufferView };
  return out;
}

/** How to start the worker script from here: the built .js directly, or the .ts source through tsx. */
export function workerEntry(): { script: string | URL; eval: boolean } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const target = new URL('./bench-worker.ts', here).href;
    let api: string;
    try {
      api = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href;
    } catch {
      throw new OperationError('--concurrency from the TypeScript sources needs tsx (a dev dependency); run the built package instead');
    }
    const src = `import(${JSON.stringify(api)}).then((m) => (m.tsImport ?? m.default.tsImport)(${JSON.stringify(target)}, ${JSON.stringify(here)})).catch((e) => { require('node:worker_threads').parentPort.postMessage({ kind: 'error', message: String(e && e.message || e) }); });`;
    return { script: src, eval: true };
  }
  return { script: new URL('./bench-worker.js', here), eval: false };
}

/** One worker thread holding a session of every model; one request in flight at a time. */
export class PoolWorker {
  private readonly worker: Worker;
  private pending: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void } | null = null;
  private readonly first: Promise<WorkerReply>;
  constructor(init: WorkerInit) {
    const entry = workerEntry();
    this.worker = new Worker(entry.script, { eval: entry.eval, workerData: init });
    this.first = this.next();
    this.worker.on('message', (m: WorkerReply) => {
      const p = this.pending;
      this.pending = null;
      p?.resolve(m);
    });
    this.worker.on('error', (e) => {
      const p = this.pending;
      this.pending = null;
      p?.reject(e);
    });
    this.worker.on('exit', (code) => {
      const p = this.pending;
      this.pending = null;
      p?.reject(new Error(`worker exited with code ${code}`));
    });
  }
  private next(): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }
  async ready(): Promise<number[]> {
    const r = await this.first;
    if (r.kind === 'error') throw new OperationError(`a --concurrency worker failed to start: ${r.message}`);
    if (r.kind !== 'ready') throw new OperationError('a --concurrency worker answered out of turn');
    return r.createMs;
  }
  async run(req: Extract<WorkerRequest, { kind: 'run' }>): Promise<Extract<WorkerReply, { kind: 'done' }>> {
    const p = this.next();
    this.worker.postMessage(req);
    const r = await p;
    if (r.kind === 'error') throw new OperationError(`a --concurrency worker failed: ${r.message}`);
    if (r.kind !== 'done') throw new OperationError('a --concurrency worker answered out of turn');
    return r;
  }
  /** One run of a (batched) input set, for the server scenario: the worker's epoch times around the run. */
  async serve(req: Extract<WorkerRequest, { kind: 'serve' }>): Promise<Extract<WorkerReply, { kind: 'served' }>> {
    const p = this.next();
    this.worker.postMessage(req);
    const r = await p;
    if (r.kind === 'error') throw new OperationError(`a server worker failed: ${r.message}`);
    if (r.kind !== 'served') throw new OperationError('a server worker answered out of turn');
    return r;
  }
  async close(): Promise<void> {
    this.worker.postMessage({ kind: 'close' } satisfies WorkerRequest);
    await this.worker.terminate();
  }
}

/** Runs the load test of every model; one LoadStats per model, in order. */
export async function measureUnderLoad(models: LoadModel[], opts: LoadOptions): Promise<LoadStats[]> {
  const n = opts.concurrency;
  if (!Number.isInteger(n) || n < 1) throw new OperationError(`concurrency must be a positive integer, got ${n}`);
  const threads = opts.threadsPerWorker ?? Math.max(1, Math.floor(os.availableParallelism() / n));
  const init: WorkerInit = {
    models: models.map((m) => ({ source: m.source, feeds: m.feeds.map(toWire) })),
    options: { ...opts.sessionOptions, intraOpThreads: threads },
  };
  const pool = Array.from({ length: n }, () => new PoolWorker(init));
  try {
    await Promise.all(pool.map((w) => w.ready()));
    const phases = opts.phases ?? 2;
    const acc = models.map(() => ({ samples: [] as number[], wallMs: 0 }));
    const total = phases * models.length;
    let done = 0;
    for (let p = 0; p < phases; p++) {
      for (let k = 0; k < models.length; k++) {
        const m = p % 2 === 0 ? k : models.length - 1 - k;
        const replies = await Promise.all(
          pool.map((w) => w.run({ kind: 'run', model: m, runs: opts.runsPerWorker, durationMs: opts.phaseMs, warmup: p === 0 ? (opts.warmup ?? 2) : 0 })),
        );
        const start = Math.min(...replies.map((r) => r.start));
        const end = Math.max(...replies.map((r) => r.end));
        acc[m]!.wallMs += end - start;
        for (const r of replies) acc[m]!.samples.push(...r.samples);
        opts.onPhase?.(++done, total);
      }
    }
    return acc.map((a) => ({
      concurrency: n,
      threadsPerWorker: threads,
      runs: a.samples.length,
      wallMs: a.wallMs,
      throughput: a.wallMs > 0 ? (a.samples.length * 1000) / a.wallMs : 0,
      latency: summarize(a.samples),
    }));
  } finally {
    await Promise.all(pool.map((w) => w.close().catch(() => undefined)));
  }
}
