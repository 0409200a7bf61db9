/**
 * Shared steps of the fusion tests: run one pass with a target (verify after it), expect exact counts, idempotence
 * and numeric equivalence with the original; and small builders of the subgraphs the fusions match.
 */
import { expect } from 'vitest';
import { expectSameOutputs, type EquivalenceOptions } from '../helpers/equivalence.js';
import type { Model } from '../../src/ir/model.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { getPass } from '../../src/optimize/registry.js';
import { defaultContext, type NearMiss, type Pass, type PassResult, type Target } from '../../src/pass/pass.js';

export const clone = (m: Model): Model => decodeModelBytes(encodeModel(m));

export interface FusionRun {
  result: PassResult;
  nearMisses: NearMiss[];
  model: Model;
}

export interface FusionOptions {
  target?: Target;
  equivalence?: EquivalenceOptions;
}

function resolve(pass: string | Pass): Pass {
  return typeof pass === 'string' ? getPass(pass) : pass;
}

/** Runs one pass in place with the target, then verify(). */
export function runFusion(pass: string | Pass, model: Model, target: Target = 'onnx'): FusionRun {
  const nearMisses: NearMiss[] = [];
  const result = resolve(pass).run(model, defaultContext({ target, explain: (m) => nearMisses.push(m) }));
  verify(model);
  return { result, nearMisses, model };
}

/** Clone, run, exact counts, verify, second run changes nothing, numeric equivalence. Returns the fused model. */
export async function expectFusion(pass: string | Pass, original: Model, counts: Record<string, number>, opts: FusionOptions = {}): Promise<FusionRun> {
  verify(original);
  const m = clone(original);
  const ran = runFusion(pass, m, opts.target);
  expect(ran.result.counts).toEqual(counts);
  expect(ran.result.modified).toBe(Object.keys(counts).length > 0);
  const bytes = Buffer.from(encodeModel(m));
  const again = runFusion(pass, m, opts.target);
  expect(again.result.modified).toBe(false);
  expect(again.result.counts).toEqual({});
  expect(Buffer.compare(Buffer.from(encodeModel(m)), bytes)).toBe(0);
  await expectSameOutputs(original, clone(m), opts.equivalence);
  return { ...ran, model: m };
}

/** Expects no change at all (bytes equal) and returns the near misses. */
export function expectNoFusion(pass: string | Pass, original: Model, target: Target = 'onnx'): NearMiss[] {
  const m = clone(original);
  const before = Buffer.from(encodeModel(m));
  const ran = runFusion(pass, m, target);
  expect(ran.result.counts).toEqual({});
  expect(ran.result.modified).toBe(false);
  expect(Buffer.compare(Buffer.from(encodeModel(m)), before)).toBe(0);
  return ran.nearMisses;
}

/** Op types (with domain prefix for non-standard domains) of the main graph, Constant nodes left out. */
export function opsOf(m: Model): string[] {
  return m.graph.nodes.filter((n) => n.opType !== 'Constant').map((n) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.opType}` : n.opType));
}

/** Histogram of op types over the whole model. */
export function histogram(m: Model): Record<string, number> {
  const h: Record<string, number> = {};
  for (const n of m.allNodes()) {
    const k = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.opType}` : n.opType;
    h[k] = (h[k] ?? 0) + 1;
  }
  return h;
}
