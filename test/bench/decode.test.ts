/**
 * --decode on the real torch export with past/present (gpt2-past-tiny): the KV-cache generation is proven against
 * the model run without a cache on the whole sequence (the same next-token choice at every position), candidates
 * are fed the same ids, and models without a cache are refused with a clear message.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decoderSignature, runDecodeBenchmark } from '../../src/bench/decode.js';
import { DataType } from '../../src/ir/dtype.js';
import { loadModel } from '../../src/onnx/io.js';
import { createSession, ortTensorFromArray } from '../../src/runtime/session.js';
import { tinyBert } from './models.js';

const FILE = path.resolve(__dirname, '../../fixtures/torch/gpt2-past-tiny.onnx');

describe('--decode', () => {
  it('pairs past inputs with present outputs', () => {
    const sig = decoderSignature(loadModel(FILE));
    expect(sig).toMatchObject({ ids: 'input_ids', mask: 'attention_mask', positions: null, logits: 'logits' });
    expect(sig.cache.map((c) => [c.past, c.present, c.axis, c.dims])).toEqual([
      ['past_key_values.0.key', 'present.0.key', 2, [1, 4, 0, 16]],
      ['past_key_values.0.value', 'present.0.value', 2, [1, 4, 0, 16]],
      ['past_key_values.1.key', 'present.1.key', 2, [1, 4, 0, 16]],
      ['past_key_values.1.value', 'present.1.value', 2, [1, 4, 0, 16]],
    ]);
    expect(() => decoderSignature(tinyBert())).toThrow(/--decode needs a decoder with past key\/value inputs/);
  });

  it('KV-cache decoding chooses what a full run without a cache chooses, at every position', async () => {
    const m = loadModel(FILE);
    const [s, c] = await runDecodeBenchmark(
      [
        { label: 'a', model: m, source: FILE },
        { label: 'b', model: m, source: FILE },
      ],
      { prompt: 8, tokens: 20, repeats: 2, seed: 3 },
    );
    expect(s!.tokens).toHaveLength(20);
    expect(s!.ttftSamples).toHaveLength(2);
    expect(s!.tpotSamples).toHaveLength(2 * 19);
    expect(s!.tokensPerSecond).toBeGreaterThan(0);
    expect(s!.cacheBytes).toBe(4 * (1 * 4 * (8 + 19) * 16) * 4);
    expect(s!.tokenAgreement).toBeNull();
    expect(c!.tokenAgreement).toBe(1);
    expect(c!.tokens).toEqual(s!.tokens);
    // the prompt is seeded: rebuild it the same way the benchmark does, then run prompt + generated ids without a cache
    const { Rng } = await import('../../src/util/rng.js');
    const rng = new Rng((3 ^ 0xdec0de) >>> 0);
    const prompt = Array.from({ length: 8 }, () => rng.int(0, 100));
    const seq = [...prompt, ...s!.tokens.slice(0, 19)];
    const sess = await createSession(FILE);
    const T = seq.length;
    const feeds: Record<string, ReturnType<typeof ortTensorFromArray>> = {
      input_ids: ortTensorFromArray(DataType.INT64, [1, T], BigInt64Array.from(seq, BigInt)),
      attention_mask: ortTensorFromArray(DataType.INT64, [1, T], new BigInt64Array(T).fill(1n)),
    };
    for (const l of [0, 1])
      for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = ortTensorFromArray(DataType.FLOAT, [1, 4, 0, 16], new Float32Array(0));
    const out = await sess.run(feeds);
    const logits = out.logits!.data as Float32Array;
    const argmaxAt = (t: number) => {
      let best = 0;
      for (let k = 1; k < 100; k++) if (logits[t * 100 + k]! > logits[t * 100 + best]!) best = k;
      return best;
    };
    const full = Array.from({ length: 20 }, (_, i) => argmaxAt(8 - 1 + i));
    expect(s!.tokens).toEqual(full);
    await sess.release();
  });

  it('says when the generation runs past the model context', async () => {
    const m = loadModel(FILE);
    await expect(runDecodeBenchmark([{ label: 'a', model: m, source: FILE }], { prompt: 40, tokens: 40, repeats: 1 })).rejects.toThrow(
      /decoding failed at step \d+ \(positions 64\.\.64; prompt 40 \+ 40 tokens may exceed the model's context\)/,
    );
  });
});
