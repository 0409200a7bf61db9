/**
 * Models for the bench tests, derived from the fixture builders: a slower copy (extra work inserted), a copy with
 * perturbed attention, a copy that computes one MatMul in bfloat16 (not runnable on the CPU execution provider) and a
 * copy whose attention Softmax is written out as Exp/ReduceSum/Div (no Softmax for graph F1 to find).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBert, type BertOptions } from '../../fixtures/models/bert.js';
import { floatTensor, ints, scalar } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { saveModel } from '../../src/onnx/io.js';
import { verify } from '../../src/ir/verify.js';
import { findAttentionSoftmax } from '../../src/measure/attention.js';
import { Rng } from '../../src/util/rng.js';

/**
 * About 1.2 ms per run at batch 2, sequence 32, one thread: long enough that fixed overheads and the scheduler's
 * time slices on a busy machine do not dominate (a 0.1 ms model's latency distribution there is bimodal).
 */
export const MEDIUM_BERT: BertOptions = { layers: 2, hidden: 256, heads: 4, intermediate: 512, classifier: 2 };
export const MEDIUM_DIMS = { batch: 2, sequence: 32 };
export const TINY_DIMS = { batch: 2, sequence: 16 };

export function tempDir(prefix = 'autoglm-bench-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function save(model: Model, dir: string, name: string): string {
  verify(model);
  const file = path.join(dir, name);
  saveModel(model, file, { externalData: false });
  return file;
}

/**
 * Adds `matmuls` [H, H] MatMuls in a chain on the final hidden states and adds 0 * their sum to the output, so the
 * outputs are unchanged but every run does the extra work (the runtime cannot fold a product with a non-constant).
 */
export function slowDown(model: Model, matmuls: number): Model {
  const g = model.graph;
  const out = g.outputs.find((v) => v.name === 'last_hidden_state')!;
  const hidden = (out.type as { tensor_type: { shape: { dim: { dim_value?: number }[] } } }).tensor_type.shape.dim[2]!.dim_value!;
  // rename the current output value, then build the extra work on it and give the sum the output's name
  const src = out;
  src.name = g.freshName('last_hidden_state_pre');
  const rng = new Rng(7);
  const w = g.addConstant('slow_w', floatTensor([hidden, hidden], rng.fillNormal(new Float32Array(hidden * hidden), 1 / Math.sqrt(hidden))));
  let x: Value = src;
  for (let i = 0; i < matmuls; i++) x = g.addNode('MatMul', [x, w], {}, { name: `slow_${i}` }).output(0);
  const total = g.addNode('ReduceSum', [x], { keepdims: 1 }).output(0);
  const zero = g.addNode('Mul', [total, g.addConstant('slow_zero', scalar(0))]).output(0);
  const sum = g.addNode('Add', [src, zero]).output(0);
  g.setOutput(g.outputs.indexOf(out), sum);
  sum.name = 'last_hidden_state';
  sum.type = out.type;
  // the old output value keeps its uses (pooler); only the graph output moves
  return model;
}

/** Multiplies every attention Softmax input by `factor` (temperature): the attention pattern changes. */
export function perturbAttention(model: Model, factor: number): Model {
  const g = model.graph;
  for (const sm of findAttentionSoftmax(model.graph)) {
    const x = sm.input(0)!;
    const k = g.addConstant('attn_temp', scalar(factor));
    const scaled = g.addNode('Mul', [x, k], {}, { before: sm }).output(0);
    sm.setInput(0, scaled);
  }
  return model;
}

/** Computes the first MatMul with a weight in bfloat16 (Cast in, MatMul, Cast out). */
export function bf16MatMul(model: Model): Model {
  const g = model.graph;
  const mm = g.nodes.find((n) => n.opType === 'MatMul' && n.input(1)?.constTensor())!;
  const a = g.addNode('Cast', [mm.input(0)!], { to: DataType.BFLOAT16 }, { before: mm }).output(0);
  const b = g.addNode('Cast', [mm.input(1)!], { to: DataType.BFLOAT16 }, { before: mm }).output(0);
  const y = mm.output(0);
  const bf = g.addNode('MatMul', [a, b], {}, { before: mm }).output(0);
  const back = g.addNode('Cast', [bf], { to: DataType.FLOAT }, { before: mm });
  y.replaceAllUsesWith(back.output(0), { includeOutputs: true });
  g.removeNode(mm);
  return model;
}

/** Replaces each attention Softmax with Exp / ReduceSum (same values, no Softmax node). */
export function unrollSoftmax(model: Model): Model {
  const g = model.graph;
  for (const sm of findAttentionSoftmax(model.graph)) {
    const x = sm.input(0)!;
    const max = g.addNode('ReduceMax', [x], { axes: [-1], keepdims: 1 }, { before: sm }).output(0);
    const shifted = g.addNode('Sub', [x, max], {}, { before: sm }).output(0);
    const e = g.addNode('Exp', [shifted], {}, { before: sm }).output(0);
    const s = g.addNode('ReduceSum', [e, g.addConstant('axes', ints([-1]))], { keepdims: 1 }, { before: sm }).output(0);
    const p = g.addNode('Div', [e, s], {}, { before: sm }).output(0);
    sm.output(0).replaceAllUsesWith(p, { includeOutputs: true });
    g.removeNode(sm);
  }
  return model;
}

export const tinyBert = (): Model => buildBert({ classifier: 2 });
export const mediumBert = (): Model => buildBert(MEDIUM_BERT);
