/**
 * `bench --scenario server`: MLPerf's Server scenario on a pool of onnxruntime sessions in worker threads.
 *
 * Requests arrive as a seeded Poisson process at a target rate (the same unit-rate draws scaled by 1/qps, so two
 * models at the same rate see the identical schedule). A dispatcher on the main thread queues them and hands batches
 * to idle workers (each worker holds a session of every model, as in workers.ts) under a batching policy
 * (batching.ts). A request's latency is from its scheduled arrival to the moment its reply reaches the dispatcher:
 * queueing is included, and a dispatcher that falls behind is charged, not forgiven (no coordinated omission).
 *
 * Per load point: achieved QPS (completed / span from the first arrival to the last completion), latency
 * percentiles, queue wait (arrival to the start of its batch's run) vs compute (the run as the worker timed it),
 * late requests (over the SLO bound), dropped requests (not completed within the drain time after the last
 * arrival), the mean batch.
 *
 * Models are measured in interleaved phases (A B B A ...) on the same schedules. `--find-max-qps` searches, per
 * model, for the highest rate whose latency statistic meets the SLO with nothing dropped: geometric steps up or down
 * from an estimate of the pool's capacity to bracket it, then bisection; each step probes every model (interleaved),
 * each at its own bracket. A miss is probed a second time (another schedule) before it counts: on a shared machine a
 * stall of a few ms only ever adds latency, so one miss may be the machine, two are the model. The result is the
 * bracket [highest rate that held, lowest that did not].
 */
import * as os from 'node:os';
import { UsageError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { statistic } from '../measure/bootstrap.js';
import { summarize } from '../measure/stats.js';
import type { SessionOptions } from '../runtime/session.js';
import { Rng } from '../util/rng.js';
import { AdaptiveBatcher, type BatchPolicy } from './batching.js';
import type { WorkerInit } from './bench-worker.js';
import type { ServerLoadPoint, ServerStats } from './types.js';
import { type LoadModel, PoolWorker, toWire } from './workers.js';

export type SloStat = 'p50' | 'p90' | 'p99';
export interface Slo {
  stat: SloStat;
  boundMs: number;
}

/** `p99 <= 50ms` (also `p90<=0.05s`, `p50 <= 800us`). */
export function parseSlo(text: string): Slo {
  const m = /^\s*(p50|p90|p99)\s*<=?\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|us|µs)\s*$/i.exec(text);
  if (!m) throw new UsageError(`--slo '${text}': write '<p50|p90|p99> <= <time>', e.g. 'p99 <= 50ms'`);
  const scale = { ms: 1, s: 1000, us: 1e-3, µs: 1e-3 }[m[3]!.toLowerCase() as 'ms'];
  const boundMs = Number(m[2]) * scale;
  if (!(boundMs > 0)) throw new UsageError(`--slo '${text}': the bound must be positive`);
  return { stat: m[1]!.toLowerCase() as SloStat, boundMs };
}

/** Arrival offsets (ms) of a Poisson process at `qps` over `durationMs`, from unit-rate exponential draws of `seed`. */
export function poissonArrivals(qps: number, durationMs: number, seed: number): number[] {
  if (!(qps > 0)) throw new UsageError(`the request rate must be positive, got ${qps}`);
  const rng = new Rng(seed >>> 0);
  const out: number[] = [];
  let t = 0;
  for (;;) {
    t += (-Math.log(1 - rng.float()) * 1000) / qps;
    if (t >= durationMs) return out;
    out.push(t);
  }
}

/** Whether every input's first axis is symbolic or unknown (so requests can be batched on it). */
export function batchAxisProblem(model: Model): string | null {
  for (const v of model.graph.inputs) {
    if (v.initializer) continue;
    const dims = (v.type as { tensor_type?: { shape?: { dim?: { dim_value?: number | bigint; dim_param?: string }[] } } } | undefined)?.tensor_type?.shape?.dim;
    if (!dims) continue;
    if (!dims.length) return `input ${v.name} is a scalar`;
    const d0 = dims[0]!;
    if (d0.dim_value !== undefined && d0.dim_value !== null && !d0.dim_param && Number(d0.dim_value) > 0)
      return `input ${v.name} has a fixed first dimension (${Number(d0.dim_value)})`;
  }
  return null;
}

