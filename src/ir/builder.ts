/**
 * A small builder over Graph for fixtures, passes and tests:
 *
 *   const { model, b } = createModel({ opset: 17 });
 *   const x = b.input('x', DataType.FLOAT, ['batch', 4]);
 *   const w = b.init('w', floatTensor([4, 3], rng.fillNormal(new Float32Array(12), 0.1)));
 *   b.output(b.op('Relu', [b.op('MatMul', [x, w])]), 'y');
 */
import { DataType } from './dtype.js';
import { Attribute, Graph, type AddNodeOptions, type Node, type Value } from './graph.js';
import { Model, type OpsetImport } from './model.js';
import { Tensor, type TensorArray } from './tensor.js';
import { tensorType, type Dim } from './types.js';

export class GraphBuilder {
  constructor(readonly graph: Graph) {}

  input(name: string, elemType: number, shape?: readonly Dim[]): Value {
    return this.graph.addInput(name, tensorType(elemType, shape));
  }
  /** Marks a value as a graph output, optionally renaming it and declaring its type. */
  output(v: Value, name?: string, elemType?: number, shape?: readonly Dim[]): Value {
    if (name && name !== v.name) v.name = name;
    if (elemType !== undefined) v.type = tensorType(elemType, shape);
    this.graph.addOutput(v);
    return v;
  }
  /** An initializer under exactly this name. */
  init(name: string, t: Tensor): Value {
    return this.graph.addInitializer(name, t);
  }
  /** An initializer under a fresh name derived from `base`. */
  const(base: string, t: Tensor): Value {
    return this.graph.addConstant(base, t);
  }
  /** A Constant node holding `t` (how paddle2onnx and older exporters store weights). */
  constantNode(t: Tensor, name?: string): Value {
    const n = this.graph.addNode('Constant', [], [Attribute.tensor('value', t)], { name, outputs: name ? [this.graph.freshName(name)] : 1 });
    return n.output(0);
  }
  /** Adds a node and returns its first output. */
  op(opType: string, inputs: readonly (Value | null | undefined)[], attrs: Record<string, unknown> = {}, opts: AddNodeOptions = {}): Value {
    return this.node(opType, inputs, attrs, opts).output(0);
  }
  /** Adds a node with several outputs and returns them. */
  ops(opType: string, inputs: readonly (Value | null | undefined)[], outputs: number, attrs: Record<string, unknown> = {}, opts: AddNodeOptions = {}): Value[] {
    return this.node(opType, inputs, attrs, { ...opts, outputs }).outputs as Value[];
  }
  node(opType: string, inputs: readonly (Value | null | undefined)[], attrs: Record<string, unknown> = {}, opts: AddNodeOptions = {}): Node {
    return this.graph.addNode(opType, inputs, attrs, opts);
  }
}

export interface CreateModelOptions {
  opset?: number;
  irVersion?: number;
  /** extra opset imports, e.g. { 'com.microsoft': 1 } */
  domains?: Record<string, number>;
  graphName?: string;
  producerName?: string;
}

export function createModel(opts: CreateModelOptions = {}): { model: Model; b: GraphBuilder; graph: Graph } {
  const graph = new Graph(opts.graphName ?? 'main');
  const opsets: OpsetImport[] = [{ domain: '', version: opts.opset ?? 17 }];
  for (const [d, v] of Object.entries(opts.domains ?? {})) opsets.push({ domain: d, version: v });
  const model = new Model(graph, { irVersion: opts.irVersion ?? 8, opsetImports: opsets, producerName: opts.producerName ?? 'autoglm' });
  return { model, b: new GraphBuilder(graph), graph };
}

/** A subgraph builder for If/Loop/Scan bodies (attach it with `{ then_branch: sub.graph }`). */
export function subgraph(name: string): GraphBuilder {
  return new GraphBuilder(new Graph(name));
}

// tensor shorthands -------------------------------------------------------------------------------------------------

export const floatTensor = (dims: readonly number[], data: Float32Array | readonly number[]): Tensor =>
  Tensor.fromArray(DataType.FLOAT, dims, data as TensorArray);
export const int64Tensor = (dims: readonly number[], data: readonly (number | bigint)[] | BigInt64Array): Tensor =>
  Tensor.fromArray(DataType.INT64, dims, data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v)));
export const int32Tensor = (dims: readonly number[], data: readonly number[] | Int32Array): Tensor =>
  Tensor.fromArray(DataType.INT32, dims, data as TensorArray);
export const boolTensor = (dims: readonly number[], data: readonly (boolean | number)[]): Tensor =>
  Tensor.fromArray(
    DataType.BOOL,
    dims,
    Uint8Array.from(data, (v) => (v ? 1 : 0)),
  );
/** A 1-D int64 tensor (shapes, axes, starts/ends). */
export const ints = (values: readonly (number | bigint)[]): Tensor => int64Tensor([values.length], values);
/** A float32 scalar tensor. */
export const scalar = (v: number): Tensor => floatTensor([], [v]);
