import { describe, it, expect } from 'vitest';
import {
  averageAttention,
  relationEdges,
  compareEdges,
  f1FromCounts,
  looksLikeProbabilities,
  argmaxEdges,
  attentionGraphF1,
  outputGraphF1,
  parseEdgeRule,
  formatEdgeRule,
  edgesByRule,
  minBaselineEdges,
} from '../../src/measure/graph-f1.js';
import { UsageError } from '../../src/errors.js';

const t = (values: number[], dims: number[]) => ({ data: Float32Array.from(values), dims });

// Baseline attention [1, 2, 3, 3]; rows are softmax-like.
const BASE_H0 = [0.7, 0.2, 0.1, /**/ 0.1, 0.8, 0.1, /**/ 0.3, 0.3, 0.4];
const BASE_H1 = [0.5, 0.3, 0.2, /**/ 0.2, 0.2, 0.6, /**/ 0.1, 0.1, 0.8];
// Head average: [0.6 0.25 0.15 | 0.15 0.5 0.35 | 0.2 0.2 0.6]
// Baseline edges (> 0.2): (0,0) (0,1) (1,1) (1,2) (2,2)           -> |B| = 5
const CAND_H0 = [0.9, 0.05, 0.05, /**/ 0.1, 0.8, 0.1, /**/ 0.5, 0.1, 0.4];
const CAND_H1 = [0.5, 0.3, 0.2, /**/ 0.2, 0.7, 0.1, /**/ 0.1, 0.1, 0.8];
// Head average: [0.7 0.175 0.125 | 0.15 0.75 0.1 | 0.3 0.1 0.6]
// Candidate edges: (0,0) (1,1) (2,0) (2,2)                         -> |C| = 4
// tp = 3 {(0,0),(1,1),(2,2)}, fp = 1 {(2,0)}, fn = 2 {(0,1),(1,2)}
// precision 3/4, recall 3/5, F1 = 2*0.75*0.6/1.35 = 2/3
const baseline = t([...BASE_H0, ...BASE_H1], [1, 2, 3, 3]);
const candidate = t([...CAND_H0, ...CAND_H1], [1, 2, 3, 3]);

