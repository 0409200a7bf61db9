/**
 * ModelProto (as generic messages, see schema.ts) <-> IR. The only module that knows onnx.proto's field names for
 * models, graphs, nodes, attributes and tensors.
 *
 * Decoding resolves names into object references: each graph first declares its inputs, initializers and every
 * node output, then wires node inputs, so files whose nodes are not topologically sorted still load. A name not
 * found in the graph or an enclosing scope is an error, as is a name defined twice.
 */
import * as path from 'node:path';
import { ModelFormatError } from '../errors.js';
import { DataType, dtypeField, isKnownDataType, type TypedFieldName } from '../ir/dtype.js';
import { Attribute, AttrType, Graph, Node, Value, type AttrValue } from '../ir/graph.js';
import { Model, ModelFunction, type OpsetImport } from '../ir/model.js';
import { Tensor, type ExternalRef } from '../ir/tensor.js';
import { textDecoder, textEncoder } from './wire.js';
import { isLazy, materialize, type Bytes } from '../bytes/sources.js';
import type { Msg } from './schema.js';

export interface DecodeContext {
  /** folder external-data locations are resolved against; external tensors are refused when absent */
  baseDir?: string;
  /** checks an external file exists and is long enough; set by the file loader */
  checkExternal?: (ref: ExternalRef, tensorName: string) => void;
}

const MAX_DIM = 2 ** 40;

// ================================================================================================ decode

export function modelFromMsg(m: Msg, ctx: DecodeContext = {}): Model {
  if (!m.graph) throw new ModelFormatError('not an ONNX model: it has no graph');
  if (m.ir_version === undefined) throw new ModelFormatError('not an ONNX model: it has no ir_version');
  const graph = graphFromMsg(m.graph as Msg, null, ctx, 'main graph');
  const model = new Model(graph, {
    irVersion: Number(m.ir_version),
    opsetImports: ((m.opset_import as Msg[] | undefined) ?? []).map(opsetFromMsg),
    producerName: m.producer_name as string | undefined,
    producerVersion: m.producer_version as string | undefined,
  });
  model.domain = m.domain as string | undefined;
  model.modelVersion = m.model_version as number | bigint | undefined;
  model.docString = m.doc_string as string | undefined;
  model.metadataProps = ((m.metadata_props as Msg[] | undefined) ?? []).map(kvFromMsg);
  model.trainingInfo = (m.training_info as Msg[] | undefined) ?? [];
  model.functions = ((m.functions as Msg[] | undefined) ?? []).map((f) => functionFromMsg(f, ctx));
  model.extra = pickExtra(m, MODEL_FIELDS);
  return model;
}

const MODEL_FIELDS = [
  'ir_version',
  'opset_import',
  'producer_name',
  'producer_version',
  'domain',
  'model_version',
  'doc_string',
  'graph',
  'metadata_props',
  'training_info',
  'functions',
];
const GRAPH_FIELDS = ['node', 'name', 'initializer', 'sparse_initializer', 'doc_string', 'input', 'output', 'value_info', 'quantization_annotation'];
const NODE_FIELDS = ['input', 'output', 'name', 'op_type', 'domain', 'overload', 'attribute', 'doc_string'];
const ATTR_FIELDS = [
  'name',
  'ref_attr_name',
  'doc_string',
  'type',
  'f',
  'i',
  's',
  't',
  'g',
  'sparse_tensor',
  'tp',
  'floats',
  'ints',
  'strings',
  'tensors',
  'graphs',
  'sparse_tensors',
  'type_protos',
];
const TENSOR_FIELDS = [
  'dims',
  'data_type',
  'float_data',
  'int32_data',
  'string_data',
  'int64_data',
  'name',
  'doc_string',
  'raw_data',
  'external_data',
  'data_location',
  'double_data',
  'uint64_data',
];
const VI_FIELDS = ['name', 'type', 'doc_string'];
const FN_FIELDS = [
  'name',
  'input',
  'output',
  'attribute',
  'attribute_proto',
  'node',
  'doc_string',
  'opset_import',
  'domain',
  'overload',
  'value_info',
  'metadata_props',
];

/** Everything of a message except the listed fields (what the IR does not model, unknown fields included). */
function pickExtra(m: Msg, known: string[]): Msg {
  const out: Msg = {};
  for (const k of Object.keys(m)) if (!known.includes(k)) out[k] = m[k];
  return out;
}

