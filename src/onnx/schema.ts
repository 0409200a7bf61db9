/**
 * The ONNX protobuf schema (onnx.proto, up to IR version 10 / ONNX 1.17) as a table, and a generic, lossless
 * codec between wire bytes and plain message objects ("Msg": field name -> value, repeated fields as arrays).
 *
 * - A field this table does not know is kept in `$unknown` as its exact wire bytes and written back after the
 *   known fields, so models from newer exporters survive a round trip untouched.
 * - `bytes` fields are views on the input buffer; packed float/double arrays are views when aligned.
 * - Encoding writes known fields in field-number order, as protobuf's C++ runtime does, so a model written by
 *   `onnx.save` round-trips byte for byte in the common case.
 */
import { Reader, Writer, WireError, varintSize, utf8Length, textEncoder } from './wire.js';
import { copyBytes, isLazy, materialize, type ByteSource, type Bytes } from '../bytes/sources.js';

export interface Msg {
  [field: string]: unknown;
  /** fields this schema does not know, as their exact wire bytes (lazy ranges when large and read from a file) */
  $unknown?: Bytes[];
}

type Scalar = 'int32' | 'int64' | 'uint64' | 'float' | 'double' | 'string' | 'bytes';
type PackedArray = 'f32[]' | 'f64[]' | 'i32[]' | 'i64[]' | 'u64[]';
type FieldType = Scalar | PackedArray | { msg: string };
interface FieldDef {
  no: number;
  name: string;
  type: FieldType;
  repeated: boolean;
}

const R = true;
const msg = (m: string) => ({ msg: m });
type Row = [number, string, FieldType, boolean?];

