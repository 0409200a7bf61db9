/**
 * Peak memory: a sampler thread that reads the process's resident set size (RSS) every few milliseconds.
 *
 * What it measures, honestly: RSS is per process, not per session. The bench creates and warms up one model at a
 * time and reads the growth of RSS over the value just before; with earlier models' sessions already in steady
 * state, that growth is what this model's session costs (its weights as the runtime holds them, graph optimisation
 * transients, and the arena after the first runs). A thread is needed because onnxruntime-node creates sessions
 * synchronously on the main thread, which would block a timer. Limits: peaks shorter than the sampling period can be
 * missed; memory freed by an earlier model and kept by the allocator can be reused without raising RSS, so a later
 * model can read lower than it would alone. Compare models measured in the same run, and read the numbers as
 * "growth of this process", not as an exact footprint.
 */
import { Worker } from 'node:worker_threads';

const SAMPLER_SOURCE = `
const { workerData } = require('node:worker_threads');
const ctl = new Int32Array(workerData.sab, 0, 4);
const vals = new BigInt64Array(workerData.sab, 16, 3);
const period = workerData.periodMs;
for (;;) {
  if (Atomics.load(ctl, 1) === 1) break;
  if (Atomics.load(ctl, 0) === 0) { Atomics.wait(ctl, 0, 0, 1000); continue; }
  const r = BigInt(process.memoryUsage.rss());
  if (r > Atomics.load(vals, 0)) Atomics.store(vals, 0, r);
  Atomics.add(vals, 1, 1n);
  Atomics.wait(ctl, 2, 0, period);
}
`;

export interface MemoryWindow {
  before: number;
  peak: number;
  after: number;
  samples: number;
}

export class RssSampler {
  private readonly sab = new SharedArrayBuffer(16 + 24);
  private readonly ctl = new Int32Array(this.sab, 0, 4);
  private readonly vals = new BigInt64Array(this.sab, 16, 3);
  private worker: Worker | null;
  private before = 0;
  private readonly online: Promise<void>;
  /** settles when the thread has ended (listened for from the start, so the event cannot be missed) */
  private readonly exited: Promise<void>;

  constructor(readonly periodMs = 2) {
    this.worker = new Worker(SAMPLER_SOURCE, { eval: true, workerData: { sab: this.sab, periodMs } });
    const w = this.worker;
    // referenced until it runs (an unreferenced thread that has not started would let a process awaiting ready()
    // exit with nothing left to do), then unreferenced so it never keeps the process alive
    this.online = new Promise((resolve) => {
      const done = () => {
        w.unref();
        resolve();
      };
      w.once('online', done);
      w.once('error', done);
      w.once('exit', done);
    });
    this.exited = new Promise((resolve) => w.once('exit', () => resolve()));
  }

  /** Resolves once the sampler thread runs: a window started before that would see no samples (a busy machine can
   * take tens of milliseconds to start a thread). */
  ready(): Promise<void> {
    return this.online;
  }

  /** Starts a window: remembers RSS now and resets the peak. */
  start(): void {
    this.before = process.memoryUsage.rss();
    Atomics.store(this.vals, 0, BigInt(this.before));
    Atomics.store(this.vals, 1, 0n);
    Atomics.store(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
  }

  /** Ends the window (the sampler sleeps until the next one). */
  stop(): MemoryWindow {
    Atomics.store(this.ctl, 0, 0);
    const after = process.memoryUsage.rss();
    const peak = Math.max(Number(Atomics.load(this.vals, 0)), after);
    return { before: this.before, peak, after, samples: Number(Atomics.load(this.vals, 1)) };
  }

  async close(): Promise<void> {
    if (!this.worker) return;
    const w = this.worker;
    this.worker = null;
    // the thread leaves its loop on the stop flag (both of its waits are woken) and its 'exit' settles `exited`; a
    // stopping worker's handle does not keep the event loop alive (ref() or not), so a timer does until then: a
    // process awaiting close() must not run out of work first (an unsettled await, exit code 13)
    const keepAlive = setInterval(() => {}, 1000);
    // a thread that does not leave (it should within a sampling period) is stopped
    const stuck = setTimeout(() => void w.terminate(), 2000);
    Atomics.store(this.ctl, 1, 1);
    Atomics.notify(this.ctl, 0);
    Atomics.notify(this.ctl, 2);
    try {
      await this.exited;
    } finally {
      clearInterval(keepAlive);
      clearTimeout(stuck);
    }
  }
}