describe('averageAttention', () => {
  it('averages over batch and heads', () => {
    const { matrix, t: T, s } = averageAttention(baseline.data, baseline.dims);
    expect([T, s]).toEqual([3, 3]);
    const expected = [0.6, 0.25, 0.15, 0.15, 0.5, 0.35, 0.2, 0.2, 0.6];
    expected.forEach((v, i) => expect(matrix[i]).toBeCloseTo(v, 6));
  });

  it('accepts 3-D and 2-D inputs with the same result', () => {
    const four = averageAttention(baseline.data, [1, 2, 3, 3]).matrix;
    const three = averageAttention(baseline.data, [2, 3, 3]).matrix;
    expect(Array.from(three)).toEqual(Array.from(four));
    const two = averageAttention(Float32Array.from(BASE_H0), [3, 3]);
    expect(Array.from(two.matrix)).toEqual(Array.from(Float32Array.from(BASE_H0)));
    // non-square T x S
    const rect = averageAttention(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), [2, 2, 3]);
    expect([rect.t, rect.s]).toEqual([2, 3]);
    expect(Array.from(rect.matrix)).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it('rejects inconsistent input', () => {
    expect(() => averageAttention(new Float32Array(5), [2, 3])).toThrow(/6/);
    expect(() => averageAttention(new Float32Array(3), [3])).toThrow();
  });
});

describe('edges and F1', () => {
  it('thresholds strictly (a float32 0.2 is not above 0.2)', () => {
    const m = Float32Array.from([0.2, 0.21, 0.19, 0.9, Number.NaN]);
    expect(Array.from(relationEdges(m, 0.2))).toEqual([0, 1, 0, 1, 0]);
    expect(Array.from(relationEdges(m, 0.5))).toEqual([0, 0, 0, 1, 0]);
  });

  it('counts tp/fp/fn', () => {
    const c = Uint8Array.from([1, 1, 0, 0, 1]);
    const b = Uint8Array.from([1, 0, 1, 0, 1]);
    expect(compareEdges(c, b)).toEqual({ tp: 2, fp: 1, fn: 1 });
    expect(() => compareEdges(c, new Uint8Array(4))).toThrow();
  });

  it('follows the empty-set rules', () => {
    expect(f1FromCounts({ tp: 0, fp: 0, fn: 0 })).toBe(1); // both empty
    expect(f1FromCounts({ tp: 0, fp: 3, fn: 0 })).toBe(0); // baseline empty
    expect(f1FromCounts({ tp: 0, fp: 0, fn: 2 })).toBe(0); // candidate empty
    expect(f1FromCounts({ tp: 0, fp: 1, fn: 1 })).toBe(0); // disjoint
    expect(f1FromCounts({ tp: 3, fp: 1, fn: 2 })).toBeCloseTo(2 / 3, 12);
  });
});

describe('attentionGraphF1', () => {
  it('is 1 for identical inputs', () => {
    const r = attentionGraphF1([baseline, candidate], [baseline, candidate]);
    expect(r.lastLayer).toBe(1);
    expect(r.microAverage).toBe(1);
    expect(r.perLayer).toEqual([1, 1]);
    expect(r.layers).toBe(2);
    expect(r.source).toBe('attention');
    expect(r.counts).toEqual({ tp: 9, fp: 0, fn: 0 });
  });

  it('matches the hand-computed F1 of a perturbed [1,2,3,3] tensor', () => {
    const r = attentionGraphF1([candidate], [baseline]);
    expect(r.counts).toEqual({ tp: 3, fp: 1, fn: 2 });
    expect(r.lastLayer).toBeCloseTo(2 / 3, 12);
    expect(r.microAverage).toBeCloseTo(2 / 3, 12);
  });

  it('micro-averages over layers and reports the last layer', () => {
    // layer 0 identical (tp 5), layer 1 perturbed (tp 3, fp 1, fn 2)
    const r = attentionGraphF1([baseline, candidate], [baseline, baseline]);
    expect(r.perLayer[0]).toBe(1);
    expect(r.perLayer[1]).toBeCloseTo(2 / 3, 12);
    expect(r.lastLayer).toBeCloseTo(2 / 3, 12);
    expect(r.counts).toEqual({ tp: 8, fp: 1, fn: 2 });
    expect(r.microAverage).toBeCloseTo(16 / 19, 12); // 2*8 / (2*8 + 1 + 2)
    // order matters: last layer is the last list element
    const r2 = attentionGraphF1([candidate, baseline], [baseline, baseline]);
    expect(r2.lastLayer).toBe(1);
    expect(r2.microAverage).toBeCloseTo(16 / 19, 12);
  });

  it('respects the threshold argument', () => {
    // at 0.5 baseline edges: (0,0) 0.6; candidate: (0,0) 0.7, (1,1) 0.75, (2,2) 0.6 vs baseline (2,2) 0.6
    // baseline avg (1,1) = 0.5 is not above 0.5 -> B = {(0,0),(2,2)}, C = {(0,0),(1,1),(2,2)}
    const r = attentionGraphF1([candidate], [baseline], 0.5);
    expect(r.counts).toEqual({ tp: 2, fp: 1, fn: 0 });
    expect(r.lastLayer).toBeCloseTo(0.8, 12);
  });

  it('gives 1 when neither graph has edges (uniform attention)', () => {
    const uniform = t(new Array(2 * 8 * 8).fill(1 / 8), [1, 2, 8, 8]);
    const r = attentionGraphF1([uniform], [uniform]);
    expect(r.counts).toEqual({ tp: 0, fp: 0, fn: 0 });
    expect(r.lastLayer).toBe(1);
    // candidate gains edges the baseline lacks -> 0
    const peaked = t(
      new Array(2 * 8 * 8).fill(0).map((_, i) => (i % 9 === 0 ? 1 : 0)),
      [1, 2, 8, 8],
    );
    expect(attentionGraphF1([peaked], [uniform]).lastLayer).toBe(0);
    expect(attentionGraphF1([uniform], [peaked]).lastLayer).toBe(0);
  });

  it('throws clear errors on mismatched layer counts or shapes', () => {
    expect(() => attentionGraphF1([baseline], [baseline, baseline])).toThrow(/1 layer.*2/);
    expect(() => attentionGraphF1([t([...BASE_H0, ...BASE_H1], [2, 1, 3, 3])], [baseline])).toThrow(/layer 0 shape differs/);
    expect(() => attentionGraphF1([t([1, 2, 3], [1, 2, 3, 3])], [t([1, 2, 3], [1, 2, 3, 3])])).toThrow(/18/);
    expect(() => attentionGraphF1([], [])).toThrow(/no layers/);
  });
});

describe('output fallback', () => {
  it('detects probabilities', () => {
    expect(looksLikeProbabilities(Float32Array.from([0.7, 0.2, 0.1, 0.5, 0.5, 0]), [2, 3])).toBe(true);
    expect(looksLikeProbabilities(Float32Array.from([0.7, 0.2, 0.2, 0.5, 0.5, 0]), [2, 3])).toBe(false); // sum 1.1
    expect(looksLikeProbabilities(Float32Array.from([1.2, -0.2, 0, 0.5, 0.5, 0]), [2, 3])).toBe(false); // negative
    expect(looksLikeProbabilities(Float32Array.from([1, 3, 2]), [3])).toBe(false);
    expect(looksLikeProbabilities(Float32Array.from([0.5, 0.5005]), [2], 1e-2)).toBe(true);
    expect(looksLikeProbabilities(Float32Array.from([0.5, 0.5005]), [2], 1e-4)).toBe(false);
    expect(looksLikeProbabilities(new Float32Array(0), [0, 3])).toBe(false);
  });

  it('builds arg-max edges per row over the last axis', () => {
    const e = argmaxEdges(Float32Array.from([1, 3, 2, /**/ 5, 5, 0, /**/ -1, -2, -0.5, /**/ Number.NaN, 0, 1]), [2, 2, 3]);
    expect(Array.from(e)).toEqual([0, 1, 0, /**/ 1, 0, 0, /**/ 0, 0, 1, /**/ 0, 0, 1]);
    const allNaN = argmaxEdges(Float32Array.from([Number.NaN, Number.NaN]), [1, 2]);
    expect(Array.from(allNaN)).toEqual([0, 0]);
  });

  it('uses arg-max for logits', () => {
    const base = t([1, 3, 2, /**/ 0, -1, 5], [2, 3]);
    const cand = t([1, 2, 3, /**/ 0, -1, 4], [2, 3]);
    const r = outputGraphF1([cand], [base]);
    expect(r.source).toBe('outputs-argmax');
    // row 0 argmax moves 1 -> 2 (fp 1, fn 1), row 1 agrees (tp 1)
    expect(r.counts).toEqual({ tp: 1, fp: 1, fn: 1 });
    expect(r.lastLayer).toBeCloseTo(0.5, 12);
    expect(outputGraphF1([base], [base]).lastLayer).toBe(1);
  });

  it('thresholds probability outputs per row and reports mixed sources', () => {
    const base = t([0.7, 0.25, 0.05, /**/ 0.1, 0.1, 0.8], [2, 3]); // edges (0,0) (0,1) (1,2)
    const cand = t([0.85, 0.1, 0.05, /**/ 0.1, 0.3, 0.6], [2, 3]); // edges (0,0) (1,1) (1,2)
    const r = outputGraphF1([cand], [base]);
    expect(r.source).toBe('outputs-probabilities');
    expect(r.counts).toEqual({ tp: 2, fp: 1, fn: 1 });
    expect(r.lastLayer).toBeCloseTo(2 / 3, 12);

    const logits = t([1, 3, 2], [1, 3]);
    const mixed = outputGraphF1([cand, logits], [base, logits]);
    expect(mixed.source).toBe('mixed');
    expect(mixed.layers).toBe(2);
    expect(mixed.perLayer[1]).toBe(1);
    expect(mixed.lastLayer).toBe(1);
    expect(mixed.counts).toEqual({ tp: 3, fp: 1, fn: 1 });
    expect(mixed.microAverage).toBeCloseTo(0.75, 12);
  });

  it('classifies by the baseline so a broken candidate is penalised', () => {
    const base = t([0.7, 0.25, 0.05], [1, 3]);
    const brokenCand = t([7, 2.5, 0.5], [1, 3]); // lost its softmax
    const r = outputGraphF1([brokenCand], [base]);
    expect(r.source).toBe('outputs-probabilities');
    expect(r.counts).toEqual({ tp: 2, fp: 1, fn: 0 });
  });

  it('throws on mismatched outputs', () => {
    expect(() => outputGraphF1([t([1, 2], [2])], [t([1, 2], [1, 2])])).toThrow(/shape differs/);
    expect(() => outputGraphF1([], [t([1], [1])])).toThrow(/0 outputs/);
  });
});

describe('edge rules, edge counts and the inconclusive floor (issue 13)', () => {
  it('parses --graph-threshold and --graph-edges', () => {
    expect(parseEdgeRule()).toEqual({ kind: 'absolute', threshold: 0.2 });
    expect(parseEdgeRule('0.3')).toEqual({ kind: 'absolute', threshold: 0.3 });
    expect(parseEdgeRule('4/T')).toEqual({ kind: 'uniform', factor: 4 });
    expect(parseEdgeRule(undefined, 'topk:2')).toEqual({ kind: 'topk', k: 2 });
    expect(parseEdgeRule(undefined, 'threshold')).toEqual({ kind: 'absolute', threshold: 0.2 });
    expect(formatEdgeRule(parseEdgeRule('1.5/T'))).toBe('1.5/T');
    for (const bad of [() => parseEdgeRule('1.2'), () => parseEdgeRule('x'), () => parseEdgeRule(undefined, 'topk:0'), () => parseEdgeRule('0.2', 'topk:2')])
      expect(bad).toThrow(UsageError);
  });

  it('4/T: an edge is an entry above 4 times uniform over the keys its row attends to (masked keys do not count)', () => {
    // causal rows: row 0 attends to 1 key, row 1 to 2, row 3 to 4 (of width 4)
    const m = Float32Array.from([1, 0, 0, 0, /**/ 0.9, 0.1, 0, 0, /**/ 0.5, 0.3, 0.2, 0, /**/ 0.04, 0.9, 0.03, 0.03]);
    // 4/1 and 4/2 exceed any probability: rows 0 and 1 have no edge under 4/T although an absolute 0.2 sees them
    expect(Array.from(edgesByRule(m, m, 4, { kind: 'uniform', factor: 4 }).b)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const two = edgesByRule(m, m, 4, { kind: 'uniform', factor: 2 }).b; // row 3: 2/4 = 0.5 -> 0.9 is an edge
    expect(Array.from(two.slice(12))).toEqual([0, 1, 0, 0]);
    expect(Array.from(edgesByRule(m, m, 4, 0.2).b)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0]);
  });

  it('topk:k keeps the k largest positive entries of every row', () => {
    const m = Float32Array.from([0.1, 0.5, 0.4, /**/ 0.3, 0.3, 0.4, /**/ 1, 0, 0]);
    expect(Array.from(edgesByRule(m, m, 3, { kind: 'topk', k: 2 }).b)).toEqual([0, 1, 1, 1, 0, 1, 1, 0, 0]);
  });

  it('reports edge counts per layer; near-uniform attention has no edges and is inconclusive, never F1 = 1 as evidence', () => {
    const T = 16;
    const near = (seed: number) => {
      const d = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) d[i * T + j] = (1 + 0.05 * Math.sin(seed * (i + 1) * (j + 3))) / T;
      return { data: d, dims: [T, T] };
    };
    const r = attentionGraphF1([near(1), near(1)], [near(2), near(2)]);
    expect(r.microAverage).toBe(1); // both edge sets empty: the number alone is vacuous
    expect(r.rows).toBe(2 * T);
    expect(r.perLayerRows).toEqual([T, T]);
    expect(r.counts).toEqual({ tp: 0, fp: 0, fn: 0 });
    expect(minBaselineEdges(r.rows)).toBe(4);
    expect(minBaselineEdges(16)).toBe(3);
    expect(minBaselineEdges(640)).toBe(64);
    // per-row top-k always has edges; on near-uniform rows they are noise, so two different models disagree
    const k = attentionGraphF1([near(1)], [near(2)], { kind: 'topk', k: 2 });
    expect(k.counts.tp + k.counts.fn).toBe(2 * T);
    expect(k.microAverage).toBeLessThan(0.5);
    expect(attentionGraphF1([near(2)], [near(2)], { kind: 'topk', k: 2 }).microAverage).toBe(1);
  });
});
