/**
 * Which element types hold every value of another exactly (so a cast there and back is the identity).
 *
 * Integers: a wider type of the same signedness, or a signed type wider than an unsigned one. Floats: float16 and
 * bfloat16 fit in float32 and float64, float32 in float64. Integers in floats: every integer of n bits fits a float
 * with at least n significand bits (float16: 11, bfloat16: 8, float32: 24, float64: 53), so int8/uint8 fit every
 * float type, int16/uint16 fit float32 and float64, int32/uint32 only float64, 64-bit integers none. bool (0/1)
 * fits every numeric type: a cast back to bool maps non-zero to true, so 0/1 come back unchanged.
 */
import { DataType } from '../../ir/dtype.js';

const INT_BITS: Partial<Record<number, { bits: number; signed: boolean }>> = {
  [DataType.INT8]: { bits: 8, signed: true },
  [DataType.UINT8]: { bits: 8, signed: false },
  [DataType.INT16]: { bits: 16, signed: true },
  [DataType.UINT16]: { bits: 16, signed: false },
  [DataType.INT32]: { bits: 32, signed: true },
  [DataType.UINT32]: { bits: 32, signed: false },
  [DataType.INT64]: { bits: 64, signed: true },
  [DataType.UINT64]: { bits: 64, signed: false },
};
/** significand bits (implicit bit included) and the largest finite exponent range they cover */
const FLOAT_SIGNIFICAND: Partial<Record<number, number>> = {
  [DataType.FLOAT16]: 11,
  [DataType.BFLOAT16]: 8,
  [DataType.FLOAT]: 24,
  [DataType.DOUBLE]: 53,
};
const FLOAT_WIDER: Partial<Record<number, number[]>> = {
  [DataType.FLOAT16]: [DataType.FLOAT, DataType.DOUBLE],
  [DataType.BFLOAT16]: [DataType.FLOAT, DataType.DOUBLE],
  [DataType.FLOAT]: [DataType.DOUBLE],
};

/** True when every value of type `a` converts to type `b` and back unchanged. */
export function representsExactly(b: number, a: number): boolean {
  if (a === b) return true;
  if (a === DataType.BOOL) return INT_BITS[b] !== undefined || FLOAT_SIGNIFICAND[b] !== undefined;
  const ia = INT_BITS[a];
  if (ia) {
    const ib = INT_BITS[b];
    if (ib) {
      if (ia.signed === ib.signed) return ib.bits >= ia.bits;
      return !ia.signed && ib.signed && ib.bits > ia.bits;
    }
    const sig = FLOAT_SIGNIFICAND[b];
    // a signed n-bit integer needs n-1 magnitude bits (the most negative value is a power of two)
    return sig !== undefined && sig >= (ia.signed ? ia.bits - 1 : ia.bits);
  }
  return FLOAT_WIDER[a]?.includes(b) ?? false;
}
