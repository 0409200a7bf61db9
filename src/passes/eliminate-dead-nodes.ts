/**
 * eliminate-dead-nodes: removes computation that reaches no graph output.
 *
 *     x ──A──> a ──B──> out            x ──A──> a ──B──> out
 *          └──C──> c (unused)                                       (C removed, then whatever fed only C)
 *
 * A node is dead when none of its outputs is read or is a graph output. Nodes are visited last to first, so removing
 * one frees its producers in the same sweep; a live node's subgraphs are cleaned before the nodes above it, since
 * their captured values are uses too (removing a dead node inside a body can free an outer producer). Subgraph
 * outputs are always live: an If/Loop/Scan body's outputs are positional and the body stays as it is.
 * Never removed: nodes of domains not known to be pure (custom operators may have side effects; calls of model-local
 * functions whose bodies are pure are fine), graph outputs, graph inputs (unless `removeUnusedInputs: true`, main
 * graph only; an input that is also an initializer goes with it). Unused initializers that are not graph inputs are
 * removed everywhere. Function bodies are cleaned like graphs (their outputs live). Counts: nodes, initializers,
 * inputs.
 */
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { isPure, isUnused } from '../rewrite/dead.js';
import type { Pass, PassContext, PassResult } from '../pass/pass.js';
import { passOption } from './util/options.js';

interface Stats {
  nodes: number;
  initializers: number;
  inputs: number;
}

function sweep(g: Graph, model: Model, stats: Stats): void {
  const nodes = g.nodes;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (isUnused(n) && isPure(n, model)) {
      g.removeNode(n);
      stats.nodes++;
      continue;
    }
    for (const sg of n.subgraphs()) sweep(sg, model, stats);
  }
  for (const v of [...g.initializers.values()]) {
    if (v.uses.length === 0 && !v.isGraphOutput && !v.isGraphInput) {
      g.removeInitializer(v);
      stats.initializers++;
    }
  }
}

const pass: Pass = {
  name: 'eliminate-dead-nodes',
  description: 'remove nodes and initializers that reach no graph output (unused inputs on request)',
  kind: 'cleanup',
  lossless: true,
  recursesIntoSubgraphs: true,
  run(model: Model, ctx: PassContext): PassResult {
    const stats: Stats = { nodes: 0, initializers: 0, inputs: 0 };
    sweep(model.graph, model, stats);
    for (const fn of model.functions) sweep(fn.graph, model, stats);
    if (passOption(ctx, pass.name, 'removeUnusedInputs', false)) {
      for (const v of [...model.graph.inputs]) {
        if (v.uses.length > 0 || v.isGraphOutput) continue;
        if (v.initializer) model.graph.removeInitializer(v);
        else model.graph.removeInput(v);
        stats.inputs++;
      }
    }
    const counts: Record<string, number> = {};
    for (const [k, n] of Object.entries(stats)) if (n) counts[k] = n;
    return { modified: stats.nodes + stats.initializers + stats.inputs > 0, counts };
  },
};

export default pass;
