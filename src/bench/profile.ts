/**
 * `--profile`: onnxruntime's own profiler, per operator type.
 *
 * A separate session with profiling on (so the timed sessions are not slowed by it) runs warm-up and then a few
 * runs; the profile (Chrome trace JSON that the runtime writes) is read back: each kernel event ("cat": "Node",
 * name "<node>_kernel_time", args.op_name) inside a "model_run" event after the warm-up runs counts. Times are the
 * kernels' own durations as the profiler records them. On small models the profiler's own cost per kernel dominates:
 * their sum measured about 5x the unprofiled latency of a BERT-mini. So the numbers to read are each operator's
 * share of the profiled time; `estMs` spreads the measured (unprofiled) p50 latency over the operators by those
 * shares, and `overhead` = kernelMs / p50 says how much the profiler inflated the times.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSession, type Feeds, type SessionOptions } from '../runtime/session.js';
import type { OperatorTime, ProfileStats } from './types.js';

interface TraceEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string };
}

/** Reads a runtime profile and aggregates kernel time per operator type over the runs after `skipRuns`. */
export function parseProfile(events: TraceEvent[], skipRuns: number, latencyP50: number | null = null): ProfileStats {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run' && typeof e.ts === 'number').sort((a, b) => a.ts! - b.ts!);
  const kept = runs.slice(skipRuns);
  const windows = kept.map((r) => [r.ts!, r.ts! + (r.dur ?? 0)] as const);
  const inKept = (ts: number): boolean => windows.some(([a, b]) => ts >= a && ts <= b);
  const by = new Map<string, { us: number; calls: number }>();
  let totalUs = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || typeof e.dur !== 'number' || typeof e.ts !== 'number') continue;
    if (windows.length && !inKept(e.ts)) continue;
    const op = e.args?.op_name ?? e.name.replace(/_kernel_time$/, '');
    const x = by.get(op) ?? by.set(op, { us: 0, calls: 0 }).get(op)!;
    x.us += e.dur;
    x.calls++;
    totalUs += e.dur;
  }
  const n = Math.max(1, kept.length || runs.length);
  const byOp: OperatorTime[] = [...by.entries()]
    .map(([op, x]) => {
      const share = totalUs ? x.us / totalUs : 0;
      return { op, ms: x.us / 1000 / n, calls: x.calls / n, share, estMs: latencyP50 !== null ? share * latencyP50 : null };
    })
    .sort((a, b) => b.ms - a.ms);
  const kernelMs = totalUs / 1000 / n;
  return { runs: kept.length || runs.length, kernelMs, overhead: latencyP50 && latencyP50 > 0 ? kernelMs / latencyP50 : null, byOp };
}

/** Profiles one model: `warmup` unrecorded runs, then `runs` profiled runs cycling through the input sets. */
export async function profileModel(
  model: string | Uint8Array,
  options: SessionOptions,
  feeds: Feeds[],
  warmup: number,
  runs: number,
  latencyP50: number | null = null,
): Promise<ProfileStats> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-profile-'));
  try {
    const session = await createSession(model, { ...options, enableProfiling: true, profileFilePrefix: path.join(dir, 'profile') });
    try {
      for (let i = 0; i < warmup + runs; i++) await session.run(feeds[i % feeds.length]!);
    } finally {
      session.endProfiling();
      await session.release();
    }
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('onnxruntime wrote no profile');
    const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as TraceEvent[];
    return parseProfile(events, warmup, latencyP50);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