function opsetFromMsg(o: Msg): OpsetImport {
  const extra = pickExtra(o, ['domain', 'version']);
  // the default domain is often written by leaving the field out (torch does): remember, to write it back the same way
  if (o.domain === undefined) extra.$noDomain = true;
  return { domain: (o.domain as string | undefined) ?? '', version: Number(o.version ?? 0), ...(Object.keys(extra).length ? { extra } : {}) };
}
function kvFromMsg(e: Msg): { key: string; value: string } {
  return { key: (e.key as string) ?? '', value: (e.value as string) ?? '' };
}

/** A scope being decoded: name -> value, with the enclosing scope. */
class Scope {
  readonly values = new Map<string, Value>();
  constructor(
    readonly graph: Graph,
    readonly parent: Scope | null,
    readonly where: string,
  ) {}
  define(v: Value): void {
    if (this.values.has(v.name)) throw new ModelFormatError(`${this.where}: value name '${v.name}' is defined more than once`);
    this.values.set(v.name, v);
  }
  lookup(name: string): Value | undefined {
    for (let s: Scope | null = this; s; s = s.parent) {
      const v = s.values.get(name);
      if (v) return v;
    }
    return undefined;
  }
}

function valueFromInfo(vi: Msg): Value {
  const v = new Value((vi.name as string) ?? '', vi.type as Msg | undefined);
  v.docString = vi.doc_string as string | undefined;
  v.extra = pickExtra(vi, VI_FIELDS);
  return v;
}

function graphFromMsg(gm: Msg, parent: Scope | null, ctx: DecodeContext, where: string, fnIO?: { inputs: string[]; outputs: string[] }): Graph {
  const g = new Graph((gm.name as string | undefined) ?? '');
  g.docString = gm.doc_string as string | undefined;
  g.extra = pickExtra(gm, GRAPH_FIELDS);
  g.sparseInitializers = (gm.sparse_initializer as Msg[] | undefined) ?? [];
  g.quantizationAnnotation = (gm.quantization_annotation as Msg[] | undefined) ?? [];
  const scope = new Scope(g, parent, where);

  if (fnIO) {
    for (const n of fnIO.inputs) scope.define(g.addInput(n));
  } else {
    for (const vi of (gm.input as Msg[] | undefined) ?? []) scope.define(g.addInput(valueFromInfo(vi)));
  }
  for (const tm of (gm.initializer as Msg[] | undefined) ?? []) {
    const t = tensorFromMsg(tm, ctx);
    const existing = scope.values.get(t.name);
    if (existing && (existing.initializer || !g.inputs.includes(existing)))
      throw new ModelFormatError(`${where}: initializer '${t.name}' is defined more than once`);
    const v = g.addInitializer(t.name, t);
    if (!existing) scope.define(v);
  }
  // declare every node output first (files are not always sorted), then wire inputs
  const nodeMsgs = (gm.node as Msg[] | undefined) ?? [];
  const nodes: Node[] = [];
  const pending: { node: Node; inputs: string[]; msg: Msg }[] = [];
  for (const nm of nodeMsgs) {
    const outputs = ((nm.output as string[] | undefined) ?? []).map((n) => (n === '' ? null : new Value(n)));
    const node = new Node((nm.op_type as string) ?? '', [], outputs, { domain: nm.domain as string | undefined, name: nm.name as string | undefined });
    node.overload = nm.overload as string | undefined;
    node.docString = nm.doc_string as string | undefined;
    node.extra = pickExtra(nm, NODE_FIELDS);
    for (const o of outputs) if (o) scope.define(o);
    nodes.push(node);
    pending.push({ node, inputs: (nm.input as string[] | undefined) ?? [], msg: nm });
  }
  for (const { node, inputs, msg } of pending) {
    for (const am of (msg.attribute as Msg[] | undefined) ?? []) {
      const a = attributeFromMsg(am, scope, ctx, `${where} > ${node.label}`);
      node.attributes.set(a.name, a);
    }
    for (const name of inputs) {
      if (name === '') {
        node.appendInput(null);
        continue;
      }
      const v = scope.lookup(name);
      if (!v) throw new ModelFormatError(`${where}: input '${name}' of node ${node.label} (${node.opType}) is not defined by any node, input or initializer`);
      node.appendInput(v);
    }
    g.appendNode(node);
  }
  // value_info: types of intermediate values
  for (const vi of (gm.value_info as Msg[] | undefined) ?? []) {
    const name = vi.name as string;
    const v = scope.values.get(name);
    if (!v || v.inValueInfo) {
      g.orphanValueInfo.push(vi);
      continue;
    }
    v.inValueInfo = true;
    if (!g.inputs.includes(v)) {
      v.type = vi.type as Msg | undefined;
      v.docString = vi.doc_string as string | undefined;
      v.extra = pickExtra(vi, VI_FIELDS);
    } else g.orphanValueInfo.push(vi);
  }
  if (fnIO) {
    for (const n of fnIO.outputs) {
      const v = scope.lookup(n);
      if (!v) throw new ModelFormatError(`${where}: output '${n}' is not defined`);
      g.addOutput(v);
    }
  } else {
    for (const vi of (gm.output as Msg[] | undefined) ?? []) {
      const name = vi.name as string;
      const v = scope.lookup(name);
      if (!v) throw new ModelFormatError(`${where}: output '${name}' is not produced by any node, input or initializer`);
      if (vi.type) v.type = vi.type as Msg;
      if (vi.doc_string !== undefined) v.docString = vi.doc_string as string;
      const extra = pickExtra(vi, VI_FIELDS);
      if (Object.keys(extra).length) v.extra = extra;
      g.addOutput(v);
    }
  }
  return g;
}

