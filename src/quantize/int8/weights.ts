/**
 * The arithmetic of weight quantization, shared by the dynamic, int4 and static rewrites. Pure functions on typed
 * arrays: no IR here except reading a constant's float32 values.
 *
 *   symmetric int8 (per column of B [K, N], or per tensor):  s = max|w| / qmax,  q = clamp(rne(w / s), -qmax, qmax)
 *   asymmetric uint8:  lo = min(0, min w), hi = max(0, max w),  s = (hi - lo) / qmaxU,  zp = clamp(rne(-lo / s), 0, qmaxU)
 *   blockwise 4-bit along K (MatMulNBits), per column n and block b of `block` rows:
 *     asymmetric: s = (hi - lo) / 15, zp = clamp(rne(-lo / s), 0, 15), q = clamp(rne(w / s) + zp, 0, 15)
 *     symmetric:  s = max|w| / 8 with the sign of the extreme value (q = -8..7 around zero point 8; ORT's own choice)
 *
 * qmax is 127 (63 with reduce_range). A column of zeros gets scale 1 (any non-zero scale gives q = 0 exactly).
 * Scales that would not be a normal float32 (weights so small that max|w| / qmax is subnormal or underflows to 0) are
 * raised to FLT_MIN, the smallest normal float32, and counted (`tinyScales`): q stays in range and the error stays
 * below FLT_MIN / 2 per weight, where a subnormal scale may be flushed to zero by the runtime. Non-finite weights
 * (NaN, +-inf) cannot be quantized at all: they are counted (`nonFinite`) and the callers keep such nodes float.
 * `rne` rounds half to even, like the runtime's std::nearbyint, so a value quantized here and re-quantized by a
 * QuantizeLinear lands on the same integer.
 */
import { DataType } from '../../ir/dtype.js';
import { viewAs, type Tensor } from '../../ir/tensor.js';

/** The smallest normal float32: no quantization scale is written below it. */
export const FLT_MIN = 1.1754943508222875e-38;

/** The scale `range / q` as the float32 that is written, raised to FLT_MIN when it is not normal (see the header). */
export function safeScale(range: number, q: number): { scale: number; tiny: boolean } {
  const s = Math.fround(range / q);
  return s >= FLT_MIN ? { scale: s, tiny: false } : { scale: FLT_MIN, tiny: true };
}

/**
 * 1.5 * 2^52: for |x| < 2^51, (x + RNE_MAGIC) - RNE_MAGIC is x rounded to the nearest integer, ties to even (the
 * float64 addition rounds in the default mode). One add and one subtract instead of floor and a tie test.
 */
export const RNE_MAGIC = 6755399441055744;

