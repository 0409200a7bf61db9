/**
 * A worker thread of `sweep --jobs N` (pool.ts): runs the jobs it is sent, one at a time, with its own view of the
 * shared cache folder, and answers each with the job's result. The main thread writes result files and the journal.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { OptimizeReport } from '../optimize/pipeline.js';
import { ModelCache } from './cache.js';
import type { Job } from './jobs.js';
import { runJob, type JobResult, type RunContext } from './runner.js';

export type PoolRequest = { kind: 'job'; job: Job } | { kind: 'close' };
export type PoolReply = { kind: 'ready' } | { kind: 'done'; result: JobResult; evicted: number } | { kind: 'error'; message: string };

const ctx = workerData as RunContext;
const cache = ctx.cacheDir ? new ModelCache<OptimizeReport>(ctx.cacheDir, ctx.cacheCapBytes) : undefined;
const port = parentPort!;
port.on('message', (m: PoolRequest) => {
  if (m.kind === 'close') {
    port.close();
    return;
  }
  const before = cache?.stats.evicted ?? 0;
  runJob(m.job, ctx, cache).then(
    (result) => port.postMessage({ kind: 'done', result, evicted: (cache?.stats.evicted ?? 0) - before } satisfies PoolReply),
    (e) => port.postMessage({ kind: 'error', message: String((e as Error)?.message ?? e) } satisfies PoolReply),
  );
});
port.postMessage({ kind: 'ready' } satisfies PoolReply);