const TABLE: Record<string, Row[]> = {
  ModelProto: [
    [1, 'ir_version', 'int64'],
    [2, 'producer_name', 'string'],
    [3, 'producer_version', 'string'],
    [4, 'domain', 'string'],
    [5, 'model_version', 'int64'],
    [6, 'doc_string', 'string'],
    [7, 'graph', msg('GraphProto')],
    [8, 'opset_import', msg('OperatorSetIdProto'), R],
    [14, 'metadata_props', msg('StringStringEntryProto'), R],
    [20, 'training_info', msg('TrainingInfoProto'), R],
    [25, 'functions', msg('FunctionProto'), R],
  ],
  OperatorSetIdProto: [
    [1, 'domain', 'string'],
    [2, 'version', 'int64'],
  ],
  StringStringEntryProto: [
    [1, 'key', 'string'],
    [2, 'value', 'string'],
  ],
  GraphProto: [
    [1, 'node', msg('NodeProto'), R],
    [2, 'name', 'string'],
    [5, 'initializer', msg('TensorProto'), R],
    [10, 'doc_string', 'string'],
    [11, 'input', msg('ValueInfoProto'), R],
    [12, 'output', msg('ValueInfoProto'), R],
    [13, 'value_info', msg('ValueInfoProto'), R],
    [14, 'quantization_annotation', msg('TensorAnnotation'), R],
    [15, 'sparse_initializer', msg('SparseTensorProto'), R],
    [16, 'metadata_props', msg('StringStringEntryProto'), R],
  ],
  NodeProto: [
    [1, 'input', 'string', R],
    [2, 'output', 'string', R],
    [3, 'name', 'string'],
    [4, 'op_type', 'string'],
    [5, 'attribute', msg('AttributeProto'), R],
    [6, 'doc_string', 'string'],
    [7, 'domain', 'string'],
    [8, 'overload', 'string'],
    [9, 'metadata_props', msg('StringStringEntryProto'), R],
  ],
  AttributeProto: [
    [1, 'name', 'string'],
    [2, 'f', 'float'],
    [3, 'i', 'int64'],
    [4, 's', 'bytes'],
    [5, 't', msg('TensorProto')],
    [6, 'g', msg('GraphProto')],
    [7, 'floats', 'float', R],
    [8, 'ints', 'int64', R],
    [9, 'strings', 'bytes', R],
    [10, 'tensors', msg('TensorProto'), R],
    [11, 'graphs', msg('GraphProto'), R],
    [13, 'doc_string', 'string'],
    [14, 'tp', msg('TypeProto')],
    [15, 'type_protos', msg('TypeProto'), R],
    [20, 'type', 'int32'],
    [21, 'ref_attr_name', 'string'],
    [22, 'sparse_tensor', msg('SparseTensorProto')],
    [23, 'sparse_tensors', msg('SparseTensorProto'), R],
  ],
  ValueInfoProto: [
    [1, 'name', 'string'],
    [2, 'type', msg('TypeProto')],
    [3, 'doc_string', 'string'],
    [4, 'metadata_props', msg('StringStringEntryProto'), R],
  ],
  TypeProto: [
    [1, 'tensor_type', msg('TypeProto.Tensor')],
    [4, 'sequence_type', msg('TypeProto.Sequence')],
    [5, 'map_type', msg('TypeProto.Map')],
    [6, 'denotation', 'string'],
    [8, 'sparse_tensor_type', msg('TypeProto.SparseTensor')],
    [9, 'optional_type', msg('TypeProto.Optional')],
  ],
  'TypeProto.Tensor': [
    [1, 'elem_type', 'int32'],
    [2, 'shape', msg('TensorShapeProto')],
  ],
  'TypeProto.SparseTensor': [
    [1, 'elem_type', 'int32'],
    [2, 'shape', msg('TensorShapeProto')],
  ],
  'TypeProto.Sequence': [[1, 'elem_type', msg('TypeProto')]],
  'TypeProto.Optional': [[1, 'elem_type', msg('TypeProto')]],
  'TypeProto.Map': [
    [1, 'key_type', 'int32'],
    [2, 'value_type', msg('TypeProto')],
  ],
  TensorShapeProto: [[1, 'dim', msg('TensorShapeProto.Dimension'), R]],
  'TensorShapeProto.Dimension': [
    [1, 'dim_value', 'int64'],
    [2, 'dim_param', 'string'],
    [3, 'denotation', 'string'],
  ],
  TensorProto: [
    [1, 'dims', 'int64', R],
    [2, 'data_type', 'int32'],
    [3, 'segment', msg('TensorProto.Segment')],
    [4, 'float_data', 'f32[]'],
    [5, 'int32_data', 'i32[]'],
    [6, 'string_data', 'bytes', R],
    [7, 'int64_data', 'i64[]'],
    [8, 'name', 'string'],
    [9, 'raw_data', 'bytes'],
    [10, 'double_data', 'f64[]'],
    [11, 'uint64_data', 'u64[]'],
    [12, 'doc_string', 'string'],
    [13, 'external_data', msg('StringStringEntryProto'), R],
    [14, 'data_location', 'int32'],
    [16, 'metadata_props', msg('StringStringEntryProto'), R],
  ],
  'TensorProto.Segment': [
    [1, 'begin', 'int64'],
    [2, 'end', 'int64'],
  ],
  SparseTensorProto: [
    [1, 'values', msg('TensorProto')],
    [2, 'indices', msg('TensorProto')],
    [3, 'dims', 'int64', R],
  ],
  TensorAnnotation: [
    [1, 'tensor_name', 'string'],
    [2, 'quant_parameter_tensor_names', msg('StringStringEntryProto'), R],
  ],
  TrainingInfoProto: [
    [1, 'initialization', msg('GraphProto')],
    [2, 'algorithm', msg('GraphProto')],
    [3, 'initialization_binding', msg('StringStringEntryProto'), R],
    [4, 'update_binding', msg('StringStringEntryProto'), R],
  ],
  FunctionProto: [
    [1, 'name', 'string'],
    [4, 'input', 'string', R],
    [5, 'output', 'string', R],
    [6, 'attribute', 'string', R],
    [7, 'node', msg('NodeProto'), R],
    [8, 'doc_string', 'string'],
    [9, 'opset_import', msg('OperatorSetIdProto'), R],
    [10, 'domain', 'string'],
    [11, 'attribute_proto', msg('AttributeProto'), R],
    [12, 'value_info', msg('ValueInfoProto'), R],
    [13, 'overload', 'string'],
    [14, 'metadata_props', msg('StringStringEntryProto'), R],
  ],
};

