/**
 * Structured pruning on the committed torch.onnx.export files (fixtures/torch/): GPT-2 (Conv1D linears exported as
 * Reshape-Gemm-Reshape, one packed c_attn split into q/k/v) and the LLaMA-style decoder (SiLU-gated MLP, grouped-query
 * attention). About half of the units go, the pruned model runs on the fixture's inputs with the same output shapes,
 * and the lossless part (canonicalization, sparsity 0) keeps torch's reference outputs.
 */
import { describe, expect, it } from 'vitest';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes, loadModel } from '../../src/onnx/io.js';
import { prune } from '../../src/prune/prune.js';
import { analyzeUnits, canonicalizeForStructured, pruneStructured } from '../../src/prune/structured.js';
import { zeroElements } from '../../src/prune/tensors.js';
import type { UnitGroup, UnitKind } from '../../src/prune/types.js';
import { constantOf } from '../../src/rewrite/constant.js';
import { createSession, runSession, type Feeds } from '../../src/runtime/session.js';
import { exportCases, feedsOf, torchFixture } from '../helpers/torch-fixtures.js';

const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));

async function run(m: Model, feeds: Feeds): Promise<Record<string, { dims: number[]; data: Float32Array }>> {
  const s = await createSession(clone(m));
  try {
    const out = await runSession(s, feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { dims: t.dims.map(Number), data: t.data as Float32Array }]));
  } finally {
    await s.release();
  }
}

const maxRelErr = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
  }
  return err / scale;
};

function fixture(file: string, refs: string) {
  const { cases } = exportCases(refs);
  return { model: () => loadModel(torchFixture(file)), cases, feeds: cases.map((c) => feedsOf(c.inputs)) };
}

const GPT2 = fixture('gpt2-tiny-op17.onnx', 'gpt2-tiny.json');

/** Zeroes what the units outside `keep` contribute: their rows (or columns) of every consuming weight. */
function silence(g: UnitGroup, keep: ReadonlySet<number>): void {
  for (const s of g.slices.filter((x) => x.role === 'sink')) {
    const t = constantOf(s.node.input(s.input))!;
    const mask = new Uint8Array(t.size);
    let inner = 1;
    for (let i = s.axis + 1; i < t.dims.length; i++) inner *= t.dims[i];
    for (let i = 0; i < t.size; i++) {
      const u = Math.floor((Math.floor(i / inner) % t.dims[s.axis]) / s.width) - (s.offset ?? 0);
      if (u >= 0 && u < g.units && !keep.has(u)) mask[i] = 1;
    }
    s.node.setInput(s.input, s.node.graph!.addConstant(`${s.node.input(s.input)!.name}_silenced`, zeroElements(t, mask)));
  }
}

/**
 * The cut is exact: a model whose dropped units are silenced (their consuming rows zeroed) computes what the pruned
 * model computes. Units kept: the even ones (forced through the scores).
 */
async function exactCut(m: Model, units: UnitKind[], feeds: Feeds[]): Promise<{ groups: number; removed: number; err: number }> {
  canonicalizeForStructured(m);
  const silenced = clone(m);
  const groups = analyzeUnits(m, { units }).groups;
  const scores = Object.fromEntries(groups.map((g) => [g.id, Array.from({ length: g.units }, (_, i) => (i % 2 === 0 ? 1 : 0))]));
  const sg = analyzeUnits(silenced, { units }).groups;
  for (const g of sg) silence(g, new Set(Array.from({ length: g.units }, (_, i) => i).filter((i) => i % 2 === 0)));
  const r = pruneStructured(m, { units, sparsity: 0.5, scores });
  verify(m);
  let err = 0;
  for (const f of feeds) {
    const [a, b] = [await run(silenced, f), await run(m, f)];
    for (const k of Object.keys(a)) {
      expect(b[k].dims).toEqual(a[k].dims);
      err = Math.max(err, maxRelErr(b[k].data, a[k].data));
    }
  }
  return { groups: r.groups.filter((g) => g.kept < g.units).length, removed: r.removedParams, err };
}

