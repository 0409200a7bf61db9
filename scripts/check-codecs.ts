/**
 * npm run check:codecs — compares the SIMD kernel (src/ir/float-kernel.ts) with the reference encoders of
 * src/ir/float-codecs.ts on every one of the 2^32 float32 bit patterns, for float16 and bfloat16: encoded bits,
 * clamped / flushed / NaN counts, and the counting pass. About a minute per format; the test suite checks a
 * boundary sample of 2 M patterns instead. Prints the kernel's speed on the way.
 */
import { DataType } from '../src/ir/dtype.js';
import { encodeBf16Range, encodeHalfRange, type ConversionStats } from '../src/ir/float-codecs.js';
import { KERNEL_CHUNK, createLowFloatKernel, type CodecCounts, type LowFloatType } from '../src/ir/float-kernel.js';

const kernel = createLowFloatKernel('wasm-simd');
const reference = new Uint16Array(KERNEL_CHUNK);
let failed = false;
for (const [label, low, encode] of [
  ['float16', DataType.FLOAT16, encodeHalfRange],
  ['bfloat16', DataType.BFLOAT16, encodeBf16Range],
] as [string, LowFloatType, typeof encodeHalfRange][]) {
  const refStats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
  const stats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
  const counts: CodecCounts = { clamped: 0, flushed: 0, nan: 0, nonzero: 0 };
  let mismatches = 0;
  let kernelMs = 0;
  const t0 = performance.now();
  for (let chunk = 0; chunk < 2 ** 32 / KERNEL_CHUNK; chunk++) {
    const base = chunk * KERNEL_CHUNK;
    const bits = kernel.inputBits;
    for (let i = 0; i < KERNEL_CHUNK; i++) bits[i] = base + i;
    encode(bits, 0, reference, 0, KERNEL_CHUNK, refStats);
    const t = performance.now();
    kernel.count(low, KERNEL_CHUNK, counts);
    const out = kernel.encode(low, KERNEL_CHUNK, stats);
    kernelMs += performance.now() - t;
    for (let i = 0; i < KERNEL_CHUNK; i++) {
      if (out[i] !== reference[i] && mismatches++ < 10)
        console.log(`  ${label} 0x${(base + i).toString(16)}: kernel 0x${out[i]!.toString(16)}, reference 0x${reference[i]!.toString(16)}`);
    }
  }
  const countsOk =
    stats.clamped === refStats.clamped &&
    stats.flushed === refStats.flushed &&
    stats.nan === refStats.nan &&
    counts.clamped === refStats.clamped &&
    counts.flushed === refStats.flushed &&
    counts.nan === refStats.nan &&
    counts.nonzero === 2 ** 32 - 2;
  console.log(
    `${label}: 2^32 patterns, ${mismatches} mismatches, counts ${countsOk ? 'equal' : 'DIFFER'} (clamped ${refStats.clamped}, flushed ${refStats.flushed}, NaN ${refStats.nan}); ` +
      `kernel count+encode ${((2 * 2 ** 32) / kernelMs / 1e3).toFixed(0)} M elements/s; ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  if (mismatches || !countsOk) failed = true;
}
process.exit(failed ? 1 : 0);
