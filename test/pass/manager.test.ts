import { describe, expect, it } from 'vitest';
import { OperationError, UsageError } from '../../src/errors.js';
import { createModel, scalar } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { runPasses } from '../../src/optimize/registry.js';
import type { NearMiss, Pass } from '../../src/pass/pass.js';
import { expectSameOutputs } from '../helpers/equivalence.js';
import { clone } from '../passes/helpers.js';

const F = DataType.FLOAT;

/** Identity and Transpose pairs that only go away together, plus foldable constants. */
function messy() {
  const { model, b } = createModel({ opset: 17 });
  const x = b.input('x', F, [2, 3]);
  const t1 = b.op('Transpose', [b.op('Identity', [x])], { perm: [1, 0] });
  const t2 = b.op('Transpose', [t1], { perm: [1, 0] });
  const k = b.op('Add', [b.const('a', scalar(1)), b.const('b', scalar(2))]);
  const c = b.op('Mul', [b.op('Cast', [t2], { to: F }), k]);
  b.output(b.op('Identity', [c]), 'y', F, [2, 3]);
  return model;
}

describe('runPasses', () => {
  it('runs a preset to a fixed point and reports counts, rounds, timings and node counts', async () => {
    const original = messy();
    const m = clone(original);
    const report = runPasses(m, ['cleanup'], { verify: true });
    expect(report.converged).toBe(true);
    expect(report.modified).toBe(true);
    expect(report.nodesBefore).toBe(7);
    expect(report.nodesAfter).toBe(1);
    expect(report.iterations).toBeGreaterThanOrEqual(2);
    const byName = Object.fromEntries(report.passes.map((p) => [p.name, p]));
    expect(byName['eliminate-identity'].counts).toEqual({ removed: 2 });
    expect(byName['fuse-consecutive-transposes'].counts).toEqual({ removed: 1 });
    expect(byName['fold-constants'].counts).toEqual({ folded: 1 });
    expect(byName['eliminate-noop-cast'].counts).toEqual({ removed: 1 });
    for (const p of report.passes) {
      expect(p.runs).toBe(report.iterations);
      expect(p.ms).toBeGreaterThanOrEqual(0);
    }
    expect(report.totalMs).toBeGreaterThan(0);
    await expectSameOutputs(original, clone(m));
  });

  it('runs the list once without fixedPoint', () => {
    const m = clone(messy());
    const report = runPasses(m, ['eliminate-noop-transpose', 'fuse-consecutive-transposes'], { fixedPoint: false });
    expect(report.iterations).toBe(1);
    // the two Transposes become one identity Transpose only after eliminate-noop-transpose ran: a second round would remove it
    expect(report.passes.map((p) => p.counts)).toEqual([{}, { removed: 1 }]);
    expect(report.converged).toBe(false);
  });

  it('stops at maxIterations', () => {
    let n = 0;
    const forever: Pass = {
      name: 'forever',
      description: 'always says it changed something',
      kind: 'cleanup',
      lossless: true,
      recursesIntoSubgraphs: false,
      run: () => ({ modified: true, counts: { spins: ++n && 1 } }),
    };
    const logs: string[] = [];
    const report = runPasses(clone(messy()), [forever], { maxIterations: 3, log: (s) => logs.push(s) });
    expect(report.iterations).toBe(3);
    expect(report.converged).toBe(false);
    expect(report.passes[0].counts).toEqual({ spins: 3 });
    expect(logs[0]).toMatch(/did not reach a fixed point in 3 rounds/);
  });

  it('collects near misses of the last round, and hands each to a callback', () => {
    const { model, b } = createModel();
    const x = b.input('x', F, [2]);
    b.output(b.op('Identity', [x]), 'y');
    const seen: NearMiss[] = [];
    const report = runPasses(model, ['eliminate-identity'], { explain: (m) => seen.push(m) });
    expect(report.nearMisses).toHaveLength(1);
    expect(report.nearMisses[0]).toMatchObject({ pass: 'eliminate-identity', rule: 'identity', node: 'Identity(y)' });
    expect(seen).toEqual(report.nearMisses);
    expect(runPasses(model, ['eliminate-identity']).nearMisses).toEqual([]);
  });

  it('names a pass that throws, and one that breaks the IR under verify', () => {
    const boom: Pass = {
      name: 'boom',
      description: 'throws',
      kind: 'cleanup',
      lossless: true,
      recursesIntoSubgraphs: false,
      run: () => {
        throw new Error('kaput');
      },
    };
    expect(() => runPasses(clone(messy()), ['eliminate-identity', boom])).toThrow(OperationError);
    expect(() => runPasses(clone(messy()), ['eliminate-identity', boom])).toThrow(/pass boom failed: kaput/);
    const breaker: Pass = {
      name: 'breaker',
      description: 'renames a value onto another one',
      kind: 'cleanup',
      lossless: true,
      recursesIntoSubgraphs: false,
      run: (m) => {
        const [a, b] = m.graph.nodes;
        a.outputs[0]!.name = b.outputs[0]!.name;
        return { modified: true, counts: {} };
      },
    };
    expect(() => runPasses(clone(messy()), [breaker], { verify: true })).toThrow(/pass breaker left the model inconsistent:\\n.*defined more than once/);
    expect(() => runPasses(clone(messy()), [breaker], { fixedPoint: false })).not.toThrow();
  });

  it('rejects unknown pass names and bad options as usage errors', () => {
    expect(() => runPasses(clone(messy()), ['fold-constant'])).toThrow(UsageError);
    expect(() => runPasses(clone(messy()), ['fold-constants'], { options: { maxFoldBytes: 'big' } })).toThrow(/fold-constants: option maxFoldBytes/);
  });
});