describe('structured pruning of the torch GPT-2 export', () => {
  it('sparsity 0 (canonicalization only) keeps torch reference outputs within 1e-4', async () => {
    const m = GPT2.model();
    const { report } = await prune(m, { method: 'structured', units: ['ffn', 'heads'], sparsity: 0, calibration: GPT2.feeds });
    expect(report.notes.some((n) => /Reshape-Gemm-Reshape linears rewritten/.test(n))).toBe(true);
    expect(report.groups.every((g) => g.kept === g.units)).toBe(true);
    verify(m);
    for (const c of GPT2.cases) {
      const out = await run(m, feedsOf(c.inputs));
      expect(out.logits.dims).toEqual(c.outputs.logits.shape);
      expect(maxRelErr(out.logits.data, c.outputs.logits.data as number[])).toBeLessThan(1e-4);
    }
  });

  it('ffn: half of the 256 neurons of each layer go (c_fc columns and bias, c_proj rows); the model runs', async () => {
    const m = GPT2.model();
    const { report } = await prune(m, { method: 'structured', units: ['ffn'], sparsity: 0.5, calibration: GPT2.feeds });
    verify(m);
    const ffn = report.groups.filter((g) => g.kind === 'ffn');
    expect(ffn.map((g) => [g.units, g.kept])).toEqual([
      [256, 128],
      [256, 128],
    ]);
    // per layer: 128 neurons x (64 in c_fc + 1 bias + 64 in c_proj)
    expect(report.parameters.removed).toBe(2 * 128 * (64 + 1 + 64));
    expect(report.fidelity).not.toBeNull();
    for (const c of GPT2.cases) {
      const out = await run(m, feedsOf(c.inputs));
      expect(out.logits.dims).toEqual(c.outputs.logits.shape);
      expect(out.logits.data.every(Number.isFinite)).toBe(true);
    }
  });

  it('heads: 2 of 4 heads per layer go from the packed c_attn (q, k, v parts) and c_proj; the split sizes follow', async () => {
    const m = GPT2.model();
    const { report } = await prune(m, { method: 'structured', units: ['heads'], sparsity: 0.5, calibration: GPT2.feeds });
    verify(m);
    expect(report.groups.map((g) => [g.kind, g.units, g.kept, g.unitWidth])).toEqual([
      ['heads', 4, 2, 16],
      ['heads', 4, 2, 16],
    ]);
    // per layer: 2 heads x 16 x (3 x (64 + 1) in c_attn + 64 in c_proj)
    expect(report.parameters.removed).toBe(2 * 2 * 16 * (3 * 65 + 64));
    const splits = m.graph.nodes.filter((n) => n.opType === 'Split');
    expect(splits.map((n) => constantOf(n.input(1))!.toNumbers())).toEqual([
      [32, 32, 32],
      [32, 32, 32],
    ]);
    for (const c of GPT2.cases) {
      const out = await run(m, feedsOf(c.inputs));
      expect(out.logits.dims).toEqual(c.outputs.logits.shape);
      expect(out.logits.data.every(Number.isFinite)).toBe(true);
    }
  });

  it('the cut is exact: equal to the original with the dropped neurons and heads silenced (1e-4)', async () => {
    const r = await exactCut(GPT2.model(), ['ffn', 'heads'], GPT2.feeds);
    expect(r.groups).toBe(4);
    expect(r.removed).toBe(2 * 128 * (64 + 1 + 64) + 2 * 2 * 16 * (3 * 65 + 64));
    expect(r.err).toBeLessThan(1e-4);
  });

  it('the opset-14 export (LayerNorm decomposed) prunes alike: ffn and heads at 50%, the model runs', async () => {
    const m = loadModel(torchFixture('gpt2-tiny-op14.onnx'));
    const { report } = await prune(m, { method: 'structured', units: ['ffn', 'heads'], sparsity: 0.5, calibration: GPT2.feeds });
    verify(m);
    expect(report.groups.map((g) => [g.kind, g.units, g.kept])).toEqual([
      ['heads', 4, 2],
      ['heads', 4, 2],
      ['ffn', 256, 128],
      ['ffn', 256, 128],
    ]);
    for (const c of GPT2.cases) expect((await run(m, feedsOf(c.inputs))).logits.dims).toEqual(c.outputs.logits.shape);
  });

  it('the raw export (Reshape-Gemm-Reshape linears) has no ffn group before canonicalization', () => {
    const a = analyzeUnits(GPT2.model(), { units: ['ffn'] });
    expect(a.groups).toEqual([]);
  });
});

