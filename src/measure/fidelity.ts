/**
 * Fidelity of a candidate against the baseline, on the same inputs.
 *
 * Per output (matched by name; by position when no name matches and the counts agree), pooled over every input set:
 *   maxAbsError  max |c - b|
 *   maxRelError  max |c - b| / max(|b|, 1e-6)
 *   cosine       c.b / (|c| |b|) over the whole tensor (1 when both are all zero)
 *   top1         share of rows (last axis, leading axes flattened) whose arg-max agrees; null when the last axis
 *                has fewer than 2 entries. Meaningful for classifier-like outputs (logits, probabilities).
 *
 * Graph F1 (see graph-f1.ts and DESIGN.md): the attention Softmax of each layer is the Softmax whose output (through
 * Cast/Dropout/Identity) is the left operand of a MatMul, i.e. the probabilities multiplied with V. Their outputs are
 * exposed as extra outputs of an instrumented copy (instrument.ts), averaged over batch and heads to [T, S], and
 * thresholded. Last layer and all layers are pooled over the input sets. When either model has no such Softmax (for
 * instance the candidate's attention was fused into com.microsoft Attention) or the layer counts differ, both are
 * measured on their outputs instead, and `source`/`note` say so.
 */
import type * as ort from 'onnxruntime-node';
import type { Node } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { ortToFloat32 } from '../runtime/session.js';
import {
  attentionGraphF1,
  averageAttention,
  baselineEdges,
  candidateEdges,
  DEFAULT_EDGE_RULE,
  type EdgeCounts,
  type EdgeRule,
  formatEdgeRule,
  type GraphF1Result,
  minBaselineEdges,
  outputGraphF1,
  type TensorLike,
} from './graph-f1.js';
import type { EdgeCountReport, GraphF1Report, OutputFidelity } from './types.js';

/** A tensor as float32 with its dims (outputs of one run). */
export interface FloatTensor extends TensorLike {
  /** the runtime's element type name ('float32', 'float16', 'int64', ...) */
  type?: string;
}
export type OutputSet = Record<string, FloatTensor>;

const FUSED_ATTENTION = new Set([
  'Attention',
  'MultiHeadAttention',
  'GroupQueryAttention',
  'PackedAttention',
  'PackedMultiHeadAttention',
  'DecoderMaskedMultiHeadAttention',
  'SparseAttention',
]);

/** Fused attention operators (com.microsoft Attention and relatives) anywhere in the model. */
export function fusedAttentionOps(model: Model): Node[] {
  return [...model.allNodes()].filter((n) => n.domain === 'com.microsoft' && FUSED_ATTENTION.has(n.opType));
}

/** Attention probabilities of one run, averaged over batch and heads: one [T, S] matrix per layer. */
export function averagedAttention(tensors: TensorLike[]): TensorLike[] {
  return tensors.map((t) => {
    const { matrix, t: rows, s } = averageAttention(t.data, t.dims);
    return { data: matrix, dims: [rows, s] };
  });
}

// ------------------------------------------------------------------------------------------------ outputs

interface Acc {
  maxAbs: number;
  maxRel: number;
  dot: number;
  nc: number;
  nb: number;
  /** max |baseline| */
  range: number;
  rows: number;
  agree: number;
  top1: boolean;
  nonFinite: number;
  error: string | null;
}

function accumulate(acc: Acc, c: FloatTensor, b: FloatTensor): void {
  if (c.dims.length !== b.dims.length || c.dims.some((d, i) => d !== b.dims[i])) {
    acc.error = `shape differs: candidate [${c.dims.join(', ')}] vs baseline [${b.dims.join(', ')}]`;
    return;
  }
  const cd = c.data;
  const bd = b.data;
  for (let i = 0; i < cd.length; i++) {
    const x = cd[i]!;
    const y = bd[i]!;
    const fx = Number.isFinite(x);
    if (fx !== Number.isFinite(y) || (!fx && !Object.is(x, y))) acc.nonFinite++;
    if (!fx || !Number.isFinite(y)) continue;
    const d = Math.abs(x - y);
    if (d > acc.maxAbs) acc.maxAbs = d;
    if (Math.abs(y) > acc.range) acc.range = Math.abs(y);
    const r = d / Math.max(Math.abs(y), 1e-6);
    if (r > acc.maxRel) acc.maxRel = r;
    acc.dot += x * y;
    acc.nc += x * x;
    acc.nb += y * y;
  }
  const width = b.dims.length ? b.dims[b.dims.length - 1]! : 1;
  if (width < 2) {
    acc.top1 = false;
    return;
  }
  const rows = cd.length / width;
  for (let r = 0; r < rows; r++) {
    let bc = 0;
    let bb = 0;
    for (let k = 1; k < width; k++) {
      if (cd[r * width + k]! > cd[r * width + bc]!) bc = k;
      if (bd[r * width + k]! > bd[r * width + bb]!) bb = k;
    }
    acc.rows++;
    if (bc === bb) acc.agree++;
  }
}

