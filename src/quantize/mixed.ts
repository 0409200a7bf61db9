/**
 * --mixed: the smallest set of float32 nodes that keeps a float16 (or bfloat16) model within a tolerance of the
 * float32 original on calibration inputs.
 *
 * The candidates are the compute nodes a full conversion would convert, main graph and subgraphs alike, in graph
 * order. error(K) builds the conversion that keeps K float32 in its emulated form (src/quantize/emulate.ts: every
 * value the conversion stores low is rounded through a Cast pair, as a float16 device stores it; onnxruntime's CPU
 * provider would otherwise run float16 regions in float32 and hide overflows), runs it, and measures the worst output
 * error relative to the output's range (Infinity when an output overflows to inf/NaN where float32 had a number).
 * Assuming keeping more nodes never hurts:
 *
 *   required = {}, rest = candidates        invariant: error(required + rest) <= tol
 *   while error(required) > tol:
 *     k = smallest prefix length with error(required + rest[0:k]) <= tol      (binary search)
 *     required += rest[k-1]; rest = rest[0:k-1]      (rest[k-1] is needed: without it the prefix fails)
 *
 * Each kept node costs about log2(candidates) evaluations. A last pass re-measures each kept node converted on its
 * own: that error (why it is kept) goes in the report, and nodes found unnecessary are dropped. When the evaluation
 * budget runs out (error spread over many nodes rather than one overflow), the search stops with required + rest,
 * which the invariant guarantees is within tolerance, and says it may not be minimal.
 */
