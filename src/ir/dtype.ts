/**
 * ONNX tensor element types (TensorProto.DataType), with their storage sizes and how each is stored in the
 * typed fields of a TensorProto when raw_data is not used.
 */
export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  COMPLEX64 = 14,
  COMPLEX128 = 15,
  BFLOAT16 = 16,
  FLOAT8E4M3FN = 17,
  FLOAT8E4M3FNUZ = 18,
  FLOAT8E5M2 = 19,
  FLOAT8E5M2FNUZ = 20,
  UINT4 = 21,
  INT4 = 22,
  FLOAT4E2M1 = 23,
  FLOAT8E8M0 = 24,
  UINT2 = 25,
  INT2 = 26,
}

export type TypedFieldName = 'float_data' | 'int32_data' | 'string_data' | 'int64_data' | 'double_data' | 'uint64_data';

interface DTypeInfo {
  name: string;
  /** bits per element in raw_data (strings: 0, they have no raw form) */
  bits: number;
  /** the typed field used when raw_data is absent */
  field: TypedFieldName;
  float: boolean;
  /** the name onnxruntime-node uses for tensors of this type, when it has one */
  ort?: string;
}

const INFO: Record<number, DTypeInfo> = {
  [DataType.FLOAT]: { name: 'float32', bits: 32, field: 'float_data', float: true, ort: 'float32' },
  [DataType.UINT8]: { name: 'uint8', bits: 8, field: 'int32_data', float: false, ort: 'uint8' },
  [DataType.INT8]: { name: 'int8', bits: 8, field: 'int32_data', float: false, ort: 'int8' },
  [DataType.UINT16]: { name: 'uint16', bits: 16, field: 'int32_data', float: false, ort: 'uint16' },
  [DataType.INT16]: { name: 'int16', bits: 16, field: 'int32_data', float: false, ort: 'int16' },
  [DataType.INT32]: { name: 'int32', bits: 32, field: 'int32_data', float: false, ort: 'int32' },
  [DataType.INT64]: { name: 'int64', bits: 64, field: 'int64_data', float: false, ort: 'int64' },
  [DataType.STRING]: { name: 'string', bits: 0, field: 'string_data', float: false, ort: 'string' },
  [DataType.BOOL]: { name: 'bool', bits: 8, field: 'int32_data', float: false, ort: 'bool' },
  [DataType.FLOAT16]: { name: 'float16', bits: 16, field: 'int32_data', float: true, ort: 'float16' },
  [DataType.DOUBLE]: { name: 'float64', bits: 64, field: 'double_data', float: true, ort: 'float64' },
  [DataType.UINT32]: { name: 'uint32', bits: 32, field: 'uint64_data', float: false, ort: 'uint32' },
  [DataType.UINT64]: { name: 'uint64', bits: 64, field: 'uint64_data', float: false, ort: 'uint64' },
  [DataType.COMPLEX64]: { name: 'complex64', bits: 64, field: 'float_data', float: true },
  [DataType.COMPLEX128]: { name: 'complex128', bits: 128, field: 'double_data', float: true },
  [DataType.BFLOAT16]: { name: 'bfloat16', bits: 16, field: 'int32_data', float: true },
  [DataType.FLOAT8E4M3FN]: { name: 'float8e4m3fn', bits: 8, field: 'int32_data', float: true },
  [DataType.FLOAT8E4M3FNUZ]: { name: 'float8e4m3fnuz', bits: 8, field: 'int32_data', float: true },
  [DataType.FLOAT8E5M2]: { name: 'float8e5m2', bits: 8, field: 'int32_data', float: true },
  [DataType.FLOAT8E5M2FNUZ]: { name: 'float8e5m2fnuz', bits: 8, field: 'int32_data', float: true },
  [DataType.UINT4]: { name: 'uint4', bits: 4, field: 'int32_data', float: false, ort: 'uint4' },
  [DataType.INT4]: { name: 'int4', bits: 4, field: 'int32_data', float: false, ort: 'int4' },
  [DataType.FLOAT4E2M1]: { name: 'float4e2m1', bits: 4, field: 'int32_data', float: true },
  [DataType.FLOAT8E8M0]: { name: 'float8e8m0', bits: 8, field: 'int32_data', float: true },
  [DataType.UINT2]: { name: 'uint2', bits: 2, field: 'int32_data', float: false },
  [DataType.INT2]: { name: 'int2', bits: 2, field: 'int32_data', float: false },
};

export function isKnownDataType(t: number): t is DataType {
  return INFO[t] !== undefined;
}
function info(t: number): DTypeInfo {
  const i = INFO[t];
  if (!i) throw new RangeError(`unknown ONNX data type ${t}`);
  return i;
}
export const dtypeName = (t: number): string => INFO[t]?.name ?? `dtype(${t})`;
export const dtypeBits = (t: number): number => info(t).bits;
export const dtypeField = (t: number): TypedFieldName => info(t).field;
export const isFloatType = (t: number): boolean => INFO[t]?.float ?? false;
/** The whole-number types of 8 bits or more (shape, index and count values; quantized weights). */
export const INTEGER_TYPES: ReadonlySet<number> = new Set<number>([
  DataType.INT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
]);
export const isIntegerType = (t: number): boolean => INTEGER_TYPES.has(t);
export const ortTypeName = (t: number): string | undefined => INFO[t]?.ort;

/** Bytes that `count` elements occupy in raw_data (sub-byte types are packed, the last byte padded). */
export function rawByteLength(t: number, count: number): number {
  const bits = dtypeBits(t);
  if (bits === 0) throw new RangeError('string tensors have no raw byte form');
  return Math.ceil((count * bits) / 8);
}

const BY_NAME = new Map<string, DataType>(Object.entries(INFO).map(([k, v]) => [v.name, Number(k) as DataType]));
for (const [alias, t] of [
  ['float', DataType.FLOAT],
  ['fp32', DataType.FLOAT],
  ['fp16', DataType.FLOAT16],
  ['half', DataType.FLOAT16],
  ['bf16', DataType.BFLOAT16],
  ['double', DataType.DOUBLE],
] as const)
  BY_NAME.set(alias, t);
export function dtypeFromName(name: string): DataType | undefined {
  return BY_NAME.get(name.toLowerCase());
}