export interface ServerOptions {
  workers: number;
  threadsPerWorker?: number;
  sessionOptions: SessionOptions;
  policy: BatchPolicy;
  /** duration of arrivals of each load point (ms), split over the phases with --qps */
  durationMs: number;
  seed: number;
  /** the load of a fixed-rate run (--qps) */
  qps?: number;
  findMaxQps?: boolean;
  slo?: Slo | null;
  /** probes per model of the search (default 8) */
  maxSteps?: number;
  /** re-probe a missed rate once before it counts as missed (default true) */
  confirmMisses?: boolean;
  /** phases per model at --qps, alternating between models (default 4) */
  phases?: number;
  onStep?: (done: number, total: number, what: string) => void;
}

interface Raw {
  latency: number[];
  queue: number[];
  compute: number[];
  requests: number;
  dropped: number;
  batches: number;
  /** sum over the load points of: first arrival to last completion (ms) */
  spanMs: number;
}

const emptyRaw = (): Raw => ({ latency: [], queue: [], compute: [], requests: 0, dropped: 0, batches: 0, spanMs: 0 });

const epochMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Serves one arrival schedule on model `m` with the pool; accumulates into `acc`. */
async function servePoint(pool: PoolWorker[], m: number, sets: number, arrivals: number[], policy: BatchPolicy, drainMs: number, acc: Raw): Promise<void> {
  const idle = [...pool];
  const queue: { i: number; at: number }[] = [];
  const batcher = policy.kind === 'adaptive' ? new AdaptiveBatcher(policy.maxBatch, policy.maxWaitMs) : null;
  const t0 = epochMs() + 5;
  const end = t0 + (arrivals[arrivals.length - 1] ?? 0);
  let issued = 0;
  let inFlight = 0;
  let wake: NodeJS.Timeout | null = null;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  /** once set, nothing more is dispatched or scheduled (the point is over, or a worker failed) */
  let stopped = false;
  const finished = () => {
    stopped = true;
    if (wake) clearTimeout(wake);
    wake = null;
    resolveDone();
  };
  let deadlinePassed = false;
  acc.requests += arrivals.length;
  let lastDone = t0 + (arrivals[0] ?? 0);
  const complete = () => {
    if (issued === arrivals.length && inFlight === 0 && (queue.length === 0 || deadlinePassed)) finished();
  };
  const dispatch = (w: PoolWorker, batch: { i: number; at: number }[], queueLength: number) => {
    inFlight++;
    batcher?.observeDispatch(queueLength);
    void w.serve({ kind: 'serve', model: m, set: batch[0]!.i % sets, batch: batch.length }).then(
      (r) => {
        const now = epochMs();
        inFlight--;
        acc.batches++;
        batcher?.observeService(r.end - r.start);
        for (const q of batch) {
          if (deadlinePassed && now > end + drainMs) {
            acc.dropped++;
            continue;
          }
          acc.latency.push(now - q.at);
          acc.queue.push(Math.max(0, r.start - q.at));
          acc.compute.push(r.end - r.start);
        }
        lastDone = Math.max(lastDone, now);
        idle.push(w);
        pump();
      },
      (e) => {
        inFlight--;
        failure = e as Error;
        finished();
      },
    );
  };
  let failure: Error | null = null;
  const pump = () => {
    if (stopped) return;
    const now = epochMs();
    while (issued < arrivals.length && t0 + arrivals[issued]! <= now) {
      const at = t0 + arrivals[issued]!;
      queue.push({ i: issued++, at });
      batcher?.observeArrival(at);
    }
    if (deadlinePassed) {
      acc.dropped += queue.length;
      queue.length = 0;
    }
    let waitMs = Number.POSITIVE_INFINITY;
    while (idle.length && queue.length) {
      const oldest = now - queue[0]!.at;
      const closing = issued === arrivals.length;
      let take = 0;
      if (policy.kind === 'none') take = 1;
      else if (policy.kind === 'fixed') {
        if (queue.length >= policy.batch || oldest >= policy.maxWaitMs || closing) take = Math.min(policy.batch, queue.length);
        else waitMs = Math.min(waitMs, policy.maxWaitMs - oldest);
      } else {
        const target = batcher!.target(queue.length);
        const wait = batcher!.waitMs(queue.length);
        if (queue.length >= target || oldest >= wait || closing) take = Math.min(policy.maxBatch, queue.length);
        else waitMs = Math.min(waitMs, wait - oldest);
      }
      if (!take) break;
      const before = queue.length;
      dispatch(idle.pop()!, queue.splice(0, take), before);
    }
    if (issued < arrivals.length) waitMs = Math.min(waitMs, t0 + arrivals[issued]! - now);
    if (wake) clearTimeout(wake);
    wake = Number.isFinite(waitMs) ? setTimeout(pump, Math.max(0, waitMs)) : null;
    complete();
  };
  const drainTimer = setTimeout(
    () => {
      deadlinePassed = true;
      pump();
    },
    Math.max(0, end + drainMs - epochMs()),
  );
  pump();
  await done;
  clearTimeout(drainTimer);
  if (wake) clearTimeout(wake);
  if (failure) throw failure;
  acc.spanMs += lastDone - (t0 + (arrivals[0] ?? 0));
}