/** Matches candidate outputs to baseline outputs: by name, else by position when the counts agree. */
export function matchOutputs(candidateNames: string[], baselineNames: string[]): { pairs: [string, string][]; note: string | null } {
  const byName = candidateNames.filter((n) => baselineNames.includes(n)).map((n): [string, string] => [n, n]);
  if (byName.length) {
    const missing = baselineNames.filter((n) => !candidateNames.includes(n));
    return { pairs: byName, note: missing.length ? `baseline output(s) ${missing.join(', ')} missing from the candidate` : null };
  }
  if (candidateNames.length === baselineNames.length && candidateNames.length > 0) {
    return { pairs: candidateNames.map((n, i): [string, string] => [n, baselineNames[i]!]), note: 'no output names in common: outputs matched by position' };
  }
  return { pairs: [], note: `no output of the candidate (${candidateNames.join(', ')}) matches the baseline's (${baselineNames.join(', ')})` };
}

/** Per-output errors pooled over the input sets (`candidate[k]` and `baseline[k]` ran on set k). */
export function compareOutputs(candidate: OutputSet[], baseline: OutputSet[], pairs: [string, string][]): OutputFidelity[] {
  return pairs.map(([cn, bn]) => {
    const acc: Acc = { maxAbs: 0, maxRel: 0, dot: 0, nc: 0, nb: 0, range: 0, rows: 0, agree: 0, top1: true, nonFinite: 0, error: null };
    for (let k = 0; k < Math.min(candidate.length, baseline.length) && !acc.error; k++) {
      const c = candidate[k]![cn];
      const b = baseline[k]![bn];
      if (!c || !b) {
        acc.error = `output missing in set ${k}`;
        break;
      }
      if (c.type === 'string' || b.type === 'string') {
        acc.error = 'string outputs are not compared';
        break;
      }
      accumulate(acc, c, b);
    }
    if (acc.error)
      return {
        name: cn,
        baselineName: bn,
        maxAbsError: null,
        rangeError: null,
        maxRelError: null,
        cosine: null,
        top1: null,
        nonFinite: acc.nonFinite,
        error: acc.error,
      };
    const denom = Math.sqrt(acc.nc * acc.nb); // sqrt(fl(x*x)) === x, so identical outputs give exactly 1
    const cosine = acc.nc === 0 && acc.nb === 0 ? 1 : denom === 0 ? 0 : Math.max(-1, Math.min(1, acc.dot / denom));
    return {
      name: cn,
      baselineName: bn,
      maxAbsError: acc.maxAbs,
      rangeError: acc.range > 0 ? acc.maxAbs / acc.range : acc.maxAbs,
      maxRelError: acc.maxRel,
      cosine,
      top1: acc.top1 && acc.rows > 0 ? acc.agree / acc.rows : null,
      nonFinite: acc.nonFinite,
      error: null,
    };
  });
}

/** An onnxruntime output as a FloatTensor (a copy: runtime output buffers are not kept). */
export function toFloatTensor(t: ort.Tensor): FloatTensor {
  const dims = t.dims.map(Number);
  if (t.type === 'string') return { data: new Float32Array(0), dims, type: 'string' };
  const data = ortToFloat32(t);
  return { data: t.type === 'float32' ? Float32Array.from(data) : data, dims, type: t.type };
}

/** One run's outputs as FloatTensors. */
export function toOutputSet(r: Record<string, ort.Tensor>): OutputSet {
  const o: OutputSet = {};
  for (const [k, v] of Object.entries(r)) o[k] = toFloatTensor(v);
  return o;
}

/**
 * The single error a tolerance is compared with: the worst range-relative error over the outputs; Infinity when an
 * output overflowed (non-finite where the reference is finite) or could not be compared.
 */
export function worstError(f: readonly OutputFidelity[]): number {
  let w = 0;
  for (const o of f) {
    if (o.nonFinite > 0 || o.error !== null || o.rangeError === null) return Infinity;
    w = Math.max(w, o.rangeError);
  }
  return w;
}

