/**
 * Inlines If nodes whose condition is a constant: the taken branch's nodes move into the enclosing graph (before the
 * If), its initializers become initializers there, and the If's outputs are produced by the moved nodes themselves,
 * so every value keeps its name (graph outputs included). The other branch is dropped with the If.
 *
 *   c = true                                   y1 = Add(x, b_then)
 *   y = If(c) then { y1 = Add(x, b_then) }  ->  (y is y1's producer's output, renamed to y)
 *             else { ... }
 *
 * Value names are unique across the scope tree already (SSA), so moved values keep theirs; node names and
 * initializer names that clash with the enclosing graph get fresh ones. A branch output that is not produced by a
 * moved node (an outer value or initializer passed straight through, or one value returned twice) is bound by an
 * Identity (eliminate-identity removes it where it can). Nested If/Loop bodies move with their nodes, captures intact.
 * Runs to a fixed point in every graph, so an If uncovered by inlining another is inlined too.
 */
import { Node, type Graph, type Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { isStandardDomain } from '../ir/model.js';
import { constantOf, numbersOf } from '../rewrite/constant.js';

/** The branch an If takes for certain, or undefined when its condition is not a constant. */
export function constantBranch(n: Node): Graph | undefined {
  if (n.opType !== 'If' || !isStandardDomain(n.domain)) return undefined;
  const t = constantOf(n.input(0));
  if (t?.size !== 1) return undefined;
  const v = numbersOf(t)?.[0];
  if (v === undefined || Number.isNaN(v)) return undefined;
  const g = n.attr(v ? 'then_branch' : 'else_branch')?.value as Graph | undefined;
  if (!g || g.outputs.length !== n.outputs.length || g.inputs.length) return undefined;
  return g;
}

/** Inlines every If with a constant condition; returns how many were inlined. */
export function inlineConstantIfs(model: Model): number {
  let count = 0;
  for (let changed = true; changed; ) {
    changed = false;
    for (const g of model.allGraphs()) {
      for (const n of [...g.nodes]) {
        if (n.graph !== g) continue;
        const branch = constantBranch(n);
        if (!branch) continue;
        inlineBranch(g, n, branch);
        count++;
        changed = true;
      }
    }
  }
  return count;
}

function inlineBranch(outer: Graph, ifNode: Node, branch: Graph): void {
  const nodes = [...branch.nodes];
  const snapshot = new Map<Node, (Value | null)[]>();
  for (const n of nodes) {
    snapshot.set(n, [...n.inputs]);
    for (const sg of n.subgraphs()) for (const m of sg.allNodes()) snapshot.set(m, [...m.inputs]);
  }
  const outs = [...branch.outputs];
  const inits = [...branch.initializers.values()];
  branch.setOutputs([]);
  branch.removeNodes(nodes);
  const remap = new Map<Value, Value>();
  for (const v of inits) {
    const t = v.initializer!;
    branch.removeInitializer(v);
    const name = outer.lookupLocal(v.name) ? outer.freshName(v.name) : v.name;
    remap.set(v, outer.addInitializer(name, t, v.type));
  }
  const outerNodeNames = new Set(outer.nodes.map((n) => n.name).filter((x) => x));
  for (const n of nodes) {
    if (n.name && outerNodeNames.has(n.name)) n.name = outer.freshName(n.name);
    if (n.name) outerNodeNames.add(n.name);
    outer.insertBefore(n, ifNode);
  }
  for (const [m, ins] of snapshot) m.setInputs(ins.map((v) => (v ? (remap.get(v) ?? v) : null)));
  const moved = new Set(nodes);
  /** branch values whose producer now writes the If's output value instead */
  const carried = new Map<Value, Value>();
  ifNode.outputs.forEach((o, i) => {
    if (!o) return;
    const b = remap.get(outs[i]) ?? outs[i];
    ifNode.setOutput(i, null);
    if (b.producer && moved.has(b.producer) && !carried.has(b) && !b.isGraphOutput) {
      const p = b.producer;
      const pi = b.producerIndex;
      b.replaceAllUsesWith(o);
      p.setOutput(pi, o);
      carried.set(b, o);
    } else {
      const id = new Node('Identity', [carried.get(b) ?? b], [o], { name: outer.freshName(`${ifNode.name || 'If'}/inlined_output_${i}`) });
      outer.insertBefore(id, ifNode);
    }
  });
  outer.removeNode(ifNode);
}
