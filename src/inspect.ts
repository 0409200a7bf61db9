/**
 * inspectModel(): what is in a model. The same object `autoglm inspect --json` prints.
 *
 * Parameters are the elements of weight tensors: floating-point tensors (any float type, including float16, bfloat16
 * and the float8/float4 family) and 8/4/2-bit integer tensors (quantised weights), in initializers, Constant nodes and
 * sparse initializers, in every graph and function. Tensors of one element are hyper-parameter constants (epsilon,
 * 0.5, sqrt(d)) and int32/int64/bool tensors are shapes, axes and indices: neither counts.
 */
import { DataType, dtypeBits, dtypeName, isFloatType } from './ir/dtype.js';
import type { Model } from './ir/model.js';
import type { Tensor } from './ir/tensor.js';
import { elemTypeOf, innerElemType, shapeOf, type Dim } from './ir/types.js';
import { forEachTensor } from './onnx/io.js';
import type { Msg } from './onnx/schema.js';
import type { Value } from './ir/graph.js';

export interface IOInfo {
  name: string;
  dtype: string;
  shape: Dim[] | null;
}

export interface ParamStats {
  /** elements of weight tensors */
  total: number;
  /** of which not zero */
  nonZero: number;
  /** bytes the weights take */
  bytes: number;
  /** number of weight tensors */
  tensors: number;
  byDtype: { dtype: string; params: number; nonZero: number; bytes: number; tensors: number }[];
  bySource: { initializer: number; constantNode: number; sparse: number };
}

export interface InspectResult {
  file: { path: string; size: number; externalBytes: number; externalFiles: string[] } | null;
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: { name: string; version: string };
  domain: string;
  modelVersion: number;
  docString: string;
  metadata: Record<string, string>;
  inputs: IOInfo[];
  outputs: IOInfo[];
  nodes: { total: number; mainGraph: number; subgraphs: number; functions: number };
  graphs: { subgraphs: number; functions: number };
  ops: { domain: string; opType: string; count: number }[];
  parameters: ParamStats;
}

/** Whether a tensor counts as weights (see the module comment). */
export function isWeightTensor(t: Tensor): boolean {
  if (t.size <= 1) return false;
  const dt = t.dataType;
  if (isFloatType(dt)) return true;
  if (dt === DataType.INT8 || dt === DataType.UINT8) return true;
  return dt !== DataType.STRING && dt !== DataType.BOOL && dtypeBits(dt) > 0 && dtypeBits(dt) < 8;
}

/**
 * Parameter statistics of every weight tensor. `nonZero: false` skips counting non-zero values (then `nonZero` equals
 * `total`): that count reads every weight, and for a pending float16 conversion computes it.
 */
export function countParameters(model: Model, opts: { nonZero?: boolean } = {}): ParamStats {
  const countZeros = opts.nonZero !== false;
  const by = new Map<string, { dtype: string; params: number; nonZero: number; bytes: number; tensors: number }>();
  const stats: ParamStats = { total: 0, nonZero: 0, bytes: 0, tensors: 0, byDtype: [], bySource: { initializer: 0, constantNode: 0, sparse: 0 } };
  const add = (size: number, nonZero: number, bytes: number, dtype: number, source: keyof ParamStats['bySource']) => {
    const name = dtypeName(dtype);
    const e = by.get(name) ?? by.set(name, { dtype: name, params: 0, nonZero: 0, bytes: 0, tensors: 0 }).get(name)!;
    e.params += size;
    e.nonZero += nonZero;
    e.bytes += bytes;
    e.tensors++;
    stats.total += size;
    stats.nonZero += nonZero;
    stats.bytes += bytes;
    stats.tensors++;
    stats.bySource[source] += size;
  };
  forEachTensor(model, (t, where) => {
    if (!isWeightTensor(t)) return;
    add(t.size, countZeros ? t.countNonZero() : t.size, t.byteLength, t.dataType, where === 'initializer' ? 'initializer' : 'constantNode');
  });
  for (const g of model.allGraphs())
    for (const sp of g.sparseInitializers) {
      const dims = ((sp.dims as (number | bigint)[] | undefined) ?? []).map(Number);
      const values = sp.values as Msg | undefined;
      const dt = (values?.data_type as number | undefined) ?? 0;
      const size = dims.reduce((a, b) => a * b, 1);
      const nnz = ((values?.dims as (number | bigint)[] | undefined) ?? [0]).map(Number).reduce((a, b) => a * b, 1);
      if (size > 1 && (isFloatType(dt) || dt === DataType.INT8 || dt === DataType.UINT8)) add(size, nnz, Math.ceil((nnz * dtypeBits(dt)) / 8), dt, 'sparse');
    }
  stats.byDtype = [...by.values()].sort((a, b) => b.params - a.params);
  return stats;
}

/** Zero elements of every weight tensor, as countParameters counts weights. */
export function countZeroWeights(model: Model): number {
  const p = countParameters(model);
  return p.total - p.nonZero;
}

function ioInfo(v: Value): IOInfo {
  const elem = elemTypeOf(v.type) ?? innerElemType(v.type);
  let dtype = elem !== undefined ? dtypeName(elem) : 'unknown';
  if (v.type?.sequence_type) dtype = `sequence(${dtype})`;
  else if (v.type?.optional_type) dtype = `optional(${dtype})`;
  else if (v.type?.map_type) dtype = 'map';
  return { name: v.name, dtype, shape: shapeOf(v.type) ?? null };
}

export function inspectModel(model: Model): InspectResult {
  const ops = new Map<string, { domain: string; opType: string; count: number }>();
  let total = 0;
  for (const n of model.allNodes()) {
    total++;
    const key = `${n.domain}\u0000${n.opType}`;
    const e = ops.get(key) ?? ops.set(key, { domain: n.domain, opType: n.opType, count: 0 }).get(key)!;
    e.count++;
  }
  const fnNodes = model.functions.reduce((a, f) => a + [...f.graph.allNodes()].length, 0);
  const main = model.graph.nodes.length;
  const inits = new Set(model.graph.initializers.values());
  const src = model.source;
  return {
    file: src ? { path: src.path, size: src.fileSize, externalBytes: src.externalBytes, externalFiles: src.externalFiles } : null,
    irVersion: model.irVersion,
    opsets: model.opsetImports.map((o) => ({ domain: o.domain || 'ai.onnx', version: o.version })),
    producer: { name: model.producerName ?? '', version: model.producerVersion ?? '' },
    domain: model.domain ?? '',
    modelVersion: Number(model.modelVersion ?? 0),
    docString: model.docString ?? '',
    metadata: Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value])),
    // initializers listed as inputs (IR < 4 style) are not real inputs
    inputs: model.graph.inputs.filter((v) => !inits.has(v)).map(ioInfo),
    outputs: model.graph.outputs.map(ioInfo),
    nodes: { total, mainGraph: main, subgraphs: total - main - fnNodes, functions: fnNodes },
    graphs: { subgraphs: model.graph.subgraphsDeep().length, functions: model.functions.length },
    ops: [...ops.values()].sort((a, b) => b.count - a.count || a.opType.localeCompare(b.opType)),
    parameters: countParameters(model),
  };
}