// ------------------------------------------------------------------------------------------------ graph F1

export interface AttentionCapture {
  /** per input set, per layer: averaged [T, S] probabilities */
  sets: TensorLike[][];
  /** Softmax node names (or output names), in layer order */
  layers: string[];
  /** how many of the layers are fused Attention nodes read through their decomposed twin (attention-twin.ts) */
  twinned?: number;
}

/** Why a model has no usable attention capture, or null when it has one. */
export function attentionUnavailable(model: Model, capture: AttentionCapture | null): string | null {
  if (capture?.layers.length) return null;
  const fused = fusedAttentionOps(model);
  if (fused.length) {
    const kinds = [...new Set(fused.map((n) => `${n.domain}::${n.opType}`))].join(', ');
    return `attention is fused (${kinds} x${fused.length}), so its probabilities are not visible`;
  }
  return 'no attention Softmax (a Softmax feeding a MatMul with V) was found';
}

function edgeReport(c: EdgeCounts, rows: number): EdgeCountReport {
  const b = baselineEdges(c);
  const minBaseline = minBaselineEdges(rows);
  return { baseline: b, candidate: candidateEdges(c), common: c.tp, rows, minBaseline, conclusive: b >= minBaseline };
}

/** Which part of a graph F1 a gate or a search reads: the lower of last layer and all layers (default), or one. */
export type GraphF1Part = 'min' | 'last' | 'all';

/**
 * The one definition of "the graph F1 of a candidate" that the bench gates, the pruning search and the prune report
 * use: the lower of last-layer and all-layer F1 ('min', the default), or one of them. `value` is null when the
 * baseline graph has too few edges for the number to be evidence; `why` then says so and what to do.
 */
export function graphF1Score(r: GraphF1Report, part: GraphF1Part = 'min'): { value: number | null; why: string | null } {
  const last = r.edges.last;
  const all = r.edges.all;
  const bad =
    part === 'last'
      ? last.conclusive
        ? []
        : [['the last layer', last] as const]
      : part === 'all'
        ? all.conclusive
          ? []
          : [['all layers', all] as const]
        : [...(last.conclusive ? [] : [['the last layer', last] as const]), ...(all.conclusive ? [] : [['all layers', all] as const])];
  if (bad.length) {
    const what = bad.map(([w, e]) => `${w}: ${e.baseline} baseline edge(s) in ${e.rows} row(s), ${e.minBaseline} needed`).join('; ');
    return { value: null, why: `graph F1 is inconclusive with edge rule ${r.edgeRule} (${what}): ${INCONCLUSIVE_ADVICE}` };
  }
  const value = part === 'last' ? r.lastLayer : part === 'all' ? r.allLayers : Math.min(r.lastLayer, r.allLayers);
  return { value, why: null };
}

export const INCONCLUSIVE_ADVICE =
  "the baseline's relation graph is (nearly) empty, as with near-uniform attention (random weights, short or synthetic inputs), so an F1 would say nothing; try a threshold relative to uniform attention (--graph-threshold 4/T), per-row top-k edges (--graph-edges topk:2), real --inputs, or more tokens (--dim sequence=...)";

function toReport(rule: EdgeRule, perLayer: GraphF1Result[], all: GraphF1Result, source: GraphF1Report['source'], note: string): GraphF1Report {
  const layerEdges = perLayer.map((p) => edgeReport(p.counts, p.rows));
  const base: Omit<GraphF1Report, 'score' | 'inconclusive'> = {
    threshold: rule.kind === 'absolute' ? rule.threshold : null,
    edgeRule: formatEdgeRule(rule),
    lastLayer: perLayer[perLayer.length - 1]!.microAverage,
    allLayers: all.microAverage,
    perLayer: perLayer.map((p) => p.microAverage),
    layers: perLayer.length,
    source,
    note,
    edges: { last: layerEdges[layerEdges.length - 1]!, all: edgeReport(all.counts, all.rows), perLayer: layerEdges },
  };
  const r = { ...base, score: null, inconclusive: null } as GraphF1Report;
  const s = graphF1Score(r);
  r.score = s.value;
  r.inconclusive = s.why;
  return r;
}

/**
 * Graph F1 of a candidate against the baseline. Uses the attention captures when both have the same number of
 * layers with matching [T, S], else the outputs (`pairs`), naming why in `note`. Edge counts (baseline, candidate,
 * per layer) are reported; a baseline graph with too few edges makes the result inconclusive (`score` null).
 */
