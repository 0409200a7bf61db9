/**
 * `sweep --jobs N`: N worker threads (job-worker.ts), each running one job at a time. The worker script is
 * job-worker.js beside this file in the built package; under vitest or tsx this file is the TypeScript source and
 * the worker starts through tsx's loader (as bench/workers.ts does for --concurrency).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { OperationError } from '../errors.js';
import type { Job } from './jobs.js';
import type { PoolReply } from './job-worker.js';
import type { JobResult, RunContext } from './runner.js';

function entry(): { script: string | URL; eval: boolean } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { script: new URL('./job-worker.js', here), eval: false };
  const target = new URL('./job-worker.ts', here).href;
  let api: string;
  try {
    api = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href;
  } catch {
    throw new OperationError('--jobs from the TypeScript sources needs tsx (a dev dependency); run the built package instead');
  }
  const src = `import(${JSON.stringify(api)}).then((m) => (m.tsImport ?? m.default.tsImport)(${JSON.stringify(target)}, ${JSON.stringify(here)})).catch((e) => { require('node:worker_threads').parentPort.postMessage({ kind: 'error', message: String(e && e.message || e) }); });`;
  return { script: src, eval: true };
}

class PoolWorker {
  private readonly worker: Worker;
  private waiting: { resolve: (r: PoolReply) => void; reject: (e: Error) => void } | null = null;
  private readonly ready: Promise<PoolReply>;
  constructor(ctx: RunContext) {
    const e = entry();
    this.worker = new Worker(e.script, { eval: e.eval, workerData: ctx });
    this.ready = this.reply();
    this.worker.on('message', (m: PoolReply) => this.settle((w) => w.resolve(m)));
    this.worker.on('error', (err) => this.settle((w) => w.reject(err)));
    this.worker.on('exit', (code) => this.settle((w) => w.reject(new Error(`a --jobs worker exited with code ${code}`))));
  }
  private settle(f: (w: NonNullable<PoolWorker['waiting']>) => void): void {
    const w = this.waiting;
    this.waiting = null;
    if (w) f(w);
  }
  private reply(): Promise<PoolReply> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }
  async run(job: Job): Promise<{ result: JobResult; evicted: number }> {
    const first = await this.ready;
    if (first.kind === 'error') throw new OperationError(`a --jobs worker failed to start: ${first.message}`);
    const answer = this.reply();
    this.worker.postMessage({ kind: 'job', job });
    const r = await answer;
    if (r.kind !== 'done') throw new OperationError(`a --jobs worker failed on ${job.id}: ${r.kind === 'error' ? r.message : 'answered out of turn'}`);
    return { result: r.result, evicted: r.evicted };
  }
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

export class JobPool {
  private readonly workers: PoolWorker[];
  constructor(size: number, ctx: RunContext) {
    this.workers = Array.from({ length: size }, () => new PoolWorker(ctx));
  }
  run(worker: number, job: Job): Promise<{ result: JobResult; evicted: number }> {
    return this.workers[worker]!.run(job);
  }
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
