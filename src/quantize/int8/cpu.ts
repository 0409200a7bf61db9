/**
 * Which int8 weight type suits this CPU, and why (the text `--explain` prints).
 *
 * onnxruntime's x86 integer GEMMs multiply uint8 activations by int8 weights (U8S8). Without VNNI they use
 * VPMADDUBSW, which adds pairs of u8*s8 products into a saturating int16: with full-range weights (|q| up to 127) and
 * activations up to 255, two products can pass 32767 and the sum clips. onnxruntime's documentation recommends
 * `reduce_range` (7-bit weights, |q| <= 63) on such CPUs, or uint8 weights (U8U8, slower). AVX-512 VNNI and AVX-VNNI
 * (VPDPBUSD) accumulate in int32 directly: no saturation, full 8-bit weights. ARM64 (SDOT/UDOT, SMMLA) has no such
 * issue either.
 *
 * Features come from /proc/cpuinfo `flags` on Linux; elsewhere (or when unreadable) the recommendation is the
 * conservative one for x86 and says that the flags were not read.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface CpuFeatures {
  arch: string;
  avx2: boolean;
  avx512bw: boolean;
  avx512vnni: boolean;
  avxVnni: boolean;
  amxInt8: boolean;
  /** false when no flags could be read (not Linux, or /proc/cpuinfo unreadable) */
  known: boolean;
}

export interface Int8Recommendation {
  /** element type of quantized weights */
  weightType: 'int8' | 'uint8';
  /** 7-bit weights (|q| <= 63) to avoid U8S8 saturation without VNNI */
  reduceRange: boolean;
  /** one or two sentences for `--explain` */
  reason: string;
  features: CpuFeatures;
}

/** Parses the `flags` line of /proc/cpuinfo text (first processor). */
export function parseCpuFlags(cpuinfo: string, arch = os.arch()): CpuFeatures {
  const line = cpuinfo.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  const flags = new Set(
    line
      ? line
          .slice(line.indexOf(':') + 1)
          .trim()
          .split(/\s+/)
      : [],
  );
  return {
    arch,
    avx2: flags.has('avx2'),
    avx512bw: flags.has('avx512bw'),
    avx512vnni: flags.has('avx512_vnni'),
    avxVnni: flags.has('avx_vnni'),
    amxInt8: flags.has('amx_int8'),
    known: !!line,
  };
}

/** Reads this machine's CPU features (Linux /proc/cpuinfo). */
export function detectCpuFeatures(): CpuFeatures {
  let text = '';
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux, or no procfs: unknown features
  }
  return parseCpuFlags(text);
}

/** The int8 weight settings recommended for the given (default: this machine's) CPU features. */
export function recommendInt8(features: CpuFeatures = detectCpuFeatures()): Int8Recommendation {
  const f = features;
  const x86 = f.arch === 'x64' || f.arch === 'ia32';
  if (!x86)
    return {
      weightType: 'int8',
      reduceRange: false,
      features: f,
      reason: `${f.arch}: integer dot products accumulate without int16 saturation; int8 weights at full range`,
    };
  if (f.avx512vnni || f.avxVnni || f.amxInt8) {
    const which = [f.avx512vnni && 'AVX512-VNNI', f.avxVnni && 'AVX-VNNI', f.amxInt8 && 'AMX-INT8'].filter(Boolean).join(', ');
    return {
      weightType: 'int8',
      reduceRange: false,
      features: f,
      reason: `this CPU has ${which}: u8 x s8 products accumulate in int32 (no saturation); int8 weights at full range`,
    };
  }
  if (!f.known)
    return {
      weightType: 'int8',
      reduceRange: true,
      features: f,
      reason:
        'CPU flags unknown (no /proc/cpuinfo): assuming no VNNI, so 7-bit weights (reduce_range) avoid the u8 x s8 int16 saturation of AVX2/AVX-512 kernels',
    };
  const isa = f.avx512bw ? 'AVX-512BW' : f.avx2 ? 'AVX2' : 'SSE';
  return {
    weightType: 'int8',
    reduceRange: true,
    features: f,
    reason: `this CPU has ${isa} without VNNI: onnxruntime's u8 x s8 kernel (VPMADDUBSW) can saturate int16 with full-range weights, so weights use 7 bits (reduce_range); uint8 weights avoid it too but run slower`,
  };
}
