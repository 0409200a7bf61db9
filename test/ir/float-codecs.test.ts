import { describe, it, expect } from 'vitest';
import {
  FLOAT16_MAX,
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBFloat16,
  float32ToFloat16,
  float32ToFloat8,
  float4e2m1ToFloat32,
  float8ToFloat32,
  pack4bit,
  unpack4bit,
  type ConversionStats,
  type Float8Kind,
} from '../../src/ir/float-codecs.js';

const newStats = (): ConversionStats => ({ clamped: 0, flushed: 0, nan: 0 });

function f32FromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0]!;
}

function half(x: number, stats?: ConversionStats): number {
  return float32ToFloat16(new Float32Array([x]), undefined, stats)[0]!;
}

function halfOf64(x: number, stats?: ConversionStats): number {
  return float32ToFloat16(new Float64Array([x]), undefined, stats)[0]!;
}

function bf16(x: number, stats?: ConversionStats): number {
  return float32ToBFloat16(new Float32Array([x]), undefined, stats)[0]!;
}

function f8(x: number, kind: Float8Kind, stats?: ConversionStats): number {
  return float32ToFloat8(new Float32Array([x]), kind, undefined, stats)[0]!;
}

function f8val(code: number, kind: Float8Kind): number {
  return float8ToFloat32(new Uint8Array([code]), kind)[0]!;
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Independent reference: round x (a double) to a binary format with `mantBits` stored mantissa bits and
 * minimum normal exponent `emin`, round to nearest even, unbounded above (no saturation).
 */
function refRound(x: number, mantBits: number, emin: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  if (e < emin) e = emin;
  const ulp = 2 ** (e - mantBits);
  const q = a / ulp; // exact: division by a power of two
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  const v = r * ulp;
  return x < 0 ? -v : v;
}

/** Random float32 values with exponents in [eLo, eHi] (unbiased), often with short mantissas (to hit ties). */
function randomF32(count: number, eLo: number, eHi: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) {
    const e = eLo + Math.floor(r() * (eHi - eLo + 1));
    let m = Math.floor(r() * 0x800000);
    const keep = Math.floor(r() * 24); // zero out the low (23 - keep) bits half the time
    if (r() < 0.5) m &= ~((1 << (23 - Math.min(keep, 23))) - 1);
    const sign = r() < 0.5 ? 0x80000000 : 0;
    const be = Math.max(0, Math.min(254, e + 127));
    bits[i] = (sign | (be << 23) | m) >>> 0;
  }
  return out;
}

