/**
 * Constants as the rewrite engine sees them: an initializer that is not an overridable graph input, or the output of
 * a `Constant` node in any of its forms (`value`, `value_float(s)`, `value_int(s)`; `value_string(s)` and sparse
 * values are not treated as constants here).
 */
import { DataType, isIntegerType } from '../ir/dtype.js';
import { AttrType, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { isStandardDomain } from '../ir/model.js';

/** The constant tensor a value holds, or undefined when it is not a constant. */
export function constantOf(v: Value | null | undefined): Tensor | undefined {
  if (!v) return undefined;
  const t = v.constTensor();
  if (t) return t;
  const p = v.producer;
  if (p?.opType !== 'Constant' || !isStandardDomain(p.domain)) return undefined;
  for (const a of p.attributes.values()) {
    if (a.value === undefined || a.refAttrName) continue;
    switch (a.name) {
      case 'value_float':
        if (a.type === AttrType.FLOAT) return Tensor.fromArray(DataType.FLOAT, [], [a.value as number]);
        break;
      case 'value_floats':
        if (a.type === AttrType.FLOATS) return Tensor.fromArray(DataType.FLOAT, [(a.value as number[]).length], a.value as number[]);
        break;
      case 'value_int':
        if (a.type === AttrType.INT) return Tensor.fromArray(DataType.INT64, [], BigInt64Array.of(BigInt(a.value as number | bigint)));
        break;
      case 'value_ints':
        if (a.type === AttrType.INTS) {
          const vs = a.value as (number | bigint)[];
          return Tensor.fromArray(
            DataType.INT64,
            [vs.length],
            BigInt64Array.from(vs, (x) => BigInt(x)),
          );
        }
        break;
    }
  }
  return undefined;
}

export function isConstant(v: Value | null | undefined): boolean {
  return constantOf(v) !== undefined;
}

/** Integer values of a constant (shapes, axes, perms), or undefined when not a constant of an integer type. */
export function constantInts(v: Value | null | undefined): number[] | undefined {
  const t = constantOf(v);
  if (!t || !isIntegerType(t.dataType)) return undefined;
  return t.toNumbers();
}

/** The single value of a one-element numeric constant, as a JS number. */
export function constantScalar(v: Value | null | undefined): number | undefined {
  const t = constantOf(v);
  if (t?.size !== 1) return undefined;
  return scalarOf(t);
}

export function scalarOf(t: Tensor): number | undefined {
  if (t.size !== 1) return undefined;
  return numbersOf(t)?.[0];
}

/**
 * Every element as a JS number: exact for integers up to 2^53 and for float64, decoded for float16/bfloat16/float8.
 * Undefined for strings and complex types.
 */
export function numbersOf(t: Tensor): number[] | undefined {
  if (t.dataType === DataType.STRING || t.dataType === DataType.COMPLEX64 || t.dataType === DataType.COMPLEX128) return undefined;
  try {
    if (t.dataType === DataType.DOUBLE || isIntegerType(t.dataType) || t.dataType === DataType.BOOL) return t.toNumbers();
    return Array.from(t.toFloat32());
  } catch {
    return undefined;
  }
}
