/**
 * Where a model's attention is: the Softmax nodes whose output (through Identity, Dropout or Cast) is the left
 * operand of a MatMul with an activation (the probabilities times V), as exporters write self-attention. The graph
 * F1 probe reads these, and structured head pruning traces each one back to its Q/K/V projections.
 */
import type { Graph, Node, Value } from '../ir/graph.js';
import { isStandardDomain } from '../ir/model.js';
import { constantOf } from '../rewrite/constant.js';

const PASS_THROUGH = new Set(['Cast', 'Dropout', 'Identity']);
/** pass-through ops followed at most (exports put a Cast, a Dropout or both between Softmax and MatMul) */
const MAX_DEPTH = 4;

/** Whether a value (through pass-through ops) is the probabilities operand of a MatMul whose other operand is not constant. */
function feedsAttentionMatMul(v: Value, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  for (const u of v.uses) {
    const n = u.node;
    if ((n.opType === 'MatMul' || n.opType === 'FusedMatMul') && u.index === 0 && n.input(1) && !constantOf(n.input(1))) return true;
    if (PASS_THROUGH.has(n.opType) && isStandardDomain(n.domain) && u.index === 0 && n.outputs[0] && feedsAttentionMatMul(n.output(0), depth + 1)) return true;
  }
  return false;
}

/** The attention Softmax nodes of a graph, in graph order (= layer order for exported encoders). */
export function findAttentionSoftmax(graph: Graph): Node[] {
  return graph.nodes.filter((n) => n.opType === 'Softmax' && isStandardDomain(n.domain) && n.outputs[0] && feedsAttentionMatMul(n.output(0)));
}
