/**
 * The numeric self-check after a conversion (float16, bfloat16, int8, int4): run the float32 model and the converted
 * one in onnxruntime on the same inputs (calibration inputs when the user gave them, synthesized ones otherwise) and
 * compare every output. A command that changes numbers writes its result only when this passes (or with --no-check).
 *
 *   cosine       c.b / (|c| |b|) over each whole output, pooled over the input sets
 *   range error  max |c - b| / max |b|: the worst element's error relative to the output's range (worstError)
 *   top-1        arg-max agreement along the last axis (reported; meaningful for logits)
 *
 * The check passes when every output's cosine is at least `minCosine` and (when set) the worst range error is at most
 * `maxError`. Defaults: float16 cosine >= 0.999 and range error <= 1e-2; bfloat16 >= 0.99 and <= 5e-2 (its 8-bit
 * mantissa); int8 (dynamic or static) cosine >= 0.99; int4 >= 0.98 (no range-error default for the integer kinds: a
 * few saturated logits are normal there). A non-finite output where the reference is finite, or an output that could
 * not be compared, always fails. A failed check names the worst output and the first node, in topological order, whose
 * value (matched by name) is beyond the same tolerance (measure/divergence.ts): checkFailureMessage says all three.
 */
import type { Model } from '../ir/model.js';
import { compareModels } from '../measure/compare-models.js';
import { describeDivergence, firstDivergence, fmtCosine, worstOutputOf, type Divergence } from '../measure/divergence.js';

export { worstOutputOf };
import { worstError } from '../measure/fidelity.js';
import type { OutputFidelity } from '../measure/types.js';
import type { Feeds } from '../runtime/session.js';
import { OperationError } from '../errors.js';
import { measureEmulated } from './emulate.js';
import type { ConvertOptions } from './options.js';
import { verifyConverted } from './verify.js';
import type { IntRewriteKind } from './int8/report.js';

/** What was converted: the float kinds, or an integer rewrite. */
export type CheckKind = 'fp16' | 'bf16' | IntRewriteKind;

/** Default smallest accepted output cosine per rewrite. */
export const DEFAULT_MIN_COSINE: Record<CheckKind, number> = { fp16: 0.999, bf16: 0.99, 'dynamic-int8': 0.99, 'static-int8': 0.99, int4: 0.98 };
/** Default largest range-relative error per conversion (null: not checked). */
export const DEFAULT_MAX_ERROR: Record<CheckKind, number | null> = { fp16: 1e-2, bf16: 5e-2, 'dynamic-int8': null, 'static-int8': null, int4: null };

export interface IntTolerance {
  /** smallest accepted cosine of each output (default DEFAULT_MIN_COSINE[kind]) */
  minCosine?: number;
  /** largest accepted range-relative error max|c - b| / max|b| (default DEFAULT_MAX_ERROR[kind]) */
  maxError?: number;
}

export interface IntCheckReport {
  passed: boolean;
  /** the thresholds that were applied */
  tolerance: { minCosine: number; maxError: number | null };
  inputSets: number;
  /** where the inputs came from ('calibration' files, or 'synthesized') */
  inputs: 'calibration' | 'synthesized';
  outputs: (OutputFidelity & { passed: boolean })[];
  /** lowest cosine over the outputs (0 when one could not be compared) */
  cosine: number;
  /** worst range-relative error (Infinity on overflow or an uncomparable output) */
  error: number;
  /** one sentence per violated threshold */
  failures: string[];
  /** the output furthest from the float model's (lowest cosine, then largest range error); null when it passed */
  worstOutput?: string | null;
  /** when it failed: the first value, in topological order, beyond the tolerance (null: none found or not run) */
  firstDivergence?: Divergence | null;
  /** when it failed: one sentence on where the divergence first appears (firstDivergence, or why none was found) */
  divergence?: string | null;
  /** when it failed: what the commands print (checkFailureMessage) */
  message?: string;
}

/** The failure sentence of a check: the violated thresholds, the worst output, where the divergence first appears. */
export function checkFailureMessage(r: IntCheckReport): string {
  return [r.failures.join('; '), r.worstOutput ? `worst output: ${r.worstOutput}` : '', r.divergence ?? ''].filter(Boolean).join('; ');
}

/** Resolves the thresholds for a rewrite kind. */
export function resolveTolerance(kind: CheckKind, t: IntTolerance = {}): { minCosine: number; maxError: number | null } {
  return { minCosine: t.minCosine ?? DEFAULT_MIN_COSINE[kind], maxError: t.maxError ?? DEFAULT_MAX_ERROR[kind] };
}

