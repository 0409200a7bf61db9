/**
 * verify(): checks the IR's invariants. Runs after every pass in tests and under `--verify`.
 *
 * - every node input is defined earlier in its graph, by an input or initializer, or in an enclosing scope
 *   (topological order, scoping);
 * - use lists are symmetric: v.uses holds (node, i) exactly when node.inputs[i] === v, for live nodes only;
 * - producers match: node.outputs[i].producer === node;
 * - value names are unique across the scope tree (SSA), and graph outputs are visible values.
 */
import { type Graph, IRError, type Node, type Value } from './graph.js';
import type { Model } from './model.js';

export class VerifyError extends IRError {
  constructor(readonly problems: string[]) {
    super(`IR verification failed:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : ''}`);
  }
}

/** Returns the list of problems (empty when the model is consistent). */
export function checkModel(model: Model): string[] {
  const problems: string[] = [];
  checkGraph(model.graph, problems);
  for (const fn of model.functions) checkGraph(fn.graph, problems, `function ${fn.name}`);
  return problems;
}

export function verify(model: Model): void {
  const p = checkModel(model);
  if (p.length) throw new VerifyError(p);
}

function checkGraph(root: Graph, problems: string[], label = 'graph'): void {
  const names = new Map<string, Value>();
  const live = new Set<Node>();
  for (const n of root.allNodes()) live.add(n);
  const walk = (g: Graph, visible: Set<Value>, where: string) => {
    const scope = new Set(visible);
    const define = (v: Value) => {
      const prev = names.get(v.name);
      if (prev && prev !== v) problems.push(`${where}: value name '${v.name}' is defined more than once`);
      names.set(v.name, v);
      scope.add(v);
    };
    for (const v of g.inputs) define(v);
    for (const v of g.initializers.values()) {
      if (!g.inputs.includes(v)) define(v);
      if (v.graph !== g) problems.push(`${where}: initializer ${v.name} does not point at its graph`);
    }
    for (const n of g.nodes) {
      if (n.graph !== g) problems.push(`${where}: node ${n.label} does not point at its graph`);
      n.inputs.forEach((v, i) => {
        if (!v) return;
        if (!scope.has(v)) problems.push(`${where}: input ${i} (${v.name}) of ${n.label} is not defined before it`);
        if (!v.uses.some((u) => u.node === n && u.index === i)) problems.push(`${where}: ${v.name} lacks the use ${n.label}#${i}`);
      });
      for (const sg of n.subgraphs()) {
        if (sg.parentNode !== n) problems.push(`${where}: subgraph ${sg.name} of ${n.label} does not point at its node`);
        walk(sg, scope, `${where} > ${n.label}.${sg.name}`);
      }
      n.outputs.forEach((o, i) => {
        if (!o) return;
        if (o.producer !== n || o.producerIndex !== i) problems.push(`${where}: output ${o.name} of ${n.label} does not point back at it`);
        define(o);
      });
    }
    for (const v of g.outputs) {
      if (!scope.has(v)) problems.push(`${where}: graph output ${v.name} is not defined`);
      if (!v.outputOf.includes(g)) problems.push(`${where}: graph output ${v.name} does not know it is one`);
    }
    // use-list symmetry for values defined here
    for (const v of scope) {
      if (visible.has(v)) continue;
      for (const u of v.uses) {
        if (!live.has(u.node)) problems.push(`${where}: ${v.name} has a use by removed node ${u.node.label}`);
        else if (u.node.inputs[u.index] !== v) problems.push(`${where}: ${v.name} has a stale use ${u.node.label}#${u.index}`);
      }
    }
  };
  walk(root, new Set(), label);
}
