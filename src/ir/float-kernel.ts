/**
 * The fast path of float32 -> float16 / bfloat16 conversion: a chunk kernel with its own input and output areas.
 *
 * Callers put up to KERNEL_CHUNK float32 values into `input` (read a file straight into it, or copy), then `encode`
 * gives the 16-bit values as a view of `output`, and `count` only counts what encoding would clamp, flush and turn
 * into NaN (a first pass that decides before anything is written). Results and counts are bit-identical to the
 * reference encoders of float-codecs.ts (test/ir/float-kernel.test.ts compares them over every float32 bit pattern
 * class; `npm run check:codecs` over all 2^32).
 *
 * Two implementations behind one interface: WebAssembly SIMD (src/ir/wasm/float-codecs.wat; about 2x the speed of
 * the JavaScript encoder, 5x for counting) and the JavaScript encoders themselves, used where WebAssembly SIMD is
 * unavailable or when AUTOGLM_SIMD=0 is set. One kernel per thread (`lowFloatKernel()`); everything here is
 * synchronous, so it is never used by two callers at once.
 */
import { DataType } from './dtype.js';
import { encodeBf16Range, encodeHalfRange, type ConversionStats } from './float-codecs.js';
import { WASM_BASE64 } from './wasm/float-codecs.wasm.js';

/** Elements per chunk. */
export const KERNEL_CHUNK = 1 << 20;

/** Counts of a pass over values: ConversionStats plus the number of non-zero values (to tell "all flushed"). */
export interface CodecCounts extends ConversionStats {
  nonzero: number;
}

export type LowFloatType = DataType.FLOAT16 | DataType.BFLOAT16;

export interface LowFloatKernel {
  readonly kind: 'wasm-simd' | 'js';
  /** KERNEL_CHUNK float32 values as bytes (to read into) and as bit patterns; the same memory */
  readonly input: Uint8Array;
  readonly inputBits: Uint32Array;
  /** Encodes input[0, n) into the output area and returns a view of it (valid until the next call). */
  encode(low: LowFloatType, n: number, stats?: ConversionStats): Uint16Array;
  /** Adds to `counts` what encoding input[0, n) would count, without encoding. */
  count(low: LowFloatType, n: number, counts: CodecCounts): void;
}

const STATS_AT = 0;
const INPUT_AT = 65536;
const OUTPUT_AT = INPUT_AT + KERNEL_CHUNK * 4;

/** The part of the WebAssembly API used here (the ES lib this project compiles against does not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  validate(bytes: Uint8Array): boolean;
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface WasmExports {
  memory: { buffer: ArrayBuffer };
  f16(src: number, dst: number, n: number): void;
  f16count(src: number, n: number): void;
  bf16(src: number, dst: number, n: number): void;
  bf16count(src: number, n: number): void;
}

function rangeEncoder(low: LowFloatType): typeof encodeHalfRange {
  return low === DataType.FLOAT16 ? encodeHalfRange : encodeBf16Range;
}

function checkCount(n: number): void {
  if (!(n >= 0 && n <= KERNEL_CHUNK && Number.isInteger(n))) throw new RangeError(`kernel chunk of ${n} elements (at most ${KERNEL_CHUNK})`);
}

/** Counting by the reference encoder into the output area, plus the non-zero values. */
function countByEncoding(bits: Uint32Array, from: number, scratch: Uint16Array, low: LowFloatType, n: number, counts: CodecCounts): void {
  rangeEncoder(low)(bits, from, scratch, from, n - from, counts);
  let nonzero = 0;
  for (let i = from; i < n; i++) if ((bits[i]! & 0x7fffffff) !== 0) nonzero++;
  counts.nonzero += nonzero;
}

function createWasmKernel(): LowFloatKernel {
  if (!wasmApi) throw new Error('WebAssembly is not available in this runtime');
  const module = new wasmApi.Module(Buffer.from(WASM_BASE64, 'base64'));
  const x = new wasmApi.Instance(module, {}).exports as WasmExports;
  const buffer = x.memory.buffer; // fixed size: the module never grows its memory
  const input = new Uint8Array(buffer, INPUT_AT, KERNEL_CHUNK * 4);
  const inputBits = new Uint32Array(buffer, INPUT_AT, KERNEL_CHUNK);
  const output = new Uint16Array(buffer, OUTPUT_AT, KERNEL_CHUNK);
  const raw = new Int32Array(buffer, STATS_AT, 4);
  const take = (): [number, number, number, number] => {
    const r: [number, number, number, number] = [raw[0]!, raw[1]!, raw[2]!, raw[3]!];
    raw.fill(0);
    return r;
  };
  return {
    kind: 'wasm-simd',
    input,
    inputBits,
    encode(low, n, stats) {
      checkCount(n);
      const body = n & ~3;
      (low === DataType.FLOAT16 ? x.f16 : x.bf16)(INPUT_AT, OUTPUT_AT, body);
      const [clamped, flushed, nan] = take();
      if (stats) {
        stats.clamped += clamped;
        stats.flushed += flushed;
        stats.nan += nan;
      }
      if (body < n) rangeEncoder(low)(inputBits, body, output, body, n - body, stats);
      return output.subarray(0, n);
    },
    count(low, n, counts) {
      checkCount(n);
      const body = n & ~3;
      (low === DataType.FLOAT16 ? x.f16count : x.bf16count)(INPUT_AT, body);
      const [clamped, flushed, nan, nonzero] = take();
      counts.clamped += clamped;
      counts.flushed += flushed;
      counts.nan += nan;
      counts.nonzero += nonzero;
      if (body < n) countByEncoding(inputBits, body, output, low, n, counts);
    },
  };
}

