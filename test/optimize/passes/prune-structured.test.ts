import { describe, expect, it } from 'vitest';
import { bertParameterCount, buildBert } from '../../../fixtures/models/bert.js';
import { buildCnn, cnnParameterCount } from '../../../fixtures/models/cnn.js';
import { countParameters } from '../../../src/inspect.js';
import { createModel } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { encodeModel } from '../../../src/onnx/encode.js';
import { runPasses } from '../../../src/optimize/registry.js';
import { defaultContext, type NearMiss } from '../../../src/pass/pass.js';
import pass from '../../../src/optimize/passes/prune-structured.js';
import { expectSameOutputs } from '../../helpers/equivalence.js';
import { clone } from '../../passes/helpers.js';

describe('prune-structured', () => {
  it('is a lossy pruning pass named after its file that stays in the main graph', () => {
    expect([pass.name, pass.kind, pass.lossless, pass.recursesIntoSubgraphs]).toEqual(['prune-structured', 'pruning', false, false]);
  });

  it('fires on every unit kind at once; the model shrinks and runs', async () => {
    const original = buildBert({ classifier: 2 });
    const m = clone(original);
    const r = pass.run(m, defaultContext({ options: { sparsity: 0.5 } }));
    expect(r.counts).toEqual({ groups: 5, units: 2 * 2 + 2 * 32 + 16, params: 8912 });
    expect(countParameters(original).total - countParameters(m).total).toBe(8912);
    // same outputs by name and shape (lossy values)
    await expectSameOutputs(original, clone(m), { dims: { batch: 2, sequence: 4 }, atol: 1e3, rtol: 1e3 });
  });

  it('runs under the pass manager to a fixed point without pruning twice', () => {
    const m = buildCnn();
    const report = runPasses(m, [pass], { verify: true, options: { 'prune-structured': { units: ['channels'], sparsity: 0.5 } } });
    expect(report.iterations).toBe(2);
    expect(countParameters(m).total).toBe(cnnParameterCount({ channels: 4 }));
    const bytes = Buffer.from(encodeModel(m));
    expect(pass.run(m, defaultContext({ options: { units: ['channels'], sparsity: 0.5 } })).modified).toBe(false);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), bytes)).toBe(0);
  });

  it('explains what it leaves alone, and does not fire where nothing is prunable', () => {
    const misses: NearMiss[] = [];
    const m = buildBert();
    const r = pass.run(m, defaultContext({ explain: (x) => misses.push(x), options: { units: ['ffn'] } }));
    expect(r.counts.groups).toBe(2);
    expect(misses.length).toBe(2 * 5); // per layer: Q, K, V (Reshape), attention output and FFN output (LayerNorm)
    expect(misses.every((x) => x.pass === 'prune-structured' && x.rule === 'ffn' && x.reason.length > 20)).toBe(true);
    expect(countParameters(m).total).toBe(bertParameterCount({ intermediate: 32 }));
    const { model, b } = createModel();
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [2])]), 'y');
    expect(pass.run(model, defaultContext())).toEqual({ modified: false, counts: {} });
    expect(() => pass.run(model, defaultContext({ options: { units: ['rows'] } }))).toThrow(/units/);
  });
});