const LLAMA = fixture('llama-tiny.onnx', 'llama-tiny.json');

describe('structured pruning of the torch LLaMA-style export', () => {
  it('sparsity 0 keeps torch reference outputs within 1e-4', async () => {
    const m = LLAMA.model();
    await prune(m, { method: 'structured', units: ['ffn', 'heads'], sparsity: 0, calibration: LLAMA.feeds });
    verify(m);
    for (const c of LLAMA.cases) {
      const out = await run(m, feedsOf(c.inputs));
      expect(out.logits.dims).toEqual(c.outputs.logits.shape);
      expect(maxRelErr(out.logits.data, c.outputs.logits.data as number[])).toBeLessThan(1e-4);
    }
  });

  it('gated MLP: gate and up columns go together with down rows, half of 128 neurons per layer; the model runs', async () => {
    const m = LLAMA.model();
    const { report } = await prune(m, { method: 'structured', units: ['ffn'], sparsity: 0.5, calibration: LLAMA.feeds });
    verify(m);
    expect(report.groups.map((g) => [g.kind, g.units, g.kept])).toEqual([
      ['ffn', 128, 64],
      ['ffn', 128, 64],
    ]);
    expect(report.groups.every((g) => /gate_proj.*up_proj/.test(g.label))).toBe(true);
    // per layer: 64 neurons x (64 in gate + 64 in up + 64 in down)
    expect(report.parameters.removed).toBe(2 * 64 * 3 * 64);
    expect(report.fidelity).not.toBeNull();
    for (const c of LLAMA.cases) {
      const out = await run(m, feedsOf(c.inputs));
      expect(out.logits.dims).toEqual(c.outputs.logits.shape);
      expect(out.logits.data.every(Number.isFinite)).toBe(true);
    }
  });

  it('grouped-query heads go in whole KV groups: 1 of 2 groups per layer (2 of 4 query heads, 1 of 2 K/V heads)', async () => {
    const m = LLAMA.model();
    const { report } = await prune(m, { method: 'structured', units: ['heads'], sparsity: 0.5, calibration: LLAMA.feeds });
    verify(m);
    expect(report.groups.map((g) => [g.kind, g.units, g.kept, g.unitWidth])).toEqual([
      ['heads', 2, 1, 32],
      ['heads', 2, 1, 32],
    ]);
    // per layer: q_proj 64 x 32, k_proj and v_proj 64 x 16, o_proj 32 x 64
    expect(report.parameters.removed).toBe(2 * (2048 + 1024 + 1024 + 2048));
    for (const c of LLAMA.cases) {
      const out = await run(m, feedsOf(c.inputs));
      expect(out.logits.dims).toEqual(c.outputs.logits.shape);
      expect(out.logits.data.every(Number.isFinite)).toBe(true);
    }
  });

  it('the KV-group cut is exact with the MLP cut (1e-4 against the original with the dropped units silenced)', async () => {
    const m = LLAMA.model();
    const { pruneGraph } = await import('../../src/prune/graph.js');
    pruneGraph(m, {}); // inlines the exporter's constant-condition If around the rotary cache
    const r = await exactCut(m, ['ffn', 'heads'], LLAMA.feeds);
    expect(r.groups).toBe(4);
    expect(r.removed).toBe(2 * 64 * 3 * 64 + 2 * (2048 + 1024 + 1024 + 2048));
    expect(r.err).toBeLessThan(1e-4);
  });

  it('the gated MLP cut is exact (1e-4 against the original with the dropped neurons silenced)', async () => {
    const r = await exactCut(LLAMA.model(), ['ffn'], LLAMA.feeds);
    expect(r.groups).toBe(2);
    expect(r.removed).toBe(2 * 64 * 3 * 64);
    expect(r.err).toBeLessThan(1e-4);
  });
});
