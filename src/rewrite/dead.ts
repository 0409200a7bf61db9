/**
 * Dead-node facts shared by the driver (which cleans up after each rewrite) and the eliminate-dead-nodes pass.
 *
 * A node may be removed when none of its outputs is read or is a graph output, and it has no effect besides its
 * outputs. Operators of the standard domains (ai.onnx, ai.onnx.ml, ai.onnx.preview.training) and onnxruntime's
 * contrib domain are pure. Operators of any other domain are assumed to have side effects, except calls of
 * model-local functions whose bodies are pure.
 */
import type { Graph, Node, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { normDomain } from '../ir/model.js';

const PURE_DOMAINS = new Set(['', 'ai.onnx.ml', 'ai.onnx.preview.training', 'com.microsoft', 'com.microsoft.nchwc', 'com.ms.internal.nhwc']);

/** True when no output of the node is read or is a graph output. */
export function isUnused(node: Node): boolean {
  for (const o of node.outputs) if (o && (o.uses.length > 0 || o.isGraphOutput)) return false;
  return true;
}

/** True when removing the node (once unused) cannot change anything but its outputs. */
export function isPure(node: Node, model?: Model, seen = new Set<string>()): boolean {
  const d = normDomain(node.domain);
  if (PURE_DOMAINS.has(d)) return true;
  const fn = model?.findFunction(node.domain, node.opType, node.overload);
  if (!fn) return false;
  if (seen.has(fn.id)) return false;
  seen.add(fn.id);
  for (const n of fn.graph.allNodes()) if (!isPure(n, model, seen)) return false;
  return true;
}

/**
 * Removes the given nodes when they are unused, then whatever became unused because of it: producers in the same
 * graph that are pure, and initializers that are no longer read (never graph inputs or outputs). Returns the number
 * of nodes removed.
 */
export function removeDeadFrom(start: Iterable<Node>, graph: Graph, model?: Model, opts: { forceNodes?: Set<Node> } = {}): number {
  const work = [...start];
  let removed = 0;
  while (work.length) {
    const n = work.pop()!;
    if (n.graph !== graph || !isUnused(n)) continue;
    if (!opts.forceNodes?.has(n) && !isPure(n, model)) continue;
    const inputs = n.inputs.filter((v): v is Value => !!v);
    const captured = n.subgraphs().flatMap((sg) => [...sg.capturedValues()]);
    graph.removeNode(n);
    removed++;
    for (const v of [...inputs, ...captured]) {
      if (v.uses.length > 0 || v.isGraphOutput) continue;
      if (v.producer) {
        if (v.producer.graph === graph) work.push(v.producer);
      } else if (v.initializer && v.graph && !v.isGraphInput && v.graph.initializers.get(v.name) === v) {
        v.graph.removeInitializer(v);
      }
    }
  }
  return removed;
}
