/**
 * The worker of `--concurrency N` (see workers.ts). Each worker holds its own session of every model under test,
 * created from the bytes or path it is given, and on request runs one of them in a closed loop: as soon as a run
 * ends the next starts, on the next input set. It reports each run's latency and the wall-clock window of the loop
 * (epoch milliseconds, comparable across threads), so the pool can compute throughput over the union of windows.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { createSession, type Feeds, type SessionOptions } from '../runtime/session.js';

export interface WireTensor {
  type: string;
  dims: number[];
  data: ArrayBufferView | string[];
}
export interface WorkerInit {
  models: { source: string | Uint8Array; feeds: Record<string, WireTensor>[] }[];
  options: SessionOptions;
}
export type WorkerRequest = { kind: 'run'; model: number; runs: number; durationMs: number; warmup: number } | { kind: 'close' };
export type WorkerReply =
  | { kind: 'ready'; createMs: number[] }
  | { kind: 'done'; samples: Float64Array; start: number; end: number }
  | { kind: 'error'; message: string };

const epochMs = (): number => performance.timeOrigin + performance.now();

function toFeeds(wire: Record<string, WireTensor>): Feeds {
  const out: Feeds = {};
  for (const [k, t] of Object.entries(wire)) out[k] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
  return out;
}

async function main(): Promise<void> {
  const port = parentPort!;
  const init = workerData as WorkerInit;
  const sessions: ort.InferenceSession[] = [];
  const feeds: Feeds[][] = [];
  const createMs: number[] = [];
  try {
    for (const m of init.models) {
      const t0 = performance.now();
      sessions.push(await createSession(m.source, init.options));
      createMs.push(performance.now() - t0);
      feeds.push(m.feeds.map(toFeeds));
    }
  } catch (e) {
    port.postMessage({ kind: 'error', message: (e as Error).message } satisfies WorkerReply);
    return;
  }
  port.postMessage({ kind: 'ready', createMs } satisfies WorkerReply);
  port.on('message', async (req: WorkerRequest) => {
    if (req.kind === 'close') {
      for (const s of sessions) await s.release();
      port.close();
      return;
    }
    try {
      const s = sessions[req.model]!;
      const f = feeds[req.model]!;
      for (let i = 0; i < req.warmup; i++) await s.run(f[i % f.length]!);
      const samples: number[] = [];
      const start = epochMs();
      const t00 = process.hrtime.bigint();
      const limit = BigInt(Math.round(req.durationMs * 1e6));
      for (let i = 0; ; i++) {
        const t0 = process.hrtime.bigint();
        await s.run(f[i % f.length]!);
        const t1 = process.hrtime.bigint();
        samples.push(Number(t1 - t0) / 1e6);
        if (i + 1 >= req.runs && t1 - t00 >= limit) break;
      }
      const end = epochMs();
      port.postMessage({ kind: 'done', samples: Float64Array.from(samples), start, end } satisfies WorkerReply);
    } catch (e) {
      port.postMessage({ kind: 'error', message: (e as Error).message } satisfies WorkerReply);
    }
  });
}

void main();