export function rne(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; halves go to the even neighbour instead
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * float32 values of a constant without caching them on the tensor (a weight still in the model file is read into a
 * fresh buffer that is dropped with the float weight; an in-memory one is viewed, not copied).
 */
export function floatValues(t: Tensor): Float32Array {
  if (t.dataType !== DataType.FLOAT) return t.toFloat32();
  return viewAs(DataType.FLOAT, t.readRawUncached()) as Float32Array;
}

/**
 * Float32 values of weights read through one reused buffer: a weight still in the model file (or its external data) is
 * read into this reader's buffer, grown to the largest weight, instead of into a fresh array per weight (a BERT-base
 * reads 340 MB of weights: one allocation instead of 74, and no garbage). The values are valid until the next call;
 * in-memory weights are viewed as floatValues does.
 */
export class WeightReader {
  private buf = new Uint8Array(0);
  floats(t: Tensor): Float32Array {
    const lazy = t.dataType === DataType.FLOAT ? t.lazyBytes() : undefined;
    if (!lazy) return floatValues(t);
    const n = lazy.length;
    if (this.buf.length < n) this.buf = new Uint8Array(n);
    lazy.readInto(this.buf, 0, n);
    return viewAs(DataType.FLOAT, this.buf.subarray(0, n)) as Float32Array;
  }
}

export interface Int8Weights {
  /** [K, N] row-major (the layout DynamicQuantizeMatMul / MatMulInteger read) */
  q: Int8Array | Uint8Array;
  /** [N] per column, or [1] per tensor */
  scale: Float32Array;
  /** uint8 only: same length as scale */
  zeroPoint?: Uint8Array;
  /** weights that are NaN or infinite (the node must stay float) */
  nonFinite: number;
  /** scales raised to FLT_MIN */
  tinyScales: number;
}

export interface Int8Options {
  perChannel: boolean;
  weightType: 'int8' | 'uint8';
  reduceRange: boolean;
}

/**
 * Quantizes a matrix to 8 bits per output column. `transposed` says w is stored [N, K] (Gemm transB = 1); the result
 * is always [K, N].
 */
export function quantizeMatrix8(w: Float32Array, K: number, N: number, transposed: boolean, opts: Int8Options): Int8Weights {
  // element (k, n) sits at w[k * N + n], or at w[n * K + k] when transposed; loops run along memory order
  const rowStride = transposed ? 1 : N;
  const colStride = transposed ? K : 1;
  const pc = opts.perChannel;
  const groups = pc ? N : 1;
  const lo = new Float64Array(groups);
  const hi = new Float64Array(groups);
  if (pc && !transposed) {
    for (let k = 0; k < K; k++)
      for (let n = 0, i = k * N; n < N; n++, i++) {
        const v = w[i];
        if (v < lo[n]) lo[n] = v;
        else if (v > hi[n]) hi[n] = v;
      }
  } else {
    for (let n = 0; n < (pc ? N : 1); n++) {
      let a = 0;
      let b = 0;
      const end = pc ? (n + 1) * K : K * N;
      for (let i = pc ? n * K : 0; i < end; i++) {
        const v = w[i];
        if (v < a) a = v;
        else if (v > b) b = v;
      }
      lo[n] = a;
      hi[n] = b;
    }
  }
  const scale = new Float32Array(groups);
  const sym = opts.weightType === 'int8';
  const qmax = sym ? (opts.reduceRange ? 63 : 127) : opts.reduceRange ? 127 : 255;
  const qmin = sym ? -qmax : 0;
  const zp = sym ? undefined : new Uint8Array(groups);
  let tinyScales = 0;
  let nonFinite = 0;
  for (let g = 0; g < groups; g++) {
    const range = sym ? Math.max(-lo[g], hi[g]) : hi[g] - lo[g];
    if (range > 0 && Number.isFinite(range)) {
      const s = safeScale(range, qmax);
      scale[g] = s.scale;
      if (s.tiny) tinyScales++;
    } else scale[g] = 1;
    if (zp) zp[g] = Math.min(qmax, Math.max(0, rne(-lo[g] / scale[g])));
  }
  // per-column 1 / scale and zero point expanded to N entries (multiplying by the float64 reciprocal differs from
  // dividing only where w / s is within 1e-16 of a tie)
  const sN = new Float64Array(N);
  const zN = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    sN[n] = 1 / scale[pc ? n : 0];
    zN[n] = zp ? zp[pc ? n : 0] : 0;
  }
  // one monomorphic loop per output type (a loop storing into Int8Array | Uint8Array is several times slower);
  // `poison` turns NaN when any x is NaN or infinite (x * 0), counted exactly afterwards (rare)
  let poison = 0;
  let q: Int8Array | Uint8Array;
  if (sym) {
    const q8 = new Int8Array(K * N);
    for (let k = 0; k < K; k++) {
      const out = k * N;
      const base = k * rowStride;
      for (let n = 0; n < N; n++) {
        const x = w[base + n * colStride] * sN[n];
        poison += x * 0;
        const r = x + RNE_MAGIC - RNE_MAGIC;
        q8[out + n] = r > qmax ? qmax : r < qmin ? qmin : r;
      }
    }
    q = q8;
  } else {
    const qu = new Uint8Array(K * N);
    for (let k = 0; k < K; k++) {
      const out = k * N;
      const base = k * rowStride;
      for (let n = 0; n < N; n++) {
        const x = w[base + n * colStride] * sN[n];
        poison += x * 0;
        const r = x + RNE_MAGIC - RNE_MAGIC + zN[n];
        qu[out + n] = r > qmax ? qmax : r < qmin ? qmin : r;
      }
    }
    q = qu;
  }
  if (poison !== 0) nonFinite = countNonFinite(w);
  return zp ? { q, scale, zeroPoint: zp, nonFinite, tinyScales } : { q, scale, nonFinite, tinyScales };
}

/**
 * Symmetric int8 along `axis` 0 of a tensor viewed as [rows, rowSize] (Conv weights [M, C/g, kh, kw] per output
 * channel, embedding tables [V, D] per row). One scale per row, or one for all when `perRow` is false.
 */
