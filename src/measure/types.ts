/**
 * What the measurement layer reports: output fidelity, graph F1, FLOPs. The bench, prune's search and quantize's
 * accuracy guidance all read these.
 */
import type { GraphF1Result } from './graph-f1.js';

export interface FlopsEstimate {
  /** total estimated FLOPs of one run (multiply-add = 2) */
  total: number;
  byOp: { op: string; flops: number; nodes: number }[];
  /** nodes of the counted op types whose shapes could not be found (their FLOPs are missing from total) */
  unknownNodes: number;
  /** how shapes were obtained */
  method: 'runtime-shapes';
}

export interface OutputFidelity {
  name: string;
  /** baseline output name when it differs (positional match) */
  baselineName: string;
  maxAbsError: number | null;
  /** max |c - b| / max |b| over the output (the error relative to the output's range: what tolerances compare) */
  rangeError: number | null;
  /** max over elements of |c - b| / max(|b|, 1e-6) (element-wise: large where the baseline is near zero) */
  maxRelError: number | null;
  cosine: number | null;
  /** share of rows (last axis) whose arg-max agrees; null when the last axis has fewer than 2 entries */
  top1: number | null;
  /** positions where exactly one of the two is NaN or infinite (an overflow, or a lost one) */
  nonFinite: number;
  /** why the output could not be compared (missing, string, shape differs); the numbers are null then */
  error: string | null;
}

/** Edges of one part of a relation graph comparison (a layer, the last layer, or all layers together). */
export interface EdgeCountReport {
  /** edges of the baseline's graph */
  baseline: number;
  /** edges of the candidate's graph */
  candidate: number;
  /** edges in both */
  common: number;
  /** rows compared ([T, S] rows per layer and input set) */
  rows: number;
  /** baseline edges needed for the F1 to be evidence: max(3, ceil(rows / 10)) */
  minBaseline: number;
  /** baseline >= minBaseline */
  conclusive: boolean;
}

export interface GraphF1Report {
  /** the absolute edge threshold; null with a relative (`4/T`) or top-k rule (see edgeRule) */
  threshold: number | null;
  /** the edge rule as written: '0.2', '4/T', 'topk:2' */
  edgeRule: string;
  lastLayer: number;
  allLayers: number;
  perLayer: number[];
  layers: number;
  source: GraphF1Result['source'];
  /** why the outputs were used, or what was compared */
  note: string;
  edges: { last: EdgeCountReport; all: EdgeCountReport; perLayer: EdgeCountReport[] };
  /**
   * THE graph F1 (graphF1Score): the lower of last layer and all layers, or null when inconclusive. What the bench
   * gate `graphF1`, the pruning search (--target-f1) and the prune report all use.
   */
  score: number | null;
  /** why the graph F1 is not evidence (the baseline graph has too few edges), or null */
  inconclusive: string | null;
}

export interface Fidelity {
  outputs: OutputFidelity[];
  graphF1: GraphF1Report | null;
  notes: string[];
}