function createJsKernel(): LowFloatKernel {
  const inputBits = new Uint32Array(KERNEL_CHUNK);
  const output = new Uint16Array(KERNEL_CHUNK);
  return {
    kind: 'js',
    input: new Uint8Array(inputBits.buffer),
    inputBits,
    encode(low, n, stats) {
      checkCount(n);
      rangeEncoder(low)(inputBits, 0, output, 0, n, stats);
      return output.subarray(0, n);
    },
    count(low, n, counts) {
      checkCount(n);
      countByEncoding(inputBits, 0, output, low, n, counts);
    },
  };
}

/** Whether this runtime runs the WebAssembly SIMD kernel (validated, not assumed). */
export function wasmSimdAvailable(): boolean {
  try {
    return wasmApi?.validate(Buffer.from(WASM_BASE64, 'base64')) === true;
  } catch {
    return false;
  }
}

/** A new kernel of the given kind ('wasm-simd' throws where unavailable). For tests and benchmarks. */
export function createLowFloatKernel(kind: LowFloatKernel['kind']): LowFloatKernel {
  return kind === 'wasm-simd' ? createWasmKernel() : createJsKernel();
}

let shared: LowFloatKernel | undefined;

/** This thread's kernel: WebAssembly SIMD where it runs, unless AUTOGLM_SIMD=0; otherwise JavaScript. */
export function lowFloatKernel(): LowFloatKernel {
  shared ??= process.env.AUTOGLM_SIMD !== '0' && wasmSimdAvailable() ? createWasmKernel() : createJsKernel();
  return shared;
}

/**
 * Converts float32 values (any length) to the low type through the kernel, chunk by chunk. `dst` defaults to a new
 * array. Same result and counts as float32ToFloat16 / float32ToBFloat16 of float-codecs.ts.
 */
export function encodeFloat32(src: Float32Array, low: LowFloatType, dst?: Uint16Array, stats?: ConversionStats): Uint16Array {
  const out = dst ?? new Uint16Array(src.length);
  if (out.length < src.length) throw new RangeError(`encodeFloat32: dst has ${out.length} elements, need ${src.length}`);
  const k = lowFloatKernel();
  const f32 = new Float32Array(k.inputBits.buffer, k.inputBits.byteOffset, KERNEL_CHUNK);
  for (let at = 0; at < src.length; at += KERNEL_CHUNK) {
    const n = Math.min(KERNEL_CHUNK, src.length - at);
    f32.set(src.subarray(at, at + n));
    out.set(k.encode(low, n, stats), at);
  }
  return out;
}

/**
 * Reads `size` float32 values chunk by chunk through `read(into, firstElement, count)` (which fills
 * into[0, count * 4)) and calls `each(encoded, firstElement)` with every encoded chunk (a view valid during the call).
 */
export function encodeFloat32Stream(
  size: number,
  low: LowFloatType,
  read: (into: Uint8Array, first: number, count: number) => void,
  each: (encoded: Uint16Array, first: number) => void,
  stats?: ConversionStats,
): void {
  const k = lowFloatKernel();
  for (let at = 0; at < size; at += KERNEL_CHUNK) {
    const n = Math.min(KERNEL_CHUNK, size - at);
    read(k.input, at, n);
    each(k.encode(low, n, stats), at);
  }
}

/** The counts of converting `size` float32 values read as in encodeFloat32Stream, without encoding them. */
export function countFloat32Stream(size: number, low: LowFloatType, read: (into: Uint8Array, first: number, count: number) => void): CodecCounts {
  const k = lowFloatKernel();
  const counts: CodecCounts = { clamped: 0, flushed: 0, nan: 0, nonzero: 0 };
  for (let at = 0; at < size; at += KERNEL_CHUNK) {
    const n = Math.min(KERNEL_CHUNK, size - at);
    read(k.input, at, n);
    k.count(low, n, counts);
  }
  return counts;
}