function toPoint(targetQps: number, r: Raw, slo: Slo | null | undefined): ServerLoadPoint {
  const completed = r.latency.length;
  const none = summarize([0]);
  const latency = completed ? summarize(r.latency) : { ...none, n: 0 };
  const late = slo ? r.latency.filter((x) => x > slo.boundMs).length : 0;
  const span = r.spanMs;
  return {
    targetQps,
    achievedQps: completed && span > 0 ? (completed * 1000) / span : 0,
    requests: r.requests,
    completed,
    dropped: r.dropped,
    late,
    latency,
    samples: r.latency,
    queueWait: completed ? summarize(r.queue) : { ...none, n: 0 },
    compute: completed ? summarize(r.compute) : { ...none, n: 0 },
    meanBatch: r.batches ? completed / r.batches : 0,
    sloMet: slo ? completed > 0 && r.dropped === 0 && statistic(slo.stat, r.latency) <= slo.boundMs : null,
    perPhase: [],
  };
}

/** The server scenario for every model (one ServerStats per model, in order). */
export async function runServerScenario(models: LoadModel[], opts: ServerOptions): Promise<ServerStats[]> {
  const n = opts.workers;
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--workers must be a positive integer, got ${n}`);
  if (!opts.qps && !opts.findMaxQps) throw new UsageError('--scenario server needs --qps N or --find-max-qps with --slo');
  if (opts.findMaxQps && !opts.slo) throw new UsageError("--find-max-qps needs --slo, e.g. --slo 'p99 <= 50ms'");
  const threads = opts.threadsPerWorker ?? Math.max(1, Math.floor(os.availableParallelism() / n));
  const init: WorkerInit = {
    models: models.map((m) => ({ source: m.source, feeds: m.feeds.map(toWire) })),
    options: { ...opts.sessionOptions, intraOpThreads: threads },
  };
  const policy = opts.policy;
  const drainMs = Math.max(1000, opts.durationMs);
  const pool = Array.from({ length: n }, () => new PoolWorker(init));
  try {
    await Promise.all(pool.map((w) => w.ready()));
    // warm-up, and the compute time of one request per model (the capacity estimate of the search)
    const oneMs: number[] = [];
    for (let m = 0; m < models.length; m++) {
      const t: number[] = [];
      for (let k = 0; k < 3; k++) {
        const rs = await Promise.all(pool.map((w) => w.serve({ kind: 'serve', model: m, set: 0, batch: 1 })));
        t.push(...rs.map((r) => r.end - r.start));
        if (policy.kind !== 'none')
          await Promise.all(pool.map((w) => w.serve({ kind: 'serve', model: m, set: 0, batch: policy.kind === 'fixed' ? policy.batch : policy.maxBatch })));
      }
      oneMs.push(Math.max(0.01, statistic('p50', t)));
    }
    const base = (): Omit<ServerStats, 'load' | 'maxQps'> => ({
      workers: n,
      threadsPerWorker: threads,
      batching: policy.kind === 'none' ? 'none' : policy.kind === 'fixed' ? `fixed:${policy.batch}` : 'adaptive',
      maxBatch: policy.kind === 'none' ? 1 : policy.kind === 'fixed' ? policy.batch : policy.maxBatch,
      maxWaitMs: policy.kind === 'none' ? 0 : policy.maxWaitMs,
      durationMs: opts.durationMs,
      slo: opts.slo ?? null,
    });
    const out: ServerStats[] = models.map(() => ({ ...base(), load: null, maxQps: null }));
    const phases = opts.phases ?? 4;
    const steps = opts.findMaxQps ? (opts.maxSteps ?? 8) : 0;
    const total = (opts.qps ? phases * models.length : 0) + steps * models.length;
    let progress = 0;
    if (opts.qps) {
      const acc = models.map(emptyRaw);
      const perPhase: ServerLoadPoint['perPhase'][] = models.map(() => []);
      for (let p = 0; p < phases; p++) {
        const arrivals = poissonArrivals(opts.qps, opts.durationMs / phases, (opts.seed ^ (0x5e7 + p)) >>> 0);
        for (let k = 0; k < models.length; k++) {
          const m = p % 2 === 0 ? k : models.length - 1 - k;
          const before = acc[m]!.latency.length;
          await servePoint(pool, m, models[m]!.feeds.length, arrivals, policy, drainMs, acc[m]!);
          const mine = acc[m]!.latency.slice(before);
          if (mine.length) perPhase[m]!.push({ p50: statistic('p50', mine), p90: statistic('p90', mine), p99: statistic('p99', mine) });
          opts.onStep?.(++progress, total, `${opts.qps}/s`);
          await sleep(20);
        }
      }
      acc.forEach((a, m) => (out[m]!.load = { ...toPoint(opts.qps!, a, opts.slo), perPhase: perPhase[m]! }));
    }
    if (opts.findMaxQps) {
      const slo = opts.slo!;
      const state = models.map((_, m) => ({ lo: 0, hi: Number.POSITIVE_INFINITY, next: (0.7 * n * 1000) / oneMs[m]!, steps: [] as ServerLoadPoint[] }));
      for (let s = 0; s < steps; s++) {
        for (let k = 0; k < models.length; k++) {
          const m = s % 2 === 0 ? k : models.length - 1 - k;
          const st = state[m]!;
          const q = st.next;
          const probe = async (salt: number): Promise<ServerLoadPoint> => {
            const acc = emptyRaw();
            await servePoint(pool, m, models[m]!.feeds.length, poissonArrivals(q, opts.durationMs, (opts.seed ^ (0x3a5 + salt)) >>> 0), policy, drainMs, acc);
            const pt = toPoint(q, acc, slo);
            st.steps.push({ ...pt, samples: [] }); // the summaries stay; the samples of every probe would bloat the JSON
            return pt;
          };
          let pt = await probe(s);
          // a stall of the machine only ever adds latency: a miss is confirmed by a second probe at the same rate
          // (another schedule) before it lowers the bracket; a hold needs no confirmation
          if (!pt.sloMet && opts.confirmMisses !== false) pt = await probe(s + 0x100);
          if (pt.sloMet) st.lo = Math.max(st.lo, q);
          else st.hi = Math.min(st.hi, q);
          st.next = !Number.isFinite(st.hi) ? q * 1.6 : st.lo === 0 ? q / 2 : (st.lo + st.hi) / 2;
          opts.onStep?.(++progress, total, `${q.toFixed(0)}/s ${pt.sloMet ? 'held' : 'missed'}`);
          await sleep(20);
        }
      }
      state.forEach((st, m) => {
        out[m]!.maxQps = { value: st.lo, lo: st.lo, hi: Number.isFinite(st.hi) ? st.hi : st.lo, steps: st.steps };
      });
    }
    return out;
  } finally {
    await Promise.all(pool.map((w) => w.close().catch(() => undefined)));
  }
}
