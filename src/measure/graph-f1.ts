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
 *
 * Edge rules (EdgeRule): an absolute threshold (default 0.2); a threshold
 * relative to uniform attention (`4/T`: an entry is an edge when it is above 4
 * times 1/n, n = the keys its row attends to, i.e. the entries of the baseline
 * row that are > 0, so causal and padding masks count right); or the k largest
 * entries of every row (`topk:k`).
 *
 * Edge counts are reported. A graph F1 is only evidence when the baseline graph
 * has edges: fewer than `minBaselineEdges(rows)` (one per ten rows compared,
 * at least 3) makes it inconclusive. The floor is counted in rows, not entries:
 * a row of attention has at most 1/threshold entries above an absolute
 * threshold, so a floor proportional to T*T would call every long sequence
 * inconclusive.
 */
import { UsageError } from '../errors.js';

/** How the edges of a relation graph are chosen. */
export type EdgeRule =
  | { kind: 'absolute'; threshold: number }
  /** entry > factor / n, n = the entries of the baseline row that are > 0 (the keys the row attends to) */
  | { kind: 'uniform'; factor: number }
  /** the k largest positive entries of every row (ties: the lower index) */
  | { kind: 'topk'; k: number };

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
  /** rows compared (over every layer) */
  rows: number;
  perLayerCounts: EdgeCounts[];
  perLayerRows: number[];
}

/** Baseline edges (tp + fn) and candidate edges (tp + fp) of a count. */
export const baselineEdges = (c: EdgeCounts): number => c.tp + c.fn;
export const candidateEdges = (c: EdgeCounts): number => c.tp + c.fp;

export interface TensorLike {
  data: Float32Array;
  dims: number[];
}

export const DEFAULT_EDGE_THRESHOLD = 0.2;
export const DEFAULT_EDGE_RULE: EdgeRule = { kind: 'absolute', threshold: DEFAULT_EDGE_THRESHOLD };
/** the inconclusive floor: fewer baseline edges than one per this many rows (and at least MIN_EDGES) */
export const ROWS_PER_EDGE = 10;
export const MIN_EDGES = 3;

/** Baseline edges needed, over `rows` compared rows, for a graph F1 to be evidence. */
export function minBaselineEdges(rows: number): number {
  return Math.max(MIN_EDGES, Math.ceil(rows / ROWS_PER_EDGE));
}

/**
 * Reads `--graph-threshold` (`0.2`, or `4/T` relative to uniform attention) and `--graph-edges` (`threshold`, the
 * default, or `topk:K`) into an EdgeRule. UsageError with the accepted forms otherwise.
 */
export function parseEdgeRule(threshold?: string | number, edges?: string): EdgeRule {
  const e = edges?.trim();
  if (e !== undefined && e !== '' && e !== 'threshold') {
    const m = /^top-?k\s*[:=]\s*(\d+)$/i.exec(e);
    if (!m || !(Number(m[1]) >= 1)) throw new UsageError(`--graph-edges must be 'threshold' or 'topk:K' with K >= 1 (e.g. topk:2), got '${edges}'`);
    if (threshold !== undefined) throw new UsageError('--graph-threshold does not combine with --graph-edges topk:K (top-k edges need no threshold)');
    return { kind: 'topk', k: Number(m[1]) };
  }
  if (threshold === undefined) return DEFAULT_EDGE_RULE;
  if (typeof threshold === 'number') return absoluteRule(threshold, String(threshold));
  const t = threshold.trim();
  const rel = /^(\d+(?:\.\d*)?|\.\d+)\s*\/\s*T$/i.exec(t);
  if (rel) {
    const factor = Number(rel[1]);
    if (!(factor > 0)) throw new UsageError(`--graph-threshold ${t}: the factor must be positive (e.g. 4/T)`);
    return { kind: 'uniform', factor };
  }
  return absoluteRule(t === '' ? Number.NaN : Number(t), t);
}

function absoluteRule(x: number, text: string): EdgeRule {
  if (!(x >= 0 && x < 1))
    throw new UsageError(`--graph-threshold must be a number in [0, 1) (e.g. 0.2) or a multiple of uniform attention (e.g. 4/T), got '${text}'`);
  return { kind: 'absolute', threshold: x };
}

/** '0.2', '4/T', 'topk:2' */
export function formatEdgeRule(r: EdgeRule): string {
  return r.kind === 'absolute' ? String(r.threshold) : r.kind === 'uniform' ? `${r.factor}/T` : `topk:${r.k}`;
}

function asRule(r: EdgeRule | number): EdgeRule {
  if (typeof r === 'number') {
    checkThreshold(r);
    return { kind: 'absolute', threshold: r };
  }
  return r;
}

