// The library as a user sees it: only the package's public exports (src/index.ts), the example of the README.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchmark, fuse, inspectModel, loadModel, prune, quantize, runPasses, saveModel, verify } from '../src/index.js';
import * as api from '../src/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-api-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const fixture = path.resolve(__dirname, '../fixtures/bert-tiny.onnx');

describe('public API', () => {
  it('load, fuse, prune, quantize, save and bench with the exported functions only', async () => {
    const model = loadModel(fixture);
    const before = inspectModel(model).parameters.total;
    const passes = runPasses(model, ['cleanup'], { verify: true });
    expect(passes.nodesAfter).toBeLessThanOrEqual(passes.nodesBefore);
    const { model: small, report } = await prune(model, { method: 'structured', units: ['ffn'], sparsity: 0.5, dims: { batch: 1, sequence: 8 } });
    expect(report.parameters.after).toBeLessThan(before);
    const q = await quantize(small, { dtype: 'fp16', keepIoTypes: true });
    expect(q.modified).toBe(true);
    verify(small);
    const out = path.join(tmp, 'opt.onnx');
    saveModel(small, out);
    const result = await benchmark({
      baseline: fixture,
      candidates: [out],
      dims: { batch: 1, sequence: 8 },
      runs: 5,
      warmup: 1,
      gates: ['params <= 0.9x', 'size <= 0.7x'],
    });
    expect(result.candidates[0].status).toBe('ok');
    expect(result.gates.map((g) => g.status)).toEqual(['pass', 'pass']);
    expect(result.passed).toBe(true);
  });

  it('fuse() is the fusion step (in place, sync), typed so a misspelt pass or preset does not compile', async () => {
    const model = loadModel(fixture);
    const nodes = model.graph.nodes.length;
    const report = fuse(model, { preset: 'transformer', verify: true });
    expect(model.graph.nodes.length).toBe(report.nodesAfter);
    expect(report.nodesAfter).toBeLessThan(nodes);
    expect(model.graph.nodes.some((n) => n.opType === 'LayerNormalization')).toBe(true);
    const again = loadModel(fixture);
    fuse(again, { passes: ['cleanup', 'fuse-layer-norm'] });
    expect(again.graph.nodes.some((n) => n.opType === 'LayerNormalization')).toBe(true);
    // @ts-expect-error: not a preset
    expect(() => fuse(loadModel(fixture), { preset: 'transfomer' })).toThrow(/transfomer/);
    // @ts-expect-error: not a pass
    expect(() => fuse(loadModel(fixture), { passes: ['fuse-layernorm'] })).toThrow(/fuse-layernorm/);
    // same outputs before and after, in onnxruntime
    const { compareModels } = api;
    expect(typeof compareModels).toBe('function');
  });

  it('exports no cryptic one-letter helpers', () => {
    for (const name of Object.keys(api)) expect(name.length, name).toBeGreaterThan(2);
    expect(typeof api.rewrite.rulePass).toBe('function'); // the pattern DSL for pass authors, under its own name
  });
});
