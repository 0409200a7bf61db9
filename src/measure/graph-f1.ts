/**
 * Graph F1: the fidelity metric of the benchmark harness.
 *
 * The relation graph of a transformer layer is its attention probability
 * tensor [B, H, T, T] (the Softmax output feeding the MatMul with V), averaged
 * over batch and heads to [T, T]. Its edges are the entries strictly above a
 * threshold (default 0.2). Graph F1 of a candidate against a baseline is the F1
 * of the candidate's edge set measured against the baseline's edge set:
 *   precision = |C ∩ B| / |C|, recall = |C ∩ B| / |B|,
 *   F1 = 2 tp / (2 tp + fp + fn);  F1 = 1 when both sets are empty,
 *   0 when exactly one is empty.
 * Reported for the last layer and as a micro-average over all layers (sum of
 * tp/fp/fn over layers, then F1).
 *
 * Models without attention fall back to their outputs: probability outputs
 * (every row non-negative and summing to ~1 over the last axis) are
 * thresholded the same way (per row, no averaging), anything else is compared
 * by arg-max over the last axis (edge (row, argmax)).
 *
 * Threshold comparisons happen in float32: a value is an edge when
 * `value > Math.fround(threshold)`, so a stored float32 0.2 is *not* above a
 * threshold of 0.2.
 */

export interface EdgeCounts {
  tp: number;
  fp: number;
  fn: number;
}

export interface GraphF1Result {
  lastLayer: number;
  microAverage: number;
  perLayer: number[];
  layers: number;
  source: 'attention' | 'outputs-probabilities' | 'outputs-argmax' | 'mixed';
  counts: EdgeCounts;
}

export interface TensorLike {
  data: Float32Array;
  dims: number[];
}

export const DEFAULT_EDGE_THRESHOLD = 0.2;
const DEFAULT_PROB_TOL = 1e-3;

function fmtDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