function functionFromMsg(fm: Msg, ctx: DecodeContext): ModelFunction {
  const name = (fm.name as string) ?? '';
  const where = `function ${name}`;
  const body = graphFromMsg({ node: fm.node, value_info: fm.value_info, name }, null, ctx, where, {
    inputs: (fm.input as string[] | undefined) ?? [],
    outputs: (fm.output as string[] | undefined) ?? [],
  });
  const fn = new ModelFunction(name, (fm.domain as string) ?? '', body);
  fn.overload = fm.overload as string | undefined;
  fn.docString = fm.doc_string as string | undefined;
  fn.attributeNames = (fm.attribute as string[] | undefined) ?? [];
  const scope = new Scope(body, null, where);
  fn.attributeProtos = ((fm.attribute_proto as Msg[] | undefined) ?? []).map((a) => attributeFromMsg(a, scope, ctx, where));
  fn.opsetImports = ((fm.opset_import as Msg[] | undefined) ?? []).map(opsetFromMsg);
  fn.metadataProps = ((fm.metadata_props as Msg[] | undefined) ?? []).map(kvFromMsg);
  fn.extra = pickExtra(fm, FN_FIELDS);
  return fn;
}

function bytesToStringOrBytes(b: Uint8Array): string | Uint8Array {
  try {
    return textDecoder.decode(b);
  } catch {
    return b;
  }
}

function attributeFromMsg(am: Msg, scope: Scope, ctx: DecodeContext, where: string): Attribute {
  const name = (am.name as string) ?? '';
  let type = am.type as AttrType | undefined;
  if (type === undefined) type = inferAttrType(am);
  let value: AttrValue;
  const sub = (gm: Msg, i?: number) => {
    const g = graphFromMsg(gm, scope, ctx, `${where}.${name}${i === undefined ? '' : `[${i}]`}`);
    return g;
  };
  switch (type) {
    case AttrType.FLOAT:
      value = am.f as number | undefined;
      break;
    case AttrType.INT:
      value = am.i as number | bigint | undefined;
      break;
    case AttrType.STRING:
      value = am.s === undefined ? undefined : bytesToStringOrBytes(materialize(am.s as Bytes));
      break;
    case AttrType.TENSOR:
      value = am.t ? tensorFromMsg(am.t as Msg, ctx) : undefined;
      break;
    case AttrType.GRAPH:
      value = am.g ? sub(am.g as Msg) : undefined;
      break;
    case AttrType.FLOATS:
      value = (am.floats as number[] | undefined) ?? [];
      break;
    case AttrType.INTS:
      value = (am.ints as (number | bigint)[] | undefined) ?? [];
      break;
    case AttrType.STRINGS:
      value = ((am.strings as Bytes[] | undefined) ?? []).map((b) => bytesToStringOrBytes(materialize(b)));
      break;
    case AttrType.TENSORS:
      value = ((am.tensors as Msg[] | undefined) ?? []).map((t) => tensorFromMsg(t, ctx));
      break;
    case AttrType.GRAPHS:
      value = ((am.graphs as Msg[] | undefined) ?? []).map((g, i) => sub(g, i));
      break;
    case AttrType.SPARSE_TENSOR:
      value = am.sparse_tensor as Msg | undefined;
      break;
    case AttrType.SPARSE_TENSORS:
      value = (am.sparse_tensors as Msg[] | undefined) ?? [];
      break;
    case AttrType.TYPE_PROTO:
      value = am.tp as Msg | undefined;
      break;
    case AttrType.TYPE_PROTOS:
      value = (am.type_protos as Msg[] | undefined) ?? [];
      break;
    default:
      value = undefined;
  }
  const a = new Attribute(name, type, value);
  a.docString = am.doc_string as string | undefined;
  a.refAttrName = am.ref_attr_name as string | undefined;
  a.extra = pickExtra(am, ATTR_FIELDS);
  // an attribute whose declared type does not match its payload keeps the payload fields as they were
  if (am.type === undefined) a.extra.$noType = true;
  return a;
}

