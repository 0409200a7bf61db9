import { describe, expect, it } from 'vitest';
import { buildBert } from '../../../fixtures/models/bert.js';
import { buildCnn } from '../../../fixtures/models/cnn.js';
import { countParameters } from '../../../src/inspect.js';
import { createModel } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { encodeModel } from '../../../src/onnx/encode.js';
import { runPasses } from '../../../src/optimize/registry.js';
import { defaultContext, type NearMiss } from '../../../src/pass/pass.js';
import pass from '../../../src/optimize/passes/prune-nm.js';
import { expectSameOutputs } from '../../helpers/equivalence.js';
import { clone } from '../../passes/helpers.js';

describe('prune-nm', () => {
  it('is a lossy pruning pass named after its file', () => {
    expect([pass.name, pass.kind, pass.lossless]).toEqual(['prune-nm', 'pruning', false]);
  });

  it('fires with 2:4 by default: half of every MatMul weight, shapes unchanged, the model runs', async () => {
    const original = buildBert();
    const m = clone(original);
    const r = pass.run(m, defaultContext());
    expect(r.modified).toBe(true);
    expect(r.counts.layers).toBe(12);
    const weights = 2 * (4 * 32 * 32 + 2 * 32 * 64);
    expect(r.counts.zeroed).toBe(weights / 2);
    expect(countParameters(m).total).toBe(countParameters(original).total);
    await expectSameOutputs(original, clone(m), { dims: { batch: 1, sequence: 4 }, atol: 1e3, rtol: 1e3 });
  });

  it('takes the pattern as nm: "1:4"; a second run (the fixed point) changes nothing', () => {
    const m = buildBert();
    const report = runPasses(m, [pass], { verify: true, options: { 'prune-nm': { nm: '1:4' } } });
    expect(report.iterations).toBe(2);
    expect(report.passes[0].counts.zeroed).toBe((3 / 4) * 2 * (4 * 32 * 32 + 2 * 32 * 64));
    const bytes = Buffer.from(encodeModel(m));
    expect(pass.run(m, defaultContext({ options: { nm: '1:4' } })).modified).toBe(false);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), bytes)).toBe(0);
  });

  it('explains the layers whose reduction axis does not fit the pattern, and rejects bad patterns', () => {
    const misses: NearMiss[] = [];
    pass.run(buildCnn(), defaultContext({ explain: (x) => misses.push(x) }));
    expect(misses.map((x) => [x.node, x.rule])).toEqual([
      ['stem.conv.weight', '2:4'],
      ['dw.conv.weight', '2:4'],
    ]);
    expect(() => pass.run(buildCnn(), defaultContext({ options: { nm: '4:2' } }))).toThrow(/N:M/);
    const { model, b } = createModel();
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [2])]), 'y');
    expect(pass.run(model, defaultContext())).toEqual({ modified: false, counts: {}, notes: [] });
  });
});
