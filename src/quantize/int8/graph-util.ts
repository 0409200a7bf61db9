/**
 * IR helpers shared by the integer rewrites: walking graphs with their paths, reading a constant weight, swapping a
 * node for a new one that keeps the old output value (so names, types and graph outputs stay), dropping weights
 * nobody reads any more, and the rank of a value when it can be known.
 */
import { DataType } from '../../ir/dtype.js';
import { AttrType, type Graph, type Node, type Value } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { Tensor, type TensorArray } from '../../ir/tensor.js';
import { shapeOf } from '../../ir/types.js';
import { floatValues } from './weights.js';

export const MS_DOMAIN = 'com.microsoft';

/** The main graph and every subgraph below it, each with a path ('main', 'main/If_1.then_branch'). */
export function graphsWithPaths(model: Model): { graph: Graph; path: string }[] {
  const out: { graph: Graph; path: string }[] = [];
  const walk = (g: Graph, path: string) => {
    out.push({ graph: g, path });
    for (const n of g.nodes)
      for (const [name, a] of n.attributes) {
        const gs = a.type === AttrType.GRAPH ? [a.value as Graph] : a.type === AttrType.GRAPHS ? (a.value as Graph[]) : [];
        gs.forEach((sg, j) => walk(sg, `${path}/${n.label}.${name}${gs.length > 1 ? `[${j}]` : ''}`));
      }
  };
  walk(model.graph, 'main');
  return out;
}

/** Label for reports: the node's name, else op type and first output. */
export const nodeName = (n: Node): string => n.name || n.label;

/**
 * Replaces `old` (and the `also` nodes, which must only feed `old` or each other) by a new node whose output 0 is
 * `old`'s output value: graph outputs, value_info and every reader stay as they were. The new node is inserted
 * where `old` was.
 */
export function replaceKeepingOutput(
  graph: Graph,
  old: Node,
  opType: string,
  inputs: readonly (Value | null)[],
  attrs: Record<string, unknown>,
  opts: { domain?: string; name?: string; also?: Node[] } = {},
): Node {
  const out = old.output(0);
  old.setOutput(0, null);
  const ins = [...inputs];
  while (ins.length && !ins[ins.length - 1]) ins.pop();
  const fresh = graph.addNode(opType, ins, attrs, { domain: opts.domain, outputs: [''], before: old });
  fresh.setOutput(0, out);
  graph.removeNodes([old, ...(opts.also ?? [])]);
  // the old node's name is free now: the new node takes it (or a fresh one from opts.name)
  fresh.name = old.name || (opts.name ? graph.freshName(opts.name) : '');
  return fresh;
}

/** Removes a constant that nothing reads any more (an initializer, or a Constant node and its output). */
export function dropIfUnused(v: Value): boolean {
  if (v.uses.length > 0 || v.isGraphOutput) return false;
  const g = v.graph;
  if (!g) return false;
  if (v.initializer && g.initializers.get(v.name) === v) {
    g.removeInitializer(v);
    return true;
  }
  const p = v.producer;
  if (p && p.opType === 'Constant' && p.graph) {
    p.graph.removeNode(p);
    return true;
  }
  return false;
}

/** Adds an initializer beside a weight (in the scope that defines it, so every reader of the weight can see it). */
export function addWeight(scope: Graph, base: string, dataType: DataType, dims: readonly number[], data: TensorArray): Value {
  return scope.addConstant(base, Tensor.fromArray(dataType, dims, data));
}

const SAME_RANK = new Set([
  'Relu',
  'Gelu',
  'Erf',
  'Tanh',
  'Sigmoid',
  'Neg',
  'Sqrt',
  'Exp',
  'Cast',
  'Identity',
  'Dropout',
  'Softmax',
  'LayerNormalization',
  'Clip',
  'LeakyRelu',
  'HardSigmoid',
  'HardSwish',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'Max', 'Min']);

/**
 * The rank of a value when declared (inputs, outputs, value_info), evident from a constant, or implied through
 * elementwise ops, broadcasts and MatMul; else undefined.
 */
export function knownRank(v: Value, depth = 0): number | undefined {
  const c = v.constTensor();
  if (c) return c.rank;
  const declared = shapeOf(v.type)?.length;
  if (declared !== undefined || depth > 32) return declared;
  const p = v.producer;
  if (p?.domain !== '' || v.producerIndex !== 0) return undefined;
  const ranks = (ins: readonly (Value | null)[]) => {
    const rs = ins.filter((x): x is Value => !!x).map((x) => knownRank(x, depth + 1));
    return rs.some((r) => r === undefined) ? undefined : Math.max(...(rs as number[]));
  };
  if (SAME_RANK.has(p.opType)) return p.input(0) ? knownRank(p.input(0)!, depth + 1) : undefined;
  if (BROADCAST.has(p.opType)) return ranks(p.inputs);
  if (p.opType === 'MatMul') {
    const r = ranks(p.inputs);
    return r !== undefined && r >= 2 ? r : undefined;
  }
  return undefined;
}

/** Adds (or raises) an opset import; records what changed in `added`. */
export function ensureOpset(model: Model, domain: string, version: number, added: Record<string, number>): void {
  const cur = model.opset(domain);
  if (cur === undefined || cur < version) {
    model.setOpset(domain, version);
    added[domain || 'ai.onnx'] = version;
  }
}

export interface FoldableBias {
  /** the bias constant itself, when it already is a float32 [N] (reused, not copied) */
  value?: Value;
  /** bias values to write, when the constant has another shape ([1, N], one element) */
  data?: Float32Array;
  /** the Add that goes away */
  add: Node;
  /** name of the bias constant, for reports */
  from: string;
}

/**
 * The Add after a MatMul that can become a bias input [N] of the node replacing it: the MatMul output's only reader,
 * not a graph output, in the same graph; the other operand a float32 constant of N elements shaped [..1, N] (or one
 * element) whose rank does not exceed rank(A·B) = max(rank A, 2), so broadcasting cannot add dimensions.
 */
export function foldableBias(mm: Node, N: number): FoldableBias | undefined {
  const t = mm.output(0);
  if (t.isGraphOutput || t.uses.length !== 1) return undefined;
  const add = t.uses[0].node;
  if (add.opType !== 'Add' || add.domain !== '' || add.graph !== mm.graph || add.input(0) === add.input(1)) return undefined;
  const other = add.input(1 - t.uses[0].index);
  const c = other?.constTensor();
  if (!other || !c || c.dataType !== DataType.FLOAT) return undefined;
  const rankA = knownRank(mm.input(0)!);
  if (c.rank > 1 && (rankA === undefined || c.rank > Math.max(rankA, 2))) return undefined;
  if (c.size === N && c.dims[c.rank - 1] === N && c.dims.slice(0, -1).every((d) => d === 1))
    return c.rank === 1 ? { value: other, add, from: other.name } : { data: Float32Array.from(floatValues(c)), add, from: other.name };
  if (c.size === 1 && c.rank <= 1) return { data: new Float32Array(N).fill(floatValues(c)[0]), add, from: other.name };
  return undefined;
}