function elementCount(dims: readonly number[], what: string): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: invalid dimension ${d} in ${fmtDims(dims)}`);
    n *= d;
  }
  return n;
}

function checkData(data: Float32Array, dims: readonly number[], what: string): number {
  const n = elementCount(dims, what);
  if (data.length !== n) {
    throw new Error(`${what}: data has ${data.length} elements but dims ${fmtDims(dims)} need ${n}`);
  }
  return n;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkThreshold(threshold: number): void {
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) {
    throw new Error(`graph F1: threshold must be a number, got ${String(threshold)}`);
  }
}

/**
 * Mean over all leading axes of a [..., T, S] tensor ([B,H,T,S], [B*H,T,S] or
 * [T,S]). Accumulates in float64.
 */
export function averageAttention(data: Float32Array, dims: readonly number[]): { matrix: Float32Array; t: number; s: number } {
  if (dims.length < 2) {
    throw new Error(`averageAttention: expected dims [B,H,T,S], [B*H,T,S] or [T,S], got ${fmtDims(dims)}`);
  }
  checkData(data, dims, 'averageAttention');
  const t = dims[dims.length - 2] as number;
  const s = dims[dims.length - 1] as number;
  const plane = t * s;
  let lead = 1;
  for (let i = 0; i < dims.length - 2; i++) lead *= dims[i] as number;
  if (lead === 0) throw new Error(`averageAttention: no matrices to average in ${fmtDims(dims)}`);
  const acc = new Float64Array(plane);
  for (let l = 0; l < lead; l++) {
    const base = l * plane;
    for (let k = 0; k < plane; k++) acc[k] = (acc[k] as number) + (data[base + k] as number);
  }
  const matrix = new Float32Array(plane);
  for (let k = 0; k < plane; k++) matrix[k] = (acc[k] as number) / lead;
  return { matrix, t, s };
}

/** 1 where matrix[i] > threshold (compared in float32), else 0. NaN is never an edge. */
export function relationEdges(matrix: Float32Array, threshold: number): Uint8Array {
  checkThreshold(threshold);
  const thr = Math.fround(threshold);
  const out = new Uint8Array(matrix.length);
  for (let i = 0; i < matrix.length; i++) out[i] = (matrix[i] as number) > thr ? 1 : 0;
  return out;
}

export function compareEdges(candidate: Uint8Array, baseline: Uint8Array): EdgeCounts {
  if (candidate.length !== baseline.length) {
    throw new Error(`compareEdges: edge sets differ in size (${candidate.length} vs ${baseline.length})`);
  }
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate[i] !== 0;
    const b = baseline[i] !== 0;
    if (c && b) tp++;
    else if (c) fp++;
    else if (b) fn++;
  }
  return { tp, fp, fn };
}

/** F1 = 2tp / (2tp + fp + fn); 1 when both edge sets are empty. */
export function f1FromCounts(c: EdgeCounts): number {
  const candidateSize = c.tp + c.fp;
  const baselineSize = c.tp + c.fn;
  if (candidateSize === 0 && baselineSize === 0) return 1;
  if (candidateSize === 0 || baselineSize === 0) return 0;
  return (2 * c.tp) / (2 * c.tp + c.fp + c.fn);
}

/**
 * True when every value is finite and non-negative and every row (last axis)
 * sums to 1 within `tol` (default 1e-3). Empty tensors and scalars are not
 * probabilities.
 */
export function looksLikeProbabilities(data: Float32Array, dims: readonly number[], tol = DEFAULT_PROB_TOL): boolean {
  if (dims.length === 0) return false;
  const n = checkData(data, dims, 'looksLikeProbabilities');
  const width = dims[dims.length - 1] as number;
  if (n === 0 || width === 0) return false;
  const rows = n / width;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    const base = r * width;
    for (let k = 0; k < width; k++) {
      const v = data[base + k] as number;
      if (!(v >= 0) || v === Number.POSITIVE_INFINITY) return false;
      sum += v;
    }
    if (!(Math.abs(sum - 1) <= tol)) return false;
  }
  return true;
}

/**
 * One-hot arg-max per row over the last axis (leading axes flattened into
 * rows). Ties go to the first index; NaN never wins; an all-NaN row has no edge.
 * A scalar (dims []) is one row of width 1.
 */
export function argmaxEdges(data: Float32Array, dims: readonly number[]): Uint8Array {
  const n = checkData(data, dims, 'argmaxEdges');
  const width = dims.length === 0 ? 1 : (dims[dims.length - 1] as number);
  const out = new Uint8Array(n);
  if (width === 0) return out;
  const rows = n / width;
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    let best = -1;
    let bestVal = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < width; k++) {
      const v = data[base + k] as number;
      if (v > bestVal || (best < 0 && v === Number.NEGATIVE_INFINITY)) {
        best = k;
        bestVal = v;
      }
    }
    if (best >= 0) out[base + best] = 1;
  }
  return out;
}

function addCounts(a: EdgeCounts, b: EdgeCounts): EdgeCounts {
  return { tp: a.tp + b.tp, fp: a.fp + b.fp, fn: a.fn + b.fn };
}

function checkPairs(candidate: readonly TensorLike[], baseline: readonly TensorLike[], fn: string, unit: string): void {
  if (!Array.isArray(candidate) || !Array.isArray(baseline)) {
    throw new Error(`${fn}: candidate and baseline must be arrays of tensors`);
  }
  if (candidate.length !== baseline.length) {
    throw new Error(`${fn}: candidate has ${candidate.length} ${unit}s but baseline has ${baseline.length}`);
  }
  if (candidate.length === 0) throw new Error(`${fn}: no ${unit}s to compare`);
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate[i] as TensorLike;
    const b = baseline[i] as TensorLike;
    if (!sameDims(c.dims, b.dims)) {
      throw new Error(`${fn}: ${unit} ${i} shape differs: candidate ${fmtDims(c.dims)} vs baseline ${fmtDims(b.dims)}`);
    }
    checkData(c.data, c.dims, `${fn}: candidate ${unit} ${i}`);
    checkData(b.data, b.dims, `${fn}: baseline ${unit} ${i}`);
  }
}

function finish(perCounts: EdgeCounts[], source: GraphF1Result['source']): GraphF1Result {
  let total: EdgeCounts = { tp: 0, fp: 0, fn: 0 };
  const perLayer = perCounts.map((c) => {
    total = addCounts(total, c);
    return f1FromCounts(c);
  });
  return {
    lastLayer: perLayer[perLayer.length - 1] as number,
    microAverage: f1FromCounts(total),
    perLayer,
    layers: perLayer.length,
    source,
    counts: total,
  };
}

/**
 * Graph F1 over attention probability tensors, one per layer, in the same
 * layer order for candidate and baseline. Throws if layer counts or any
 * layer's dims differ, or if there are no layers.
 */
export function attentionGraphF1(candidate: TensorLike[], baseline: TensorLike[], threshold: number = DEFAULT_EDGE_THRESHOLD): GraphF1Result {
  checkThreshold(threshold);
  checkPairs(candidate, baseline, 'attentionGraphF1', 'layer');
  const perCounts: EdgeCounts[] = [];
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate[i] as TensorLike;
    const b = baseline[i] as TensorLike;
    const cm = averageAttention(c.data, c.dims).matrix;
    const bm = averageAttention(b.data, b.dims).matrix;
    perCounts.push(compareEdges(relationEdges(cm, threshold), relationEdges(bm, threshold)));
  }
  return finish(perCounts, 'attention');
}

/**
 * Output fallback for models without attention. Each output is classified by
 * the BASELINE (the reference): if the baseline output looks like
 * probabilities, both candidate and baseline are thresholded per row (no
 * averaging); otherwise both are compared by arg-max over the last axis.
 * Using the same rule on both sides means a candidate whose outputs stop
 * being valid probabilities is penalised rather than compared apples to
 * oranges. `source` is 'mixed' when outputs were classified differently.
 */
export function outputGraphF1(candidate: TensorLike[], baseline: TensorLike[], threshold: number = DEFAULT_EDGE_THRESHOLD): GraphF1Result {
  checkThreshold(threshold);
  checkPairs(candidate, baseline, 'outputGraphF1', 'output');
  const perCounts: EdgeCounts[] = [];
  const kinds = new Set<'outputs-probabilities' | 'outputs-argmax'>();
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate[i] as TensorLike;
    const b = baseline[i] as TensorLike;
    if (looksLikeProbabilities(b.data, b.dims)) {
      kinds.add('outputs-probabilities');
      perCounts.push(compareEdges(relationEdges(c.data, threshold), relationEdges(b.data, threshold)));
    } else {
      kinds.add('outputs-argmax');
      perCounts.push(compareEdges(argmaxEdges(c.data, c.dims), argmaxEdges(b.data, b.dims)));
    }
  }
  const source: GraphF1Result['source'] = kinds.size === 1 ? [...kinds][0]! : 'mixed';
  return finish(perCounts, source);
}
