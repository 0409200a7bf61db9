/**
 * Value types (ONNX TypeProto). Kept as plain objects with onnx.proto's field names so that every field, including
 * ones this tool does not know, survives; these helpers are how the rest of the code reads and builds them.
 */
import type { OpaqueFields } from './fields.js';

/** One dimension as onnx.proto writes it: a size, a symbolic name, or neither (unknown). */
export interface DimProto extends OpaqueFields {
  dim_value?: number | bigint;
  dim_param?: string;
}

/** A tensor (or sparse tensor) type: element type and, when known, the shape. */
export interface TensorTypeProto extends OpaqueFields {
  elem_type?: number;
  shape?: { dim?: DimProto[] } & OpaqueFields;
}

/**
 * A value type (onnx.proto TypeProto), typed for the fields the code reads; every other field (denotation, map
 * types, fields newer than the bundled schema) rides along in the index signature and is written back.
 */
export interface TypeProto extends OpaqueFields {
  tensor_type?: TensorTypeProto;
  sparse_tensor_type?: TensorTypeProto;
  sequence_type?: { elem_type?: TypeProto } & OpaqueFields;
  optional_type?: { elem_type?: TypeProto } & OpaqueFields;
}
/** A dimension: a fixed size, a symbolic name, or unknown (null). */
export type Dim = number | string | null;

export function tensorType(elemType: number, shape?: readonly Dim[]): TypeProto {
  const t: TensorTypeProto = { elem_type: elemType };
  if (shape) t.shape = { dim: shape.map(dimToMsg) };
  return { tensor_type: t };
}

function dimToMsg(d: Dim): DimProto {
  if (typeof d === 'number') return { dim_value: d };
  if (typeof d === 'string') return { dim_param: d };
  return {};
}

function tensorPart(t: TypeProto | undefined): TensorTypeProto | undefined {
  return t?.tensor_type ?? t?.sparse_tensor_type;
}

export function isTensorType(t: TypeProto | undefined): boolean {
  return !!t?.tensor_type;
}

/** Element type of a tensor type, undefined when unknown or not a tensor. */
export function elemTypeOf(t: TypeProto | undefined): number | undefined {
  const e = tensorPart(t)?.elem_type;
  return e === undefined || e === 0 ? undefined : e;
}

/** Shape of a tensor type; undefined when the rank is unknown. */
export function shapeOf(t: TypeProto | undefined): Dim[] | undefined {
  const s = tensorPart(t)?.shape;
  if (!s) return undefined;
  return (s.dim ?? []).map((d) => {
    if (d.dim_value !== undefined) return Number(d.dim_value);
    if (d.dim_param !== undefined && d.dim_param !== '') return d.dim_param;
    return null;
  });
}

/** A copy of the type with another element type (shape and every other field kept). Recurses into sequence/optional. */
export function withElemType(t: TypeProto, elemType: number): TypeProto {
  if (t.tensor_type) return { ...t, tensor_type: { ...t.tensor_type, elem_type: elemType } };
  if (t.sparse_tensor_type) return { ...t, sparse_tensor_type: { ...t.sparse_tensor_type, elem_type: elemType } };
  const seq = t.sequence_type;
  if (seq?.elem_type) return { ...t, sequence_type: { ...seq, elem_type: withElemType(seq.elem_type, elemType) } };
  const opt = t.optional_type;
  if (opt?.elem_type) return { ...t, optional_type: { ...opt, elem_type: withElemType(opt.elem_type, elemType) } };
  return t;
}

/** Element type of the tensors inside a tensor, sequence or optional type. */
export function innerElemType(t: TypeProto | undefined): number | undefined {
  if (!t) return undefined;
  if (t.sequence_type) return innerElemType(t.sequence_type.elem_type);
  if (t.optional_type) return innerElemType(t.optional_type.elem_type);
  return elemTypeOf(t);
}

export function formatShape(shape: Dim[] | undefined): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}