/** IR version 1 files have no attribute type: infer it from the field that is set. */
function inferAttrType(am: Msg): AttrType {
  if (am.f !== undefined) return AttrType.FLOAT;
  if (am.i !== undefined) return AttrType.INT;
  if (am.s !== undefined) return AttrType.STRING;
  if (am.t !== undefined) return AttrType.TENSOR;
  if (am.g !== undefined) return AttrType.GRAPH;
  if (am.floats !== undefined) return AttrType.FLOATS;
  if (am.ints !== undefined) return AttrType.INTS;
  if (am.strings !== undefined) return AttrType.STRINGS;
  if (am.tensors !== undefined) return AttrType.TENSORS;
  if (am.graphs !== undefined) return AttrType.GRAPHS;
  return AttrType.UNDEFINED;
}

export function tensorFromMsg(tm: Msg, ctx: DecodeContext): Tensor {
  const name = (tm.name as string | undefined) ?? '';
  const dataType = (tm.data_type as number | undefined) ?? 0;
  const dims = ((tm.dims as (number | bigint)[] | undefined) ?? []).map((d) => {
    if (typeof d === 'bigint' || d < 0 || d > MAX_DIM) throw new ModelFormatError(`tensor '${name}': dimension ${d} is out of range`);
    return d;
  });
  if (tm.data_type === undefined || dataType === 0) throw new ModelFormatError(`tensor '${name}' has no data type`);
  if (!isKnownDataType(dataType)) throw new ModelFormatError(`tensor '${name}' has an unknown data type ${dataType}`);
  const extra = pickExtra(tm, TENSOR_FIELDS);
  const base = { name, dataType, dims, docString: tm.doc_string as string | undefined, extra };
  const count = dims.reduce((a, b) => a * b, 1);
  if (tm.data_location === 1) {
    const entries = ((tm.external_data as Msg[] | undefined) ?? []).map(kvFromMsg);
    const ref = externalRef(name, entries, ctx);
    const t = new Tensor({ ...base, source: { kind: 'external', ref } });
    if (dataType === DataType.STRING) throw new ModelFormatError(`tensor '${name}': string tensors cannot live in external data`);
    if (ref.length === 0) ref.length = t.byteLength;
    else if (ref.length !== t.byteLength)
      throw new ModelFormatError(`tensor '${name}': external data length ${ref.length} does not match shape [${dims}] (${t.byteLength} bytes)`);
    ctx.checkExternal?.(ref, name);
    return t;
  }
  if (tm.raw_data !== undefined) {
    const bytes = tm.raw_data as Bytes;
    const source = isLazy(bytes) ? { kind: 'lazy' as const, bytes } : { kind: 'raw' as const, bytes };
    if (isKnownDataType(dataType) && dataType !== DataType.STRING) {
      const t = new Tensor({ ...base, source });
      if (bytes.length !== t.byteLength)
        throw new ModelFormatError(`tensor '${name}': raw_data has ${bytes.length} bytes but shape [${dims}] needs ${t.byteLength}`);
      return t;
    }
    return new Tensor({ ...base, source: { kind: 'raw', bytes: materialize(bytes) } });
  }
  if (dataType === DataType.STRING) {
    const values = ((tm.string_data as Bytes[] | undefined) ?? []).map(materialize);
    return new Tensor({ ...base, source: { kind: 'strings', values } });
  }
  // typed field; an absent field means no data (count must then be 0, or the tensor is a shape-only declaration)
  for (const field of ['float_data', 'int32_data', 'int64_data', 'double_data', 'uint64_data'] as TypedFieldName[]) {
    const values = tm[field] as (ArrayLike<number | bigint> & { length: number }) | undefined;
    if (values !== undefined) {
      const t = new Tensor({ ...base, source: { kind: 'field', field, values } });
      {
        const expected =
          field === 'int32_data' && t.byteLength < count ? t.byteLength : count * (dataType === DataType.COMPLEX64 || dataType === DataType.COMPLEX128 ? 2 : 1);
        if (values.length !== expected)
          throw new ModelFormatError(`tensor '${name}': ${field} has ${values.length} values but shape [${dims}] needs ${expected}`);
      }
      return t;
    }
  }
  // no data at all: an empty tensor of the right kind
  const field = dtypeField(dataType);
  if (count !== 0) return new Tensor({ ...base, source: { kind: 'raw', bytes: new Uint8Array(0) }, extra: { ...extra, $noData: true } });
  return new Tensor({ ...base, source: { kind: 'field', field, values: [] as number[] } });
}

