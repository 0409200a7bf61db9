import { describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/bert.js';
import { buildCnn } from '../../fixtures/models/cnn.js';
import { buildMlp } from '../../fixtures/models/mlp.js';
import { UsageError } from '../../src/errors.js';
import { countParameters } from '../../src/inspect.js';
import { checkOptions, prune, ZEROS_NOTE } from '../../src/prune/prune.js';
import { pruneMagnitude } from '../../src/prune/magnitude.js';

describe('prune', () => {
  it('graph method: lossless, no lossy settings in the report, FLOPs measured before and after', async () => {
    const m = buildMlp();
    const { report } = await prune(m, { dims: { batch: 2 } });
    expect(report.method).toBe('graph');
    expect(report.settings.criterion).toBeNull();
    expect(report.parameters.removed).toBe(0);
    expect(report.before.flops).toBe(2 * 2 * (8 * 16 + 16 * 4));
    expect(report.after.flops).toBe(report.before.flops);
    expect(report.fidelity).toBeNull();
    expect(report.ok).toBe(true);
  });

  it('counts weights really removed apart from weights newly zeroed (existing zeros are not counted again)', async () => {
    const m = buildCnn();
    pruneMagnitude(m, { sparsity: 0.5 });
    const zerosBefore = countParameters(m).total - countParameters(m).nonZero;
    const { report } = await prune(m, { method: 'magnitude', sparsity: 0.75, dims: { batch: 1 } });
    const weights = report.layers.reduce((a, l) => a + l.paramsBefore, 0);
    expect(report.parameters.removed).toBe(0);
    expect(report.parameters.zeroed).toBe(report.layers.reduce((a, l) => a + (l.paramsBefore - l.nonZeroAfter), 0) - zerosBefore);
    expect(report.layers.reduce((a, l) => a + l.paramsBefore - l.nonZeroAfter, 0)).toBe(
      report.layers.reduce((a, l) => a + Math.round(0.75 * l.paramsBefore), 0),
    );
    expect(weights).toBe(2672);
    expect(report.notes).toContain(ZEROS_NOTE);
    expect(report.after.flops).toBe(report.before.flops);
  });

  it('structured: per-layer shapes, FLOPs fall, graph F1 measured; says when no group can be pruned', async () => {
    const { report } = await prune(buildBert(), { method: 'structured', units: ['ffn'], dims: { batch: 1, sequence: 8 }, calibrationSets: 2 });
    expect(report.after.flops!).toBeLessThan(report.before.flops!);
    expect(report.fidelity!.graphF1.layers).toBe(2);
    const w1 = report.layers.find((l) => l.node === 'MatMul /encoder/layer.0/intermediate/dense/MatMul')!;
    expect([w1.shapeBefore, w1.shapeAfter, w1.removed]).toEqual([[32, 64], [32, 32], 0.5]);
    const none = await prune(buildBert(), { method: 'structured', units: ['channels'], measure: false });
    expect(none.report.notes).toContain('no channels unit group could be pruned safely (none found)');
    expect(none.report.parameters.removed).toBe(0);
  });

  it('a lossy prune whose self-check cannot run (no size for a symbolic dimension) fails instead of passing unchecked', async () => {
    const { report } = await prune(buildBert(), { method: 'magnitude', sparsity: 0.5 });
    expect(report.ok).toBe(false);
    expect(report.check).toBeNull();
    expect(report.notes.at(-1)).toMatch(/self-check could not run \(no onnxruntime measurements.*dimension 'batch'.*--no-check/);
    const unchecked = await prune(buildBert(), { method: 'magnitude', sparsity: 0.5, check: false });
    expect(unchecked.report.ok).toBe(true);
    const sized = await prune(buildBert(), { method: 'magnitude', sparsity: 0.5, dims: { batch: 1, sequence: 8 } });
    expect([sized.report.ok, sized.report.check?.passed]).toEqual([true, true]);
  });

  it('refuses impossible combinations before doing anything', () => {
    const bad = [
      { method: 'structured', global: true },
      { method: 'nm', sparsity: 0.5 },
      { method: 'graph', criterion: 'l1' },
      { method: 'magnitude', units: ['ffn'] },
      { method: 'structured', targetF1: 0.9, maxError: 0.1 },
      { method: 'structured', targetF1: 1.5 },
      { method: 'structured', targetF1: 0.9, sparsity: 0.5 },
      { method: 'graph', targetF1: 0.9 },
      { method: 'magnitude', checkpoint: 'x.json' },
      { method: 'magnitude', roundTo: 8 },
      { method: 'structured', roundTo: 0 },
      { method: 'structured', sparsity: 1 },
    ] as const;
    for (const o of bad) expect(() => checkOptions(o as never), JSON.stringify(o)).toThrow(UsageError);
    expect(() => checkOptions({ method: 'structured', units: ['ffn', 'heads'], roundTo: 8, sparsity: 0.3, criterion: 'activation' })).not.toThrow();
  });
});
