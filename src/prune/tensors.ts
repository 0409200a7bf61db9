/**
 * Byte-level tensor edits for pruning: slicing whole units out of a weight along one axis, zeroing elements, and
 * per-index norms. Edits never write into the tensor they read (its bytes may be a view on the model file that other
 * copies share): each returns a new tensor with fresh raw bytes. Slicing and zeroing work on the raw layout, so every
 * element type of 8 bits or more is handled alike (float32, float16, bfloat16, double, int8, ...).
 */
import { dtypeBits, dtypeName, isFloatType } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';

export class PruneTensorError extends Error {}

/** Bytes per element; sub-byte types (int4, float4) cannot be sliced element-wise here. */
export function elementBytes(t: Tensor): number {
  const bits = dtypeBits(t.dataType);
  if (bits < 8 || bits % 8 !== 0) throw new PruneTensorError(`tensor ${t.name}: ${dtypeName(t.dataType)} elements are not whole bytes`);
  return bits / 8;
}

/** Whether pruning may edit this tensor: a float type of whole bytes. */
export function isPrunableFloat(t: Tensor): boolean {
  if (!isFloatType(t.dataType)) return false;
  const bits = dtypeBits(t.dataType);
  return bits >= 8 && bits % 8 === 0 && bits <= 64;
}

/**
 * Keeps the units `keep` (indices of blocks of `width` entries along `axis`, in the order given) and drops the rest:
 * the result has `keep.length * width` entries on that axis.
 */
export function sliceUnits(t: Tensor, axis: number, keep: readonly number[], width = 1): Tensor {
  const dims = t.dims;
  if (axis < 0 || axis >= dims.length) throw new PruneTensorError(`tensor ${t.name}: axis ${axis} out of range for [${dims}]`);
  const eb = elementBytes(t);
  const size = dims[axis];
  if (size % width !== 0) throw new PruneTensorError(`tensor ${t.name}: axis ${axis} of size ${size} is not a multiple of ${width}`);
  const units = size / width;
  for (const u of keep)
    if (!Number.isInteger(u) || u < 0 || u >= units) throw new PruneTensorError(`tensor ${t.name}: unit ${u} out of range (0..${units - 1})`);
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= dims[i];
  let inner = 1;
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i];
  const src = t.rawBytes();
  const block = width * inner * eb;
  const rowIn = size * inner * eb;
  const rowOut = keep.length * block;
  const out = new Uint8Array(outer * rowOut);
  if (block > 64) {
    for (let o = 0; o < outer; o++)
      for (let k = 0; k < keep.length; k++) {
        const from = o * rowIn + keep[k] * block;
        out.set(src.subarray(from, from + block), o * rowOut + k * block);
      }
  } else {
    // small blocks (a column of a MatMul weight): word copies beat a subarray per element
    const w = eb % 4 === 0 ? 4 : eb % 2 === 0 ? 2 : 1;
    const aligned = src.byteOffset % w === 0 ? src : src.slice();
    const Ctor = w === 4 ? Uint32Array : w === 2 ? Uint16Array : Uint8Array;
    const S = new Ctor(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / w);
    const D = new Ctor(out.buffer, 0, out.byteLength / w);
    const bw = block / w;
    const rowInW = rowIn / w;
    const rowOutW = rowOut / w;
    for (let o = 0; o < outer; o++)
      for (let k = 0; k < keep.length; k++) {
        const from = o * rowInW + keep[k] * bw;
        const to = o * rowOutW + k * bw;
        for (let j = 0; j < bw; j++) D[to + j] = S[from + j];
      }
  }
  const nd = [...dims];
  nd[axis] = keep.length * width;
  const r = Tensor.fromRaw(t.dataType, nd, out, t.name);
  r.docString = t.docString;
  return r;
}

/** A copy of `t` with the elements where `zero[i]` is 1 set to zero (all-zero bits: +0 for every float type). */
export function zeroElements(t: Tensor, zero: Uint8Array): Tensor {
  if (zero.length !== t.size) throw new PruneTensorError(`tensor ${t.name}: mask of ${zero.length} for ${t.size} elements`);
  const eb = elementBytes(t);
  // a weight still in the file is read into a fresh buffer (neither kept on `t` nor copied again)
  const out = t.lazyBytes()?.read() ?? t.rawBytes().slice();
  for (let i = 0; i < zero.length; i++) if (zero[i]) out.fill(0, i * eb, (i + 1) * eb);
  const r = Tensor.fromRaw(t.dataType, t.dims, out, t.name);
  r.docString = t.docString;
  return r;
}

/** The values as float32 (a view for float32 tensors: do not write into it). */
export function valuesOf(t: Tensor): Float32Array {
  return t.toFloat32();
}
