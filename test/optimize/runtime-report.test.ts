/**
 * What onnxruntime-node 1.30 (CPU) fuses on its own, as the runtime report finds it on the fixtures. These are
 * findings about the runtime; if a new onnxruntime fuses more, update the expectations (and the README).
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/io.js';
import { resolveFusePasses } from '../../src/passes/index.js';
import { runtimeReport, type RuntimeReport } from '../../src/optimize/runtime-report.js';
import { runPasses } from '../../src/optimize/registry.js';
import type { Target } from '../../src/pass/pass.js';

const FIXTURES = path.resolve(__dirname, '../../fixtures');

async function report(file: string, preset: string, target: Target, level: 'basic' | 'extended' | 'all'): Promise<RuntimeReport> {
  const original = loadModel(path.join(FIXTURES, file));
  const fused = loadModel(path.join(FIXTURES, file));
  const run = runPasses(fused, resolveFusePasses([preset]), { target });
  return runtimeReport(original, fused, run, level);
}

const verdicts = (r: RuntimeReport) => Object.fromEntries(r.verdicts.map((v) => [v.pass, [v.rewrites, v.runtimeToo, v.verdict]]));

describe('runtime report', () => {
  it('BERT at level extended: LayerNorm, GELU (+bias) and Gemm are done by the runtime too; Attention and SkipLayerNorm are additive', async () => {
    const r = await report('bert-tiny.onnx', 'transformer', 'ort', 'extended');
    expect(verdicts(r)).toEqual({
      'fuse-layer-norm': [5, 5, 'runtime does it'],
      'fuse-gelu': [2, 2, 'runtime does it'],
      'fuse-attention': [2, 0, 'additive'],
      'fuse-skip-layer-norm': [4, 0, 'additive'],
      'fuse-bias-gelu': [2, 2, 'runtime does it'],
      'fuse-matmul-add': [2, 2, 'runtime does it'],
    });
    expect(r.histograms.runtimeOriginal).toMatchObject({ LayerNormalization: 5, 'com.microsoft:BiasGelu': 2, Softmax: 2 });
    expect(r.histograms.runtimeFused['com.microsoft:Attention']).toBe(2);
    expect(r.nodes.runtimeFused).toBeLessThan(r.nodes.runtimeOriginal);
  });

  it('BERT at level basic: only MatMul+Add -> Gemm is done by the runtime', async () => {
    const r = await report('bert-tiny.onnx', 'transformer', 'onnx', 'basic');
    expect(verdicts(r)).toEqual({
      'fuse-layer-norm': [5, 0, 'additive'],
      'fuse-gelu': [2, 0, 'additive'],
      'fuse-attention': [2, 0, 'additive'],
      'fuse-matmul-add': [2, 2, 'runtime does it'],
    });
  });

  it('CNN at level basic: the runtime folds BatchNormalization itself', async () => {
    const r = await report('cnn-small.onnx', 'cnn', 'onnx', 'basic');
    expect(verdicts(r)).toEqual({ 'fuse-conv-bn': [6, 6, 'runtime does it'] });
    expect(r.histograms.runtimeOriginal.BatchNormalization).toBeUndefined();
  });
});
