/**
 * Instrumented runs: one onnxruntime pass over a model that returns, besides its outputs, the attention probabilities
 * (for graph F1), the shapes FLOPs are estimated from, and per-channel activation energy Σx² of chosen values (for
 * activation-aware pruning), all from the same runs. The bench (benchmark.ts) and the pruning search use it alike.
 *
 * The values are exposed as extra graph outputs for the duration of the session creation only: the model's outputs
 * are restored before this returns, whatever happens. The session runs with the runtime's graph optimisations
 * disabled, so every exposed value is computed by the node that defines it in the file.
 */
import type * as ort from 'onnxruntime-node';
import type { AttentionCapture, OutputSet } from './fidelity.js';
import { attentionUnavailable, averagedAttention, toFloatTensor } from './fidelity.js';
import { findAttentionSoftmax } from './attention.js';
import { addAttentionTwins, type AttentionTwins } from './attention-twin.js';
import { estimateFlops, flopsTargets } from './flops.js';
import type { FlopsEstimate } from './types.js';
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { axisSums } from '../util/numerics.js';
import { createSession, ortToFloat32, runSession, type Feeds, type SessionOptions } from '../runtime/session.js';

export interface ProbeOptions {
  /** capture attention probabilities (graph F1) */
  attention?: boolean;
  /** keep the model's outputs of every set as float32 */
  outputs?: boolean;
  /** estimate FLOPs from the shapes of the first set */
  flops?: boolean;
  /** accumulate per-channel Σx² of these values (channel axis counted from the end) */
  activations?: readonly { value: Value; axisFromEnd: number }[];
  /** execution provider, threads, ... (the optimisation level is always 'disabled') */
  sessionOptions?: SessionOptions;
}

export interface ProbeResult {
  outputs: OutputSet[];
  outputNames: string[];
  capture: AttentionCapture | null;
  /** why there is no attention capture (null when there is one) */
  whyNoAttention: string | null;
  flops: FlopsEstimate | null;
  /** per-channel Σx² over every set, by value name */
  activations: Map<string, Float64Array>;
}

/** Runs `model` on every feed set with the requested values exposed. */
export async function probeModel(model: Model, feeds: readonly Feeds[], opts: ProbeOptions = {}): Promise<ProbeResult> {
  const g = model.graph;
  const original = [...g.outputs];
  const outputNames = original.map((v) => v.name);
  const expose = (vs: Iterable<Value>): string[] => exposeValues(model, vs);
  const softmax = opts.attention ? findAttentionSoftmax(model.graph) : [];
  // fused com.microsoft Attention: its probabilities through a side-branch twin (same inputs, same weights)
  let twins: AttentionTwins | null = null;
  let session: ort.InferenceSession;
  let attnNames: string[];
  let shapeNames: string[];
  const acts = (opts.activations ?? []).filter((a) => a.value.graph === g);
  const uniqueActs = acts.filter((a, i) => acts.findIndex((b) => b.value === a.value) === i);
  let sites = softmax.map((n) => ({ node: n, probs: n.output(0) }));
  try {
    if (opts.attention) {
      twins = addAttentionTwins(model);
      if (twins.unsupported.length) sites = [];
      else if (twins.sites.length) {
        const order = new Map(g.nodes.map((n, i) => [n, i]));
        sites = [...sites, ...twins.sites].sort((a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0));
      }
    }
    attnNames = expose(sites.map((s) => s.probs));
    shapeNames = opts.flops ? expose(flopsTargets(model)) : [];
    expose(acts.map((a) => a.value));
    session = await createSession(model, { ...opts.sessionOptions, optimizationLevel: 'disabled' });
  } finally {
    g.setOutputs(original);
    twins?.remove();
  }
  const result: ProbeResult = { outputs: [], outputNames, capture: null, whyNoAttention: null, flops: null, activations: new Map() };
  try {
    const shapes = new Map<string, number[]>();
    for (const [n, t] of Object.entries(feeds[0] ?? {})) shapes.set(n, t.dims.map(Number));
    const sets: AttentionCapture['sets'] = [];
    for (let k = 0; k < feeds.length; k++) {
      const want = new Set<string>(attnNames);
      if (opts.outputs) outputNames.forEach((n) => want.add(n));
      if (k === 0) shapeNames.forEach((n) => want.add(n));
      acts.forEach((a) => want.add(a.value.name));
      if (!want.size) break;
      const out = await runSession(session, feeds[k], [...want]);
      if (k === 0) for (const n of shapeNames) if (out[n]) shapes.set(n, out[n].dims.map(Number));
      if (opts.outputs) {
        const set: OutputSet = {};
        for (const n of outputNames) set[n] = toFloatTensor(out[n]);
        result.outputs.push(set);
      }
      if (attnNames.length) sets.push(averagedAttention(attnNames.map((n) => toFloatTensor(out[n]))));
      for (const a of uniqueActs) {
        const t = out[a.value.name];
        const sq = channelEnergy(ortToFloat32(t), t.dims.map(Number), a.axisFromEnd);
        const acc = result.activations.get(a.value.name);
        if (!acc) result.activations.set(a.value.name, sq);
        else for (let i = 0; i < acc.length; i++) acc[i] += sq[i];
      }
    }
    if (opts.flops) result.flops = estimateFlops(model, shapes);
    const twinned = twins?.sites.length ?? 0;
    result.capture = attnNames.length ? { sets, layers: sites.map((s) => s.node.name || s.node.output(0).name), ...(twinned ? { twinned } : {}) } : null;
    const untwinned = twins?.unsupported[0];
    result.whyNoAttention = !opts.attention
      ? null
      : untwinned
        ? `attention is fused and ${twins!.unsupported.length} com.microsoft::Attention node(s) cannot be read through a decomposed twin (${untwinned.node.name || untwinned.node.output(0).name}: ${untwinned.why})`
        : attentionUnavailable(model, result.capture);
  } finally {
    await session.release();
  }
  return result;
}

/** Σx² per index of the axis `axisFromEnd` (1 = last) over every other axis, non-finite values skipped. */
export function channelEnergy(data: Float32Array, dims: readonly number[], axisFromEnd: number): Float64Array {
  return axisSums(data, dims, dims.length - axisFromEnd, 'l2sq', { finiteOnly: true });
}

/** Adds each main-graph value as a graph output unless it already is one; returns their names (each once). */
export function exposeValues(model: Model, values: Iterable<Value>): string[] {
  const names: string[] = [];
  const seen = new Set<Value>();
  for (const v of values) {
    if (seen.has(v)) continue;
    seen.add(v);
    if (v.graph !== model.graph) continue; // only main-graph values can be outputs
    if (!v.isGraphOutput) model.graph.addOutput(v);
    names.push(v.name);
  }
  return names;
}