function externalRef(tensorName: string, entries: { key: string; value: string }[], ctx: DecodeContext): ExternalRef {
  const get = (k: string) => entries.find((e) => e.key === k)?.value;
  const location = get('location');
  if (!location) throw new ModelFormatError(`tensor '${tensorName}': external data has no location`);
  if (!ctx.baseDir) throw new ModelFormatError(`tensor '${tensorName}': external data '${location}' cannot be resolved (model was not loaded from a file)`);
  const resolved = resolveInside(ctx.baseDir, location);
  if (!resolved)
    throw new ModelFormatError(`tensor '${tensorName}': external data location '${location}' points outside the model's folder; refusing to read it`);
  const num = (k: string) => {
    const s = get(k);
    if (s === undefined) return 0;
    if (!/^\d+$/.test(s)) throw new ModelFormatError(`tensor '${tensorName}': external data ${k} '${s}' is not a non-negative integer`);
    return Number(s);
  };
  return { location, offset: num('offset'), length: num('length'), baseDir: ctx.baseDir, path: resolved, entries };
}

/** Resolves `location` under `baseDir`; undefined when it is absolute or escapes the folder. */
export function resolveInside(baseDir: string, location: string): string | undefined {
  if (path.isAbsolute(location) || path.win32.isAbsolute(location) || location.includes('\0')) return undefined;
  const base = path.resolve(baseDir);
  const p = path.resolve(base, location);
  const rel = path.relative(base, p);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return p;
}

// ================================================================================================ encode

export interface EncodeContext {
  /** called for each tensor; returns external-data entries to write instead of inline data, or undefined */
  externalize?: (t: Tensor) => { key: string; value: string }[] | undefined;
}

export function modelToMsg(model: Model, ctx: EncodeContext = {}): Msg {
  const m: Msg = {
    ir_version: model.irVersion,
    producer_name: model.producerName,
    producer_version: model.producerVersion,
    domain: model.domain,
    model_version: model.modelVersion,
    doc_string: model.docString,
    graph: graphToMsg(model.graph, ctx),
    opset_import: model.opsetImports.map(opsetToMsg),
    metadata_props: model.metadataProps.length ? model.metadataProps.map(kvToMsg) : undefined,
    training_info: model.trainingInfo.length ? model.trainingInfo : undefined,
    functions: model.functions.length ? model.functions.map((f) => functionToMsg(f, ctx)) : undefined,
  };
  return { ...m, ...model.extra };
}

function opsetToMsg(o: OpsetImport): Msg {
  const { $noDomain, ...extra } = o.extra ?? {};
  return { domain: $noDomain && o.domain === '' ? undefined : o.domain, version: o.version, ...extra };
}
function kvToMsg(e: { key: string; value: string }): Msg {
  return { key: e.key, value: e.value };
}

function valueInfoToMsg(v: Value): Msg {
  return { name: v.name, type: v.type, doc_string: v.docString, ...v.extra };
}

function graphToMsg(g: Graph, ctx: EncodeContext): Msg {
  const io = new Set<Value>([...g.inputs, ...g.outputs]);
  const valueInfo: Msg[] = [];
  const addVI = (v: Value | null) => {
    if (v && !io.has(v) && (v.inValueInfo || v.type !== undefined)) valueInfo.push(valueInfoToMsg(v));
  };
  for (const v of g.initializers.values()) if (v.inValueInfo && !io.has(v)) addVI(v);
  for (const n of g.nodes) n.outputs.forEach(addVI);
  valueInfo.push(...g.orphanValueInfo);
  const m: Msg = {
    node: g.nodes.map((n) => nodeToMsg(n, ctx)),
    name: g.name,
    initializer: [...g.initializers.values()].map((v) => tensorToMsg(v.initializer!, ctx)),
    doc_string: g.docString,
    input: g.inputs.map(valueInfoToMsg),
    output: g.outputs.map(valueInfoToMsg),
    value_info: valueInfo,
    quantization_annotation: g.quantizationAnnotation,
    sparse_initializer: g.sparseInitializers,
  };
  return { ...m, ...g.extra };
}

