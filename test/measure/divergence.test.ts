import { describe, expect, it } from 'vitest';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { describeDivergence, firstDivergence } from '../../src/measure/divergence.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { Rng } from '../../src/util/rng.js';

/** x -> MatMul(w1) -> Relu -> MatMul(w2) -> Tanh -> y; `bump` scales w2 (the second MatMul) in the candidate. */
function chain(bump = 1) {
  const { model, b } = createModel({ opset: 17 });
  const rng = new Rng(7);
  const x = b.input('x', DataType.FLOAT, [2, 8]);
  const w1 = b.init('w1', floatTensor([8, 8], rng.fillNormal(new Float32Array(64), 0.5)));
  const w2data = rng.fillNormal(new Float32Array(64), 0.5);
  for (let i = 0; i < 8; i++) w2data[i * 8] = w2data[i * 8]! * bump; // column 0 only
  const w2 = b.init('w2', floatTensor([8, 8], w2data));
  const h = b.op('Relu', [b.op('MatMul', [x, w1], {}, { name: 'mm1' })], {}, { name: 'relu' });
  b.output(b.op('Tanh', [b.op('MatMul', [h, w2], {}, { name: 'mm2' })], {}, { name: 'tanh' }), 'y');
  return model;
}

describe('firstDivergence', () => {
  it('finds the first node, in topological order, whose value is beyond the tolerance', async () => {
    const ref = chain();
    const cand = chain(-3);
    const feeds = synthesizeInputs(ref, { seed: 1 })[0]!;
    const d = await firstDivergence(ref, cand, feeds, { minCosine: 0.999, maxError: null });
    expect(d.compared).toBe(4);
    expect(d.first).toMatchObject({ node: 'mm2', opType: 'MatMul' });
    expect(d.first!.fidelity.cosine!).toBeLessThan(0.999);
    expect(describeDivergence(d)).toMatch(/^the divergence first appears at node mm2 \(MatMul\), value \S+: cosine 0?\.?-?\d/);
    // the models' outputs are restored
    expect(ref.graph.outputs.map((v) => v.name)).toEqual(['y']);
    expect(cand.graph.outputs.map((v) => v.name)).toEqual(['y']);
  });

  it('reports none when every value is within the tolerance', async () => {
    const ref = chain();
    const d = await firstDivergence(ref, chain(), synthesizeInputs(ref, { seed: 1 })[0]!, { minCosine: 0.999, maxError: 1e-6 });
    expect(d.first).toBeNull();
    expect(describeDivergence(d)).toBe('no intermediate value (of 4 compared) is beyond the tolerance');
  });
});
