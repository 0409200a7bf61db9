import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBert } from '../../fixtures/models/bert.js';
import { buildCnn } from '../../fixtures/models/cnn.js';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { UsageError } from '../../src/errors.js';
import { countParameters } from '../../src/inspect.js';
import type { Model } from '../../src/ir/model.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { fidelityReference, measureFidelity } from '../../src/measure/fidelity-probe.js';
import { prune, type PruneProgress } from '../../src/prune/prune.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-prune-search-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));
const dims = { batch: 2, sequence: 16 };

describe('sensitivity search', () => {
  it('--target-f1 0.95: the returned model measures graph F1 >= 0.95 on the calibration inputs; the search resumes from its checkpoint', async () => {
    const original = buildBert({ classifier: 2 });
    const calibration = synthesizeInputs(original, { dims, count: 3, seed: 5 });
    const checkpoint = path.join(tmp, 'bert.json');
    const events: PruneProgress[] = [];
    const m = clone(original);
    const levels = [0.25, 0.5, 0.75];
    const { report } = await prune(m, {
      method: 'structured',
      units: ['ffn', 'heads'],
      targetF1: 0.95,
      // graph F1 alone (no output co-limits): the units it cannot see are left dense
      minTop1: 0,
      minCosine: 0,
      calibration,
      checkpoint,
      levels,
      onProgress: (p) => events.push(p),
    });
    const s = report.search!;
    expect(s.met).toBe(true);
    expect(s.reached.f1).toBeGreaterThanOrEqual(0.95);
    expect(report.parameters.removed).toBeGreaterThan(0);
    expect(Object.values(s.config).some((x) => x > 0)).toBe(true);
    // measured independently, against the untouched original, on the same inputs
    const measured = await measureFidelity(clone(m), await fidelityReference(original, calibration));
    expect(measured.graphF1.source).toBe('attention');
    // one definition (graphF1Score, the bench gate's): min of last layer and all layers
    expect(measured.graphF1.score).toBe(Math.min(measured.graphF1.lastLayer, measured.graphF1.allLayers));
    expect(measured.graphF1.score).toBeGreaterThanOrEqual(0.95);
    expect(measured.graphF1.score).toBeCloseTo(s.reached.f1, 12);
    expect(report.fidelity!.graphF1.score).toBeCloseTo(s.reached.f1, 12);
    // progress: every evaluation reported, with a growing count
    const searchEvents = events.filter((e) => e.search);
    expect(searchEvents.length).toBe(s.evaluations);
    expect(searchEvents.map((e) => e.search!.done)).toEqual(searchEvents.map((_, i) => i + 1));
    expect(new Set(searchEvents.map((e) => e.search!.phase))).toEqual(new Set(['sensitivity', 'combine']));
    const saved = JSON.parse(fs.readFileSync(checkpoint, 'utf8'));
    expect(saved.format).toBe('autoglm-prune-checkpoint');
    expect(Object.keys(saved.evaluations)).toHaveLength(s.evaluations);

    // resume: nothing is evaluated again, the same configuration comes out
    const again = await prune(clone(original), {
      method: 'structured',
      units: ['ffn', 'heads'],
      targetF1: 0.95,
      minTop1: 0,
      minCosine: 0,
      calibration,
      checkpoint,
      levels,
    });
    expect(again.report.search!.evaluations).toBe(0);
    expect(again.report.search!.fromCheckpoint).toBe(s.evaluations);
    expect(again.report.search!.config).toEqual(s.config);
    expect(again.report.parameters.after).toBe(report.parameters.after);

    // an interrupted search (a partial checkpoint) picks up where it stopped
    const partial = { ...saved, evaluations: Object.fromEntries(Object.entries(saved.evaluations).slice(0, 4)) };
    fs.writeFileSync(checkpoint, JSON.stringify(partial));
    const resumed = await prune(clone(original), {
      method: 'structured',
      units: ['ffn', 'heads'],
      targetF1: 0.95,
      minTop1: 0,
      minCosine: 0,
      calibration,
      checkpoint,
      levels,
    });
    expect(resumed.report.search!.fromCheckpoint).toBe(4);
    expect(resumed.report.search!.evaluations).toBe(s.evaluations - 4);
    expect(resumed.report.search!.config).toEqual(s.config);

    // other options, same file: refused
    await expect(prune(clone(original), { method: 'structured', units: ['ffn', 'heads'], targetF1: 0.9, calibration, checkpoint, levels })).rejects.toThrow(
      UsageError,
    );
  });

  it('--max-error on the CNN (outputs fallback): the error reached is within the bound', async () => {
    const original = buildCnn();
    const calibration = synthesizeInputs(original, { dims: { batch: 2 }, count: 2 });
    const m = clone(original);
    const { report } = await prune(m, { method: 'magnitude', maxError: 0.05, calibration, levels: [0.2, 0.4, 0.6, 0.8] });
    expect(report.search!.met).toBe(true);
    expect(report.search!.reached.maxError).toBeLessThanOrEqual(0.05);
    expect(report.fidelity!.maxError).toBeLessThanOrEqual(0.05);
    expect(report.parameters.zeroed).toBeGreaterThan(0);
    expect(countParameters(m).total).toBe(countParameters(original).total);
  });

  it('--target-latency keeps only configurations that measure faster: zeros never do', async () => {
    const original = buildCnn();
    const calibration = synthesizeInputs(original, { dims: { batch: 1 }, count: 1 });
    const m = clone(original);
    const bytes = Buffer.from(encodeModel(m));
    const { report } = await prune(m, { method: 'magnitude', targetLatency: 0.01, calibration, levels: [0.5, 0.9], latencyRuns: 3 });
    expect(report.ok).toBe(false);
    expect(report.search!.met).toBe(false);
    expect(report.search!.steps.every((st) => st.latencyRatio! > 0.01)).toBe(true);
    expect(report.notes.join(' ')).toMatch(/no sparsity level .* at or below 0.01x/);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), bytes)).toBe(0); // left as it was

    const easy = await prune(clone(original), {
      method: 'structured',
      units: ['channels'],
      targetF1: 0.5,
      targetLatency: 100,
      // graph F1 on the outputs (arg-max per row) needs rows enough to be evidence: one image is one edge
      calibration: synthesizeInputs(original, { dims: { batch: 4 }, count: 1 }),
      levels: [0.5],
      latencyRuns: 3,
    });
    expect(easy.report.search!.met).toBe(true);
    expect(easy.report.search!.reached.latencyRatio).toBeGreaterThan(0);
  });
});