/** Top-k positive entries of every row of width `width` (ties: the lower index). */
function topkEdges(m: Float32Array, width: number, k: number): Uint8Array {
  const out = new Uint8Array(m.length);
  if (width === 0) return out;
  const rows = m.length / width;
  const idx: number[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    idx.length = 0;
    for (let j = 0; j < width; j++) if ((m[base + j] as number) > 0) idx.push(j);
    idx.sort((a, b) => (m[base + b] as number) - (m[base + a] as number) || a - b);
    for (let j = 0; j < Math.min(k, idx.length); j++) out[base + (idx[j] as number)] = 1;
  }
  return out;
}

/**
 * Edge sets of a candidate and a baseline matrix (rows of `width` entries) under a rule. With a rule relative to
 * uniform attention, every row's threshold comes from the baseline row (the same for both).
 */
export function edgesByRule(candidate: Float32Array, baseline: Float32Array, width: number, rule: EdgeRule | number): { c: Uint8Array; b: Uint8Array } {
  const r = asRule(rule);
  if (r.kind === 'absolute') return { c: relationEdges(candidate, r.threshold), b: relationEdges(baseline, r.threshold) };
  if (r.kind === 'topk') return { c: topkEdges(candidate, width, r.k), b: topkEdges(baseline, width, r.k) };
  const c = new Uint8Array(candidate.length);
  const b = new Uint8Array(baseline.length);
  if (width === 0) return { c, b };
  const rows = baseline.length / width;
  for (let i = 0; i < rows; i++) {
    const base = i * width;
    let n = 0;
    for (let j = 0; j < width; j++) if ((baseline[base + j] as number) > 0) n++;
    const thr = Math.fround(r.factor / (n || width));
    for (let j = 0; j < width; j++) {
      if ((candidate[base + j] as number) > thr) c[base + j] = 1;
      if ((baseline[base + j] as number) > thr) b[base + j] = 1;
    }
  }
  return { c, b };
}
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

function finish(perCounts: EdgeCounts[], source: GraphF1Result['source'], perRows: number[]): GraphF1Result {
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
    rows: perRows.reduce((a, b) => a + b, 0),
    perLayerCounts: perCounts,
    perLayerRows: perRows,
  };
}

const rowsOf = (dims: readonly number[]): number => {
  const w = dims.length ? (dims[dims.length - 1] as number) : 1;
  let n = 1;
  for (const d of dims) n *= d;
  return w ? n / w : 0;
};

/**
 * Graph F1 over attention probability tensors, one per layer, in the same
 * layer order for candidate and baseline. Throws if layer counts or any
 * layer's dims differ, or if there are no layers.
 */
export function attentionGraphF1(candidate: TensorLike[], baseline: TensorLike[], threshold: EdgeRule | number = DEFAULT_EDGE_RULE): GraphF1Result {
  const rule = asRule(threshold);
  checkPairs(candidate, baseline, 'attentionGraphF1', 'layer');
  const perCounts: EdgeCounts[] = [];
  const perRows: number[] = [];
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate[i] as TensorLike;
    const b = baseline[i] as TensorLike;
    const cm = averageAttention(c.data, c.dims);
    const bm = averageAttention(b.data, b.dims).matrix;
    const e = edgesByRule(cm.matrix, bm, cm.s, rule);
    perCounts.push(compareEdges(e.c, e.b));
    perRows.push(cm.t);
  }
  return finish(perCounts, 'attention', perRows);
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
export function outputGraphF1(candidate: TensorLike[], baseline: TensorLike[], threshold: EdgeRule | number = DEFAULT_EDGE_RULE): GraphF1Result {
  const rule = asRule(threshold);
  checkPairs(candidate, baseline, 'outputGraphF1', 'output');
  const perCounts: EdgeCounts[] = [];
  const perRows: number[] = [];
  const kinds = new Set<'outputs-probabilities' | 'outputs-argmax'>();
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate[i] as TensorLike;
    const b = baseline[i] as TensorLike;
    perRows.push(rowsOf(b.dims));
    if (looksLikeProbabilities(b.data, b.dims)) {
      kinds.add('outputs-probabilities');
      const e = edgesByRule(c.data, b.data, b.dims.length ? (b.dims[b.dims.length - 1] as number) : 1, rule);
      perCounts.push(compareEdges(e.c, e.b));
    } else {
      kinds.add('outputs-argmax');
      perCounts.push(compareEdges(argmaxEdges(c.data, c.dims), argmaxEdges(b.data, b.dims)));
    }
  }
  const source: GraphF1Result['source'] = kinds.size === 1 ? [...kinds][0]! : 'mixed';
  return finish(perCounts, source, perRows);
}
