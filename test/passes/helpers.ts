/**
 * Shared steps of the pass tests: clone a model through its bytes, run one pass (verify after it), check it is
 * idempotent and that the rewritten model computes the same outputs.
 */
import { expect } from 'vitest';
import { expectSameOutputs, type EquivalenceOptions } from '../helpers/equivalence.js';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { getPass } from '../../src/optimize/registry.js';
import { defaultContext, type NearMiss, type PassResult } from '../../src/pass/pass.js';

export const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));

/** Op types of the main graph's nodes, in order. */
export const ops = (m: Model): string[] => m.graph.nodes.map((n) => n.opType);

export interface Ran {
  result: PassResult;
  nearMisses: NearMiss[];
  model: Model;
}

/** Runs one pass on `model` in place, then verify(). */
export function run(passName: string, model: Model, options: Record<string, unknown> = {}): Ran {
  const nearMisses: NearMiss[] = [];
  const result = getPass(passName).run(model, defaultContext({ explain: (m) => nearMisses.push(m), options }));
  verify(model);
  return { result, nearMisses, model };
}

/**
 * The standard check: clones `original`, runs the pass on the clone, expects exactly `counts`, verifies, runs the
 * pass again (nothing changes), and compares outputs numerically with the original. Returns the rewritten model.
 */
export async function expectPass(
  passName: string,
  original: Model,
  counts: Record<string, number>,
  opts: { options?: Record<string, unknown>; equivalence?: EquivalenceOptions } = {},
): Promise<Ran> {
  verify(original);
  const m = clone(original);
  const ran = run(passName, m, opts.options);
  expect(ran.result.counts).toEqual(counts);
  expect(ran.result.modified).toBe(Object.keys(counts).length > 0);
  const again = run(passName, m, opts.options);
  expect(again.result.modified).toBe(false);
  expect(again.result.counts).toEqual({});
  // the rewritten model still round-trips and runs the same
  const after = clone(m);
  await expectSameOutputs(original, after, opts.equivalence);
  return ran;
}

/** Expects the pass to leave the model unchanged (and says which near misses it reported). */
export function expectNoChange(passName: string, original: Model, options: Record<string, unknown> = {}): Ran {
  const m = clone(original);
  const before = Buffer.from(encodeModel(m));
  const ran = run(passName, m, options);
  expect(ran.result.modified).toBe(false);
  expect(ran.result.counts).toEqual({});
  expect(Buffer.compare(Buffer.from(encodeModel(m)), before)).toBe(0);
  return ran;
}
