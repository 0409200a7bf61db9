/**
 * The result object of a conversion: data first; the CLI's table and --json are renderings of it.
 */
import type { LowDType } from './options.js';
import type { OutputFidelity } from '../measure/types.js';
import type { IntCheckReport } from './check.js';

export interface TensorReport {
  name: string;
  /** 'initializer', 'constant' (a Constant node), or 'attribute' (ConstantOfShape value and the like) */
  kind: 'initializer' | 'constant' | 'attribute';
  elements: number;
  bytesBefore: number;
  bytesAfter: number;
  /** finite values beyond the low type's range, saturated to its largest finite value (never to a smaller bound) */
  clamped: number;
  /** non-zero values that became zero (below the smallest subnormal, after round-to-nearest-even) */
  flushed: number;
  /** NaNs met (kept as quiet NaNs) */
  nan: number;
  /** a float32 copy was kept for float32 readers (the tensor is shared by kept and converted nodes) */
  duplicated: boolean;
  /**
   * values stored as the smallest subnormal of their sign instead of 0, because every non-zero value of this tensor
   * would have flushed (a LayerNorm epsilon of 1e-12 in float16): a constant never vanishes
   */
  raised?: number;
  /** the float32 value of a one-element tensor, for messages */
  scalar?: number;
}

/**
 * Why a node stays float32:
 *   op-block-list / node-block-list   the user's (or the default) block lists
 *   schema              the operator's definition does not allow the low type for that input or output
 *   unknown-op          not in the operator table (ai.onnx.ml, custom domains)
 *   unknown-types       some of its inputs have no known element type
 *   shape-computation   float arithmetic whose results only become integers or shapes
 *   mixed               kept by the --mixed search
 *   out-of-range        it reads a constant with values beyond the low type's range, which converting would clamp
 *                       (see ConvertOptions.clamp)
 *   runtime             onnxruntime cannot load or run it in the low type (no kernel, a function body it expands with
 *                       float32 constants, a reduction its float16 kernel refuses, opsets whose Cast is Cast-1)
 */
export type KeepReasonCode =
  | 'op-block-list'
  | 'node-block-list'
  | 'schema'
  | 'unknown-op'
  | 'unknown-types'
  | 'shape-computation'
  | 'mixed'
  | 'out-of-range'
  | 'runtime';

/** A constant whose values do not fit the low type: kept float32 with its readers, or (with clamp) saturated. */
export interface OutOfRangeConstant {
  name: string;
  /** finite values beyond the low type's largest finite value */
  values: number;
  /** the largest finite magnitude among them */
  maxAbs: number;
  /** 'kept': its readers stay float32; 'clamped': converted with clamp: true */
  action: 'kept' | 'clamped';
  /** the nodes kept float32 because of it (names) */
  readers: string[];
}

export interface KeptNode {
  name: string;
  opType: string;
  domain: string;
  /** where it is: 'main' or a path like 'main/If_1.then_branch' */
  graph: string;
  reason: KeepReasonCode;
  detail: string;
}

export interface MixedKept {
  name: string;
  opType: string;
  graph: string;
  /** error measured with this node converted too (everything else as chosen): why it stays float32; NaN when the
   * evaluation budget ran out before it was measured */
  errorIfConverted: number;
}

export interface MixedReport {
  tolerance: number;
  /** what `error` measures */
  metric: string;
  /** models built and run during the search */
  evaluations: number;
  /** nodes the search could choose from */
  candidates: number;
  kept: MixedKept[];
  /** error of the chosen model, and of the fully converted one */
  error: number;
  errorAllConverted: number;
  calibrationSets: number;
  /** the evaluation budget ran out: the keep-set is within tolerance but may not be minimal */
  exhausted: boolean;
}

export interface QuantizeReport {
  dtype: LowDType;
  mode: 'full' | 'weights-only' | 'mixed';
  /** false when nothing changed (already converted, or no float32 to convert) */
  modified: boolean;
  /** one-line summary for humans */
  message: string;
  tensors: TensorReport[];
  totals: {
    tensors: number;
    elements: number;
    bytesBefore: number;
    bytesAfter: number;
    clamped: number;
    flushed: number;
    nan: number;
    duplicated: number;
    raised: number;
  };
  nodes: {
    total: number;
    /** nodes whose float computation now runs in the low type */
    converted: number;
    /** nodes that read or write float32 values and stay float32, with why */
    kept: KeptNode[];
  };
  /** constants with values beyond the low type's range, and what was done about them */
  outOfRange: OutOfRangeConstant[];
  /** values whose declared element type changed (inputs, outputs, value_info, subgraph inputs) */
  valuesRetyped: number;
  /** attributes that name a type or hold a float tensor and were changed (Cast to, ConstantOfShape value, ...) */
  attributesChanged: number;
  castsInserted: number;
  /** Casts removed: no-ops (same type in and out), lossless round trips, duplicates */
  castsRemoved: number;
  inputs: { name: string; dtype: string }[];
  outputs: { name: string; dtype: string }[];
  warnings: string[];
  mixed?: MixedReport;
  /** the converted model run on onnxruntime's CPU provider against float32 (which computes float16 regions in float32) */
  /** the self-check: the converted model against the float32 one on calibration or synthesized inputs */
  check?: IntCheckReport;
  fidelity?: OutputFidelity[];
  /** the conversion with low-type storage emulated at every converted value (src/quantize/emulate.ts) */
  fidelityEmulated?: OutputFidelity[];
  /** file sizes, when the CLI saved the model */
  files?: { input: number; output: number; inputExternal: number; outputExternal: number };
  timings?: Record<string, number>;
}
