/**
 * `bench --decode --prompt P --tokens N`: KV-cache decoding of decoder models whose inputs include the past keys and
 * values and whose outputs include the presents (as torch and Optimum export GPT-2 and LLaMA with use_cache).
 *
 * One generation: a prefill run on the P prompt ids with an empty past (past axis 0) gives the first token (time to
 * first token, TTFT); then N - 1 decode steps, each on one id with the previous step's presents fed back as the past
 * (time per output token, TPOT). Tokens/s = N / (TTFT + the decode steps' time).
 *
 * Every model is fed the same ids: the prompt is seeded (ids below the vocabulary size, the logits' last axis), and
 * the continuation is the baseline's greedy choice, found in an untimed first generation. So every model does the
 * same work at every step, and a candidate's next-token choices are compared with the baseline's at every position
 * (token agreement). Generations repeat (`repeats`, default 3), the models in a rotating order per repeat.
 *
 * Memory: the bytes of the presents after the last step (the KV cache), and the growth of process RSS over a
 * generation (median over the repeats).
 */
import type * as ort from 'onnxruntime-node';
import { OperationError, UsageError } from '../errors.js';
import { DataType } from '../ir/dtype.js';
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { summarize } from '../measure/stats.js';
import { createSession, type Feeds, ortTensorFromArray, type SessionOptions } from '../runtime/session.js';
import { median } from '../util/numerics.js';
import { Rng } from '../util/rng.js';
import type { DecodeStats } from './types.js';

export interface DecodeOptions {
  /** prompt length (ids) */
  prompt: number;
  /** tokens generated (the first from the prefill) */
  tokens: number;
  /** generations per model (default 3) */
  repeats?: number;
  seed?: number;
}

interface Dim {
  dim_value?: number | bigint;
  dim_param?: string;
}
const dimsOf = (v: Value): Dim[] => (v.type as { tensor_type?: { shape?: { dim?: Dim[] } } } | undefined)?.tensor_type?.shape?.dim ?? [];
const elemOf = (v: Value): number => (v.type as { tensor_type?: { elem_type?: number } } | undefined)?.tensor_type?.elem_type ?? DataType.FLOAT;

/** How a decoder's inputs and outputs fit together for KV-cache decoding. */
export interface DecoderSignature {
  ids: string;
  mask: string | null;
  positions: string | null;
  logits: string;
  /** past input -> present output, with the past axis and the past tensor's other dims (batch 1) */
  cache: { past: string; present: string; axis: number; dims: number[]; elem: number }[];
}

/** Pairs the past inputs with the present outputs (by name: past -> present, else by order); UsageError if it cannot. */
export function decoderSignature(model: Model): DecoderSignature {
  const inputs = model.graph.inputs.filter((v) => !v.initializer);
  const outputs = model.graph.outputs;
  const pasts = inputs.filter((v) => /past/i.test(v.name));
  if (!pasts.length)
    throw new UsageError(
      `--decode needs a decoder with past key/value inputs and present outputs; ${inputs.map((v) => v.name).join(', ')} has none named past*`,
    );
  const presents = outputs.filter((v) => /present/i.test(v.name));
  if (presents.length !== pasts.length) throw new UsageError(`--decode: ${pasts.length} past input(s) but ${presents.length} present output(s)`);
  const cache = pasts.map((p, i) => {
    const want = [p.name.replace(/past_key_values/i, 'present'), p.name.replace(/past/i, 'present')];
    const pr = presents.find((o) => want.includes(o.name)) ?? presents[i]!;
    const dims = dimsOf(p);
    let axis = dims.findIndex((d) => d.dim_param && /past/i.test(d.dim_param));
    if (axis < 0) axis = dims.length - 2;
    if (axis < 0) throw new UsageError(`--decode: cannot tell the sequence axis of ${p.name}`);
    return {
      past: p.name,
      present: pr.name,
      axis,
      dims: dims.map((d, k) => (k === axis ? 0 : d.dim_value !== undefined && Number(d.dim_value) > 0 ? Number(d.dim_value) : 1)),
      elem: elemOf(p),
    };
  });
  const rest = inputs.filter((v) => !pasts.includes(v));
  const ids = rest.find((v) => /ids/i.test(v.name) && !/position|type/i.test(v.name));
  if (!ids) throw new UsageError(`--decode: no token id input (input_ids) among ${rest.map((v) => v.name).join(', ')}`);
  const mask = rest.find((v) => /mask/i.test(v.name))?.name ?? null;
  const positions = rest.find((v) => /position/i.test(v.name))?.name ?? null;
  const other = rest.filter((v) => v !== ids && v.name !== mask && v.name !== positions);
  if (other.length) throw new UsageError(`--decode: does not know what to feed ${other.map((v) => v.name).join(', ')}`);
  const logits = outputs.find((v) => !presents.includes(v));
  if (!logits) throw new UsageError('--decode: no logits output beside the presents');
  return { ids: ids.name, mask, positions, logits: logits.name, cache };
}

const ints = (xs: number[], dims: number[]): ort.Tensor => ortTensorFromArray(DataType.INT64, dims, BigInt64Array.from(xs, BigInt));

/** The arg-max over the last axis at the last position of [1, T, V] logits. */
function lastArgmax(t: ort.Tensor): number {
  const v = Number(t.dims[t.dims.length - 1]);
  const d = t.data as Float32Array;
  const base = d.length - v;
  let best = 0;
  for (let k = 1; k < v; k++) if (d[base + k]! > d[base + best]!) best = k;
  return best;
}

interface Generation {
  ttft: number;
  steps: number[];
  choices: number[];
  cacheBytes: number;
  rssGrowth: number;
}