describe('float32ToFloat16', () => {
  it('encodes known values exactly', () => {
    expect(half(1.0)).toBe(0x3c00);
    expect(half(-2.0)).toBe(0xc000);
    expect(half(0.5)).toBe(0x3800);
    expect(half(65504)).toBe(0x7bff);
    expect(half(-65504)).toBe(0xfbff);
    expect(half(2 ** -14)).toBe(0x0400); // smallest normal
    expect(half(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(half(1023 * 2 ** -24)).toBe(0x03ff); // largest subnormal
    expect(half(0)).toBe(0x0000);
    expect(half(-0)).toBe(0x8000);
    expect(half(Infinity)).toBe(0x7c00);
    expect(half(-Infinity)).toBe(0xfc00);
    expect(half(1 / 3)).toBe(0x3555);
    expect(half(0.1)).toBe(0x2e66);
    expect(FLOAT16_MAX).toBe(65504);
  });

  it('rounds to nearest, ties to even', () => {
    expect(half(1 + 2 ** -11)).toBe(0x3c00); // tie, 0x3C00 is even
    expect(half(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie between 0x3C01 and 0x3C02 -> even
    expect(half(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(half(1 + 2 ** -12)).toBe(0x3c00);
    expect(half(2 ** -25 * 3)).toBe(0x0002); // 1.5 subnormal ulps: tie -> 2
    expect(half(2 ** -25 * 5)).toBe(0x0002); // 2.5 ulps: tie -> 2
    expect(half(1023.5 * 2 ** -24)).toBe(0x0400); // rounds up from subnormal into the smallest normal
    expect(half(-(1 + 3 * 2 ** -11))).toBe(0xbc02);
  });

  it('clamps finite overflow to +-65504 and counts it; Inf stays Inf', () => {
    const s = newStats();
    expect(half(65520, s)).toBe(0x7bff); // would round to Inf
    expect(s).toEqual({ clamped: 1, flushed: 0, nan: 0 });
    expect(half(-1e10, s)).toBe(0xfbff);
    expect(half(65505, s)).toBe(0x7bff); // above the max, RNE would give max anyway: still counted
    expect(half(3.4e38, s)).toBe(0x7bff);
    expect(s.clamped).toBe(4);
    expect(half(Infinity, s)).toBe(0x7c00);
    expect(half(-Infinity, s)).toBe(0xfc00);
    expect(half(65504, s)).toBe(0x7bff);
    expect(s).toEqual({ clamped: 4, flushed: 0, nan: 0 });
  });

  it('flushes values below 2^-25 to signed zero and counts them', () => {
    const s = newStats();
    expect(half(2 ** -26, s)).toBe(0x0000);
    expect(s).toEqual({ clamped: 0, flushed: 1, nan: 0 });
    expect(half(-(2 ** -26), s)).toBe(0x8000);
    expect(half(2 ** -25, s)).toBe(0x0000); // exact half of the smallest subnormal: tie -> 0 (even)
    expect(half(2 ** -25 * 1.0001, s)).toBe(0x0001);
    expect(half(1e-45, s)).toBe(0x0000); // float32 subnormal
    expect(half(0, s)).toBe(0x0000); // zero is not "flushed"
    expect(half(-0, s)).toBe(0x8000);
    expect(s).toEqual({ clamped: 0, flushed: 4, nan: 0 });
  });

  it('keeps NaN as a quiet NaN and counts it', () => {
    const s = newStats();
    const h = half(NaN, s);
    expect(h & 0x7c00).toBe(0x7c00);
    expect(h & 0x03ff).not.toBe(0);
    expect(h & 0x0200).toBe(0x0200); // quiet bit
    expect(s).toEqual({ clamped: 0, flushed: 0, nan: 1 });
    // a signalling float32 NaN with a payload only in the low bits must not turn into Inf
    const sNaN = float32ToFloat16(new Float32Array(new Uint32Array([0xff800001]).buffer), undefined, s)[0]!;
    expect(sNaN & 0xfe00).toBe(0xfe00);
    expect(s.nan).toBe(2);
  });

  it('accumulates stats and honours dst', () => {
    const s = newStats();
    const src = new Float32Array([1, 70000, 2 ** -30, NaN, -70000]);
    const dst = new Uint16Array(8).fill(0xabcd);
    const out = float32ToFloat16(src, dst, s);
    expect(out).toBe(dst);
    expect(Array.from(dst)).toEqual([0x3c00, 0x7bff, 0x0000, dst[3], 0xfbff, 0xabcd, 0xabcd, 0xabcd]);
    expect(s).toEqual({ clamped: 2, flushed: 1, nan: 1 });
    float32ToFloat16(src, undefined, s);
    expect(s).toEqual({ clamped: 4, flushed: 2, nan: 2 });
    expect(() => float32ToFloat16(src, new Uint16Array(2))).toThrow(RangeError);
  });

  it('reads a Float32Array that is a view at an offset', () => {
    const buf = new Float32Array([9, 9, 1, 2, 65504, 9]);
    const view = buf.subarray(2, 5);
    expect(Array.from(float32ToFloat16(view))).toEqual([0x3c00, 0x4000, 0x7bff]);
  });

  it('matches an independent RNE reference on 200k random float32 values', () => {
    const src = randomF32(200_000, -27, 16, 1);
    const enc = float32ToFloat16(src);
    const dec = float16ToFloat32(enc);
    let bad = 0;
    for (let i = 0; i < src.length; i++) {
      const x = src[i]!;
      let want = refRound(x, 10, -14);
      if (Math.abs(x) > 65504) want = x < 0 ? -65504 : 65504;
      if (!Object.is(dec[i], want)) bad++;
    }
    expect(bad).toBe(0);
  });

  it('converts Float64Array input without double rounding', () => {
    // float32 would round this to 1 + 2^-11 (a half tie -> 0x3C00); the correct half is 0x3C01
    expect(halfOf64(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01);
    expect(halfOf64(1 + 2 ** -11 - 2 ** -40)).toBe(0x3c00);
    expect(halfOf64(1 + 2 ** -11)).toBe(0x3c00);
    expect(halfOf64(2 ** -25 + 2 ** -60)).toBe(0x0001);
    const s = newStats();
    expect(halfOf64(65504 + 1e-9, s)).toBe(0x7bff);
    expect(halfOf64(1e300, s)).toBe(0x7bff);
    expect(halfOf64(-1e300, s)).toBe(0xfbff);
    expect(halfOf64(1e-300, s)).toBe(0x0000);
    expect(halfOf64(-1e-300, s)).toBe(0x8000);
    expect(halfOf64(NaN, s) & 0x7fff).toBeGreaterThan(0x7c00);
    expect(halfOf64(Infinity, s)).toBe(0x7c00);
    expect(halfOf64(65504, s)).toBe(0x7bff);
    expect(s).toEqual({ clamped: 3, flushed: 2, nan: 1 });

    // random doubles across chunk boundaries, against the reference
    const r = rng(7);
    const n = 20_000;
    const src = new Float64Array(n);
    for (let i = 0; i < n; i++) src[i] = (r() - 0.5) * 2 ** Math.floor(r() * 44 - 27);
    const dec = float16ToFloat32(float32ToFloat16(src));
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const x = src[i]!;
      const want = Math.abs(x) > 65504 ? Math.sign(x) * 65504 : refRound(x, 10, -14);
      if (!Object.is(dec[i], want)) bad++;
    }
    expect(bad).toBe(0);
  });

  it('handles empty input', () => {
    expect(float32ToFloat16(new Float32Array(0)).length).toBe(0);
    expect(float32ToFloat16(new Float64Array(0)).length).toBe(0);
  });
});

describe('float16ToFloat32', () => {
  it('decodes known values', () => {
    const src = new Uint16Array([0x3c00, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0xc000, 0x3555]);
    const out = float16ToFloat32(src);
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(65504);
    expect(out[2]).toBe(2 ** -24);
    expect(out[3]).toBe(1023 * 2 ** -24);
    expect(out[4]).toBe(2 ** -14);
    expect(Object.is(out[5], -0)).toBe(true);
    expect(out[6]).toBe(Infinity);
    expect(out[7]).toBe(-Infinity);
    expect(out[8]).toBe(-2);
    expect(out[9]).toBe(Math.fround(0.333251953125));
    const nans = float16ToFloat32(new Uint16Array([0x7e00, 0xfc01]));
    expect(nans[0]).toBeNaN();
    expect(nans[1]).toBeNaN();
  });

  it('round-trips all 65536 half bit patterns bit-exactly (NaN as NaN)', () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const f = float16ToFloat32(all);
    const s = newStats();
    const back = float32ToFloat16(f, undefined, s);
    let mismatches = 0;
    let nans = 0;
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x03ff) !== 0;
      if (isNaN) {
        nans++;
        if (!Number.isNaN(f[i])) mismatches++;
        const b = back[i]!;
        if (!((b & 0x7c00) === 0x7c00 && (b & 0x03ff) !== 0)) mismatches++;
        if ((b & 0x8000) !== (i & 0x8000)) mismatches++;
      } else if (back[i] !== i) {
        mismatches++;
      }
    }
    expect(mismatches).toBe(0);
    expect(nans).toBe(2046);
    expect(s).toEqual({ clamped: 0, flushed: 0, nan: 2046 });
  });

  it('writes into dst (also at an offset view) and checks its size', () => {
    const backing = new Float32Array(5).fill(7);
    const view = backing.subarray(1, 4);
    const out = float16ToFloat32(new Uint16Array([0x3c00, 0x4000, 0x4200]), view);
    expect(out).toBe(view);
    expect(Array.from(backing)).toEqual([7, 1, 2, 3, 7]);
    expect(() => float16ToFloat32(new Uint16Array(3), new Float32Array(2))).toThrow(RangeError);
  });
});

describe('bfloat16', () => {
  it('encodes known values', () => {
    expect(bf16(1.0)).toBe(0x3f80);
    expect(bf16(-2.0)).toBe(0xc000);
    expect(bf16(0)).toBe(0x0000);
    expect(bf16(-0)).toBe(0x8000);
    expect(bf16(Infinity)).toBe(0x7f80);
    expect(bf16(-Infinity)).toBe(0xff80);
    expect(bf16(3.140625)).toBe(0x4049);
  });

  it('rounds to nearest, ties to even', () => {
    expect(bf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even 0x3F80
    expect(bf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie between 0x3F81 and 0x3F82 -> even
    expect(bf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81); // above the tie
    expect(bf16(f32FromBits(0x3f80ffff))).toBe(0x3f81);
    expect(bf16(f32FromBits(0x3f807fff))).toBe(0x3f80);
  });

  it('clamps values that would round to Inf to +-0x7F7F and counts them', () => {
    const s = newStats();
    expect(bf16(f32FromBits(0x7f7fffff), s)).toBe(0x7f7f); // FLT_MAX would round to Inf
    expect(bf16(-f32FromBits(0x7f7fffff), s)).toBe(0xff7f);
    expect(bf16(f32FromBits(0x7f7f8000), s)).toBe(0x7f7f); // tie above the max
    expect(s).toEqual({ clamped: 3, flushed: 0, nan: 0 });
    expect(bf16(f32FromBits(0x7f7f0000), s)).toBe(0x7f7f); // exactly the max: not clamped
    expect(bf16(Infinity, s)).toBe(0x7f80);
    expect(s).toEqual({ clamped: 3, flushed: 0, nan: 0 });
  });

  it('keeps NaN quiet and counts it, including low-payload NaNs', () => {
    const s = newStats();
    const src = new Float32Array(new Uint32Array([0x7fc00000, 0x7f800001, 0xff800001]).buffer);
    const out = float32ToBFloat16(src, undefined, s);
    expect(out[0]).toBe(0x7fc0);
    expect(out[1]).toBe(0x7fc0);
    expect(out[2]).toBe(0xffc0);
    expect(s).toEqual({ clamped: 0, flushed: 0, nan: 3 });
  });

  it('counts flushes of tiny float32 subnormals and float64 values below range', () => {
    const s = newStats();
    expect(bf16(f32FromBits(0x00000001), s)).toBe(0x0000); // 2^-149
    expect(bf16(f32FromBits(0x00008000), s)).toBe(0x0000); // 2^-134: tie -> 0
    expect(bf16(f32FromBits(0x00008001), s)).toBe(0x0001);
    expect(float32ToBFloat16(new Float64Array([1e-300, -1e-300]), undefined, s)).toEqual(new Uint16Array([0x0000, 0x8000]));
    expect(s).toEqual({ clamped: 0, flushed: 4, nan: 0 });
  });

  it('converts Float64Array input without double rounding, clamping beyond float32 range', () => {
    const s = newStats();
    const out = float32ToBFloat16(new Float64Array([1 + 2 ** -8 + 2 ** -40, 1 + 2 ** -8, 1e300, -1e300]), undefined, s);
    expect(Array.from(out)).toEqual([0x3f81, 0x3f80, 0x7f7f, 0xff7f]);
    expect(s).toEqual({ clamped: 2, flushed: 0, nan: 0 });
  });

  it('matches the RNE reference on random values', () => {
    const src = randomF32(100_000, -140, 127, 3);
    const dec = bfloat16ToFloat32(float32ToBFloat16(src));
    const max = (2 - 2 ** -7) * 2 ** 127;
    let bad = 0;
    for (let i = 0; i < src.length; i++) {
      const x = src[i]!;
      const want = Math.abs(x) > max ? Math.sign(x) * max : refRound(x, 7, -126);
      if (!Object.is(dec[i], Math.fround(want))) bad++;
    }
    expect(bad).toBe(0);
  });

  it('round-trips all 65536 bf16 bit patterns bit-exactly (NaN as NaN)', () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const f = bfloat16ToFloat32(all);
    expect(f[0x3f80]).toBe(1);
    expect(f[0x7f80]).toBe(Infinity);
    const s = newStats();
    const back = float32ToBFloat16(f, undefined, s);
    let mismatches = 0;
    let nans = 0;
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
      if (isNaN) {
        nans++;
        const b = back[i]!;
        if (!Number.isNaN(f[i]) || !((b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0)) mismatches++;
      } else if (back[i] !== i) {
        mismatches++;
      }
    }
    expect(mismatches).toBe(0);
    expect(nans).toBe(254);
    expect(s).toEqual({ clamped: 0, flushed: 0, nan: 254 });
  });
});

/** Spec formulas from the ONNX "Float stored in 8 bits" page, written independently of the implementation. */
function specFloat8(code: number, kind: Float8Kind): number {
  const S = code >> 7;
  const bit = (i: number) => (code >> i) & 1;
  const sign = S ? -1 : 1;
  switch (kind) {
    case 'e4m3fn': {
      if ((code & 0x7f) === 0x7f) return NaN;
      const e = bit(3) + 2 * bit(4) + 4 * bit(5) + 8 * bit(6);
      const m = bit(0) / 8 + bit(1) / 4 + bit(2) / 2;
      return e === 0 ? sign * 2 ** -6 * m : sign * 2 ** (e - 7) * (1 + m);
    }
    case 'e4m3fnuz': {
      if (code === 0x80) return NaN;
      const e = bit(3) + 2 * bit(4) + 4 * bit(5) + 8 * bit(6);
      const m = bit(0) / 8 + bit(1) / 4 + bit(2) / 2;
      return e === 0 ? sign * 2 ** -7 * m : sign * 2 ** (e - 8) * (1 + m);
    }
    case 'e5m2': {
      const e = bit(2) + 2 * bit(3) + 4 * bit(4) + 8 * bit(5) + 16 * bit(6);
      const m = bit(0) / 4 + bit(1) / 2;
      if (e === 31) return m === 0 ? sign * Infinity : NaN;
      return e === 0 ? sign * 2 ** -14 * m : sign * 2 ** (e - 15) * (1 + m);
    }
    case 'e5m2fnuz': {
      if (code === 0x80) return NaN;
      const e = bit(2) + 2 * bit(3) + 4 * bit(4) + 8 * bit(5) + 16 * bit(6);
      const m = bit(0) / 4 + bit(1) / 2;
      return e === 0 ? sign * 2 ** -15 * m : sign * 2 ** (e - 16) * (1 + m);
    }
    case 'e8m0':
      return code === 0xff ? NaN : 2 ** (code - 127);
  }
}

const KINDS: Float8Kind[] = ['e4m3fn', 'e4m3fnuz', 'e5m2', 'e5m2fnuz', 'e8m0'];

describe('float8ToFloat32', () => {
  it('decodes documented values', () => {
    expect(f8val(0x7e, 'e4m3fn')).toBe(448);
    expect(f8val(0xfe, 'e4m3fn')).toBe(-448);
    expect(f8val(0x38, 'e4m3fn')).toBe(1);
    expect(f8val(0x01, 'e4m3fn')).toBe(2 ** -9);
    expect(f8val(0x08, 'e4m3fn')).toBe(2 ** -6);
    expect(Object.is(f8val(0x80, 'e4m3fn'), -0)).toBe(true);
    expect(f8val(0x7f, 'e4m3fn')).toBeNaN();
    expect(f8val(0xff, 'e4m3fn')).toBeNaN();

    expect(f8val(0x7f, 'e4m3fnuz')).toBe(240);
    expect(f8val(0x40, 'e4m3fnuz')).toBe(1);
    expect(f8val(0x01, 'e4m3fnuz')).toBe(2 ** -10);
    expect(f8val(0x80, 'e4m3fnuz')).toBeNaN();
    expect(f8val(0xff, 'e4m3fnuz')).toBe(-240);

    expect(f8val(0x7b, 'e5m2')).toBe(57344);
    expect(f8val(0x7c, 'e5m2')).toBe(Infinity);
    expect(f8val(0xfc, 'e5m2')).toBe(-Infinity);
    expect(f8val(0x7d, 'e5m2')).toBeNaN();
    expect(f8val(0x7e, 'e5m2')).toBeNaN();
    expect(f8val(0xff, 'e5m2')).toBeNaN();
    expect(f8val(0x3c, 'e5m2')).toBe(1);
    expect(f8val(0x01, 'e5m2')).toBe(2 ** -16);

    expect(f8val(0x7f, 'e5m2fnuz')).toBe(57344);
    expect(f8val(0xff, 'e5m2fnuz')).toBe(-57344);
    expect(f8val(0x40, 'e5m2fnuz')).toBe(1);
    expect(f8val(0x01, 'e5m2fnuz')).toBe(2 ** -17);
    expect(f8val(0x80, 'e5m2fnuz')).toBeNaN();

    expect(f8val(0x7f, 'e8m0')).toBe(1);
    expect(f8val(0x80, 'e8m0')).toBe(2);
    expect(f8val(0x00, 'e8m0')).toBe(2 ** -127);
    expect(f8val(0xfe, 'e8m0')).toBe(2 ** 127);
    expect(f8val(0xff, 'e8m0')).toBeNaN();
  });

  it('matches the ONNX spec formulas for all 256 codes of every kind', () => {
    const all = new Uint8Array(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    for (const kind of KINDS) {
      const out = float8ToFloat32(all, kind);
      for (let c = 0; c < 256; c++) {
        const want = specFloat8(c, kind);
        if (Number.isNaN(want)) expect(out[c], `${kind} 0x${c.toString(16)}`).toBeNaN();
        else expect(Object.is(out[c], want), `${kind} 0x${c.toString(16)}: ${out[c]} vs ${want}`).toBe(true);
      }
    }
  });

  it('rejects an unknown kind and a short dst', () => {
    expect(() => float8ToFloat32(new Uint8Array(1), 'e3m4' as Float8Kind)).toThrow(TypeError);
    expect(() => float8ToFloat32(new Uint8Array(3), 'e4m3fn', new Float32Array(2))).toThrow(RangeError);
  });
});

describe('float32ToFloat8', () => {
  it('encodes known e4m3fn values with RNE and saturation', () => {
    const s = newStats();
    expect(f8(1, 'e4m3fn', s)).toBe(0x38);
    expect(f8(448, 'e4m3fn', s)).toBe(0x7e);
    expect(f8(-448, 'e4m3fn', s)).toBe(0xfe);
    expect(f8(1.0625, 'e4m3fn', s)).toBe(0x38); // tie between 1 and 1.125 -> even
    expect(f8(1.1875, 'e4m3fn', s)).toBe(0x3a); // tie between 1.125 and 1.25 -> even
    expect(f8(2 ** -9, 'e4m3fn', s)).toBe(0x01);
    expect(f8(3 * 2 ** -10, 'e4m3fn', s)).toBe(0x02); // subnormal tie 1.5 -> 2
    expect(f8(-0, 'e4m3fn', s)).toBe(0x80);
    expect(s).toEqual({ clamped: 0, flushed: 0, nan: 0 });
    expect(f8(464, 'e4m3fn', s)).toBe(0x7e); // would round to 0x7F (NaN) -> clamp
    expect(f8(1e6, 'e4m3fn', s)).toBe(0x7e);
    expect(f8(-1e6, 'e4m3fn', s)).toBe(0xfe);
    expect(f8(Infinity, 'e4m3fn', s)).toBe(0x7e);
    expect(f8(-Infinity, 'e4m3fn', s)).toBe(0xfe);
    expect(s).toEqual({ clamped: 5, flushed: 0, nan: 0 });
    expect(f8(NaN, 'e4m3fn', s) & 0x7f).toBe(0x7f);
    expect(f8(2 ** -10, 'e4m3fn', s)).toBe(0x00); // half the smallest subnormal: tie -> 0
    expect(f8(-(2 ** -12), 'e4m3fn', s)).toBe(0x80);
    expect(s).toEqual({ clamped: 5, flushed: 2, nan: 1 });
  });

  it('encodes known e5m2 values with RNE and saturation', () => {
    const s = newStats();
    expect(f8(1, 'e5m2', s)).toBe(0x3c);
    expect(f8(57344, 'e5m2', s)).toBe(0x7b);
    expect(f8(1.125, 'e5m2', s)).toBe(0x3c); // tie -> even
    expect(f8(1.375, 'e5m2', s)).toBe(0x3e); // tie -> even
    expect(f8(2 ** -16, 'e5m2', s)).toBe(0x01);
    expect(s).toEqual({ clamped: 0, flushed: 0, nan: 0 });
    expect(f8(61440, 'e5m2', s)).toBe(0x7b); // would round to Inf -> clamp
    expect(f8(Infinity, 'e5m2', s)).toBe(0x7b); // ONNX Cast saturate=1
    expect(f8(-Infinity, 'e5m2', s)).toBe(0xfb);
    expect(s).toEqual({ clamped: 3, flushed: 0, nan: 0 });
    const n = f8(NaN, 'e5m2', s);
    expect(n & 0x7c).toBe(0x7c);
    expect(n & 0x03).not.toBe(0);
    expect(s.nan).toBe(1);
  });

  it('encodes the FNUZ kinds without negative zero', () => {
    const s = newStats();
    expect(f8(1, 'e4m3fnuz', s)).toBe(0x40);
    expect(f8(240, 'e4m3fnuz', s)).toBe(0x7f);
    expect(f8(-240, 'e4m3fnuz', s)).toBe(0xff);
    expect(f8(-0, 'e4m3fnuz', s)).toBe(0x00);
    expect(f8(-0, 'e5m2fnuz', s)).toBe(0x00);
    expect(f8(1, 'e5m2fnuz', s)).toBe(0x40);
    expect(f8(57344, 'e5m2fnuz', s)).toBe(0x7f);
    expect(s).toEqual({ clamped: 0, flushed: 0, nan: 0 });
    expect(f8(-(2 ** -20), 'e4m3fnuz', s)).toBe(0x00); // negative underflow -> +0, not NaN
    expect(f8(-(2 ** -20), 'e5m2fnuz', s)).toBe(0x00);
    expect(f8(1000, 'e4m3fnuz', s)).toBe(0x7f);
    expect(f8(-Infinity, 'e5m2fnuz', s)).toBe(0xff);
    expect(f8(NaN, 'e4m3fnuz', s)).toBe(0x80);
    expect(f8(NaN, 'e5m2fnuz', s)).toBe(0x80);
    expect(s).toEqual({ clamped: 2, flushed: 2, nan: 2 });
  });

  it('encodes e8m0 by rounding the magnitude up to a power of two (ONNX round_mode "up")', () => {
    const s = newStats();
    expect(f8(1, 'e8m0', s)).toBe(0x7f);
    expect(f8(3, 'e8m0', s)).toBe(0x81); // -> 4
    expect(f8(0.75, 'e8m0', s)).toBe(0x7f); // -> 1
    expect(f8(-4, 'e8m0', s)).toBe(0x81); // sign dropped
    expect(f8(2 ** 127, 'e8m0', s)).toBe(0xfe);
    expect(f8(0, 'e8m0', s)).toBe(0x00);
    expect(f8(2 ** -127, 'e8m0', s)).toBe(0x00);
    expect(f8(2 ** -130, 'e8m0', s)).toBe(0x00);
    expect(f8(2 ** -126, 'e8m0', s)).toBe(0x01);
    expect(s).toEqual({ clamped: 0, flushed: 0, nan: 0 });
    expect(f8(2 ** 127 * 1.5, 'e8m0', s)).toBe(0xfe);
    expect(f8(Infinity, 'e8m0', s)).toBe(0xfe);
    expect(f8(NaN, 'e8m0', s)).toBe(0xff);
    expect(s).toEqual({ clamped: 2, flushed: 0, nan: 1 });
  });

  it('round-trips every non-NaN, non-Inf code of every kind', () => {
    const all = new Uint8Array(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    for (const kind of KINDS) {
      const f = float8ToFloat32(all, kind);
      const back = float32ToFloat8(f, kind);
      for (let c = 0; c < 256; c++) {
        const v = f[c]!;
        if (Number.isNaN(v)) expect(Number.isNaN(f8val(back[c]!, kind)), `${kind} NaN 0x${c.toString(16)}`).toBe(true);
        else if (Number.isFinite(v)) expect(back[c], `${kind} 0x${c.toString(16)}`).toBe(c);
      }
    }
  });

  it('matches a brute-force nearest-even search on random values for the four float kinds', () => {
    for (const kind of ['e4m3fn', 'e4m3fnuz', 'e5m2', 'e5m2fnuz'] as const) {
      // finite codes and their values, from the spec formula
      const codes: number[] = [];
      for (let c = 0; c < 256; c++) if (Number.isFinite(specFloat8(c, kind))) codes.push(c);
      const maxV = Math.max(...codes.map((c) => specFloat8(c, kind)));
      const src = randomF32(5000, kind.startsWith('e4') ? -13 : -20, kind.startsWith('e4') ? 9 : 16, 11);
      const enc = float32ToFloat8(src, kind);
      for (let i = 0; i < src.length; i++) {
        const x = src[i]!;
        let want: number;
        if (Math.abs(x) > maxV) {
          want = codes.find((c) => specFloat8(c, kind) === (x < 0 ? -maxV : maxV))!;
        } else {
          let best = -1;
          let bestErr = Infinity;
          for (const c of codes) {
            const v = specFloat8(c, kind);
            if (Math.sign(v) !== 0 && Math.sign(v) !== Math.sign(x)) continue;
            const err = Math.abs(v - x);
            if (err < bestErr || (err === bestErr && (c & 1) === 0 && (best & 1) === 1)) {
              best = c;
              bestErr = err;
            }
          }
          want = best;
          // signed zero where the format has one
          if (specFloat8(want, kind) === 0) want = x < 0 && !kind.endsWith('fnuz') ? 0x80 : 0x00;
        }
        if (enc[i] !== want) {
          expect(`${kind} ${x} -> 0x${enc[i]!.toString(16)}`).toBe(`${kind} ${x} -> 0x${want.toString(16)}`);
        }
      }
    }
  });

  it('accepts Float64Array input without double rounding', () => {
    // float32 would round 1 + 2^-4 + 2^-40 to the e4m3 tie 1.0625 -> 1.0; correct is 1.125 (0x39)
    expect(float32ToFloat8(new Float64Array([1 + 2 ** -4 + 2 ** -40, 1 + 2 ** -4]), 'e4m3fn')).toEqual(new Uint8Array([0x39, 0x38]));
  });

  it('rejects an unknown kind', () => {
    expect(() => float32ToFloat8(new Float32Array(1), 'e3m4' as Float8Kind)).toThrow(TypeError);
  });
});

describe('float4e2m1ToFloat32', () => {
  it('decodes all 16 codes per the ONNX table, ignoring the high nibble', () => {
    const codes = new Uint8Array(16);
    for (let i = 0; i < 16; i++) codes[i] = i | (i === 3 ? 0xa0 : 0);
    const out = Array.from(float4e2m1ToFloat32(codes));
    expect(out).toEqual([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6]);
    expect(Object.is(out[8], -0)).toBe(true);
  });
});

describe('4-bit packing', () => {
  it('packs element i into the low nibble of byte i>>1 when even, high when odd, zero-padding odd counts', () => {
    expect(Array.from(pack4bit([1, 2, 3]))).toEqual([0x21, 0x03]);
    expect(Array.from(pack4bit([0xf, 0x0, 0x7]))).toEqual([0x0f, 0x07]);
    expect(Array.from(pack4bit([-1, -8, 7, -2, 5]))).toEqual([0x8f, 0xe7, 0x05]);
    expect(pack4bit([]).length).toBe(0);
  });

  it('unpacks signed INT4 with sign extension and odd counts', () => {
    const packed = new Uint8Array([0x8f, 0xe7, 0x05]);
    const out = unpack4bit(packed, 5, true);
    expect(out).toBeInstanceOf(Int8Array);
    expect(Array.from(out)).toEqual([-1, -8, 7, -2, 5]);
  });

  it('unpacks UINT4 with odd counts', () => {
    const out = unpack4bit(new Uint8Array([0x21, 0xf3]), 3, false);
    expect(out).toBeInstanceOf(Uint8Array);
    expect(Array.from(out)).toEqual([1, 2, 3]);
  });

  it('round-trips random INT4 and UINT4 data of odd and even lengths', () => {
    const r = rng(5);
    for (const n of [0, 1, 2, 7, 1000, 1001]) {
      const s = Array.from({ length: n }, () => Math.floor(r() * 16) - 8);
      const u = Array.from({ length: n }, () => Math.floor(r() * 16));
      const ps = pack4bit(s);
      expect(ps.length).toBe(Math.ceil(n / 2));
      if (n & 1) expect(ps[ps.length - 1]! >> 4).toBe(0);
      expect(Array.from(unpack4bit(ps, n, true))).toEqual(s);
      expect(Array.from(unpack4bit(pack4bit(u), n, false))).toEqual(u);
    }
  });

  it('feeds FLOAT4E2M1 unpacking', () => {
    const packed = pack4bit([0x7, 0xf, 0x1]);
    expect(Array.from(float4e2m1ToFloat32(unpack4bit(packed, 3, false) as Uint8Array))).toEqual([6, -6, 0.5]);
  });

  it('rejects bad input', () => {
    expect(() => pack4bit([16])).toThrow(RangeError);
    expect(() => pack4bit([-9])).toThrow(RangeError);
    expect(() => pack4bit([1.5])).toThrow(RangeError);
    expect(() => pack4bit([NaN])).toThrow(RangeError);
    expect(() => unpack4bit(new Uint8Array(1), 3, false)).toThrow(RangeError);
    expect(() => unpack4bit(new Uint8Array(1), -1, false)).toThrow(RangeError);
  });
});
