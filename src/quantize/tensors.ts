/**
 * Tensor data conversion float32 -> float16 / bfloat16 with the codecs of src/ir/float-codecs.ts: round to nearest
 * even on the bits, finite values beyond the range saturate to +-65504 (float16) or +-3.39e38 (bfloat16) and are
 * counted, non-zero values that round to zero are counted as flushed, NaN and infinities are kept.
 *
 * One exception to flushing: a tensor whose every non-zero value would flush (BERT's LayerNorm epsilon 1e-12 is below
 * float16's smallest subnormal 2^-24) keeps those values as the smallest subnormal of their sign, counted as
 * `raised`. Flushing a weight among many is the format's normal loss; a constant that vanishes changes what the graph
 * computes: sqrt(variance + 0) on a constant row divides 0 by 0.
 */
import { DataType, rawByteLength } from '../ir/dtype.js';
import { float32ToBFloat16, float32ToFloat16, type ConversionStats } from '../ir/float-codecs.js';
import { viewAs, type Tensor } from '../ir/tensor.js';
import { isLazy } from '../onnx/wire.js';
import type { TensorReport } from './report.js';

/** The float32 values of a tensor (external data is read without being cached on the tensor). */
export function float32Values(t: Tensor): Float32Array {
  return viewAs(DataType.FLOAT, t.readRawUncached()) as Float32Array;
}

/** Encodes float32 values to the low type's bits, adding to `stats` (see encodeConstant for whole constants). */
export function encodeLow(values: Float32Array, low: DataType, stats: ConversionStats): Uint16Array {
  return low === DataType.FLOAT16 ? float32ToFloat16(values, undefined, stats) : float32ToBFloat16(values, undefined, stats);
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
 * Converts a float32 tensor's data to the low type in place (the tensor becomes raw in-memory data) and describes
 * what happened.
 */
export function convertTensorInPlace(t: Tensor, low: DataType, kind: TensorReport['kind'], reportName = t.name): TensorReport {
  const before = t.byteLength;
  const stats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
  const streamed = encodeStreaming(t, low, stats);
  let bits: Uint16Array;
  let raised = 0;
  let scalar: number | undefined;
  if (streamed) bits = streamed;
  else {
    const values = float32Values(t);
    ({ bits, raised } = encodeConstant(values, low, stats));
    if (values.length === 1) scalar = values[0];
  }
  t.setData(bits, low);
  const report: TensorReport = { name: reportName, kind, elements: t.size, bytesBefore: before, bytesAfter: rawByteLength(low, t.size), ...stats, duplicated: false };
  if (raised) report.raised = raised;
  if (scalar !== undefined) report.scalar = scalar;
  return report;
}

/** Weights this large that are still only in the model file are converted chunk by chunk (see encodeStreaming). */
const STREAM_MIN_ELEMENTS = 1 << 18;
const CHUNK_ELEMENTS = 1 << 20;
let scratch: Float32Array | undefined;

/**
 * Converts a large float32 weight that has not been read yet straight from the model file, 4 MiB at a time through
 * one reused buffer, into its low-type array: the float32 data never occupies fresh memory (on the machines we
 * measured, first touch of new memory costs about as much as the conversion itself). Returns undefined when the
 * tensor is not such a weight, or in the rare case where every value flushed to zero (encodeConstant's rule then
 * needs the values, so the caller takes the ordinary path).
 */
function encodeStreaming(t: Tensor, low: DataType, stats: ConversionStats): Uint16Array | undefined {
  if (t.dataType !== DataType.FLOAT || t.size < STREAM_MIN_ELEMENTS) return undefined;
  const lazy = t.rawForWrite();
  if (!isLazy(lazy)) return undefined;
  scratch ??= new Float32Array(CHUNK_ELEMENTS);
  const bytes = new Uint8Array(scratch.buffer);
  const out = new Uint16Array(t.size);
  const local: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
  for (let at = 0; at < t.size; at += CHUNK_ELEMENTS) {
    const n = Math.min(CHUNK_ELEMENTS, t.size - at);
    lazy.readInto(bytes, at * 4, n * 4);
    const src = scratch.subarray(0, n);
    const dst = out.subarray(at, at + n);
    if (low === DataType.FLOAT16) float32ToFloat16(src, dst, local);
    else float32ToBFloat16(src, dst, local);
  }
  if (local.flushed > 0 && out.every((b) => (b & 0x7fff) === 0)) return undefined;
  stats.clamped += local.clamped;
  stats.flushed += local.flushed;
  stats.nan += local.nan;
  return out;
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
