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
export type WorkerRequest =
  | { kind: 'run'; model: number; runs: number; durationMs: number; warmup: number }
  /** the server scenario (server.ts): one run of input set `set` with `batch` copies concatenated on the first axis */
  | { kind: 'serve'; model: number; set: number; batch: number }
  | { kind: 'close' };
export type WorkerReply =
  | { kind: 'ready'; createMs: number[] }
  | { kind: 'done'; samples: Float64Array; start: number; end: number }
  | { kind: 'served'; start: number; end: number }
  | { kind: 'error'; message: string };

const epochMs = (): number => performance.timeOrigin + performance.now();

/** `batch` copies of every tensor of a set, concatenated on the first axis (a batch of identical requests). */
function tileFeeds(f: Feeds, batch: number): Feeds {
  if (batch === 1) return f;
  const out: Feeds = {};
  for (const [k, t] of Object.entries(f)) {
    const src = t.data as unknown as ArrayLike<unknown> & { length: number; constructor: new (n: number) => { set(a: ArrayLike<unknown>, o: number): void } };
    if (!t.dims.length) throw new Error(`input ${k} is a scalar: it has no batch axis to batch requests on`);
    const data = new src.constructor(src.length * batch);
    for (let b = 0; b < batch; b++) data.set(src, b * src.length);
    const dims = [Number(t.dims[0]) * batch, ...t.dims.slice(1).map(Number)];
    out[k] = new ort.Tensor(t.type as 'float32', data as unknown as Float32Array, dims);
  }
  return out;
}

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
  const tiled = new Map<string, Feeds>();
  port.postMessage({ kind: 'ready', createMs } satisfies WorkerReply);
  port.on('message', async (req: WorkerRequest) => {
    if (req.kind === 'close') {
      for (const s of sessions) await s.release();
      port.close();
      return;
    }
    if (req.kind === 'serve') {
      try {
        const key = `${req.model}:${req.set}:${req.batch}`;
        let f = tiled.get(key);
        if (!f) tiled.set(key, (f = tileFeeds(feeds[req.model]![req.set]!, req.batch)));
        const start = epochMs();
        await sessions[req.model]!.run(f);
        port.postMessage({ kind: 'served', start, end: epochMs() } satisfies WorkerReply);
      } catch (e) {
        port.postMessage({ kind: 'error', message: (e as Error).message } satisfies WorkerReply);
      }
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
