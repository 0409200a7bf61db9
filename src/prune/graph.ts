/**
 * Graph pruning (lossless): remove computation that cannot affect the requested outputs.
 *
 *   1. `outputs`: the graph outputs become exactly these values (any main-graph value by name, in the order given),
 *      which extracts the sub-model that computes them;
 *   2. If nodes with a constant condition are replaced by their taken branch (inline-if.ts); when some If condition
 *      is computed, fold-constants runs first so a condition computed from constants becomes one;
 *   3. the clean-up pass eliminate-dead-nodes removes dead nodes, unused initializers and unused graph inputs.
 *
 * The outputs that remain compute exactly what they did (the numeric-equivalence tests check it); the model may take
 * fewer inputs.
 */
import { UsageError } from '../errors.js';
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { runPassList } from '../pass/manager.js';
import eliminateDeadNodes from '../passes/eliminate-dead-nodes.js';
import foldConstants from '../passes/fold-constants.js';
import { constantBranch, inlineConstantIfs } from './inline-if.js';

export interface GraphPruneOptions {
  /** names of the values that become the graph outputs */
  outputs?: readonly string[];
  /** remove graph inputs nothing reads (default true) */
  removeUnusedInputs?: boolean;
}

export interface GraphPruneReport {
  /** the outputs after pruning */
  outputs: string[];
  /** outputs dropped by `outputs` */
  droppedOutputs: string[];
  inlinedIfs: number;
  removedNodes: number;
  removedInitializers: number;
  removedInputs: string[];
  nodesBefore: number;
  nodesAfter: number;
}

const countNodes = (m: Model): number => {
  let n = 0;
  for (const _ of m.allNodes()) n++;
  return n;
};

/** Finds a main-graph value by name (input, initializer or node output). */
export function findValue(model: Model, name: string): Value | undefined {
  return model.graph.lookupLocal(name);
}

export function pruneGraph(model: Model, opts: GraphPruneOptions = {}): GraphPruneReport {
  const g = model.graph;
  const nodesBefore = countNodes(model);
  const outputsBefore = g.outputs.map((v) => v.name);
  const inputsBefore = g.inputs.filter((v) => !v.initializer).map((v) => v.name);
  if (opts.outputs) {
    if (!opts.outputs.length) throw new UsageError('--outputs needs at least one value name');
    const dup = opts.outputs.find((n, i) => opts.outputs!.indexOf(n) !== i);
    if (dup) throw new UsageError(`--outputs names '${dup}' twice`);
    const values = opts.outputs.map((name) => {
      const v = findValue(model, name);
      if (!v) throw new UsageError(`--outputs: the model has no value '${name}'${suggest(model, name)}`);
      return v;
    });
    g.setOutputs(values);
  }
  let inlined = inlineConstantIfs(model);
  if ([...model.allNodes()].some((n) => n.opType === 'If' && !constantBranch(n))) {
    runPassList(model, [foldConstants], { fixedPoint: false });
    inlined += inlineConstantIfs(model);
  }
  const r = runPassList(model, [eliminateDeadNodes], { options: { 'eliminate-dead-nodes': { removeUnusedInputs: opts.removeUnusedInputs ?? true } } });
  const inputsAfter = new Set(g.inputs.map((v) => v.name));
  return {
    outputs: g.outputs.map((v) => v.name),
    droppedOutputs: outputsBefore.filter((n) => !g.outputs.some((v) => v.name === n)),
    inlinedIfs: inlined,
    removedNodes: nodesBefore - countNodes(model),
    removedInitializers: r.passes[0]?.counts.initializers ?? 0,
    removedInputs: inputsBefore.filter((n) => !inputsAfter.has(n)),
    nodesBefore,
    nodesAfter: countNodes(model),
  };
}

function suggest(model: Model, name: string): string {
  const names: string[] = [];
  for (const v of model.graph.inputs) names.push(v.name);
  for (const n of model.graph.nodes) for (const o of n.outputs) if (o) names.push(o.name);
  const lower = name.toLowerCase();
  const close = names.filter((n) => n.toLowerCase().includes(lower) || lower.includes(n.toLowerCase())).slice(0, 5);
  return close.length
    ? `; did you mean ${close.map((c) => `'${c}'`).join(', ')}?`
    : `; its outputs are ${model.graph.outputs.map((v) => `'${v.name}'`).join(', ')}`;
}
