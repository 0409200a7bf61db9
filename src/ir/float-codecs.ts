/*
 * Float codecs for ONNX tensor storage: IEEE half, bfloat16, the FLOAT8 family, FLOAT4E2M1, 4-bit packing.
 *
 * Formats (sign | exponent | mantissa, bias):
 *   float16   1|5|10 bias 15. Max 65504 (0x7BFF), smallest subnormal 2^-24 (0x0001), has Inf and NaN.
 *   bfloat16  1|8|7  bias 127. The upper 16 bits of a float32. Max 0x7F7F (~3.39e38), has Inf and NaN.
 *   e4m3fn    1|4|3  bias 7.  No Inf; S.1111.111 (0x7F/0xFF) is NaN. Max 448 (0x7E). Min 2^-9.
 *   e4m3fnuz  1|4|3  bias 8.  No Inf, no -0; 0x80 is the only NaN. Max 240 (0x7F). Min 2^-10.
 *   e5m2      1|5|2  bias 15. IEEE-like (the top byte of a half): 0x7C Inf, 0x7D-0x7F NaN. Max 57344 (0x7B).
 *   e5m2fnuz  1|5|2  bias 16. No Inf, no -0; 0x80 is the only NaN. Max 57344 (0x7F). Min 2^-17.
 *   e8m0      0|8|0  bias 127. Unsigned powers of two: code e is 2^(e-127) (0x00 = 2^-127), 0xFF is NaN.
 *   e2m1      1|2|1  bias 1 (FLOAT4E2M1). No Inf/NaN. Magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}.
 *   Exponent field 0 means subnormal: (-1)^S * 2^(1-bias) * mantissa/2^M (gradual underflow).
 *
 * Rounding rules of the encoders:
 *   - Round to nearest, ties to even, exactly (on the bits, not via float arithmetic).
 *   - Saturation: a finite input whose magnitude exceeds the target's max finite value becomes +-max and is
 *     counted in stats.clamped (this includes values RNE would have rounded down to max anyway).
 *     float16/bfloat16 keep +-Inf as +-Inf (not counted). The float8 encoders follow ONNX Cast saturate=1:
 *     +-Inf becomes +-max and is counted as clamped.
 *   - NaN becomes the target's quiet NaN (sign and top payload bits kept where the format has them),
 *     counted in stats.nan.
 *   - A nonzero input that rounds to +-0 is counted in stats.flushed. Formats without -0 (the FNUZ types)
 *     produce +0 for -0 and for negative underflow.
 *   - Float64Array input is first narrowed to float32 with round-to-odd, which makes the second (RNE)
 *     rounding exact: there is no double rounding.
 *   - e8m0 follows the ONNX Cast default round_mode="up": the magnitude (sign dropped, as the ONNX reference
 *     does) rounds up to the next power of two; zero and anything <= 2^-127 give 0x00.
 *   - stats counters are added to (not reset), so one object can accumulate over many tensors.
 *
 * 4-bit packing (INT4, UINT4, FLOAT4E2M1): element i lives in byte i>>1, low nibble when i is even, high
 * nibble when odd; an odd count leaves the last high nibble 0.
 *
 * Performance: no per-element allocation. Float32 inputs are read as bits through a Uint32Array view of
 * the same buffer; decoders write bits through a Uint32Array view of the destination (lookup tables).
 */

export interface ConversionStats {
  clamped: number;
  flushed: number;
  nan: number;
}

export type Float8Kind = 'e4m3fn' | 'e4m3fnuz' | 'e5m2' | 'e5m2fnuz' | 'e8m0';

export const FLOAT16_MAX = 65504;

// ---------------------------------------------------------------------------------------------------------
// shared helpers

/** Elements narrowed from Float64Array per chunk (round-to-odd float32 bits). */
const CHUNK = 8192;
const CHUNK_BITS = new Uint32Array(CHUNK);
const CHUNK_F32 = new Float32Array(CHUNK_BITS.buffer);

function checkDst(name: string, dstLength: number, n: number): void {
  if (dstLength < n) {
    throw new RangeError(`${name}: dst has ${dstLength} elements, need ${n}`);
  }
}