import type * as ort from 'onnxruntime-node';
import { OperationError, UsageError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { encodeModel } from '../onnx/encode.js';
import { decodeModelBytes } from '../onnx/io.js';
import { synthesizeInputs } from '../inputs/synthesize.js';
import { createSession, runSession, type Feeds } from '../runtime/session.js';
import { adaptFeed } from '../inputs/adapt.js';
import { compareRuns } from '../measure/compare-models.js';
import { worstError } from '../measure/fidelity.js';
import { emulateConversion } from './emulate.js';
import { convertFloat } from './convert.js';
import type { ConvertOptions } from './options.js';
import { makePlan } from './plan.js';
import type { MixedKept, QuantizeReport } from './report.js';
import type { OutputFidelity } from '../measure/types.js';

export interface MixedOptions extends ConvertOptions {
  /** largest accepted error: max |converted - float32| / max |float32|, per output, over the calibration sets */
  tolerance: number;
  /** calibration inputs for the float32 model (default: synthesized from the declared inputs) */
  feeds?: Feeds[];
  /** sizes of symbolic dimensions for synthesized inputs */
  dims?: Record<string, number>;
  seed?: number;
  /** number of synthesized input sets (default 2) */
  count?: number;
  /** evaluation budget (default 200); when spent, the search returns a keep-set within tolerance, perhaps not minimal */
  maxEvaluations?: number;
  log?: (message: string) => void;
}

export async function convertMixed(model: Model, opts: MixedOptions): Promise<QuantizeReport> {
  if (opts.dtype !== 'fp16' && opts.dtype !== 'bf16') throw new UsageError(`dtype must be 'fp16' or 'bf16', got ${String(opts.dtype)}`);
  if (opts.weightsOnly) throw new UsageError('--mixed and --weights-only cannot be combined: weights-only computes in float32 already');
  if (!(opts.tolerance > 0) || !Number.isFinite(opts.tolerance)) throw new UsageError(`--tolerance must be a positive number, got ${opts.tolerance}`);
  const log = opts.log ?? (() => {});
  const feeds = opts.feeds ?? synthesizeInputs(model, { dims: opts.dims, seed: opts.seed ?? 0, count: opts.count ?? 2 });
  if (feeds.length === 0) throw new UsageError('--mixed needs at least one set of calibration inputs');
  let bytes: Uint8Array;
  try {
    bytes = encodeModel(model);
  } catch (e) {
    throw new OperationError(`--mixed re-builds the model for every trial and needs it to fit in one protobuf (2 GB): ${(e as Error).message}`);
  }
  const baseDir = model.source?.baseDir;
  const reference = await runAll(bytes, feeds, undefined);
  const candidates = makePlan(decodeModelBytes(bytes, baseDir), opts)
    .order.filter((p) => p.mode === 'low' && p.kind === 'compute')
    .map((p) => ({ key: p.key, name: p.node.name || p.node.label, opType: p.node.opType, graph: p.graphPath }));
  const budget = Math.max(3, opts.maxEvaluations ?? 200);
  const cache = new Map<string, { error: number; fidelity: OutputFidelity[] }>();
  let evaluations = 0;
  let exhausted = false;

  const evaluate = async (keep: readonly string[]): Promise<number> => {
    const id = [...keep].sort().join(',');
    const hit = cache.get(id);
    if (hit) return hit.error;
    if (evaluations >= budget) throw new BudgetSpent();
    evaluations++;
    const m = decodeModelBytes(bytes, baseDir);
    emulateConversion(m, { ...opts, weightsOnly: false, keepNodeKeys: new Set(keep) });
    const got = await runAll(m, feeds, undefined);
    const fidelity = compareRuns(got, reference);
    const error = worstError(fidelity);
    cache.set(id, { error, fidelity });
    log(`mixed: ${keep.length} node(s) kept float32 -> error ${fmt(error)}`);
    return error;
  };
  const measureOnce = async (keep: string[]) => {
    const saved = evaluations;
    evaluations = Math.min(evaluations, budget - 1);
    await evaluate(keep);
    evaluations = saved + 1;
    return cache.get([...keep].sort().join(','))!;
  };
  const tol = opts.tolerance;
  const all = candidates.map((c) => c.key);
  const errorAll = await evaluate([]);
  let required: string[] = [];
  if (errorAll > tol) {
    const errorNone = await evaluate(all);
    if (errorNone > tol)
      throw new OperationError(
        `even with every node in float32 the outputs differ by ${fmt(errorNone)} > ${tol} (the rounding of float16 inputs, outputs or weights alone exceeds the tolerance); try --keep-io-types or a larger --tolerance`,
      );
    let rest = all;
    try {
      while ((await evaluate(required)) > tol) {
        let lo = 1;
        let hi = rest.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if ((await evaluate([...required, ...rest.slice(0, mid)])) <= tol) hi = mid;
          else lo = mid + 1;
        }
        required.push(rest[lo - 1]);
        rest = rest.slice(0, lo - 1);
      }
    } catch (e) {
      if (!(e instanceof BudgetSpent)) throw e;
      // required + rest is within tolerance (it was measured so): stop there
      required = [...required, ...rest];
      exhausted = true;
    }
  }
  // why each is kept, and drop the ones that turn out unnecessary (while the budget lasts)
  const why = new Map<string, number>();
  for (const key of [...required]) {
    if (evaluations >= budget) break;
    const without = required.filter((k) => k !== key);
    const e = await evaluate(without);
    if (e <= tol) required = without;
    else why.set(key, e);
  }
  const chosen = cache.get([...required].sort().join(',')) ?? (await measureOnce(required));
  const report = convertFloat(model, { ...opts, weightsOnly: false, keepNodeKeys: new Set(required) });
  report.mode = 'mixed';
  const byKey = new Map(candidates.map((c) => [c.key, c]));
  const kept: MixedKept[] = required.map((k) => ({
    name: byKey.get(k)!.name,
    opType: byKey.get(k)!.opType,
    graph: byKey.get(k)!.graph,
    errorIfConverted: why.get(k) ?? NaN,
  }));
  report.mixed = {
    tolerance: tol,
    metric: `max |${opts.dtype} - float32| / max |float32| per output with ${opts.dtype} storage emulated at every converted value, worst over outputs and calibration sets (inf: an overflow)`,
    evaluations,
    candidates: candidates.length,
    kept,
    error: chosen.error,
    errorAllConverted: errorAll,
    calibrationSets: feeds.length,
    exhausted,
  };
  report.fidelityEmulated = chosen.fidelity;
  if (exhausted)
    report.warnings.push(
      `--mixed spent its ${budget} evaluations before the keep-set was minimal: the ${kept.length} nodes kept are within the tolerance but fewer may do (the error is spread over many nodes rather than one overflow; a looser --tolerance converges faster)`,
    );
  report.message = kept.length
    ? `kept ${kept.length} of ${candidates.length} compute nodes float32 (${kept.map((k) => k.name).join(', ')}): error ${fmt(chosen.error)} <= ${tol}, fully converted ${fmt(errorAll)}`
    : `every node converts within the tolerance: error ${fmt(errorAll)} <= ${tol}`;
  return report;
}

class BudgetSpent extends Error {}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toPrecision(3) : String(x));

async function runAll(what: Uint8Array | Model, feeds: Feeds[], adaptTo: Model | undefined): Promise<Record<string, ort.Tensor>[]> {
  const session = await createSession(what);
  try {
    const out: Record<string, ort.Tensor>[] = [];
    for (const f of feeds) out.push(await runSession(session, adaptTo ? adaptFeed(f, adaptTo) : f));
    return out;
  } finally {
    await session.release();
  }
}