export function computeGraphF1(opts: {
  /** an absolute threshold or an edge rule (default 0.2) */
  threshold?: number | EdgeRule;
  baselineCapture: AttentionCapture | null;
  candidateCapture: AttentionCapture | null;
  baselineWhyNot: string | null;
  candidateWhyNot: string | null;
  baselineOutputs: OutputSet[];
  candidateOutputs: OutputSet[];
  pairs: [string, string][];
}): GraphF1Report {
  const { baselineCapture: bc, candidateCapture: cc } = opts;
  const rule: EdgeRule =
    opts.threshold === undefined ? DEFAULT_EDGE_RULE : typeof opts.threshold === 'number' ? { kind: 'absolute', threshold: opts.threshold } : opts.threshold;
  let fallbackWhy: string | null = null;
  if (opts.baselineWhyNot) fallbackWhy = `baseline: ${opts.baselineWhyNot}`;
  else if (opts.candidateWhyNot) fallbackWhy = `candidate: ${opts.candidateWhyNot}`;
  else if (bc && cc && bc.layers.length !== cc.layers.length)
    fallbackWhy = `the candidate has ${cc.layers.length} attention layers, the baseline ${bc.layers.length}`;
  else if (bc && cc) {
    const bad = bc.sets[0]?.findIndex((t, i) => {
      const o = cc.sets[0]?.[i];
      return !o || o.dims[0] !== t.dims[0] || o.dims[1] !== t.dims[1];
    });
    if (bad !== undefined && bad >= 0) fallbackWhy = `attention of layer ${bad} has a different shape in the candidate`;
  } else fallbackWhy = 'attention probabilities were not captured';
  if (!fallbackWhy && bc && cc) {
    const layers = bc.layers.length;
    const sets = Math.min(bc.sets.length, cc.sets.length);
    const collect = (cap: AttentionCapture, layer: number): TensorLike[] => Array.from({ length: sets }, (_, s) => cap.sets[s]![layer]!);
    const perLayer = Array.from({ length: layers }, (_, l) => attentionGraphF1(collect(cc, l), collect(bc, l), rule));
    const all = attentionGraphF1(
      Array.from({ length: layers }, (_, l) => collect(cc, l)).flat(),
      Array.from({ length: layers }, (_, l) => collect(bc, l)).flat(),
      rule,
    );
    const twins = [cc.twinned ? `the candidate's ${cc.twinned}` : '', bc.twinned ? `the baseline's ${bc.twinned}` : ''].filter(Boolean).join(' and ');
    const how = twins ? `; ${twins} fused Attention layer(s) read through a decomposed twin with the same weights` : '';
    return toReport(rule, perLayer, all, 'attention', `attention probabilities of ${layers} layer(s) over ${sets} input set(s)${how}`);
  }
  // fallback: the outputs
  if (!opts.pairs.length) throw new Error(`graph F1: no outputs to fall back on (${fallbackWhy})`);
  const sets = Math.min(opts.baselineOutputs.length, opts.candidateOutputs.length);
  const gather = (outs: OutputSet[], name: string): TensorLike[] =>
    Array.from({ length: sets }, (_, s) => {
      const t = outs[s]![name]!;
      return { data: t.data, dims: t.dims };
    });
  const usable = opts.pairs.filter(([cn, bn]) => {
    const c = opts.candidateOutputs[0]?.[cn];
    const b = opts.baselineOutputs[0]?.[bn];
    return c && b && c.type !== 'string' && c.dims.length === b.dims.length && c.dims.every((d, i) => d === b.dims[i]);
  });
  if (!usable.length) throw new Error(`graph F1: no output of matching shape to fall back on (${fallbackWhy})`);
  const perOutput = usable.map(([cn, bn]) => outputGraphF1(gather(opts.candidateOutputs, cn), gather(opts.baselineOutputs, bn), rule));
  const all = outputGraphF1(
    usable.flatMap(([cn]) => gather(opts.candidateOutputs, cn)),
    usable.flatMap(([, bn]) => gather(opts.baselineOutputs, bn)),
    rule,
  );
  const kinds = new Set(perOutput.map((p) => p.source));
  return toReport(
    rule,
    perOutput,
    all,
    kinds.size === 1 ? [...kinds][0]! : 'mixed',
    `measured on the outputs (${usable.map(([cn]) => cn).join(', ')}) because ${fallbackWhy}`,
  );
}
