/**
 * Instrumented copies of a model: the same graph with chosen intermediate values exposed as extra graph outputs, so
 * one run returns them (attention probabilities for graph F1, the shapes FLOPs are estimated from). The copy is made
 * by encoding and decoding, so the caller's model is never touched; it runs with the runtime's graph optimisations
 * disabled, so every exposed value is computed by the node that defines it in the file.
 */
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { decodeModelBytes } from '../onnx/io.js';
import { encodeModel } from '../onnx/encode.js';

export function copyModel(model: Model): Model {
  const copy = decodeModelBytes(encodeModel(model), model.source?.baseDir, model.source?.path ?? 'model');
  copy.source = model.source;
  return copy;
}

/** Adds each value as a graph output of the (copied) model unless it already is one; returns their names. */
export function exposeValues(model: Model, values: Iterable<Value>): string[] {
  const names: string[] = [];
  const seen = new Set<Value>();
  for (const v of values) {
    if (seen.has(v)) continue;
    seen.add(v);
    if (v.graph !== model.graph) continue; // only main-graph values can be outputs
    if (!v.isGraphOutput) model.graph.addOutput(v);
    names.push(v.name);
  }
  return names;
}
