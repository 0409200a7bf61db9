/**
 * Tensor data conversion float32 -> float16 / bfloat16 through the kernel of src/ir/float-kernel.ts (bit-identical to
 * the reference codecs of src/ir/float-codecs.ts): round to nearest even on the bits, finite values beyond the range
 * saturate to +-65504 (float16) or +-3.39e38 (bfloat16) and are counted, non-zero values that round to zero are
 * counted as flushed, NaN and infinities are kept.
 *
 * One exception to flushing: a tensor whose every non-zero value would flush (BERT's LayerNorm epsilon 1e-12 is below
 * float16's smallest subnormal 2^-24) keeps those values as the smallest subnormal of their sign, counted as
 * `raised`. Flushing a weight among many is the format's normal loss; a constant that vanishes changes what the graph
 * computes: sqrt(variance + 0) on a constant row divides 0 by 0.
 */
import { DataType, rawByteLength } from '../ir/dtype.js';
import type { ConversionStats } from '../ir/float-codecs.js';
import { countFloat32Stream, encodeFloat32, encodeFloat32Stream, type LowFloatType } from '../ir/float-kernel.js';
import { viewAs, type Tensor } from '../ir/tensor.js';
import { LazyBytes } from '../bytes/sources.js';
import type { TensorReport } from './report.js';

/** The float32 values of a tensor (external data is read without being cached on the tensor). */
export function float32Values(t: Tensor): Float32Array {
  return viewAs(DataType.FLOAT, t.readRawUncached()) as Float32Array;
}

/** Encodes float32 values to the low type's bits, adding to `stats` (see encodeConstant for whole constants). */
export function encodeLow(values: Float32Array, low: DataType, stats: ConversionStats): Uint16Array {
  return encodeFloat32(values, low as LowFloatType, undefined, stats);
}

/**
 * Encodes a whole constant: as encodeLow, except that when every non-zero value flushed to zero, those values become
 * the smallest subnormal of their sign instead (returned as `raised`, no longer counted as flushed).
 */
export function encodeConstant(values: Float32Array, low: DataType, stats: ConversionStats): { bits: Uint16Array; raised: number } {
  const local: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
  const bits = encodeLow(values, low, local);
  let raised = 0;
  if (local.flushed > 0 && bits.every((b) => (b & 0x7fff) === 0)) {
    for (let i = 0; i < values.length; i++) {
      if (values[i] !== 0) {
        bits[i] = (bits[i] & 0x8000) | 0x0001;
        raised++;
      }
    }
    local.flushed -= raised;
  }
  stats.clamped += local.clamped;
  stats.flushed += local.flushed;
  stats.nan += local.nan;
  return { bits, raised };
}

/**
 * Converts a float32 tensor's data to the low type in place and describes what happened. A large weight still in the
 * model file or an external-data file is not converted now: the values are only counted (one pass through a reused buffer), and the tensor
 * becomes a ConvertedWeight, encoded when saved or first read. Anything else becomes raw in-memory data.
 */
export function convertTensorInPlace(t: Tensor, low: DataType, kind: TensorReport['kind'], reportName = t.name): TensorReport {
  const before = t.byteLength;
  const stats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
  const deferred = deferConversion(t, low as LowFloatType, stats);
  let raised = 0;
  let scalar: number | undefined;
  if (deferred) t.setLazy(deferred, low);
  else {
    const values = float32Values(t);
    let bits: Uint16Array;
    ({ bits, raised } = encodeConstant(values, low, stats));
    if (values.length === 1) scalar = values[0];
    t.setData(bits, low);
  }
  const report: TensorReport = {
    name: reportName,
    kind,
    elements: t.size,
    bytesBefore: before,
    bytesAfter: rawByteLength(low, t.size),
    ...stats,
    duplicated: false,
  };
  if (raised) report.raised = raised;
  if (scalar !== undefined) report.scalar = scalar;
  return report;
}

/** Weights this large that are still only in a file are converted when saved (see deferConversion). */
const DEFER_MIN_ELEMENTS = 1 << 18;

/**
 * The float16 / bfloat16 bytes of a float32 weight that is still in a file (the model's, or external data), produced
 * chunk by chunk when asked: saving streams them from the source file through the conversion kernel into the output
 * file, so neither the float32 values nor the converted ones are ever whole in memory (on the machines we measured,
 * first touch of fresh memory costs about as much as the conversion itself).
 */
