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
import { analyzeUnits } from '../../src/prune/structured.js';
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

  it('the raw export (Reshape-Gemm-Reshape linears) has no ffn group before canonicalization', () => {
    const a = analyzeUnits(GPT2.model(), { units: ['ffn'] });
    expect(a.groups).toEqual([]);
  });
});