function nodeToMsg(n: Node, ctx: EncodeContext): Msg {
  const m: Msg = {
    input: n.inputs.map((v) => (v ? v.name : '')),
    output: n.outputs.map((v) => (v ? v.name : '')),
    name: n.name || undefined,
    op_type: n.opType,
    domain: n.domain || undefined,
    overload: n.overload,
    attribute: [...n.attributes.values()].map((a) => attributeToMsg(a, ctx)),
    doc_string: n.docString,
  };
  return { ...m, ...n.extra };
}

function strToBytes(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? textEncoder.encode(s) : s;
}

function attributeToMsg(a: Attribute, ctx: EncodeContext): Msg {
  const { $noType, ...extra } = a.extra;
  const m: Msg = { name: a.name, ref_attr_name: a.refAttrName, doc_string: a.docString, type: $noType ? undefined : a.type };
  const v = a.value;
  if (v !== undefined) {
    switch (a.type) {
      case AttrType.FLOAT:
        m.f = v;
        break;
      case AttrType.INT:
        m.i = v;
        break;
      case AttrType.STRING:
        m.s = strToBytes(v as string | Uint8Array);
        break;
      case AttrType.TENSOR:
        m.t = tensorToMsg(v as Tensor, ctx);
        break;
      case AttrType.GRAPH:
        m.g = graphToMsg(v as Graph, ctx);
        break;
      case AttrType.FLOATS:
        m.floats = v;
        break;
      case AttrType.INTS:
        m.ints = v;
        break;
      case AttrType.STRINGS:
        m.strings = (v as (string | Uint8Array)[]).map(strToBytes);
        break;
      case AttrType.TENSORS:
        m.tensors = (v as Tensor[]).map((t) => tensorToMsg(t, ctx));
        break;
      case AttrType.GRAPHS:
        m.graphs = (v as Graph[]).map((g) => graphToMsg(g, ctx));
        break;
      case AttrType.SPARSE_TENSOR:
        m.sparse_tensor = v;
        break;
      case AttrType.SPARSE_TENSORS:
        m.sparse_tensors = v;
        break;
      case AttrType.TYPE_PROTO:
        m.tp = v;
        break;
      case AttrType.TYPE_PROTOS:
        m.type_protos = v;
        break;
    }
  }
  return { ...m, ...extra };
}

export function tensorToMsg(t: Tensor, ctx: EncodeContext = {}): Msg {
  const { $noData, ...extra } = t.extra;
  const m: Msg = { dims: t.dims, data_type: t.dataType, name: t.name || undefined, doc_string: t.docString };
  const ext = t.dataType !== DataType.STRING && !$noData ? ctx.externalize?.(t) : undefined;
  if (ext) {
    m.external_data = ext.map(kvToMsg);
    m.data_location = 1;
  } else if (t.storage === 'strings') {
    m.string_data = t.strings;
  } else if (t.storage === 'field') {
    const f = t.fieldValues!;
    if (f.values.length > 0) m[f.field] = f.values;
  } else if (!$noData) {
    m.raw_data = t.rawForWrite();
  }
  return { ...m, ...extra };
}

function functionToMsg(f: ModelFunction, ctx: EncodeContext): Msg {
  const g = f.graph;
  const io = new Set<Value>([...g.inputs, ...g.outputs]);
  const valueInfo: Msg[] = [];
  for (const n of g.nodes) for (const v of n.outputs) if (v && !io.has(v) && (v.inValueInfo || v.type !== undefined)) valueInfo.push(valueInfoToMsg(v));
  valueInfo.push(...g.orphanValueInfo);
  const m: Msg = {
    name: f.name,
    input: g.inputs.map((v) => v.name),
    output: g.outputs.map((v) => v.name),
    attribute: f.attributeNames,
    attribute_proto: f.attributeProtos.map((a) => attributeToMsg(a, ctx)),
    node: g.nodes.map((n) => nodeToMsg(n, ctx)),
    doc_string: f.docString,
    opset_import: f.opsetImports.map(opsetToMsg),
    domain: f.domain,
    overload: f.overload,
    value_info: valueInfo,
    metadata_props: f.metadataProps.length ? f.metadataProps.map(kvToMsg) : undefined,
  };
  return { ...m, ...f.extra };
}
