import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { float32ToBFloat16, float32ToFloat16, type ConversionStats } from '../../src/ir/float-codecs.js';
import {
  KERNEL_CHUNK,
  countFloat32Stream,
  createLowFloatKernel,
  encodeFloat32,
  encodeFloat32Stream,
  lowFloatKernel,
  wasmSimdAvailable,
  type CodecCounts,
  type LowFloatKernel,
  type LowFloatType,
} from '../../src/ir/float-kernel.js';
import { assembleWat, renderWasmModule } from '../../scripts/wasm-assemble.js';

const LOWS: [string, LowFloatType, typeof float32ToFloat16][] = [
  ['float16', DataType.FLOAT16, float32ToFloat16],
  ['bfloat16', DataType.BFLOAT16, float32ToBFloat16],
];

/**
 * Every combination of the upper 16 bits (sign, exponent, top 7 mantissa bits) with low halves that sit on and next
 * to every rounding boundary either format has (bit 12/13 for float16 normals, bit 15/16 for bfloat16, bits above
 * for float16 subnormals through the upper half), plus random ones: 65536 x 32 patterns.
 */
function boundaryPatterns(): Uint32Array {
  const lows = [0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x2001, 0x3000, 0x7fff, 0x8000, 0x8001, 0x9000, 0xbfff, 0xc000, 0xffff];
  let seed = 12345;
  while (lows.length < 32) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    lows.push(seed >>> 16);
  }
  const out = new Uint32Array(65536 * lows.length);
  let i = 0;
  for (let hi = 0; hi < 65536; hi++) for (const lo of lows) out[i++] = ((hi << 16) | lo) >>> 0;
  return out;
}

const newCounts = (): CodecCounts => ({ clamped: 0, flushed: 0, nan: 0, nonzero: 0 });

function runKernel(k: LowFloatKernel, low: LowFloatType, bits: Uint32Array): { out: Uint16Array; stats: ConversionStats; counts: CodecCounts } {
  const out = new Uint16Array(bits.length);
  const stats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
  const counts = newCounts();
  for (let at = 0; at < bits.length; at += KERNEL_CHUNK) {
    const n = Math.min(KERNEL_CHUNK, bits.length - at);
    k.inputBits.set(bits.subarray(at, at + n));
    k.count(low, n, counts);
    out.set(k.encode(low, n, stats), at);
  }
  return { out, stats, counts };
}

function firstDifference(a: Uint16Array, b: Uint16Array, bits: Uint32Array): string | undefined {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `0x${bits[i]!.toString(16)}: 0x${a[i]!.toString(16)} vs 0x${b[i]!.toString(16)}`;
  return undefined;
}

const patterns = boundaryPatterns();
const kinds = (wasmSimdAvailable() ? ['wasm-simd', 'js'] : ['js']) as LowFloatKernel['kind'][];

describe('float kernel', () => {
  it('runs WebAssembly SIMD on this Node (the project requires Node 20, which has it)', () => {
    expect(wasmSimdAvailable()).toBe(true);
    expect(lowFloatKernel().kind).toBe(process.env.AUTOGLM_SIMD === '0' ? 'js' : 'wasm-simd');
  });

  for (const kind of kinds) {
    for (const [label, low, reference] of LOWS) {
      it(`${kind} ${label}: bit-identical to the reference encoder, with the same counts, on rounding boundaries`, () => {
        const f32 = new Float32Array(patterns.buffer);
        const refStats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
        const expected = reference(f32, undefined, refStats);
        const got = runKernel(createLowFloatKernel(kind), low, patterns);
        expect(firstDifference(got.out, expected, patterns)).toBeUndefined();
        expect(got.stats).toEqual(refStats);
        let nonzero = 0;
        for (const b of patterns) if ((b & 0x7fffffff) !== 0) nonzero++;
        expect(got.counts).toEqual({ ...refStats, nonzero });
        // the patterns do reach every case
        expect(refStats.clamped).toBeGreaterThan(0);
        expect(refStats.flushed).toBeGreaterThan(0);
        expect(refStats.nan).toBeGreaterThan(0);
      });

      it(`${kind} ${label}: lengths that are not a multiple of the SIMD width, and counts that add up across calls`, () => {
        const k = createLowFloatKernel(kind);
        const values = Float32Array.from([70000, -1e-30, 1e-8, Number.NaN, -Infinity, 0.1, -2.5, 65504, 65520, 3e38, -0, 1e-45, 7]);
        for (const n of [0, 1, 2, 3, 5, 7, 11, 13]) {
          const src = values.subarray(0, n);
          const refStats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
          const expected = reference(src, undefined, refStats);
          new Float32Array(k.inputBits.buffer, k.inputBits.byteOffset, n).set(src);
          const stats: ConversionStats = { clamped: 1, flushed: 1, nan: 1 };
          expect([...k.encode(low, n, stats)]).toEqual([...expected]);
          expect(stats).toEqual({ clamped: refStats.clamped + 1, flushed: refStats.flushed + 1, nan: refStats.nan + 1 });
          const counts = newCounts();
          k.count(low, n, counts);
          k.count(low, n, counts);
          expect(counts.clamped).toBe(2 * refStats.clamped);
          expect(counts.nonzero).toBe(2 * [...src].filter((v) => v !== 0).length);
        }
        expect(() => k.encode(low, KERNEL_CHUNK + 1)).toThrow(RangeError);
      });
    }
  }

  it('encodeFloat32 and the stream helpers agree with the reference across chunk boundaries', () => {
    const n = KERNEL_CHUNK * 2 + 7;
    const src = new Float32Array(n);
    let s = 7;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      src[i] = (s / 2 ** 32 - 0.5) * (i % 1000 === 0 ? 2e5 : 0.2);
    }
    for (const [, low, reference] of LOWS) {
      const refStats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
      const expected = reference(src, undefined, refStats);
      const stats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
      expect(Buffer.from(encodeFloat32(src, low, undefined, stats).buffer).equals(Buffer.from(expected.buffer))).toBe(true);
      expect(stats).toEqual(refStats);
      const bytes = new Uint8Array(src.buffer);
      const read = (into: Uint8Array, first: number, count: number) => into.set(bytes.subarray(first * 4, (first + count) * 4));
      const streamed = new Uint16Array(n);
      encodeFloat32Stream(n, low, read, (encoded, first) => streamed.set(encoded, first));
      expect(Buffer.from(streamed.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
      const counts = countFloat32Stream(n, low, read);
      expect({ clamped: counts.clamped, flushed: counts.flushed, nan: counts.nan }).toEqual(refStats);
      if (low === DataType.FLOAT16) expect(refStats.clamped).toBeGreaterThan(0);
    }
  });

  it('the committed module is what src/ir/wasm/float-codecs.wat assembles to (run npm run build:wasm after editing it)', async () => {
    const wat = fs.readFileSync(new URL('../../src/ir/wasm/float-codecs.wat', import.meta.url), 'utf8');
    const committed = fs.readFileSync(new URL('../../src/ir/wasm/float-codecs.wasm.ts', import.meta.url), 'utf8');
    expect(committed).toBe(renderWasmModule(await assembleWat(wat, 'float-codecs.wat'), 'src/ir/wasm/float-codecs.wat'));
  });
});
