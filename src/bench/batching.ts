/**
 * Batching policies of the server scenario (server.ts), for models with a batch axis:
 *
 *   none       every request runs alone, as soon as a worker is free
 *   fixed:N    a batch leaves when N requests wait, or when the oldest has waited max-wait (then what is there)
 *   adaptive   the batch size follows the load: an exponentially weighted moving average (EWMA) of the arrival
 *              rate and of the backlog, and of the service time of a batch, give the number of requests expected
 *              to arrive while one batch runs; the target is that or the backlog, whichever is larger, clamped
 *              to 1..max-batch. A batch leaves when the queue reaches the target, or when the oldest request has
 *              waited as long as the target takes to fill at the current rate (at most max-wait); it then takes
 *              everything waiting, up to max-batch. At low load the target is 1 and nothing waits; under load the
 *              batches grow with the backlog.
 */
import { UsageError } from '../errors.js';

export type BatchPolicy = { kind: 'none' } | { kind: 'fixed'; batch: number; maxWaitMs: number } | { kind: 'adaptive'; maxBatch: number; maxWaitMs: number };

export const DEFAULT_MAX_BATCH = 16;
export const DEFAULT_MAX_WAIT_MS = 5;

/** `none`, `fixed:N`, `adaptive` with --max-batch and --max-wait (ms). */
export function parseBatching(text: string | undefined, maxBatch?: number, maxWaitMs?: number): BatchPolicy {
  const t = (text ?? 'none').trim().toLowerCase();
  const wait = maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  if (!(wait >= 0) || !Number.isFinite(wait)) throw new UsageError(`--max-wait must be a non-negative number of milliseconds, got ${maxWaitMs}`);
  if (maxBatch !== undefined && !(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new UsageError(`--max-batch must be an integer >= 1, got ${maxBatch}`);
  if (t === 'none') return { kind: 'none' };
  if (t === 'adaptive') return { kind: 'adaptive', maxBatch: maxBatch ?? DEFAULT_MAX_BATCH, maxWaitMs: wait };
  const m = /^fixed\s*:\s*(\d+)$/.exec(t);
  if (m && Number(m[1]) >= 1) return { kind: 'fixed', batch: Number(m[1]), maxWaitMs: wait };
  throw new UsageError(`--batching must be none, fixed:N (N >= 1) or adaptive, got '${text}'`);
}

/** The adaptive policy's state: EWMAs of the arrival gap, the backlog and the service time of a batch. */
export class AdaptiveBatcher {
  /** weight of the newest observation */
  static readonly ALPHA = 0.2;
  private gapMs = Number.NaN;
  private lastArrival = Number.NaN;
  private backlog = 0;
  private serviceMs = Number.NaN;
  constructor(
    readonly maxBatch: number,
    readonly maxWaitMs: number,
  ) {}
  private ewma(old: number, x: number): number {
    return Number.isNaN(old) ? x : AdaptiveBatcher.ALPHA * x + (1 - AdaptiveBatcher.ALPHA) * old;
  }
  observeArrival(atMs: number): void {
    if (!Number.isNaN(this.lastArrival)) this.gapMs = this.ewma(this.gapMs, Math.max(0, atMs - this.lastArrival));
    this.lastArrival = atMs;
  }
  /** the queue length a batch was taken from */
  observeDispatch(queueLength: number): void {
    this.backlog = this.ewma(this.backlog, queueLength);
  }
  observeService(ms: number): void {
    this.serviceMs = this.ewma(this.serviceMs, ms);
  }
  /** arrivals per ms (0 until two arrivals were seen) */
  get rate(): number {
    return Number.isNaN(this.gapMs) ? 0 : 1 / Math.max(this.gapMs, 1e-3);
  }
  /** the batch size to aim for: max(arrivals during one service time, backlog), clamped to 1..maxBatch */
  target(_queueLength: number): number {
    const during = Number.isNaN(this.serviceMs) ? 0 : this.rate * this.serviceMs;
    const t = Math.round(Math.max(during, this.backlog));
    return Math.min(this.maxBatch, Math.max(1, t));
  }
  /** how long the oldest request may wait for the target to fill at the current rate (at most maxWaitMs) */
  waitMs(queueLength: number): number {
    const missing = this.target(queueLength) - queueLength;
    if (missing <= 0) return 0;
    const r = this.rate;
    return r > 0 ? Math.min(this.maxWaitMs, missing / r) : 0;
  }
}