export function quantizeRows8(
  w: Float32Array,
  rows: number,
  rowSize: number,
  perRow: boolean,
  qmax = 127,
): { q: Int8Array; scale: Float32Array; nonFinite: number; tinyScales: number } {
  const groups = perRow ? rows : 1;
  const amax = new Float64Array(groups);
  for (let r = 0; r < rows; r++) {
    const g = perRow ? r : 0;
    let a = amax[g];
    for (let i = r * rowSize, e = i + rowSize; i < e; i++) {
      const v = Math.abs(w[i]);
      if (v > a) a = v;
    }
    amax[g] = a;
  }
  const scale = new Float32Array(groups);
  let tinyScales = 0;
  let nonFinite = 0;
  for (let g = 0; g < groups; g++) {
    if (amax[g] > 0 && Number.isFinite(amax[g])) {
      const s = safeScale(amax[g], qmax);
      scale[g] = s.scale;
      if (s.tiny) tinyScales++;
    } else scale[g] = 1;
  }
  const q = new Int8Array(rows * rowSize);
  let poison = 0;
  for (let r = 0; r < rows; r++) {
    // the float64 reciprocal, as in quantizeMatrix8 (differs from dividing only within 1e-16 of a tie)
    const inv = 1 / scale[perRow ? r : 0];
    for (let i = r * rowSize, e = i + rowSize; i < e; i++) {
      const x = w[i] * inv;
      poison += x * 0;
      const v = x + RNE_MAGIC - RNE_MAGIC;
      q[i] = v > qmax ? qmax : v < -qmax ? -qmax : v;
    }
  }
  if (poison !== 0) nonFinite = countNonFinite(w);
  return { q, scale, nonFinite, tinyScales };
}

/** Symmetric int8 along the last axis of a row-major [K, N] matrix (per column); used for static MatMul weights. */
export function quantizeColumns8(
  w: Float32Array,
  K: number,
  N: number,
  perColumn: boolean,
  qmax = 127,
): { q: Int8Array; scale: Float32Array; nonFinite: number; tinyScales: number } {
  const r = quantizeMatrix8(w, K, N, false, { perChannel: perColumn, weightType: 'int8', reduceRange: qmax === 63 });
  return { q: r.q as Int8Array, scale: r.scale, nonFinite: r.nonFinite, tinyScales: r.tinyScales };
}

export interface NBitsWeights {
  /** uint8 [N, nBlocks, blockSize / 2] */
  packed: Uint8Array;
  /** float32 [N * nBlocks] */
  scales: Float32Array;
  /** uint8 [N, ceil(nBlocks / 2)] packed like B; absent for symmetric (runtime default zero point 8) */
  zeroPoints?: Uint8Array;
  nBlocks: number;
  /** weights that are NaN or infinite (the node must stay float) */
  nonFinite: number;
  /** block scales raised to +-FLT_MIN */
  tinyScales: number;
}

/**
 * 4-bit blockwise quantization of B [K, N] for com.microsoft::MatMulNBits: column n, block b covers rows
 * b*block .. b*block+block-1; element k of a block goes to byte k>>1, low nibble for even k, high nibble for odd k.
 * Rows past K (the last block when K is not a multiple of the block) are stored as the zero point (dequantize to 0).
 */
