/**
 * Value types (ONNX TypeProto). Kept as plain objects with onnx.proto's field names so that every field, including
 * ones this tool does not know, survives; these helpers are how the rest of the code reads and builds them.
 */
import type { Msg } from '../onnx/schema.js';

export type TypeProto = Msg;
/** A dimension: a fixed size, a symbolic name, or unknown (null). */
export type Dim = number | string | null;

export function tensorType(elemType: number, shape?: readonly Dim[]): TypeProto {
  const t: Msg = { elem_type: elemType };
  if (shape) t.shape = { dim: shape.map(dimToMsg) };
  return { tensor_type: t };
}

function dimToMsg(d: Dim): Msg {
  if (typeof d === 'number') return { dim_value: d };
  if (typeof d === 'string') return { dim_param: d };
  return {};
}

function tensorPart(t: TypeProto | undefined): Msg | undefined {
  return (t?.tensor_type ?? t?.sparse_tensor_type) as Msg | undefined;
}

export function isTensorType(t: TypeProto | undefined): boolean {
  return !!t?.tensor_type;
}

/** Element type of a tensor type, undefined when unknown or not a tensor. */
export function elemTypeOf(t: TypeProto | undefined): number | undefined {
  const e = tensorPart(t)?.elem_type as number | undefined;
  return e === undefined || e === 0 ? undefined : e;
}

/** Shape of a tensor type; undefined when the rank is unknown. */
export function shapeOf(t: TypeProto | undefined): Dim[] | undefined {
  const s = tensorPart(t)?.shape as Msg | undefined;
  if (!s) return undefined;
  return ((s.dim as Msg[] | undefined) ?? []).map((d) => {
    if (d.dim_value !== undefined) return Number(d.dim_value);
    if (d.dim_param !== undefined && d.dim_param !== '') return d.dim_param as string;
    return null;
  });
}

/** A copy of the type with another element type (shape and every other field kept). Recurses into sequence/optional. */
export function withElemType(t: TypeProto, elemType: number): TypeProto {
  if (t.tensor_type) return { ...t, tensor_type: { ...(t.tensor_type as Msg), elem_type: elemType } };
  if (t.sparse_tensor_type) return { ...t, sparse_tensor_type: { ...(t.sparse_tensor_type as Msg), elem_type: elemType } };
  if (t.sequence_type) {
    const s = t.sequence_type as Msg;
    return { ...t, sequence_type: { ...s, elem_type: withElemType(s.elem_type as Msg, elemType) } };
  }
  if (t.optional_type) {
    const s = t.optional_type as Msg;
    return { ...t, optional_type: { ...s, elem_type: withElemType(s.elem_type as Msg, elemType) } };
  }
  return t;
}

/** Element type of the tensors inside a tensor, sequence or optional type. */
export function innerElemType(t: TypeProto | undefined): number | undefined {
  if (!t) return undefined;
  if (t.sequence_type) return innerElemType((t.sequence_type as Msg).elem_type as Msg);
  if (t.optional_type) return innerElemType((t.optional_type as Msg).elem_type as Msg);
  return elemTypeOf(t);
}

export function formatShape(shape: Dim[] | undefined): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}
