/**
 * The ONNX backend-test corpus (Debian `libonnx-testdata`) as the check:*-corpus scripts and the corpus tests read it:
 * the test directories, running a model on its test inputs, and (for weight quantization) making the weights a node
 * test feeds as graph inputs constants, so a MatMul/Gemm/Conv/Gather test becomes a model with weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adaptFeed } from '../src/inputs/adapt.js';
import type { Model } from '../src/ir/model.js';
import { fromOrtTensor, createSession, runSession, type Feeds } from '../src/runtime/session.js';

export const CORPUS_DIR = '/usr/share/libonnx-testdata/data';

/** Every <dir>/<suite>/<test> holding model.onnx and test_data_set_0. */
export function corpusModels(dir: string): string[] {
  const out: string[] = [];
  if (!fs.existsSync(dir)) return out;
  for (const suite of fs.readdirSync(dir).sort()) {
    const sd = path.join(dir, suite);
    if (!fs.statSync(sd).isDirectory()) continue;
    for (const t of fs.readdirSync(sd).sort()) {
      const td = path.join(sd, t);
      if (fs.existsSync(path.join(td, 'model.onnx')) && fs.existsSync(path.join(td, 'test_data_set_0'))) out.push(td);
    }
  }
  return out;
}

/** One onnxruntime run of `model` on `feeds` (converted to the model's input types). */
export async function runOnce(model: Model, feeds: Feeds) {
  const s = await createSession(model, { logLevel: 'fatal' });
  try {
    return await runSession(s, adaptFeed(feeds, model));
  } finally {
    await s.release();
  }
}

/** Where each op reads a weight: MatMul B, Gemm B and C, Conv W and B, Gather's table. */
const WEIGHT_SLOTS: Record<string, number[]> = { MatMul: [1], Gemm: [1, 2], Conv: [1, 2], Gather: [0] };
const isWeightUse = (u: { node: { opType: string; domain: string }; index: number }): boolean =>
  u.node.domain === '' && !!WEIGHT_SLOTS[u.node.opType]?.includes(u.index);

/**
 * Makes every float32 graph input that MatMul, Gemm, Conv or Gather nodes of the main graph read only as weights (or bias) an
 * initializer holding its test value (and no longer an input), so weight quantization has constants to work on;
 * initializers listed as inputs (IR < 4) that the test does not feed stop being inputs.
 * Returns the feeds without those inputs and the names frozen.
 */
export function freezeWeights(model: Model, feeds: Feeds): { feeds: Feeds; frozen: string[] } {
  const g = model.graph;
  const frozen: string[] = [];
  const rest: Feeds = { ...feeds };
  for (const v of [...g.inputs]) {
    const t = feeds[v.name];
    // an initializer also listed as an input (IR < 4 exports) that the test does not feed: a constant
    if (v.initializer && !t) {
      g.removeInput(v);
      frozen.push(v.name);
      continue;
    }
    if (t?.type !== 'float32' || v.initializer) continue;
    // only when every use reads it as a weight (an input that is also an activation stays an input)
    if (!v.uses.length || !v.uses.every(isWeightUse) || v.isGraphOutput) continue;
    g.addInitializer(v.name, fromOrtTensor(t, v.name));
    g.removeInput(v);
    delete rest[v.name];
    frozen.push(v.name);
  }
  return { feeds: rest, frozen };
}