export function quantizeNBits4(w: Float32Array, K: number, N: number, block: number, symmetric: boolean): NBitsWeights {
  const nBlocks = Math.ceil(K / block);
  const blob = block / 2;
  const packed = new Uint8Array(N * nBlocks * blob);
  const scales = new Float32Array(N * nBlocks);
  const zpBytes = Math.ceil(nBlocks / 2);
  const zeroPoints = symmetric ? undefined : new Uint8Array(N * zpBytes);
  const qs = new Uint8Array(block);
  let nonFinite = 0;
  let tinyScales = 0;
  for (let n = 0; n < N; n++)
    for (let b = 0; b < nBlocks; b++) {
      const k0 = b * block;
      const k1 = Math.min(K, k0 + block);
      let scale: number;
      let zp: number;
      if (symmetric) {
        // the value of largest magnitude maps to -8 (ORT's MatMul4BitsQuantizer does the same): range -8..7 is used fully
        let ext = 0;
        for (let k = k0; k < k1; k++) {
          const v = w[k * N + n];
          if (Math.abs(v) > Math.abs(ext)) ext = v;
        }
        if (ext !== 0 && Number.isFinite(ext)) {
          const s = safeScale(Math.abs(ext), 8);
          scale = ext > 0 ? -s.scale : s.scale;
          if (s.tiny) tinyScales++;
        } else scale = 1;
        zp = 8;
      } else {
        let lo = 0;
        let hi = 0;
        for (let k = k0; k < k1; k++) {
          const v = w[k * N + n];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        const range = hi - lo;
        if (range > 0 && Number.isFinite(range)) {
          const s = safeScale(range, 15);
          scale = s.scale;
          if (s.tiny) tinyScales++;
        } else scale = 1;
        zp = Math.min(15, Math.max(0, rne(-lo / scale)));
      }
      scales[n * nBlocks + b] = scale;
      qs.fill(zp);
      for (let k = k0; k < k1; k++) {
        const x = w[k * N + n] / scale;
        if (x - x !== 0) nonFinite++;
        const v = rne(x) + zp;
        qs[k - k0] = v > 15 ? 15 : v < 0 ? 0 : v;
      }
      const base = (n * nBlocks + b) * blob;
      for (let i = 0; i < blob; i++) packed[base + i] = qs[2 * i] | (qs[2 * i + 1] << 4);
      if (zeroPoints) {
        const zi = n * zpBytes + (b >> 1);
        zeroPoints[zi] |= (b & 1) === 0 ? zp : zp << 4;
      }
    }
  return { packed, scales, zeroPoints, nBlocks, nonFinite, tinyScales };
}

/** The float32 matrix [K, N] that MatMulNBits computes with (for tests and error estimates). */
export function dequantizeNBits4(q: NBitsWeights, K: number, N: number, block: number): Float32Array {
  const out = new Float32Array(K * N);
  const blob = block / 2;
  const zpBytes = Math.ceil(q.nBlocks / 2);
  for (let n = 0; n < N; n++)
    for (let b = 0; b < q.nBlocks; b++) {
      const s = q.scales[n * q.nBlocks + b];
      const zb = q.zeroPoints ? q.zeroPoints[n * zpBytes + (b >> 1)] : 8;
      const zp = q.zeroPoints ? ((b & 1) === 0 ? zb & 15 : zb >> 4) : 8;
      for (let k = b * block; k < Math.min(K, (b + 1) * block); k++) {
        const i = k - b * block;
        const byte = q.packed[(n * q.nBlocks + b) * blob + (i >> 1)];
        const v = (i & 1) === 0 ? byte & 15 : byte >> 4;
        out[k * N + n] = (v - zp) * s;
      }
    }
  return out;
}

/**
 * Activation quantization parameters from a calibrated range (the range always includes 0, so 0 is exact). A range
 * whose scale would not be a normal float32 gets FLT_MIN (`tiny`); a non-finite range cannot be quantized (callers
 * check finiteRange first).
 */
export function activationParams(lo: number, hi: number, type: 'uint8' | 'int8', symmetric: boolean): { scale: number; zeroPoint: number; tiny: boolean } {
  lo = Math.min(0, lo);
  hi = Math.max(0, hi);
  const [qmin, qmax] = type === 'uint8' ? [0, 255] : [-128, 127];
  const span = symmetric ? 2 * Math.max(-lo, hi) : hi - lo;
  const s = span > 0 && Number.isFinite(span) ? safeScale(span, qmax - qmin) : { scale: 1, tiny: false };
  if (symmetric) return { scale: s.scale, zeroPoint: type === 'uint8' ? 128 : 0, tiny: s.tiny };
  const zeroPoint = Math.min(qmax, Math.max(qmin, rne(qmin - lo / s.scale)));
  return { scale: s.scale, zeroPoint, tiny: s.tiny };
}

/** The warning for scales raised to FLT_MIN, or null when there were none. */
export function tinyScaleWarning(what: string, tiny: number, total: number): string | null {
  return tiny
    ? `${what}: ${tiny} of ${total} scale(s) would be below the smallest normal float32 (values that small, near 1e-36, round to 0 in a subnormal scale the runtime may flush); written as ${FLT_MIN.toExponential(3)} instead`
    : null;
}

/** How many values are NaN or infinite. */
export function countNonFinite(w: Float32Array): number {
  let n = 0;
  for (let i = 0; i < w.length; i++) if (w[i] - w[i] !== 0) n++;
  return n;
}

/** Whether a calibrated range can be quantized (both ends finite numbers). */
export const finiteRange = (lo: number, hi: number): boolean => Number.isFinite(lo) && Number.isFinite(hi);

/**
 * A float bias as int32 at scale `scale[m]` (static int8: input scale x weight scale), or null when a value does not
 * fit: |b / s| beyond int32, or a scale that is not a normal positive float32. Such a bias must stay float.
 */
export function quantizeBias32(b: Float32Array, scale: Float32Array): Int32Array | null {
  const out = new Int32Array(b.length);
  for (let m = 0; m < b.length; m++) {
    const s = scale[m];
    if (!(s >= FLT_MIN) || !Number.isFinite(s)) return null;
    const r = rne(b[m] / s);
    if (!(r >= -(2 ** 31) && r <= 2 ** 31 - 1)) return null;
    out[m] = r;
  }
  return out;
}