interface MsgSchema {
  name: string;
  byNo: Map<number, FieldDef>;
  ordered: FieldDef[];
}
const SCHEMAS = new Map<string, MsgSchema>();
for (const [name, rows] of Object.entries(TABLE)) {
  const ordered = rows.map(([no, fname, type, rep]) => ({ no, name: fname, type, repeated: !!rep })).sort((a, b) => a.no - b.no);
  SCHEMAS.set(name, { name, byNo: new Map(ordered.map((f) => [f.no, f])), ordered });
}
function schema(name: string): MsgSchema {
  const s = SCHEMAS.get(name);
  if (!s) throw new Error(`internal: no schema for ${name}`);
  return s;
}

// ---------------------------------------------------------------------------------------------- decoding

const WIRE_OF: Record<Scalar, number> = { int32: 0, int64: 0, uint64: 0, float: 5, double: 1, string: 2, bytes: 2 };

function readScalar(r: Reader, t: Scalar): unknown {
  switch (t) {
    case 'int32':
      return r.int32();
    case 'int64':
      return r.int64();
    case 'uint64':
      return r.uint64();
    case 'float':
      return r.float();
    case 'double':
      return r.double();
    case 'string':
      return r.string();
    case 'bytes':
      return r.bytes();
  }
}

/** A packed numeric array: aligned fixed-width data is viewed in place, varints are decoded. */
function readPacked(r: Reader, t: PackedArray, wireType: number, prev: unknown): unknown {
  const elemWire = t === 'f32[]' ? 5 : t === 'f64[]' ? 1 : 0;
  let values: ArrayLike<number | bigint> & { length: number };
  if (wireType === 2) {
    const payload = r.bytesNow();
    if (t === 'f32[]' || t === 'f64[]') {
      const width = t === 'f32[]' ? 4 : 8;
      if (payload.length % width !== 0) throw new WireError('packed array length is not a multiple of its element size');
      const n = payload.length / width;
      const aligned = payload.byteOffset % width === 0;
      const src = aligned ? payload : copyBytes(payload);
      values = t === 'f32[]' ? new Float32Array(src.buffer, src.byteOffset, n) : new Float64Array(src.buffer, src.byteOffset, n);
    } else {
      const sub = new Reader(payload);
      const out: (number | bigint)[] = [];
      while (!sub.done) out.push(t === 'i32[]' ? sub.int32() : t === 'i64[]' ? sub.int64Big() : sub.uint64Big());
      values = t === 'i32[]' ? Int32Array.from(out as number[]) : t === 'i64[]' ? BigInt64Array.from(out as bigint[]) : BigUint64Array.from(out as bigint[]);
    }
  } else {
    if (wireType !== elemWire) throw new WireError('wrong wire type for a repeated numeric field');
    const one = t === 'f32[]' ? r.float() : t === 'f64[]' ? r.double() : t === 'i32[]' ? r.int32() : t === 'i64[]' ? r.int64Big() : r.uint64Big();
    values =
      t === 'f32[]'
        ? Float32Array.of(one as number)
        : t === 'f64[]'
          ? Float64Array.of(one as number)
          : t === 'i32[]'
            ? Int32Array.of(one as number)
            : t === 'i64[]'
              ? BigInt64Array.of(one as bigint)
              : BigUint64Array.of(one as bigint);
  }
  if (prev && (prev as { length: number }).length > 0) {
    // a packed field split over several records: concatenate (the same array type, as the field's type fixes it)
    type Packed = ArrayLike<number | bigint> & { set(a: ArrayLike<number | bigint>, offset: number): void };
    const p = prev as Packed;
    const merged = new (p.constructor as new (length: number) => Packed)(p.length + values.length);
    merged.set(p, 0);
    merged.set(values, p.length);
    return merged;
  }
  return values;
}

/**
 * How deep messages may nest. A subgraph costs about 4 levels (Graph > Node > Attribute > Graph), so this allows some
 * 60 levels of If/Loop/Scan bodies, far beyond any exporter; a file nested deeper is refused as malformed before the
 * recursion could exhaust the stack (the IR and every pass recurse into subgraphs too).
 */