/** Judges measured fidelity against the thresholds. */
export function judgeFidelity(
  outputs: readonly OutputFidelity[],
  tol: { minCosine: number; maxError: number | null },
): Pick<IntCheckReport, 'passed' | 'outputs' | 'cosine' | 'error' | 'failures'> {
  const failures: string[] = [];
  const judged = outputs.map((o) => {
    const bad: string[] = [];
    if (o.error !== null) bad.push(`${o.name}: ${o.error}`);
    if (o.nonFinite > 0) bad.push(`${o.name}: ${o.nonFinite} non-finite value(s) where the float model's are finite`);
    if (o.cosine !== null && o.cosine < tol.minCosine) bad.push(`${o.name}: cosine ${fmtCosine(o.cosine)} < ${tol.minCosine}`);
    if (tol.maxError !== null && o.rangeError !== null && o.rangeError > tol.maxError)
      bad.push(`${o.name}: range error ${o.rangeError.toExponential(2)} > ${tol.maxError}`);
    failures.push(...bad);
    return { ...o, passed: bad.length === 0 };
  });
  const cosine = outputs.reduce((m, o) => Math.min(m, o.cosine ?? 0), 1);
  return { passed: failures.length === 0, outputs: judged, cosine, error: worstError(outputs), failures };
}

/** Runs `reference` and `candidate` on `feeds` and judges the candidate's outputs. */
export async function checkQuantized(
  reference: Model,
  candidate: Model,
  feeds: readonly Feeds[],
  opts: IntTolerance & { kind?: CheckKind; inputs?: 'calibration' | 'synthesized' } = {},
): Promise<IntCheckReport> {
  const tolerance = resolveTolerance(opts.kind ?? 'dynamic-int8', opts);
  const outputs = await compareModels(reference, candidate, feeds);
  const report: IntCheckReport = { tolerance, inputSets: feeds.length, inputs: opts.inputs ?? 'synthesized', ...judgeFidelity(outputs, tolerance) };
  if (!report.passed) {
    await diagnose(report, reference, candidate, feeds);
    report.message = checkFailureMessage(report);
  }
  return report;
}

/** Adds the worst output and the first diverging value to a failed check (best effort: a failure to locate is said). */
async function diagnose(report: IntCheckReport, reference: Model, candidate: Model, feeds: readonly Feeds[]): Promise<void> {
  report.worstOutput = worstOutputOf(report.outputs);
  if (!feeds[0]) return;
  try {
    const d = await firstDivergence(reference, candidate, feeds[0], report.tolerance);
    report.firstDivergence = d.first;
    report.divergence = describeDivergence(d);
  } catch (e) {
    report.firstDivergence = null;
    report.divergence = `the first diverging node could not be located (${(e as Error).message.split('\n')[0]})`;
  }
}

/** Judges fidelity measured elsewhere (e.g. an emulated bfloat16 conversion, which has no CPU kernels to run). */
export function judgeMeasured(
  outputs: readonly OutputFidelity[],
  feeds: number,
  opts: IntTolerance & { kind: CheckKind; inputs?: 'calibration' | 'synthesized' },
): IntCheckReport {
  const tolerance = resolveTolerance(opts.kind, opts);
  const r: IntCheckReport = { tolerance, inputSets: feeds, inputs: opts.inputs ?? 'synthesized', ...judgeFidelity(outputs, tolerance) };
  if (!r.passed) {
    r.worstOutput = worstOutputOf(r.outputs);
    r.message = checkFailureMessage(r);
  }
  return r;
}

/**
 * The self-check of a float16/bfloat16 conversion: the converted model must load in onnxruntime (else
 * OperationError), and its outputs must be within the tolerance of the float32 model's. A bfloat16 model with bfloat16
 * compute has no CPU kernels: its conversion is judged by emulating the rounding (see emulate.ts) instead, with a
 * warning.
 */
export async function checkFloatConversion(
  reference: Model,
  converted: Model,
  feeds: readonly Feeds[],
  opts: IntTolerance & { convert: ConvertOptions; inputs?: 'calibration' | 'synthesized' },
): Promise<{ check: IntCheckReport; warnings: string[] }> {
  const tol = { ...opts, kind: opts.convert.dtype };
  const ref = await verifyConverted(reference);
  if (!ref.loads)
    throw new OperationError(
      `the self-check cannot run: the float32 model itself does not load in onnxruntime (${ref.message}); pass --no-check to convert without checking`,
    );
  const loads = await verifyConverted(converted, { convert: { dtype: opts.convert.dtype, weightsOnly: opts.convert.weightsOnly } });
  if (!loads.loads && loads.fatal) throw new OperationError(`the converted model does not load in onnxruntime: ${loads.message}`);
  if (loads.loads) return { check: await checkQuantized(reference, converted, feeds, tol), warnings: [] };
  const warning = `${loads.message}: bfloat16 compute runs on GPUs with bf16 kernels; checked by emulating its rounding on CPU`;
  return { check: judgeMeasured(await measureEmulated(reference, opts.convert, feeds), feeds.length, tol), warnings: [warning] };
}
