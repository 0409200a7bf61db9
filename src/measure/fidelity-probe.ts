/**
 * Graph F1 (and output error) of a candidate against a reference model on given inputs, for the pruning search.
 *
 * Built on the bench's pieces (instrument.ts probeModel: the same instrumented run the bench analyses every model
 * with; fidelity.ts computeGraphF1, compareOutputs), with one difference that matters for a search: the reference is
 * probed once and kept, and every candidate costs one session and one run per input set.
 *
 * maxError: the largest |candidate - reference| of any output element, divided by the largest |reference| of that
 * output (so 0.01 means "within 1% of the output's scale"), over every input set.
 */
import { compareOutputs, computeGraphF1, matchOutputs, type OutputSet } from './fidelity.js';
import type { GraphF1Report, OutputFidelity } from './types.js';
import { DEFAULT_EDGE_RULE, type EdgeRule } from './graph-f1.js';
import type { Model } from '../ir/model.js';
import type { Feeds } from '../runtime/session.js';
import { probeModel, type ProbeResult } from './probe.js';

export interface FidelityReference {
  feeds: readonly Feeds[];
  probe: ProbeResult;
  /** edge threshold or rule of graph F1 */
  threshold: number | EdgeRule;
}

export interface FidelityMeasure {
  graphF1: GraphF1Report;
  /** see the module comment */
  maxError: number;
  outputs: OutputFidelity[];
}

/** Probes the reference model once (outputs and attention of every set). */
export async function fidelityReference(model: Model, feeds: readonly Feeds[], threshold: number | EdgeRule = DEFAULT_EDGE_RULE): Promise<FidelityReference> {
  return { feeds, probe: await probeModel(model, feeds, { attention: true, outputs: true }), threshold };
}

/** Graph F1 and output error of `candidate` against the reference, on the reference's inputs. */
export async function measureFidelity(candidate: Model, ref: FidelityReference): Promise<FidelityMeasure> {
  const c = await probeModel(candidate, ref.feeds, { attention: true, outputs: true });
  return compareProbes(c, ref);
}

export function compareProbes(c: ProbeResult, ref: FidelityReference): FidelityMeasure {
  const b = ref.probe;
  const { pairs } = matchOutputs(c.outputNames, b.outputNames);
  const graphF1 = computeGraphF1({
    threshold: ref.threshold,
    baselineCapture: b.capture,
    candidateCapture: c.capture,
    baselineWhyNot: b.whyNoAttention,
    candidateWhyNot: c.whyNoAttention,
    baselineOutputs: b.outputs,
    candidateOutputs: c.outputs,
    pairs,
  });
  return { graphF1, maxError: normalizedMaxError(c.outputs, b.outputs, pairs), outputs: compareOutputs(c.outputs, b.outputs, pairs) };
}

/** See the module comment; Infinity when shapes differ or the candidate is non-finite where the reference is not. */
export function normalizedMaxError(cand: readonly OutputSet[], base: readonly OutputSet[], pairs: [string, string][]): number {
  let worst = 0;
  for (const [cn, bn] of pairs) {
    let scale = 0;
    let diff = 0;
    for (let k = 0; k < Math.min(cand.length, base.length); k++) {
      const c = cand[k][cn];
      const b = base[k][bn];
      if (!c || !b || c.type === 'string') continue;
      if (c.data.length !== b.data.length) return Infinity;
      for (let i = 0; i < b.data.length; i++) {
        const y = b.data[i];
        if (!Number.isFinite(y)) continue;
        const x = c.data[i];
        if (!Number.isFinite(x)) return Infinity;
        scale = Math.max(scale, Math.abs(y));
        diff = Math.max(diff, Math.abs(x - y));
      }
    }
    worst = Math.max(worst, scale > 0 ? diff / scale : diff);
  }
  return worst;
}