export const MAX_MESSAGE_DEPTH = 256;

/** Decodes one message from a buffer or a file source (bytes [start, end)). */
export function decodeMessage(type: string, src: Uint8Array | ByteSource, start = 0, end?: number, depth = 0): Msg {
  if (depth > MAX_MESSAGE_DEPTH) throw new WireError(`messages nest deeper than ${MAX_MESSAGE_DEPTH} levels (subgraphs inside subgraphs): refused`);
  const s = schema(type);
  const r = new Reader(src, start, end);
  const out: Msg = {};
  while (!r.done) {
    const tagStart = r.pos;
    const tag = r.uint32();
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 0) throw new WireError('field number 0');
    const f = s.byNo.get(no);
    if (!f) {
      (out.$unknown ??= []).push(r.skip(wt, tagStart));
      continue;
    }
    const t = f.type;
    if (typeof t === 'object') {
      if (wt !== 2) throw new WireError(`${type}.${f.name}: expected a message`);
      const [ps, pe] = r.range();
      const sub = decodeMessage(t.msg, r.src, ps, pe, depth + 1);
      if (f.repeated) ((out[f.name] as Msg[] | undefined) ?? (out[f.name] = [])).push(sub);
      else out[f.name] = out[f.name] ? mergeMsg(out[f.name] as Msg, sub) : sub;
      continue;
    }
    if (t.endsWith('[]')) {
      out[f.name] = readPacked(r, t as PackedArray, wt, out[f.name]);
      continue;
    }
    const sc = t as Scalar;
    if (f.repeated && wt === 2 && WIRE_OF[sc] !== 2) {
      // packed encoding of a repeated scalar
      const payload = r.bytesNow();
      const sub = new Reader(payload);
      const arr = ((out[f.name] as unknown[] | undefined) ?? (out[f.name] = [])) as unknown[];
      while (!sub.done) arr.push(readScalar(sub, sc));
      continue;
    }
    if (wt !== WIRE_OF[sc]) throw new WireError(`${type}.${f.name}: wire type ${wt} does not match ${sc}`);
    const v = readScalar(r, sc);
    if (f.repeated) ((out[f.name] as unknown[] | undefined) ?? (out[f.name] = [])).push(v);
    else out[f.name] = v;
  }
  return out;
}

/** Protobuf semantics for a non-repeated message field seen twice: merge. */
function mergeMsg(a: Msg, b: Msg): Msg {
  const out: Msg = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (k === '$unknown') out.$unknown = [...(a.$unknown ?? []), ...(v as Uint8Array[])];
    else if (Array.isArray(v) && Array.isArray(out[k])) out[k] = [...(out[k] as unknown[]), ...v];
    else out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- encoding

/** Sizes of nested messages, computed once per encode (messages are plain objects, so identity is the key). */
type SizeCache = Map<Msg, number>;

function scalarSize(t: Scalar, v: unknown): number {
  switch (t) {
    case 'int32':
      return (v as number) < 0 ? 10 : varintSize(v as number);
    case 'int64':
    case 'uint64':
      return varintSize(v as number | bigint);
    case 'float':
      return 4;
    case 'double':
      return 8;
    case 'string': {
      const n = utf8Length(v as string);
      return varintSize(n) + n;
    }
    case 'bytes': {
      const n = (v as Bytes).length;
      return varintSize(n) + n;
    }
  }
}

function packedPayloadSize(t: PackedArray, v: ArrayLike<number | bigint>): number {
  if (t === 'f32[]') return v.length * 4;
  if (t === 'f64[]') return v.length * 8;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    n += t === 'i32[]' && (x as number) < 0 ? 10 : varintSize(x);
  }
  return n;
}

