/**
 * The quantization arithmetic against a plain reference: q = clamp(rne(w / s) + zp) element by element, for every
 * layout and type the rewrites use, on random values and on exact ties (where floor(x + 0.5) and round-half-even
 * differ). The fast loops (one per output type, magic-number rounding) must give the same integers.
 */
import { describe, expect, it } from 'vitest';
import { quantizeMatrix8, quantizeRows8, rne } from '../../../src/quantize/int8/weights.js';
import { Rng } from '../../../src/util/rng.js';

function reference(w: Float32Array, K: number, N: number, transposed: boolean, scale: Float32Array, zp: Uint8Array | undefined, qmin: number, qmax: number) {
  const out: number[] = [];
  for (let k = 0; k < K; k++)
    for (let n = 0; n < N; n++) {
      const g = scale.length === 1 ? 0 : n;
      const v = rne(w[transposed ? n * K + k : k * N + n]! * (1 / scale[g]!)) + (zp ? zp[g]! : 0);
      out.push(Math.min(qmax, Math.max(qmin, v)));
    }
  return out;
}

describe('quantizeMatrix8 / quantizeRows8 integers', () => {
  const K = 37;
  const N = 19;
  const w = new Rng(4).fillNormal(new Float32Array(K * N), 1);
  // exact ties: column 0 scaled so that w / s lands on k + 0.5 for every k (s = max / 127 with max = 127.5 * s ...)
  for (let k = 0; k < K; k++) w[k * N] = (k % 20) - 9.5;
  w[(K - 1) * N] = 127; // sets column 0's scale to exactly 1

  it.each([
    ['int8 per channel', false, 'int8', true, false],
    ['int8 per channel, transposed', true, 'int8', true, false],
    ['int8 per tensor, reduce range', false, 'int8', false, true],
    ['uint8 per channel', false, 'uint8', true, false],
    ['uint8 per tensor, transposed', true, 'uint8', false, false],
  ] as const)('%s', (_, transposed, weightType, perChannel, reduceRange) => {
    const src = transposed ? Float32Array.from({ length: K * N }, (_, i) => w[(i % K) * N + Math.floor(i / K)]!) : w;
    const r = quantizeMatrix8(src, K, N, transposed, { perChannel, weightType, reduceRange });
    const sym = weightType === 'int8';
    const qmax = sym ? (reduceRange ? 63 : 127) : reduceRange ? 127 : 255;
    expect([...r.q]).toEqual(reference(src, K, N, transposed, r.scale, r.zeroPoint, sym ? -qmax : 0, qmax));
    if (sym && perChannel)
      expect([...r.q.filter((_, i) => i % N === 0)].slice(0, 20)).toEqual([-10, -8, -8, -6, -6, -4, -4, -2, -2, 0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10]);
  });

  it('rows', () => {
    const r = quantizeRows8(w, K, N, true);
    for (let row = 0; row < K; row++)
      for (let j = 0; j < N; j++) expect(r.q[row * N + j]).toBe(Math.min(127, Math.max(-127, rne(w[row * N + j]! * (1 / r.scale[row]!)))) + 0);
  });
});