/** One generation: prefill on `prompt`, then feed `forced` (or the greedy choice when forced is null) token by token. */
async function generate(session: ort.InferenceSession, sig: DecoderSignature, prompt: number[], n: number, forced: number[] | null): Promise<Generation> {
  const rss0 = process.memoryUsage().rss;
  let past: Feeds = {};
  for (const c of sig.cache) past[c.past] = ortTensorFromArray(c.elem, c.dims, c.elem === DataType.FLOAT16 ? new Uint16Array(0) : new Float32Array(0));
  const choices: number[] = [];
  const steps: number[] = [];
  let ttft = 0;
  let pos = 0;
  let cacheBytes = 0;
  for (let step = 0; step < n; step++) {
    const ids = step === 0 ? prompt : [forced ? forced[step - 1]! : choices[step - 1]!];
    const feeds: Feeds = { ...past, [sig.ids]: ints(ids, [1, ids.length]) };
    if (sig.mask) feeds[sig.mask] = ints(new Array(pos + ids.length).fill(1), [1, pos + ids.length]);
    if (sig.positions)
      feeds[sig.positions] = ints(
        Array.from({ length: ids.length }, (_, k) => pos + k),
        [1, ids.length],
      );
    const t0 = process.hrtime.bigint();
    let out: Record<string, ort.Tensor>;
    try {
      out = await session.run(feeds);
    } catch (e) {
      const msg = (e as Error).message.replace(/\s+/g, ' ').trim();
      throw new OperationError(
        `decoding failed at ${step === 0 ? 'the prefill' : `step ${step}`} (positions ${pos}..${pos + ids.length - 1}; prompt ${prompt.length} + ${n} tokens may exceed the model's context): ${msg}`,
      );
    }
    const next = lastArgmax(out[sig.logits]!);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (step === 0) ttft = ms;
    else steps.push(ms);
    choices.push(next);
    pos += ids.length;
    const np: Feeds = {};
    cacheBytes = 0;
    for (const c of sig.cache) {
      const t = out[c.present]!;
      np[c.past] = t;
      cacheBytes += (t.data as ArrayBufferView).byteLength;
    }
    past = np;
  }
  return { ttft, steps, choices, cacheBytes, rssGrowth: process.memoryUsage().rss - rss0 };
}

export interface DecodeModel {
  label: string;
  model: Model;
  source: string | Uint8Array;
}

/** The decode benchmark of every model on the same prompt and ids; the first model is the baseline. */
export async function runDecodeBenchmark(
  models: DecodeModel[],
  opts: DecodeOptions & { sessionOptions?: SessionOptions; onStep?: (done: number, total: number, what: string) => void },
): Promise<DecodeStats[]> {
  const { prompt: p, tokens: n } = opts;
  if (!Number.isInteger(p) || p < 1) throw new UsageError(`--prompt must be an integer >= 1, got ${p}`);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--tokens must be an integer >= 1, got ${n}`);
  const repeats = opts.repeats ?? 3;
  if (!Number.isInteger(repeats) || repeats < 1) throw new UsageError(`decode repeats must be an integer >= 1, got ${repeats}`);
  const sigs = models.map((m) => decoderSignature(m.model));
  const vocabDim = dimsOf(models[0]!.model.graph.outputs.find((v) => v.name === sigs[0]!.logits)!).at(-1);
  const vocab = vocabDim?.dim_value !== undefined && Number(vocabDim.dim_value) > 0 ? Number(vocabDim.dim_value) : 2;
  const rng = new Rng(((opts.seed ?? 0) ^ 0xdec0de) >>> 0);
  const prompt = Array.from({ length: p }, () => rng.int(0, vocab));
  const sessions: ort.InferenceSession[] = [];
  try {
    for (const m of models) sessions.push(await createSession(m.source, opts.sessionOptions ?? {}));
    // untimed: the baseline's greedy continuation (every model is then fed these ids), and a warm-up of the others
    const ref = await generate(sessions[0]!, sigs[0]!, prompt, n, null);
    const forced = ref.choices.slice(0, n - 1);
    for (let i = 1; i < models.length; i++) await generate(sessions[i]!, sigs[i]!, prompt, n, forced);
    const gens: Generation[][] = models.map(() => []);
    const total = repeats * models.length;
    let done = 0;
    for (let r = 0; r < repeats; r++) {
      for (let k = 0; k < models.length; k++) {
        const i = (k + r) % models.length;
        gens[i]!.push(await generate(sessions[i]!, sigs[i]!, prompt, n, forced));
        opts.onStep?.(++done, total, models[i]!.label);
      }
    }
    return gens.map((gs, i) => {
      const ttftSamples = gs.map((g) => g.ttft);
      const tpotSamples = gs.flatMap((g) => g.steps);
      const tps = gs.map((g) => (n * 1000) / (g.ttft + g.steps.reduce((a, b) => a + b, 0)));
      const choices = gs[0]!.choices;
      return {
        promptTokens: p,
        newTokens: n,
        repeats,
        ttft: summarize(ttftSamples),
        ttftSamples,
        tpot: summarize(tpotSamples.length ? tpotSamples : [0]),
        tpotSamples,
        tokensPerSecond: median(tps),
        cacheBytes: gs[gs.length - 1]!.cacheBytes,
        memoryGrowth: median(gs.map((g) => g.rssGrowth)),
        tokens: i === 0 ? ref.choices : choices,
        tokenAgreement: i === 0 ? null : choices.filter((c, k) => c === ref.choices[k]).length / n,
      };
    });
  } finally {
    for (const s of sessions) await s.release().catch(() => undefined);
  }
}
