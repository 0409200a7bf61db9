/**
 * The result of an integer quantization rewrite: data first (the CLI's table, --json and --explain render it).
 */
export type IntRewriteKind = 'dynamic-int8' | 'int4' | 'static-int8';

/** Why a candidate node was left as it is. */
export type SkipReasonCode =
  | 'weight-not-constant'
  | 'weight-not-float32'
  | 'weight-rank'
  | 'weight-shared'
  | 'weight-too-small'
  | 'gemm-trans-a'
  | 'gemm-bias'
  | 'gather-axis'
  | 'block-size'
  | 'opset'
  | 'excluded'
  | 'function-body'
  | 'not-calibrated'
  | 'output-is-graph-output'
  /** a weight holds NaN or +-inf: no scale represents it, the node stays float */
  | 'weight-non-finite'
  /** static: a calibrated activation range is not finite (the activation overflows), the node stays float */
  | 'activation-range';

export interface QuantizedNode {
  name: string;
  opType: string;
  /** 'main' or a path like 'main/If_1.then_branch' */
  graph: string;
  /** what it became (DynamicQuantizeMatMul, MatMulInteger, MatMulNBits, DequantizeLinear+Gather, QDQ) */
  as: string;
  weight: string;
  /** [K, N] of the matrix (or the table / kernel shape) */
  shape: number[];
  /** a bias Add folded into the new node */
  biasFolded?: string;
}

export interface SkippedNode {
  name: string;
  opType: string;
  graph: string;
  reason: SkipReasonCode;
  detail: string;
}

export interface WeightReport {
  name: string;
  elements: number;
  /** bytes of the float weight (and of a folded bias) */
  bytesBefore: number;
  /** bytes of the quantized weight, its scales and zero points */
  bytesAfter: number;
  /** nodes that read the quantized weight (a weight shared by several MatMuls is quantized once) */
  users: number;
  /** the float weight stayed in the model (read by something that was not rewritten) */
  floatKept: boolean;
}

export interface IntQuantizeReport {
  kind: IntRewriteKind;
  /** false when nothing changed */
  modified: boolean;
  /** one line for humans */
  message: string;
  quantized: QuantizedNode[];
  skipped: SkippedNode[];
  weights: WeightReport[];
  totals: {
    nodesQuantized: number;
    nodesSkipped: number;
    weights: number;
    bytesBefore: number;
    bytesAfter: number;
  };
  /** opset imports added or raised, e.g. { 'com.microsoft': 1 } */
  opsetsAdded: Record<string, number>;
  warnings: string[];
  /** settings that were used (after defaults and CPU detection), for --json and --explain */
  settings: Record<string, unknown>;
}

export function finishReport(
  kind: IntRewriteKind,
  parts: Pick<IntQuantizeReport, 'quantized' | 'skipped' | 'weights' | 'opsetsAdded' | 'warnings' | 'settings'>,
  extra: Partial<IntQuantizeReport> = {},
): IntQuantizeReport {
  const bytesBefore = parts.weights.reduce((a, w) => a + w.bytesBefore, 0);
  const bytesAfter = parts.weights.reduce((a, w) => a + w.bytesAfter, 0);
  const modified = parts.quantized.length > 0;
  const what = kind === 'int4' ? '4-bit' : 'int8';
  const message = modified
    ? `${parts.quantized.length} node(s) quantized to ${what} (${parts.weights.length} weight(s), ${fmt(bytesBefore)} -> ${fmt(bytesAfter)}); ${parts.skipped.length} skipped`
    : `nothing to quantize${parts.skipped.length ? `: ${parts.skipped.length} candidate(s) skipped (${summarizeReasons(parts.skipped)})` : ''}`;
  return {
    kind,
    modified,
    message,
    ...parts,
    totals: { nodesQuantized: parts.quantized.length, nodesSkipped: parts.skipped.length, weights: parts.weights.length, bytesBefore, bytesAfter },
    ...extra,
  };
}

function summarizeReasons(s: SkippedNode[]): string {
  const c = new Map<string, number>();
  for (const x of s) c.set(x.reason, (c.get(x.reason) ?? 0) + 1);
  return [...c].map(([r, n]) => `${n} ${r}`).join(', ');
}

function fmt(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