export function messageSize(type: string, m: Msg, cache: SizeCache): number {
  const hit = cache.get(m);
  if (hit !== undefined) return hit;
  const s = schema(type);
  let n = 0;
  for (const f of s.ordered) {
    const v = m[f.name];
    if (v === undefined || v === null) continue;
    const tagLen = varintSize(f.no << 3);
    const t = f.type;
    if (typeof t === 'object') {
      const items = f.repeated ? (v as Msg[]) : [v as Msg];
      for (const it of items) {
        const sz = messageSize(t.msg, it, cache);
        n += tagLen + varintSize(sz) + sz;
      }
    } else if (t.endsWith('[]')) {
      const arr = v as ArrayLike<number | bigint>;
      if (arr.length === 0) continue;
      const p = packedPayloadSize(t as PackedArray, arr);
      n += tagLen + varintSize(p) + p;
    } else if (f.repeated) {
      // onnx.proto declares no [packed=true] on plain repeated scalars (proto2 default: unpacked)
      for (const it of v as unknown[]) n += tagLen + scalarSize(t as Scalar, it);
    } else n += tagLen + scalarSize(t as Scalar, v);
  }
  if (m.$unknown) for (const u of m.$unknown) n += u.length;
  cache.set(m, n);
  return n;
}

function writeScalar(w: Writer, t: Scalar, v: unknown): void {
  switch (t) {
    case 'int32':
      return (v as number) < 0 ? w.int64(v as number) : w.uint32(v as number);
    case 'int64':
    case 'uint64':
      return w.int64(v as number | bigint);
    case 'float':
      return w.float(v as number);
    case 'double':
      return w.double(v as number);
    case 'string':
      return w.string(v as string);
    case 'bytes':
      w.uint32((v as Bytes).length);
      return w.raw(v as Bytes);
  }
}

export function writeMessage(w: Writer, type: string, m: Msg, cache: SizeCache): void {
  const s = schema(type);
  for (const f of s.ordered) {
    const v = m[f.name];
    if (v === undefined || v === null) continue;
    const t = f.type;
    if (typeof t === 'object') {
      const items = f.repeated ? (v as Msg[]) : [v as Msg];
      for (const it of items) {
        w.tag(f.no, 2);
        w.uint32(messageSize(t.msg, it, cache));
        writeMessage(w, t.msg, it, cache);
      }
    } else if (t.endsWith('[]')) {
      const arr = v as ArrayLike<number | bigint> & { buffer?: ArrayBuffer; byteOffset?: number; byteLength?: number };
      if (arr.length === 0) continue;
      w.tag(f.no, 2);
      w.uint32(packedPayloadSize(t as PackedArray, arr));
      if (t === 'f32[]' || t === 'f64[]') {
        const view = arr as Float32Array | Float64Array;
        w.raw(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      } else for (let i = 0; i < arr.length; i++) t === 'i32[]' && (arr[i] as number) >= 0 ? w.uint32(arr[i] as number) : w.int64(arr[i]);
    } else {
      const wt = WIRE_OF[t as Scalar];
      const items = f.repeated ? (v as unknown[]) : [v];
      for (const it of items) {
        w.tag(f.no, wt);
        writeScalar(w, t as Scalar, it);
      }
    }
  }
  if (m.$unknown) for (const u of m.$unknown) w.raw(u);
}

/** Encodes a message to a list of byte parts (large weights are the caller's own views, not copies). */
export function encodeMessage(type: string, m: Msg): { parts: Bytes[]; size: number } {
  const cache: SizeCache = new Map();
  const size = messageSize(type, m, cache);
  const w = new Writer();
  writeMessage(w, type, m, cache);
  const parts = w.finish();
  if (w.length !== size) throw new Error(`internal: encoded ${w.length} bytes, expected ${size} (${type})`);
  return { parts, size };
}

/** Concatenates parts; only for small messages (tests, tensors of a few KB). */
export function encodeMessageToBytes(type: string, m: Msg): Uint8Array {
  const { parts, size } = encodeMessage(type, m);
  if (parts.length === 1) return materialize(parts[0]);
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    // lazy bytes are read (or derived) straight into place, without a temporary copy
    if (isLazy(p)) p.readInto(out.subarray(o, o + p.length), 0, p.length);
    else out.set(p, o);
    o += p.length;
  }
  return out;
}

export { textEncoder };
