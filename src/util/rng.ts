/**
 * Seeded, platform-independent pseudo-random number generator.
 *
 * Generator: xoshiro128** (Blackman & Vigna), 32-bit state words, seeded via
 * splitmix32-style mixing (murmur3 fmix32 finaliser over a Weyl sequence).
 * Only 32-bit integer arithmetic (`Math.imul`, shifts, xor) is used, so the
 * stream is bit-identical on every JavaScript engine and platform.
 *
 * Seeds: any finite number. The seed's IEEE-754 float64 bit pattern is hashed,
 * so `0`, `1`, `2**32`, `-1` and `0.5` all give distinct streams (`-0` is
 * treated as `0`).
 *
 * Forking: `fork(label)` derives a child from this generator's *seed key* and
 * the label only. It neither reads nor advances the parent's state, so a child
 * stream does not depend on how many values the parent has drawn, and
 * `rng.fork('a')` always yields the same stream. Number and string labels are
 * distinct (`fork(1)` differs from `fork('1')`).
 */

const TWO_POW_32 = 4294967296;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** murmur3 32-bit finaliser; returns uint32. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash the float64 bit pattern of a finite number to a uint32 key. */
function seedKey(seed: number): number {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new RangeError(`Rng seed must be a finite number, got ${String(seed)}`);
  }
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, seed === 0 ? 0 : seed, false); // big-endian: platform independent
  const hi = view.getUint32(0, false);
  const lo = view.getUint32(4, false);
  return fmix32(lo ^ fmix32(hi ^ 0x9e3779b9));
}

/** Hash a fork label together with the parent's key. */
function labelKey(parentKey: number, label: string | number): number {
  let text: string;
  if (typeof label === 'number') {
    if (Number.isNaN(label)) throw new RangeError('Rng.fork label must not be NaN');
    text = 'n:' + String(label);
  } else if (typeof label === 'string') {
    text = 's:' + label;
  } else {
    throw new TypeError('Rng.fork label must be a string or a number');
  }
  // FNV-1a over UTF-16 code units, started from the parent's key.
  let h = (0x811c9dc5 ^ parentKey) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h ^ fmix32(parentKey + 0x632be5ab));
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** Key this stream was seeded from; used by fork(). */
  private key = 0;
  /** Second Box-Muller variate, cached between normal() calls. */
  private spare: number | null = null;

  constructor(seed: number) {
    this.seedFromKey(seedKey(seed));
  }

  /**
   * Build a generator from a raw xoshiro128** state (for known-answer tests and
   * interoperability). The state must not be all zero.
   */
  static fromState(s0: number, s1: number, s2: number, s3: number): Rng {
    const r = new Rng(0);
    r.s0 = s0 >>> 0;
    r.s1 = s1 >>> 0;
    r.s2 = s2 >>> 0;
    r.s3 = s3 >>> 0;
    if ((r.s0 | r.s1 | r.s2 | r.s3) === 0) {
      throw new RangeError('xoshiro128** state must not be all zero');
    }
    r.key = fmix32(r.s0 ^ fmix32(r.s1 ^ fmix32(r.s2 ^ fmix32(r.s3))));
    r.spare = null;
    return r;
  }

  private seedFromKey(key: number): void {
    this.key = key >>> 0;
    this.spare = null;
    let x = this.key;
    const sm = (): number => {
      x = (x + 0x9e3779b9) | 0;
      return fmix32(x);
    };
    this.s0 = sm();
    this.s1 = sm();
    this.s2 = sm();
    this.s3 = sm();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next uint32 in [0, 2^32). */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.next() / TWO_POW_32;
  }

  /**
   * Uniform integer in [lo, hiExclusive). Unbiased (rejection sampling).
   * Both bounds must be safe integers and the range at most 2^53.
   */
  int(lo: number, hiExclusive: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hiExclusive)) {
      throw new RangeError(`Rng.int bounds must be safe integers, got [${lo}, ${hiExclusive})`);
    }
    const range = hiExclusive - lo;
    if (!(range > 0)) {
      throw new RangeError(`Rng.int requires lo < hiExclusive, got [${lo}, ${hiExclusive})`);
    }
    if (range <= TWO_POW_32) {
      // Largest multiple of range that fits in 2^32.
      const limit = TWO_POW_32 - (TWO_POW_32 % range);
      let x = this.next();
      while (x >= limit) x = this.next();
      return lo + (x % range);
    }
    if (range > 2 ** 53) throw new RangeError('Rng.int range must be at most 2^53');
    // 53-bit draws: high 21 bits from one word, low 32 bits from another.
    const TWO_POW_53 = 2 ** 53;
    const limit = TWO_POW_53 - (TWO_POW_53 % range);
    for (;;) {
      const x = (this.next() >>> 11) * TWO_POW_32 + this.next();
      if (x < limit) return lo + (x % range);
    }
  }

  /** Standard normal variate (Box-Muller, mean 0, sd 1). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u1 = 1 - this.float(); // (0, 1]: log() stays finite
    const u2 = this.float();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Uniformly chosen element. Throws on an empty array. */
  pick<T>(arr: readonly T[]): T {
    if (arr.length === 0) throw new RangeError('Rng.pick on an empty array');
    return arr[this.int(0, arr.length)] as T;
  }

  /** Fisher-Yates shuffle, in place; returns the same array. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const tmp = arr[i] as T;
      arr[i] = arr[j] as T;
      arr[j] = tmp;
    }
    return arr;
  }

  /**
   * Independent deterministic child stream. Depends only on this generator's
   * seed key and the label; does not consume or modify this generator.
   */
  fork(label: string | number): Rng {
    const child = new Rng(0);
    child.seedFromKey(labelKey(this.key, label));
    return child;
  }

  /**
   * Fill with uniform values in [lo, hi) (float32-rounded; values that round up
   * to `hi` are redrawn). Returns `dst`.
   */
  fillUniform(dst: Float32Array, lo: number, hi: number): Float32Array {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi >= lo)) {
      throw new RangeError(`Rng.fillUniform requires finite lo <= hi, got [${lo}, ${hi})`);
    }
    const span = hi - lo;
    if (span === 0) return dst.fill(lo);
    const hi32 = Math.fround(hi);
    for (let i = 0; i < dst.length; i++) {
      let v = Math.fround(lo + this.float() * span);
      let guard = 0;
      while (v >= hi32 && guard++ < 64) v = Math.fround(lo + this.float() * span);
      dst[i] = v >= hi32 ? Math.fround(lo) : v;
    }
    return dst;
  }

  /** Fill with normal values N(mean, std^2). Returns `dst`. */
  fillNormal(dst: Float32Array, std: number, mean = 0): Float32Array {
    if (!Number.isFinite(std) || std < 0 || !Number.isFinite(mean)) {
      throw new RangeError(`Rng.fillNormal requires finite std >= 0 and mean, got std=${std}, mean=${mean}`);
    }
    for (let i = 0; i < dst.length; i++) dst[i] = mean + std * this.normal();
    return dst;
  }
}