export class ConvertedWeight extends LazyBytes {
  readonly length: number;
  constructor(
    readonly float32: LazyBytes,
    readonly low: LowFloatType,
  ) {
    super();
    this.length = float32.length / 2;
  }
  readInto(dst: Uint8Array, from: number, n: number): void {
    if (from < 0 || n < 0 || from + n > this.length) throw new RangeError(`bytes [${from}, ${from + n}) of ${this.length}`);
    const first = Math.floor(from / 2);
    const count = Math.ceil((from + n) / 2) - first;
    encodeFloat32Stream(
      count,
      this.low,
      (into, at, k) => this.float32.readInto(into, (first + at) * 4, k * 4),
      (encoded, at) => {
        const bytes = new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
        const chunkStart = (first + at) * 2;
        const lo = Math.max(from, chunkStart);
        const hi = Math.min(from + n, chunkStart + bytes.length);
        dst.set(bytes.subarray(lo - chunkStart, hi - chunkStart), lo - from);
      },
    );
  }
  /** The encoded chunks themselves, straight from the kernel's output (no copy into the writer's buffer). */
  override forEachPiece(sink: (piece: Uint8Array) => void, _buffer?: Uint8Array): void {
    encodeFloat32Stream(
      this.length / 2,
      this.low,
      (into, at, k) => this.float32.readInto(into, at * 4, k * 4),
      (encoded) => sink(new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength)),
    );
  }
}

/**
 * A ConvertedWeight for a large float32 weight still in a file, after counting what its conversion clamps
 * and flushes into `stats`; undefined when the tensor is not such a weight, or in the rare case where every value
 * flushes to zero (encodeConstant's rule then needs the values, so the caller takes the ordinary path).
 */
function deferConversion(t: Tensor, low: LowFloatType, stats: ConversionStats): ConvertedWeight | undefined {
  if (t.dataType !== DataType.FLOAT || t.size < DEFER_MIN_ELEMENTS) return undefined;
  const lazy = t.lazyBytes();
  if (!lazy) return undefined;
  const counts = countFloat32Stream(t.size, low, (into, first, count) => lazy.readInto(into, first * 4, count * 4));
  if (counts.flushed > 0 && counts.flushed === counts.nonzero) return undefined;
  stats.clamped += counts.clamped;
  stats.flushed += counts.flushed;
  stats.nan += counts.nan;
  return new ConvertedWeight(lazy, low);
}

/** A low-type copy of a float32 tensor under a new name (the original is left as it is). */
export function lowCopy(t: Tensor, low: DataType, name: string, kind: TensorReport['kind']): { tensor: Tensor; report: TensorReport } {
  const copy = t.clone(name);
  const report = convertTensorInPlace(copy, low, kind, t.name);
  report.duplicated = true;
  // the float32 original stays: the file grows by the copy
  report.bytesAfter = report.bytesBefore + report.bytesAfter;
  return { tensor: copy, report };
}

/** The largest finite value of each low type (bfloat16: 0x7F7F). */
const LOW_MAX: Record<number, number> = { [DataType.FLOAT16]: 65504, [DataType.BFLOAT16]: 3.3895313892515355e38 };
/** float32's largest finite value: torch.finfo(torch.float32).min/max, the "minus infinity" of attention masks. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * What converting float32 values to the low type would clamp, for deciding whether a constant fits: finite values
 * beyond its largest finite value (counted by the conversion kernel, without encoding) and the largest such magnitude.
 * float32's own extremes (+-3.4028235e38, exported masks' stand-in for infinity) are sentinels, not data: saturating
 * them to the low type's extreme keeps their meaning, so they are not counted here (the report still counts them as
 * clamped). External and file-backed data is streamed, not cached; values are only scanned when the count is not 0.
 */
export function rangeCheck(t: Tensor, low: DataType): { values: number; maxAbs: number } {
  if (t.dataType !== DataType.FLOAT || t.size === 0) return { values: 0, maxAbs: 0 };
  const lazy = t.lazyBytes();
  let counts: { clamped: number };
  if (lazy) counts = countFloat32Stream(t.size, low as LowFloatType, (into, first, count) => lazy.readInto(into, first * 4, count * 4));
  else {
    const raw = t.readRawUncached();
    counts = countFloat32Stream(t.size, low as LowFloatType, (into, first, count) => into.set(raw.subarray(first * 4, (first + count) * 4)));
  }
  if (!counts.clamped) return { values: 0, maxAbs: 0 };
  return scanRange(float32Values(t), low);
}

/** The same check for values given as numbers (a Constant's value_float / value_floats). */
export function rangeCheckValues(values: Float32Array, low: DataType): { values: number; maxAbs: number } {
  return scanRange(values, low);
}

function scanRange(values: Float32Array, low: DataType): { values: number; maxAbs: number } {
  const max = LOW_MAX[low];
  let n = 0;
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > max && a !== Number.POSITIVE_INFINITY && a !== FLOAT32_MAX) {
      n++;
      if (a > m) m = a;
    }
  }
  return { values: n, maxAbs: m };
}