/** Bits of a Float32Array, read through a view of the same memory (no copy). */
function bitsOf(src: Float32Array): Uint32Array {
  return new Uint32Array(src.buffer, src.byteOffset, src.length);
}

/**
 * Narrows src[start, start+n) to float32 with round-to-odd into CHUNK_BITS: truncate toward zero, then set the
 * lowest bit when the value was inexact. Rounding that result to any format with at least 2 fewer significand
 * bits gives the same answer as rounding the double directly. Finite doubles beyond float32 range become
 * 0x7F7FFFFF (finite, so they clamp); doubles below float32 range become the smallest subnormal (so they flush).
 */
function narrowRoundToOdd(src: Float64Array, start: number, n: number): void {
  const bits = CHUNK_BITS;
  const f32 = CHUNK_F32;
  for (let j = 0; j < n; j++) {
    const x = src[start + j]!;
    f32[j] = x;
    const f = f32[j]!;
    if (f !== x && !Number.isNaN(x)) {
      let b = bits[j]!;
      if (Math.abs(f) > Math.abs(x)) b -= 1; // |f| > 0 here, so no borrow into the sign bit
      bits[j] = b | 1;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// float16

/**
 * Encodes float32 bit patterns bits[bOff, bOff+n) to half into dst[dOff, ...). Returns nothing; adds counts to
 * stats when given. The reference for the SIMD kernel of float-kernel.ts (which uses it for tails).
 */
export function encodeHalfRange(bits: Uint32Array, bOff: number, dst: Uint16Array, dOff: number, n: number, stats: ConversionStats | undefined): void {
  let clamped = 0;
  let flushed = 0;
  let nan = 0;
  for (let j = 0; j < n; j++) {
    const b = bits[bOff + j]!;
    const sign = (b >>> 16) & 0x8000;
    const abs = b & 0x7fffffff;
    let h: number;
    if (abs >= 0x38800000) {
      // >= 2^-14: normal half range, or beyond
      if (abs <= 0x477fe000) {
        // <= 65504: rebias exponent (127 -> 15) and round the low 13 bits to nearest even
        const r = abs - 0x38000000;
        h = sign | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
      } else if (abs < 0x7f800000) {
        h = sign | 0x7bff;
        clamped++;
      } else if (abs === 0x7f800000) {
        h = sign | 0x7c00;
      } else {
        h = sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
        nan++;
      }
    } else {
      const e = abs >>> 23;
      if (e < 102) {
        // below 2^-25 (including float32 subnormals and zero): rounds to zero
        h = sign;
      } else {
        // subnormal half: value / 2^-24, rounded to nearest even
        const m = (abs & 0x7fffff) | 0x800000;
        const shift = 126 - e; // 14..24
        let q = m >>> shift;
        const rem = m & ((1 << shift) - 1);
        const halfway = 1 << (shift - 1);
        if (rem > halfway || (rem === halfway && (q & 1) === 1)) q++;
        h = sign | q; // q may reach 0x400, the smallest normal: still the right encoding
      }
      if ((h & 0x7fff) === 0 && abs !== 0) flushed++;
    }
    dst[dOff + j] = h;
  }
  if (stats) {
    stats.clamped += clamped;
    stats.flushed += flushed;
    stats.nan += nan;
  }
}

/**
 * float32 (or float64) -> IEEE half bits, round to nearest even. Finite values with magnitude > 65504 clamp to
 * +-65504 (counted), +-Inf stay +-Inf, NaN stays a quiet NaN (counted), nonzero values that become +-0 are
 * counted as flushed. Subnormal halves are produced (gradual underflow).
 */
export function float32ToFloat16(src: Float32Array | Float64Array, dst?: Uint16Array, stats?: ConversionStats): Uint16Array {
  const n = src.length;
  const out = dst ?? new Uint16Array(n);
  checkDst('float32ToFloat16', out.length, n);
  if (src instanceof Float32Array) {
    encodeHalfRange(bitsOf(src), 0, out, 0, n, stats);
  } else {
    for (let start = 0; start < n; start += CHUNK) {
      const len = Math.min(CHUNK, n - start);
      narrowRoundToOdd(src, start, len);
      encodeHalfRange(CHUNK_BITS, 0, out, start, len, stats);
    }
  }
  return out;
}

let halfTable: Uint32Array | null = null;

/** float32 bits for each of the 65536 half bit patterns (exact; NaN payloads kept). */
function getHalfTable(): Uint32Array {
  if (halfTable) return halfTable;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    let bits: number;
    if (e === 0x1f) {
      bits = s | 0x7f800000 | (m << 13); // Inf (m = 0) or NaN with its payload
    } else if (e !== 0) {
      bits = s | ((e + 112) << 23) | (m << 13);
    } else if (m === 0) {
      bits = s;
    } else {
      // subnormal m * 2^-24: normalise into a float32 normal
      let ee = 113;
      let mm = m;
      while ((mm & 0x400) === 0) {
        mm <<= 1;
        ee--;
      }
      bits = s | (ee << 23) | ((mm & 0x3ff) << 13);
    }
    t[h] = bits >>> 0;
  }
  halfTable = t;
  return t;
}

/** IEEE half bits -> float32 (exact). */
export function float16ToFloat32(src: Uint16Array, dst?: Float32Array): Float32Array {
  const n = src.length;
  const out = dst ?? new Float32Array(n);
  checkDst('float16ToFloat32', out.length, n);
  const table = getHalfTable();
  const o = bitsOf(out);
  for (let i = 0; i < n; i++) o[i] = table[src[i]!]!;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// bfloat16

/** As encodeHalfRange, for bfloat16. */
export function encodeBf16Range(bits: Uint32Array, bOff: number, dst: Uint16Array, dOff: number, n: number, stats: ConversionStats | undefined): void {
  let clamped = 0;
  let flushed = 0;
  let nan = 0;
  for (let j = 0; j < n; j++) {
    const b = bits[bOff + j]!;
    const abs = b & 0x7fffffff;
    let h: number;
    if (abs <= 0x7f7f0000) {
      // <= max finite bf16: RNE on the low 16 bits (cannot carry past 0x7F7F)
      h = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
      if ((h & 0x7fff) === 0 && abs !== 0) flushed++;
    } else if (abs < 0x7f800000) {
      h = ((b >>> 16) & 0x8000) | 0x7f7f;
      clamped++;
    } else if (abs === 0x7f800000) {
      h = b >>> 16;
    } else {
      h = (b >>> 16) | 0x0040; // quiet NaN, sign and top payload bits kept
      nan++;
    }
    dst[dOff + j] = h;
  }
  if (stats) {
    stats.clamped += clamped;
    stats.flushed += flushed;
    stats.nan += nan;
  }
}

/**
 * float32 (or float64) -> bfloat16 bits, round to nearest even. Finite values beyond the max finite bf16
 * (0x7F7F) clamp to +-max (counted); +-Inf stay +-Inf; NaN stays a quiet NaN (counted); nonzero values that
 * become +-0 are counted as flushed (float32 subnormals <= 2^-134, or float64 values below that).
 */
export function float32ToBFloat16(src: Float32Array | Float64Array, dst?: Uint16Array, stats?: ConversionStats): Uint16Array {
  const n = src.length;
  const out = dst ?? new Uint16Array(n);
  checkDst('float32ToBFloat16', out.length, n);
  if (src instanceof Float32Array) {
    encodeBf16Range(bitsOf(src), 0, out, 0, n, stats);
  } else {
    for (let start = 0; start < n; start += CHUNK) {
      const len = Math.min(CHUNK, n - start);
      narrowRoundToOdd(src, start, len);
      encodeBf16Range(CHUNK_BITS, 0, out, start, len, stats);
    }
  }
  return out;
}

/** bfloat16 bits -> float32 (exact: the bits become the upper half of the float32). */
export function bfloat16ToFloat32(src: Uint16Array, dst?: Float32Array): Float32Array {
  const n = src.length;
  const out = dst ?? new Float32Array(n);
  checkDst('bfloat16ToFloat32', out.length, n);
  const o = bitsOf(out);
  for (let i = 0; i < n; i++) o[i] = src[i]! << 16;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// float8 / float4

interface MiniSpec {
  expBits: number;
  mantBits: number;
  bias: number;
  /** Largest finite code without the sign bit. */
  maxCode: number;
  /** NaN code for a positive NaN, and whether the sign bit is kept on NaN. */
  nanCode: number;
  nanSigned: boolean;
  /** Format has Inf at exponent all-ones, mantissa 0 (e5m2). */
  ieeeSpecials: boolean;
  /** Format has no -0 (0x80 is NaN). */
  unsignedZero: boolean;
}

const SPECS: Record<Exclude<Float8Kind, 'e8m0'>, MiniSpec> = {
  e4m3fn: { expBits: 4, mantBits: 3, bias: 7, maxCode: 0x7e, nanCode: 0x7f, nanSigned: true, ieeeSpecials: false, unsignedZero: false },
  e4m3fnuz: { expBits: 4, mantBits: 3, bias: 8, maxCode: 0x7f, nanCode: 0x80, nanSigned: false, ieeeSpecials: false, unsignedZero: true },
  e5m2: { expBits: 5, mantBits: 2, bias: 15, maxCode: 0x7b, nanCode: 0x7f, nanSigned: true, ieeeSpecials: true, unsignedZero: false },
  e5m2fnuz: { expBits: 5, mantBits: 2, bias: 16, maxCode: 0x7f, nanCode: 0x80, nanSigned: false, ieeeSpecials: false, unsignedZero: true },
};

/** Value of a sign-less minifloat code (exponent field e, mantissa field m). */
function miniValue(e: number, m: number, mantBits: number, bias: number): number {
  return e === 0 ? m * 2 ** (1 - bias - mantBits) : (1 + m / 2 ** mantBits) * 2 ** (e - bias);
}

const float8Tables: Partial<Record<Float8Kind, Uint32Array>> = {};

function buildFloat8Table(kind: Float8Kind): Uint32Array {
  const t = new Uint32Array(256);
  const tf = new Float32Array(t.buffer);
  if (kind === 'e8m0') {
    t[0] = 0x00400000; // 2^-127 is a float32 subnormal
    for (let c = 1; c < 255; c++) t[c] = c << 23;
    t[255] = 0x7fc00000;
    return t;
  }
  const sp = SPECS[kind];
  const expMax = (1 << sp.expBits) - 1;
  for (let c = 0; c < 256; c++) {
    const neg = (c & 0x80) !== 0;
    const e = (c >>> sp.mantBits) & expMax;
    const m = c & ((1 << sp.mantBits) - 1);
    let nanHere: boolean;
    if (sp.unsignedZero) nanHere = c === 0x80;
    else if (sp.ieeeSpecials) nanHere = e === expMax && m !== 0;
    else nanHere = (c & 0x7f) === 0x7f;
    if (nanHere) {
      t[c] = neg && sp.nanSigned ? 0xffc00000 : 0x7fc00000;
    } else if (sp.ieeeSpecials && e === expMax) {
      t[c] = neg ? 0xff800000 : 0x7f800000;
    } else {
      const v = miniValue(e, m, sp.mantBits, sp.bias);
      tf[c] = neg ? -v : v;
    }
  }
  return t;
}

function getFloat8Table(kind: Float8Kind): Uint32Array {
  const cached = float8Tables[kind];
  if (cached) return cached;
  if (kind !== 'e8m0' && !(kind in SPECS)) throw new TypeError(`unknown float8 kind: ${String(kind)}`);
  const t = buildFloat8Table(kind);
  float8Tables[kind] = t;
  return t;
}

/** FLOAT8 codes -> float32 (exact). */
export function float8ToFloat32(src: Uint8Array, kind: Float8Kind, dst?: Float32Array): Float32Array {
  const table = getFloat8Table(kind);
  const n = src.length;
  const out = dst ?? new Float32Array(n);
  checkDst('float8ToFloat32', out.length, n);
  const o = bitsOf(out);
  for (let i = 0; i < n; i++) o[i] = table[src[i]!]!;
  return out;
}

const FLOAT4_TABLE = (() => {
  const t = new Float32Array(16);
  for (let c = 0; c < 16; c++) {
    const v = miniValue((c >>> 1) & 3, c & 1, 1, 1);
    t[c] = c & 8 ? -v : v;
  }
  return new Uint32Array(t.buffer);
})();

/** FLOAT4E2M1 values (one per element, in the low nibble; the high nibble is ignored) -> float32 (exact). */
export function float4e2m1ToFloat32(src: Uint8Array, dst?: Float32Array): Float32Array {
  const n = src.length;
  const out = dst ?? new Float32Array(n);
  checkDst('float4e2m1ToFloat32', out.length, n);
  const table = FLOAT4_TABLE;
  const o = bitsOf(out);
  for (let i = 0; i < n; i++) o[i] = table[src[i]! & 0x0f]!;
  return out;
}

function encodeMiniRange(bits: Uint32Array, bOff: number, dst: Uint8Array, dOff: number, n: number, sp: MiniSpec, stats: ConversionStats | undefined): void {
  const mantBits = sp.mantBits;
  const maxCode = sp.maxCode;
  const maxAbsBits = fbits(miniValue(maxCode >>> mantBits, maxCode & ((1 << mantBits) - 1), mantBits, sp.bias));
  const minNormalBits = (128 - sp.bias) << 23; // 2^(1-bias)
  const rebias = (127 - sp.bias) << 23;
  const shift = 23 - mantBits;
  const roundBias = (1 << (shift - 1)) - 1;
  // subnormal: value / 2^(1-bias-mantBits) = m24 * 2^(e32 - subBase)
  const subBase = 150 + 1 - sp.bias - mantBits;
  const nanPos = sp.nanCode;
  const nanSigned = sp.nanSigned;
  const unsignedZero = sp.unsignedZero;
  let clamped = 0;
  let flushed = 0;
  let nan = 0;
  for (let j = 0; j < n; j++) {
    const b = bits[bOff + j]!;
    const sign = (b >>> 24) & 0x80;
    const abs = b & 0x7fffffff;
    let c: number;
    if (abs >= minNormalBits) {
      if (abs <= maxAbsBits) {
        const r = abs - rebias;
        c = sign | ((r + roundBias + ((r >>> shift) & 1)) >>> shift);
      } else if (abs <= 0x7f800000) {
        c = sign | maxCode; // finite beyond max, or Inf: saturate
        clamped++;
      } else {
        c = nanSigned ? sign | nanPos : nanPos;
        nan++;
      }
    } else {
      const e = abs >>> 23;
      const s = subBase - e;
      let q = 0;
      if (e !== 0 && s <= 24) {
        const m = (abs & 0x7fffff) | 0x800000;
        q = m >>> s;
        const rem = m & ((1 << s) - 1);
        const halfway = 1 << (s - 1);
        if (rem > halfway || (rem === halfway && (q & 1) === 1)) q++;
      }
      if (q === 0) {
        if (abs !== 0) flushed++;
        c = unsignedZero ? 0 : sign;
      } else {
        c = sign | q;
      }
    }
    dst[dOff + j] = c;
  }
  if (stats) {
    stats.clamped += clamped;
    stats.flushed += flushed;
    stats.nan += nan;
  }
}

function encodeE8m0Range(bits: Uint32Array, bOff: number, dst: Uint8Array, dOff: number, n: number, stats: ConversionStats | undefined): void {
  let clamped = 0;
  let nan = 0;
  for (let j = 0; j < n; j++) {
    const abs = bits[bOff + j]! & 0x7fffffff;
    let c: number;
    if (abs <= 0x7f000000) {
      // <= 2^127: round the magnitude up to a power of two
      const e = abs >>> 23;
      if (e === 0)
        c = abs <= 0x00400000 ? 0 : 1; // zero / float32 subnormal: 2^-127 or 2^-126
      else c = (abs & 0x7fffff) !== 0 ? e + 1 : e;
    } else if (abs <= 0x7f800000) {
      c = 0xfe;
      clamped++;
    } else {
      c = 0xff;
      nan++;
    }
    dst[dOff + j] = c;
  }
  if (stats) {
    stats.clamped += clamped;
    stats.nan += nan;
  }
}

const FBITS_F32 = new Float32Array(1);
const FBITS_U32 = new Uint32Array(FBITS_F32.buffer);
function fbits(v: number): number {
  FBITS_F32[0] = v;
  return FBITS_U32[0]!;
}

/**
 * float32 (or float64) -> FLOAT8 codes with round to nearest even and saturation (ONNX Cast saturate=1):
 * finite values beyond the max and +-Inf become +-max (counted as clamped), NaN becomes the format's NaN
 * (counted), nonzero values rounding to zero are counted as flushed. e8m0 rounds the magnitude up to the next
 * power of two (ONNX round_mode="up").
 */
export function float32ToFloat8(src: Float32Array | Float64Array, kind: Float8Kind, dst?: Uint8Array, stats?: ConversionStats): Uint8Array {
  const sp = kind === 'e8m0' ? null : SPECS[kind];
  if (kind !== 'e8m0' && !sp) throw new TypeError(`unknown float8 kind: ${String(kind)}`);
  const n = src.length;
  const out = dst ?? new Uint8Array(n);
  checkDst('float32ToFloat8', out.length, n);
  if (src instanceof Float32Array) {
    if (sp) encodeMiniRange(bitsOf(src), 0, out, 0, n, sp, stats);
    else encodeE8m0Range(bitsOf(src), 0, out, 0, n, stats);
  } else {
    for (let start = 0; start < n; start += CHUNK) {
      const len = Math.min(CHUNK, n - start);
      narrowRoundToOdd(src, start, len);
      if (sp) encodeMiniRange(CHUNK_BITS, 0, out, start, len, sp, stats);
      else encodeE8m0Range(CHUNK_BITS, 0, out, start, len, stats);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 4-bit packing

/**
 * Unpacks `count` 4-bit elements (ONNX order: even index in the low nibble). signed: INT4 two's complement
 * (-8..7) into an Int8Array; otherwise UINT4 / FLOAT4E2M1 codes (0..15) into a Uint8Array.
 */
export function unpack4bit(packed: Uint8Array, count: number, signed: boolean): Int8Array | Uint8Array {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`unpack4bit: bad count ${count}`);
  const need = (count + 1) >>> 1;
  if (packed.length < need) {
    throw new RangeError(`unpack4bit: ${count} elements need ${need} bytes, got ${packed.length}`);
  }
  const pairs = count >>> 1;
  if (signed) {
    const out = new Int8Array(count);
    for (let i = 0; i < pairs; i++) {
      const byte = packed[i]!;
      out[2 * i] = (byte << 28) >> 28;
      out[2 * i + 1] = (byte << 24) >> 28;
    }
    if (count & 1) out[count - 1] = (packed[pairs]! << 28) >> 28;
    return out;
  }
  const out = new Uint8Array(count);
  for (let i = 0; i < pairs; i++) {
    const byte = packed[i]!;
    out[2 * i] = byte & 0x0f;
    out[2 * i + 1] = byte >>> 4;
  }
  if (count & 1) out[count - 1] = packed[pairs]! & 0x0f;
  return out;
}

/**
 * Packs 4-bit elements two per byte (ONNX order). Accepts integers in -8..15: INT4 values are stored as their
 * two's complement nibble, UINT4 / FLOAT4E2M1 codes as is. Throws RangeError on anything else.
 */
export function pack4bit(values: ArrayLike<number>): Uint8Array {
  const count = values.length;
  const out = new Uint8Array((count + 1) >>> 1);
  for (let i = 0; i < count; i++) {
    const v = values[i]!;
    if (!(v >= -8 && v <= 15) || (v | 0) !== v) {
      throw new RangeError(`pack4bit: element ${i} (${v}) is not an integer in -8..15`);
    }
    out[i >>> 1] |= (v & 0x0f) << ((i & 1) << 2);
  }
  return out;
}
