/**
 * The seeded random-graph generator of the differential fuzz harness (test/fuzz/differential.test.ts,
 * scripts/fuzz.ts, test/fuzz/regressions.test.ts).
 *
 * `generateModel(seed)` builds a valid ONNX model from the common operator set: elementwise unary and binary ops with
 * broadcasting, MatMul/Gemm, Conv, pooling, BatchNormalization/LayerNormalization, Reshape/Transpose/Concat/Slice/
 * Gather/Split/Squeeze/Unsqueeze, Softmax, reductions, Cast, Shape chains and If, on static and symbolic shapes,
 * float32 mainly and int64 where it is natural (ids, shapes, indices, casts). Values are shared between several
 * consumers, graphs have several outputs, and some outputs also feed other nodes.
 *
 * It PLANTS the patterns rewrite passes look for, each with and without the conditions that make a rewrite unsafe:
 *
 *   layernorm   ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add     wrong axes, mixed axes, eps of shape [D],
 *                                                                       computed eps, Pow 4, opset-18 axes inputs
 *   gelu        x * 0.5 * (1 + erf(x / sqrt 2)) in its commuted forms   wrong constants, erf of another value
 *   conv-bn     Conv (+bias) -> BatchNormalization, 1-D and 2-D, groups  weights/statistics from graph inputs,
 *                                                                       initializers that are also graph inputs
 *   matmul-add  MatMul -> Add (bias [N], [1,N], [M,N], scalar, left)     rank-3 A, bias that raises the rank
 *   attention   BERT-style self-attention: q/k/v projections, heads,   probabilities read elsewhere, Softmax axis,
 *               scaled scores, Softmax, merge (H of 1 or 2)            Mul scale, an additive constant mask
 *   gpt2-attention  GPT-2 causal attention as torch exports it: Conv1D   a buffer that is not lower-triangular, a
 *               c_attn/c_proj (Reshape-Gemm-Reshape), Split, shape-      fill of -1 (does not mask), probabilities
 *               arithmetic heads, bool buffer sliced by Shape arithmetic read elsewhere; torch's Pow(Cast(shape), 0.5)
 *               + Where(mask, scores, float32 lowest)                    scale or a folded one; symbolic sequence
 *   mha-attention  nn.MultiheadAttention as torch exports it: sequence-  a scale Mul of 0.5, probabilities read
 *               first, packed in_proj sliced by (n+2)/3 arithmetic,      elsewhere
 *               [S, B·H, D] heads, bool key padding mask input spread
 *               by Reshape/Expand/Reshape + Where(-inf), out_proj Gemm
 *   llama-attention  LLaMA attention as torch exports it: rotate_half   rotary tables whose halves differ,
 *               rotary (cos/sin buffers sliced, squeezed, gathered at    probabilities read elsewhere
 *               Range position ids) on q and k, repeat_kv (Unsqueeze/
 *               Expand/Reshape) for grouped-query heads, two identity
 *               Casts after Softmax, o_proj; symbolic sequence
 *   reshape-gemm  Reshape([-1,K]) -> Gemm -> Reshape(leading dims + [N])  alpha; targets constant or torch's shape
 *               (HF Conv1D as torch exports it; transB, bias [N]/[1,N])  arithmetic
 *   hardswish   x * HardSigmoid(x)                                      alpha 0.2, beta 0.6, Mul with another value
 *   identity    Identity/Dropout chains (ratio, training_mode, mask)    mask output used, forwards a graph input
 *   transpose   Transpose pairs, cancelling or merging                  -
 *   cast        Cast pairs f32->f64->f32, f32->f32                      f32->f16->f32, f32->i64->f32, f32->i32->f32
 *   constants   duplicate constants                                      same bytes other dtype, other shape,
 *                                                                       initializer that is also a graph input
 *
 * and for every pattern "shared" (an intermediate has another consumer) and "output" (an intermediate is a graph
 * output). Plants also go inside If branches (which capture outer values).
 *
 * Every model passes verify() and runs in onnxruntime (the differential test checks this for each model it uses).
 * Values stay O(1)-ish (weights scaled by fan-in, squashing ops when magnitudes grow), so lossless rewrites agree to
 * rtol 1e-4. Discontinuous ops (float->int casts, comparisons feeding If) only read values that no rewrite can change
 * bit-wise ("exact": graph inputs moved around by data-movement ops); outputs downstream of one are listed in the
 * metadata so that lossy passes are not compared on them (a float16 rounding may legitimately flip them).
 *
 * The model's metadata (`autoglm.fuzz.*`) records the seed, the sizes of its symbolic dimensions, the planted patterns
 * and the discontinuous outputs, so a model saved on failure can be replayed from the file alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as ort from 'onnxruntime-node';
import { synthesizeInputs } from '../../src/inputs/synthesize.js';
import { createModel, floatTensor, int64Tensor, boolTensor, int32Tensor, subgraph, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType, isFloatType } from '../../src/ir/dtype.js';
import { float32ToFloat16 } from '../../src/ir/float-codecs.js';
import { f, type Graph, type Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { elemTypeOf, tensorType, type Dim } from '../../src/ir/types.js';
import { verify } from '../../src/ir/verify.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModelBytes } from '../../src/onnx/io.js';
import { allPasses, presets, resolvePasses } from '../../src/optimize/registry.js';
import type { Pass } from '../../src/pass/pass.js';
import { runPasses } from '../../src/optimize/registry.js';
import { createSession, onnxTypeOfOrt, ortToFloat32, runSession, toOrtTensor, type Feeds } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';
import { compareTensors } from '../helpers/equivalence.js';

// ================================================================================================ public API

export interface FuzzCase {
  seed: number;
  model: Model;
  /** sizes of the symbolic (and unnamed, as `input[axis]`) dimensions of the inputs */
  dims: Record<string, number>;
  /** planted patterns, e.g. `layernorm`, `gelu[shared]`, `if>transpose` */
  planted: string[];
  /** outputs downstream of a discontinuous op (compared only for lossless passes) */
  discontinuousOutputs: string[];
}

export interface GenOptions {
  /** upper bound on the number of blocks (default: 6..22, drawn from the seed) */
  maxBlocks?: number;
}

export const META = {
  seed: 'autoglm.fuzz.seed',
  dims: 'autoglm.fuzz.dims',
  planted: 'autoglm.fuzz.planted',
  discontinuous: 'autoglm.fuzz.discontinuous',
} as const;

/** Generates the model of `seed` (deterministic: the same seed gives the same bytes). */
export function generateModel(seed: number, opts: GenOptions = {}): FuzzCase {
  return new Gen(seed, opts).build();
}

/** The fuzz case a (saved) generated model describes, from its metadata; plain models get defaults. */
export function caseFromModel(model: Model, fallbackSeed = 0): FuzzCase {
  const get = (k: string) => model.getMetadata(k);
  const parse = <T>(s: string | undefined, d: T): T => {
    if (!s) return d;
    try {
      return JSON.parse(s) as T;
    } catch {
      return d;
    }
  };
  return {
    seed: Number(get(META.seed) ?? fallbackSeed),
    model,
    dims: parse(get(META.dims), { batch: 2, seq: 3 }),
    planted: parse(get(META.planted), []),
    discontinuousOutputs: parse(get(META.discontinuous), []),
  };
}

// ================================================================================================ internals

/** A dimension: a size, or a symbol (a name; `?input[axis]` for an unnamed one, declared as unknown). */
type D = number | string;

interface T {
  v: Value;
  dt: DataType;
  shape: D[];
  /** rough bound on |values| */
  mag: number;
  /** no rewrite can change its bits: graph inputs and constants moved by data-movement ops only */
  exact: boolean;
  /**
   * comparable for lossy targets: a continuous function of the inputs (no discontinuous op upstream) whose values
   * stay well inside float16's range (so a float16 conversion cannot overflow on the way)
   */
  cont: boolean;
}

/** Where nodes go: the main graph or an If branch (values of a branch stay in its own pool). */
interface Em {
  b: GraphBuilder;
  pool: T[];
  branch: boolean;
}

const MAX_NUMEL = 1536;
/** magnitude beyond which a value may overflow float16 (65504) once rounding and our rough bounds are allowed for */
const FP16_SAFE = 3e4;
const SQRT2 = Math.SQRT2;

class Gen {
  private readonly rng: Rng;
  private readonly model: Model;
  private readonly main: Graph;
  private readonly root: Em;
  private readonly opset: number;
  private readonly dims: Record<string, number> = {};
  private readonly planted: string[] = [];
  private layer = 0;
  /** values that are graph outputs already (unique) */
  private readonly outputs = new Set<Value>();
  private idsInput?: T;
  /** what the generator knows of every value it made */
  private readonly facts = new Map<Value, T>();

  constructor(
    private readonly seed: number,
    private readonly opts: GenOptions,
  ) {
    this.rng = new Rng(seed);
    this.opset = this.rng.pick([13, 15, 17, 17, 17, 18]);
    const { model, b, graph } = createModel({ opset: this.opset, irVersion: 8, graphName: `fuzz_${seed}` });
    this.model = model;
    this.main = graph;
    this.root = { b, pool: [], branch: false };
    model.producerName = 'autoglm-fuzz';
    model.producerVersion = '1';
    model.docString = `generated by test/fuzz/gen.ts from seed ${seed}`;
  }

  // --------------------------------------------------------------------------------------------- helpers

  private chance(p: number): boolean {
    return this.rng.float() < p;
  }
  private int(lo: number, hiInclusive: number): number {
    return this.rng.int(lo, hiInclusive + 1);
  }
  private sz(d: D): number {
    if (typeof d === 'number') return d;
    const key = d.startsWith('?') ? d.slice(1) : d;
    const v = this.dims[key];
    if (v === undefined) throw new Error(`gen: unknown symbol ${d}`);
    return v;
  }
  private numel(shape: readonly D[]): number {
    return shape.reduce<number>((a, d) => a * this.sz(d), 1);
  }
  private decl(shape: readonly D[]): Dim[] {
    return shape.map((d) => (typeof d === 'string' && d.startsWith('?') ? null : d));
  }
  /** Broadcast of two shapes (numpy rules, symbols equal only to themselves), or null. */
  private bcast(a: readonly D[], b: readonly D[]): D[] | null {
    const n = Math.max(a.length, b.length);
    const out: D[] = [];
    for (let i = 0; i < n; i++) {
      const x = a[a.length - n + i] ?? 1;
      const y = b[b.length - n + i] ?? 1;
      if (x === y) out.push(x);
      else if (x === 1) out.push(y);
      else if (y === 1) out.push(x);
      else return null;
    }
    return out;
  }

  /** Adds a node (named like an exporter would, mostly) and returns its outputs. */
  private node(em: Em, op: string, inputs: readonly (Value | null)[], attrs: Record<string, unknown> = {}, nOut = 1, domain?: string): Value[] {
    const named = this.chance(0.8);
    const name = named ? this.main.freshName(`/l${this.layer}/${op}`) : undefined;
    const base = (name ?? op).replace(/[^A-Za-z0-9_.]/g, '_').replace(/^_+/, '');
    const outs = Array.from({ length: nOut }, (_, i) => this.main.freshName(`${base}_out${nOut > 1 ? i : ''}`));
    const n = em.b.node(op, inputs, attrs, { name, outputs: outs, domain });
    if (named && this.chance(0.15)) n.docString = `node ${name}`;
    return n.outputs as Value[];
  }
  /** Registers a value with its type (declared in value_info sometimes) and adds it to the pool. */
  private mk(em: Em, v: Value, dt: DataType, shape: D[], mag: number, exact: boolean, cont: boolean, pool = true): T {
    const t: T = { v, dt, shape, mag, exact, cont: cont && mag <= FP16_SAFE };
    this.facts.set(v, t);
    if (this.chance(0.35)) v.type = tensorType(dt, this.decl(shape));
    if (pool) em.pool.push(t);
    return t;
  }
  private op1(
    em: Em,
    op: string,
    inputs: readonly (Value | null)[],
    attrs: Record<string, unknown>,
    dt: DataType,
    shape: D[],
    mag: number,
    exact: boolean,
    cont: boolean,
  ): T {
    return this.mk(em, this.node(em, op, inputs, attrs)[0], dt, shape, mag, exact, cont);
  }

  /** A float32 constant: an initializer mostly, a Constant node sometimes (as paddle2onnx writes weights). */
  private constF(em: Em, base: string, dims: number[], values: Float32Array | number[], opts: { node?: boolean } = {}): Value {
    const t = floatTensor(dims, values instanceof Float32Array ? values : Float32Array.from(values));
    return this.constT(em, base, t, opts);
  }
  private constT(em: Em, base: string, t: Tensor, opts: { node?: boolean } = {}): Value {
    const asNode = opts.node ?? this.chance(0.12);
    const name = this.main.freshName(base);
    if (asNode) {
      const n = em.b.node(
        'Constant',
        [],
        { value: t },
        { name: this.chance(0.5) ? this.main.freshName(`/l${this.layer}/Constant`) : undefined, outputs: [name] },
      );
      return n.output(0);
    }
    return em.b.graph.addInitializer(name, t);
  }
  private constI(em: Em, base: string, values: (number | bigint)[], dims: number[] = [values.length]): Value {
    return this.constT(em, base, int64Tensor(dims, values));
  }
  private normal(n: number, std: number, mean = 0): Float32Array {
    return this.rng.fillNormal(new Float32Array(n), std, mean);
  }
  private uniform(n: number, lo: number, hi: number): Float32Array {
    return this.rng.fillUniform(new Float32Array(n), lo, hi);
  }
  /** A float graph input (the generator's "non-constant weight"); shapes given are static. */
  private floatInput(em: Em, base: string, dims: number[]): T {
    const name = this.main.freshName(base);
    const v = this.main.addInput(name, tensorType(DataType.FLOAT, dims));
    return { v, dt: DataType.FLOAT, shape: dims, mag: 4, exact: true, cont: true };
  }

  /** A float tensor of the pool, recent ones preferred. */
  private pick(em: Em, pred: (t: T) => boolean = () => true, dt: DataType = DataType.FLOAT): T | undefined {
    const ok = em.pool.filter((t) => t.dt === dt && pred(t));
    if (!ok.length) return undefined;
    if (this.chance(0.65)) return ok[Math.max(0, ok.length - 1 - this.int(0, Math.min(3, ok.length - 1)))];
    return this.rng.pick(ok);
  }
  /** Squashes a tensor whose values grew large. */
  private tame(em: Em, x: T): T {
    if (x.mag <= 30) return x;
    return this.op1(em, this.rng.pick(['Tanh', 'Sigmoid', 'Softsign']), [x.v], {}, x.dt, [...x.shape], 1, false, x.cont);
  }
  /** Gives a planted pattern's intermediate another consumer ("shared") or makes it a graph output ("output"). */
  private expose(em: Em, v: T, how: 'shared' | 'output'): void {
    if (how === 'output' && !em.branch && !this.outputs.has(v.v)) {
      this.outputs.add(v.v);
      return;
    }
    const u = this.op1(em, this.rng.pick(['Neg', 'Relu', 'Tanh']), [v.v], {}, v.dt, [...v.shape], Math.min(v.mag, 30), false, v.cont);
    if (!em.branch && this.chance(0.5) && !this.outputs.has(u.v)) this.outputs.add(u.v);
  }
  private unsafe(): 'shared' | 'output' | undefined {
    const r = this.rng.float();
    return r < 0.2 ? 'shared' : r < 0.35 ? 'output' : undefined;
  }
  private note(em: Em, what: string, tag?: string): void {
    this.planted.push(`${em.branch ? 'if>' : ''}${what}${tag ? `[${tag}]` : ''}`);
  }

  // --------------------------------------------------------------------------------------------- inputs

  private makeInputs(): void {
    const em = this.root;
    this.dims.batch = 2;
    this.dims.seq = 3;
    const batch: D = this.chance(0.6) ? 'batch' : 2;
    const kinds = this.rng.shuffle(['seq', 'image', 'flat', 'seq', 'image'].slice(0, this.int(1, 3)));
    for (const kind of kinds) {
      const name = this.main.freshName(this.rng.pick(['x', 'input', 'features', 'pixel_values', 'hidden']));
      let shape: D[];
      if (kind === 'seq') shape = [batch, this.chance(0.5) ? 'seq' : this.int(2, 4), this.rng.pick([4, 6, 8])];
      else if (kind === 'image') shape = [batch, this.int(2, 4), this.int(4, 7), this.int(4, 7)];
      else shape = [batch, this.rng.pick([4, 6, 8, 12])];
      // an unnamed dimension now and then (synthesizeInputs takes its size as "name[axis]")
      if (typeof shape[0] === 'number' && this.chance(0.2)) {
        this.dims[`${name}[0]`] = shape[0];
        shape[0] = `?${name}[0]`;
      }
      const v = this.main.addInput(name, tensorType(DataType.FLOAT, this.decl(shape)));
      if (this.chance(0.2)) v.docString = `input ${name}`;
      em.pool.push({ v, dt: DataType.FLOAT, shape, mag: 4, exact: true, cont: true });
    }
    // token ids indexing an embedding table (synthesizeInputs keeps them below the table's size)
    if (this.chance(0.35)) {
      const shape: D[] = [batch, this.chance(0.5) ? 'seq' : this.int(2, 5)];
      const v = this.main.addInput(this.main.freshName('input_ids'), tensorType(DataType.INT64, this.decl(shape)));
      this.idsInput = { v, dt: DataType.INT64, shape, mag: 100, exact: true, cont: true };
    }
  }

  // --------------------------------------------------------------------------------------------- random ops

  private unary(em: Em): boolean {
    const x = this.pick(em);
    if (!x) return false;
    const op = this.rng.pick([
      'Relu',
      'Tanh',
      'Sigmoid',
      'Abs',
      'Neg',
      'Erf',
      'Softsign',
      'LeakyRelu',
      'Elu',
      'HardSigmoid',
      'Sqrt',
      'Exp',
      'Log',
      'Reciprocal',
      'Identity',
    ]);
    const s = [...x.shape];
    switch (op) {
      case 'Relu':
      case 'Abs':
      case 'Neg':
      case 'Identity':
        this.op1(em, op, [x.v], {}, x.dt, s, x.mag, x.exact, x.cont);
        return true;
      case 'LeakyRelu':
        this.op1(em, op, [x.v], this.chance(0.5) ? { alpha: f(0.1) } : {}, x.dt, s, x.mag, false, x.cont);
        return true;
      case 'Elu':
        this.op1(em, op, [x.v], {}, x.dt, s, x.mag, false, x.cont);
        return true;
      case 'HardSigmoid':
        this.op1(em, op, [x.v], this.chance(0.5) ? { alpha: f(0.25), beta: f(0.4) } : {}, x.dt, s, 1, false, x.cont);
        return true;
      case 'Sqrt': {
        const a = this.op1(em, 'Abs', [x.v], {}, x.dt, s, x.mag, x.exact, x.cont);
        this.op1(em, 'Sqrt', [a.v], {}, x.dt, [...s], Math.sqrt(x.mag), false, x.cont);
        return true;
      }
      case 'Exp': {
        const t = this.op1(em, 'Tanh', [x.v], {}, x.dt, s, 1, false, x.cont);
        this.op1(em, 'Exp', [t.v], {}, x.dt, [...s], 3, false, x.cont);
        return true;
      }
      case 'Log':
      case 'Reciprocal': {
        const a = this.op1(em, 'Abs', [x.v], {}, x.dt, s, x.mag, x.exact, x.cont);
        const p = this.op1(em, 'Add', [a.v, this.constF(em, 'one', [], [1])], {}, x.dt, [...s], x.mag + 1, false, x.cont);
        this.op1(em, op, [p.v], {}, x.dt, [...s], op === 'Log' ? Math.log(x.mag + 1) + 1 : 1, false, x.cont);
        return true;
      }
      default:
        this.op1(em, op, [x.v], {}, x.dt, s, 1, false, x.cont);
        return true;
    }
  }

  /** A shape that broadcasts against `s` without growing it: a suffix, some dimensions set to 1. */
  private bshape(s: readonly D[]): number[] {
    const k = this.int(0, s.length);
    return s.slice(s.length - k).map((d) => (typeof d === 'string' || this.chance(0.35) ? 1 : d));
  }

  private binary(em: Em): boolean {
    const a = this.pick(em);
    if (!a) return false;
    const op = this.rng.pick(['Add', 'Add', 'Sub', 'Mul', 'Mul', 'Div', 'Max', 'Min', 'Pow']);
    let b: T | undefined;
    let bv: Value;
    let shape: D[] | null;
    let mag: number;
    if (op !== 'Div' && op !== 'Pow' && this.chance(0.5)) {
      b = this.pick(
        em,
        (t) =>
          t !== a &&
          t.dt === a.dt &&
          (() => {
            const s = this.bcast(a.shape, t.shape);
            return !!s && this.numel(s) <= MAX_NUMEL;
          })(),
      );
    }
    if (b) {
      bv = b.v;
      shape = this.bcast(a.shape, b.shape)!;
      mag = op === 'Mul' ? a.mag * b.mag : a.mag + b.mag;
    } else {
      const cs = op === 'Pow' ? [] : this.bshape(a.shape);
      const n = cs.reduce((x, y) => x * y, 1);
      let vals: Float32Array;
      if (op === 'Div') vals = Float32Array.from(this.uniform(n, 0.5, 2), (v) => (this.chance(0.5) ? -v : v));
      else if (op === 'Pow') vals = new Float32Array(n).fill(this.rng.pick([2, 3, 1]));
      else vals = this.normal(n, 1);
      bv = this.constF(em, `${op.toLowerCase()}_c`, cs, vals);
      shape = this.bcast(a.shape, cs)!;
      mag = op === 'Mul' || op === 'Div' ? a.mag * 3 : op === 'Pow' ? a.mag ** vals[0] : a.mag + 3;
    }
    const ins = this.chance(0.3) && op !== 'Div' && op !== 'Pow' && op !== 'Sub' ? [bv, a.v] : [a.v, bv];
    const r = this.op1(em, op, ins, {}, a.dt, shape, mag, false, a.cont && (b?.cont ?? true));
    if (r.mag > 30) this.tame(em, r);
    return true;
  }

  /** x @ W, or x @ x^T (attention-like scores, then often Softmax @ x). */
  private matmul(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.length >= 2 && typeof t.shape[t.shape.length - 1] === 'number');
    if (!x) return false;
    const r = x.shape.length;
    const K = x.shape[r - 1] as number;
    if (this.chance(0.3) && r >= 2 && this.numel([...x.shape.slice(0, -1), x.shape[r - 2]]) <= MAX_NUMEL) {
      const perm = [...Array(r).keys()];
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      const xs = this.tame(em, x);
      const xt = this.op1(
        em,
        'Transpose',
        [xs.v],
        { perm },
        x.dt,
        perm.map((p) => x.shape[p]),
        xs.mag,
        xs.exact,
        xs.cont,
      );
      const scores = this.op1(em, 'MatMul', [xs.v, xt.v], {}, x.dt, [...x.shape.slice(0, -1), x.shape[r - 2]], xs.mag * xs.mag * K, false, x.cont);
      const sm = this.op1(em, 'Softmax', [this.tame(em, scores).v], { axis: -1 }, x.dt, [...scores.shape], 1, false, x.cont);
      if (this.chance(0.6)) this.op1(em, 'MatMul', [sm.v, xs.v], {}, x.dt, [...x.shape], xs.mag, false, x.cont);
      return true;
    }
    const N = this.rng.pick([2, 3, 4, 6, 8]);
    if (this.numel([...x.shape.slice(0, -1), N]) > MAX_NUMEL) return false;
    const w = this.constF(em, 'weight', [K, N], this.normal(K * N, 1 / Math.sqrt(K)));
    this.op1(em, 'MatMul', [x.v, w], {}, x.dt, [...x.shape.slice(0, -1), N], x.mag * 1.5, false, x.cont);
    return true;
  }

  private gemm(em: Em): boolean {
    let x = this.pick(em, (t) => t.shape.length >= 2 && t.shape.slice(1).every((d) => typeof d === 'number'));
    if (!x) return false;
    if (x.shape.length > 2) {
      const k = x.shape.slice(1).reduce<number>((a, d) => a * (d as number), 1);
      x = this.op1(em, 'Flatten', [x.v], { axis: 1 }, x.dt, [x.shape[0], k], x.mag, x.exact, x.cont);
    }
    const K = x.shape[1] as number;
    const N = this.rng.pick([2, 4, 5, 8]);
    const transB = this.chance(0.4) ? 1 : 0;
    const w = this.constF(em, 'gemm_w', transB ? [N, K] : [K, N], this.normal(K * N, 1 / Math.sqrt(K)));
    const attrs: Record<string, unknown> = {};
    if (transB) attrs.transB = 1;
    if (this.chance(0.3)) attrs.alpha = f(0.5);
    if (this.chance(0.2)) attrs.beta = f(2);
    const ins = [x.v, w];
    if (this.chance(0.7)) ins.push(this.constF(em, 'gemm_c', this.chance(0.8) ? [N] : [1, N], this.normal(N, 0.5)));
    this.op1(em, 'Gemm', ins, attrs, x.dt, [x.shape[0], N], x.mag * 1.5 + 2, false, x.cont);
    return true;
  }

  private conv(em: Em, x?: T): T | undefined {
    x ??= this.pick(
      em,
      (t) => (t.shape.length === 4 || t.shape.length === 3) && t.shape.slice(1).every((d) => typeof d === 'number' && d >= 1) && (t.shape[2] as number) >= 3,
    );
    if (!x) return undefined;
    const spatial = x.shape.slice(2) as number[];
    const C = x.shape[1] as number;
    const k = this.int(1, Math.min(3, ...spatial));
    const stride = this.chance(0.25) ? 2 : 1;
    const dil = k > 1 && this.chance(0.15) && Math.min(...spatial) >= 2 * (k - 1) + 1 ? 2 : 1;
    const pad = this.chance(0.5) ? Math.floor((k - 1) / 2) * dil : 0;
    const group = C > 1 && this.chance(0.25) ? C : 1;
    const Cout = group === C ? C * this.int(1, 2) : this.int(2, 6);
    const outSp = spatial.map((s) => Math.floor((s + 2 * pad - dil * (k - 1) - 1) / stride) + 1);
    if (outSp.some((s) => s < 1) || this.numel([x.shape[0], Cout, ...outSp]) > MAX_NUMEL) return undefined;
    const wd = [Cout, C / group, ...spatial.map(() => k)];
    const fan = (C / group) * k ** spatial.length;
    const w = this.constF(
      em,
      'conv_w',
      wd,
      this.normal(
        wd.reduce((a, b) => a * b, 1),
        1 / Math.sqrt(fan),
      ),
    );
    const ins = [x.v, w];
    if (this.chance(0.5)) ins.push(this.constF(em, 'conv_b', [Cout], this.normal(Cout, 0.3)));
    const attrs: Record<string, unknown> = { kernel_shape: spatial.map(() => k) };
    if (pad) attrs.pads = [...spatial.map(() => pad), ...spatial.map(() => pad)];
    if (stride > 1) attrs.strides = spatial.map(() => stride);
    if (dil > 1) attrs.dilations = spatial.map(() => dil);
    if (group > 1) attrs.group = group;
    return this.op1(em, 'Conv', ins, attrs, x.dt, [x.shape[0], Cout, ...outSp], x.mag * 1.5 + 1, false, x.cont);
  }

  private pool2d(em: Em): boolean {
    const x = this.pick(
      em,
      (t) => t.shape.length === 4 && t.shape.slice(1).every((d) => typeof d === 'number') && (t.shape[2] as number) >= 2 && (t.shape[3] as number) >= 2,
    );
    if (!x) return false;
    const [, C, H, W] = x.shape as [D, number, number, number];
    // the windowed pools twice as often as the global ones (they have the attributes worth varying)
    const op = this.rng.pick(['MaxPool', 'AveragePool', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool']);
    if (op.startsWith('Global')) {
      this.op1(em, op, [x.v], {}, x.dt, [x.shape[0], C, 1, 1], x.mag, op === 'GlobalMaxPool' && x.exact, x.cont);
      return true;
    }
    const k = 2;
    const s = this.rng.pick([1, 2]);
    const pad = this.chance(0.3) ? 1 : 0;
    const oh = Math.floor((H + 2 * pad - k) / s) + 1;
    const ow = Math.floor((W + 2 * pad - k) / s) + 1;
    const attrs: Record<string, unknown> = { kernel_shape: [k, k], strides: [s, s] };
    if (pad) attrs.pads = [pad, pad, pad, pad];
    if (op === 'AveragePool' && pad && this.chance(0.5)) attrs.count_include_pad = 1;
    this.op1(em, op, [x.v], attrs, x.dt, [x.shape[0], C, oh, ow], x.mag, op === 'MaxPool' && x.exact, x.cont);
    return true;
  }

  private batchnorm(em: Em, x?: T): T | undefined {
    x ??= this.pick(em, (t) => t.shape.length >= 2 && typeof t.shape[1] === 'number');
    if (!x) return undefined;
    const C = x.shape[1] as number;
    const p = (base: string, vals: Float32Array) => this.constF(em, base, [C], vals);
    const ins = [
      x.v,
      p('bn_scale', this.uniform(C, 0.5, 1.5)),
      p('bn_bias', this.normal(C, 0.2)),
      p('bn_mean', this.normal(C, 0.2)),
      p('bn_var', this.uniform(C, 0.5, 1.5)),
    ];
    const attrs = this.chance(0.5) ? { epsilon: f(this.rng.pick([1e-5, 1e-3])) } : {};
    return this.op1(em, 'BatchNormalization', ins, attrs, x.dt, [...x.shape], x.mag * 2 + 1, false, x.cont);
  }

  private layernormOp(em: Em): boolean {
    if (this.opset < 17) return false;
    const x = this.pick(em, (t) => t.shape.length >= 2 && typeof t.shape[t.shape.length - 1] === 'number' && (t.shape[t.shape.length - 1] as number) >= 2);
    if (!x) return false;
    const D = x.shape[x.shape.length - 1] as number;
    const ins = [x.v, this.constF(em, 'ln_scale', [D], this.uniform(D, 0.5, 1.5))];
    if (this.chance(0.7)) ins.push(this.constF(em, 'ln_bias', [D], this.normal(D, 0.2)));
    this.op1(em, 'LayerNormalization', ins, { axis: -1, epsilon: f(1e-5) }, x.dt, [...x.shape], 5, false, x.cont);
    return true;
  }

  private reshape(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.length >= 2);
    if (!x) return false;
    const r = x.shape.length;
    const last = x.shape[r - 1];
    const prev = x.shape[r - 2];
    const choice = this.int(0, 2);
    if (choice === 0 && typeof last === 'number' && typeof prev === 'number' && r >= 3) {
      // merge the last two dimensions (leading ones copied with 0)
      const shape = [...x.shape.slice(0, -2), prev * last];
      const spec = [...x.shape.slice(0, -2).map((d, i) => (typeof d === 'number' && this.chance(0.5) ? d : i === 0 && this.chance(0.3) ? -1 : 0)), prev * last];
      if (spec.filter((d) => d === -1).length > 1) return false;
      this.op1(em, 'Reshape', [x.v, this.constI(em, 'shape', spec)], {}, x.dt, shape, x.mag, x.exact, x.cont);
      return true;
    }
    if (choice === 1 && typeof last === 'number' && last % 2 === 0 && last >= 4) {
      const shape = [...x.shape.slice(0, -1), 2, last / 2];
      const spec = [...x.shape.slice(0, -1).map(() => 0), 2, this.chance(0.5) ? -1 : last / 2];
      this.op1(em, 'Reshape', [x.v, this.constI(em, 'shape', spec)], {}, x.dt, shape, x.mag, x.exact, x.cont);
      return true;
    }
    if (x.shape.slice(1).every((d) => typeof d === 'number')) {
      const k = x.shape.slice(1).reduce<number>((a, d) => a * (d as number), 1);
      this.op1(em, 'Flatten', [x.v], this.chance(0.5) ? { axis: 1 } : {}, x.dt, [x.shape[0], k], x.mag, x.exact, x.cont);
      return true;
    }
    return false;
  }

  /** Shape -> Gather -> Unsqueeze -> Concat -> Reshape: the dynamic flatten exporters write. */
  private shapeChain(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.length >= 3 && t.shape.slice(1).every((d) => typeof d === 'number'));
    if (!x || this.opset < 13) return false;
    const shp = this.mk(em, this.node(em, 'Shape', [x.v])[0], DataType.INT64, [x.shape.length], 1e9, true, true, false);
    const g = this.mk(em, this.node(em, 'Gather', [shp.v, this.constI(em, 'idx0', [0], [])], { axis: 0 })[0], DataType.INT64, [], 1e9, true, true, false);
    const u = this.mk(em, this.node(em, 'Unsqueeze', [g.v, this.constI(em, 'axes', [0])])[0], DataType.INT64, [1], 1e9, true, true, false);
    const c = this.mk(em, this.node(em, 'Concat', [u.v, this.constI(em, 'minus1', [-1])], { axis: 0 })[0], DataType.INT64, [2], 1e9, true, true, false);
    const k = x.shape.slice(1).reduce<number>((a, d) => a * (d as number), 1);
    this.op1(em, 'Reshape', [x.v, c.v], {}, x.dt, [x.shape[0], k], x.mag, x.exact, x.cont);
    return true;
  }

  private transpose(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.length >= 2);
    if (!x) return false;
    const r = x.shape.length;
    // no perm attribute: the default reverses the dimensions
    const implicit = this.chance(0.15);
    const perm = implicit ? [...Array(r).keys()].reverse() : this.rng.shuffle([...Array(r).keys()]);
    this.op1(
      em,
      'Transpose',
      [x.v],
      implicit ? {} : { perm },
      x.dt,
      perm.map((p) => x.shape[p]),
      x.mag,
      x.exact,
      x.cont,
    );
    return true;
  }

  private concat(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.some((d) => typeof d === 'number'));
    if (!x) return false;
    const axes = x.shape.map((d, i) => (typeof d === 'number' ? i : -1)).filter((i) => i >= 0);
    const axis = this.rng.pick(axes);
    const parts: T[] = [x];
    const other = this.pick(
      em,
      (t) => t !== x && t.shape.length === x.shape.length && typeof t.shape[axis] === 'number' && t.shape.every((d, i) => i === axis || d === x.shape[i]),
    );
    if (other) parts.push(other);
    if (!other || this.chance(0.4)) {
      const s = x.shape.map((d, i) => (i === axis ? this.int(1, 3) : d));
      if (s.every((d) => typeof d === 'number')) {
        const n = this.numel(s);
        parts.push({ v: this.constF(em, 'cat_c', s as number[], this.normal(n, 1)), dt: x.dt, shape: s, mag: 3, exact: true, cont: true });
      } else parts.push(x);
    }
    const size = parts.reduce((a, p) => a + (p.shape[axis] as number), 0);
    const shape = x.shape.map((d, i) => (i === axis ? size : d));
    if (this.numel(shape) > MAX_NUMEL) return false;
    const neg = this.chance(0.3) ? axis - x.shape.length : axis;
    this.op1(
      em,
      'Concat',
      parts.map((p) => p.v),
      { axis: neg },
      x.dt,
      shape,
      Math.max(...parts.map((p) => p.mag)),
      parts.every((p) => p.exact),
      parts.every((p) => p.cont),
    );
    return true;
  }

  private slice(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.some((d) => typeof d === 'number' && d >= 2));
    if (!x) return false;
    const axes = x.shape.map((d, i) => (typeof d === 'number' && d >= 2 ? i : -1)).filter((i) => i >= 0);
    const axis = this.rng.pick(axes);
    const n = x.shape[axis] as number;
    let start = this.int(0, n - 1);
    let end = this.int(start + 1, n);
    const step = this.chance(0.2) ? 2 : this.chance(0.1) ? -1 : 1;
    let len: number;
    if (step === -1) {
      // reversed: start > end
      const s = this.int(1, n - 1);
      const e = this.int(-1, s - 1);
      len = s - e;
      start = s;
      end = e === -1 ? -(n + 1) : e; // -n-1 clamps to "before the first element"
    } else len = Math.ceil((end - start) / step);
    const withAxes = step !== 1 || axis !== 0 || this.chance(0.7);
    const ins: (Value | null)[] = [
      x.v,
      this.constI(em, 'starts', [this.chance(0.3) && step > 0 ? start - n : start]),
      this.constI(em, 'ends', [step > 0 && end === n && this.chance(0.4) ? 9223372036854775807n : end]),
    ];
    if (withAxes) ins.push(this.constI(em, 'axes', [this.chance(0.3) ? axis - x.shape.length : axis]));
    if (step !== 1) ins.push(this.constI(em, 'steps', [step]));
    this.op1(
      em,
      'Slice',
      ins,
      {},
      x.dt,
      x.shape.map((d, i) => (i === axis ? len : d)),
      x.mag,
      x.exact,
      x.cont,
    );
    return true;
  }

  private gather(em: Em): boolean {
    if (this.idsInput && this.chance(0.4)) {
      // embedding lookup
      const ids = this.idsInput;
      const V = this.int(5, 12);
      const E = this.rng.pick([4, 6, 8]);
      const table = this.constF(em, 'embedding', [V, E], this.normal(V * E, 1));
      this.op1(em, 'Gather', [table, ids.v], {}, DataType.FLOAT, [...ids.shape, E], 4, false, true);
      return true;
    }
    const x = this.pick(em, (t) => t.shape.some((d) => typeof d === 'number' && d >= 2));
    if (!x) return false;
    const axes = x.shape.map((d, i) => (typeof d === 'number' && d >= 2 ? i : -1)).filter((i) => i >= 0);
    const axis = this.rng.pick(axes);
    const n = x.shape[axis] as number;
    const scalarIdx = this.chance(0.3);
    const k = scalarIdx ? 1 : this.int(1, 3);
    const idx = Array.from({ length: k }, () => (this.chance(0.3) ? this.int(-n, -1) : this.int(0, n - 1)));
    const iv = this.constI(em, 'indices', idx, scalarIdx ? [] : [k]);
    const shape = [...x.shape.slice(0, axis), ...(scalarIdx ? [] : [k]), ...x.shape.slice(axis + 1)];
    this.op1(em, 'Gather', [x.v, iv], { axis: this.chance(0.3) ? axis - x.shape.length : axis }, x.dt, shape, x.mag, x.exact, x.cont);
    return true;
  }

  private split(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.some((d) => typeof d === 'number' && d >= 2));
    if (!x) return false;
    const axes = x.shape.map((d, i) => (typeof d === 'number' && d >= 2 ? i : -1)).filter((i) => i >= 0);
    const axis = this.rng.pick(axes);
    const n = x.shape[axis] as number;
    const first = this.int(1, n - 1);
    const sizes = [first, n - first];
    const outs = this.node(em, 'Split', [x.v, this.constI(em, 'split', sizes)], { axis }, 2);
    outs.forEach((o, i) =>
      this.mk(
        em,
        o,
        x.dt,
        x.shape.map((d, j) => (j === axis ? sizes[i] : d)),
        x.mag,
        x.exact,
        x.cont,
      ),
    );
    return true;
  }

  private squeeze(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.length <= 4);
    if (!x) return false;
    const at = this.int(0, x.shape.length);
    const shape = [...x.shape.slice(0, at), 1, ...x.shape.slice(at)];
    const u = this.op1(em, 'Unsqueeze', [x.v, this.constI(em, 'axes', [at])], {}, x.dt, shape, x.mag, x.exact, x.cont);
    if (this.chance(0.6))
      this.op1(em, 'Squeeze', [u.v, this.constI(em, 'axes', [this.chance(0.5) ? at : at - shape.length])], {}, x.dt, [...x.shape], x.mag, x.exact, x.cont);
    return true;
  }

  private softmax(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.length >= 1);
    if (!x) return false;
    const r = x.shape.length;
    const axis = this.chance(0.6) ? -1 : this.int(-r, r - 1);
    this.op1(em, this.chance(0.8) ? 'Softmax' : 'LogSoftmax', [this.tame(em, x).v], { axis }, x.dt, [...x.shape], 12, false, x.cont);
    return true;
  }

  /** Reduction over some axes; axes as attribute or input depending on the op and the opset. */
  private reduceNode(em: Em, op: string, x: Value, axes: number[] | undefined, keepdims: number | undefined): Value {
    const attrs: Record<string, unknown> = {};
    if (keepdims !== undefined) attrs.keepdims = keepdims;
    const axesAsInput = op === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    const ins: (Value | null)[] = [x];
    if (axes) {
      if (axesAsInput) ins.push(this.constI(em, 'axes', axes));
      else attrs.axes = axes;
    }
    return this.node(em, op, ins, attrs)[0];
  }
  private reduce(em: Em): boolean {
    const x = this.pick(em, (t) => t.shape.length >= 1);
    if (!x) return false;
    const r = x.shape.length;
    const op = this.rng.pick(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceL2', 'ReduceSumSquare']);
    const all = this.chance(0.15);
    const axes = all
      ? undefined
      : this.rng
          .shuffle([...Array(r).keys()])
          .slice(0, this.int(1, Math.min(2, r)))
          .sort((a, b) => a - b);
    const keep = this.chance(0.6) ? 1 : 0;
    const shape = x.shape.flatMap((d, i) => (axes && !axes.includes(i) ? [d] : keep ? [1] : []));
    const signed = axes?.map((a) => (this.chance(0.3) ? a - r : a));
    const v = this.reduceNode(em, op, this.tame(em, x).v, signed, keep === 1 && this.chance(0.5) ? undefined : keep);
    const reduced = axes ? axes.reduce((a, i) => a * this.sz(x.shape[i]), 1) : this.numel(x.shape);
    const mag =
      op === 'ReduceSum' || op === 'ReduceL2' ? Math.min(x.mag, 30) * Math.sqrt(reduced) * 2 : op === 'ReduceSumSquare' ? 900 * reduced : Math.min(x.mag, 30);
    const t = this.mk(em, v, x.dt, shape, mag, false, x.cont);
    if (t.mag > 30) this.tame(em, t);
    return true;
  }

  /** Casts: exact floats to int64 (a discontinuous op) and back, int64 arithmetic, ids to float. */
  private cast(em: Em): boolean {
    const ints = em.pool.filter((t) => t.dt === DataType.INT64);
    if (ints.length && this.chance(0.5)) {
      const a = this.rng.pick(ints);
      let cur = a;
      if (this.chance(0.5)) {
        const op = this.rng.pick(['Add', 'Mul', 'Sub', 'Abs', 'Neg']);
        const ins = op === 'Abs' || op === 'Neg' ? [a.v] : [a.v, this.constI(em, 'ic', [this.int(-3, 3)], [])];
        cur = this.op1(em, op, ins, {}, DataType.INT64, [...a.shape], a.mag * 4, a.exact, a.cont);
      }
      this.op1(em, 'Cast', [cur.v], { to: DataType.FLOAT }, DataType.FLOAT, [...a.shape], cur.mag, cur.exact, cur.cont);
      return true;
    }
    const x = this.pick(em, (t) => t.exact);
    if (!x) return false;
    const scaled = this.op1(em, 'Mul', [x.v, this.constF(em, 'scale', [], [4])], {}, x.dt, [...x.shape], x.mag * 4, false, x.cont);
    // only exact values may feed a discontinuous op: `scaled` is exact as long as no pass rewrites a lone Mul by 4
    // (a power of two: any reassociation of it is exact too)
    scaled.exact = x.exact;
    this.op1(em, 'Cast', [scaled.v], { to: DataType.INT64 }, DataType.INT64, [...x.shape], x.mag * 4, x.exact, false);
    return true;
  }

  /** A small constant subexpression (folding passes fold it). */
  private constExpr(em: Em): boolean {
    const x = this.pick(em);
    if (!x) return false;
    const cs = this.bshape(x.shape);
    const n = cs.reduce((a, b) => a * b, 1);
    const c1 = this.constF(em, 'k', cs, this.normal(n, 1));
    const c2 = this.constF(em, 'k', cs, this.normal(n, 1));
    const c = this.mk(em, this.node(em, this.rng.pick(['Add', 'Mul', 'Sub']), [c1, c2])[0], DataType.FLOAT, cs, 4, false, true, false);
    const t = this.mk(em, this.node(em, 'Tanh', [c.v])[0], DataType.FLOAT, cs, 1, false, true, false);
    this.op1(em, 'Add', [x.v, t.v], {}, x.dt, this.bcast(x.shape, cs)!, x.mag + 1, false, x.cont);
    return true;
  }

  // --------------------------------------------------------------------------------------------- If

  private ifBlock(em: Em): boolean {
    if (em.branch) return false;
    const x = this.pick(em, (t) => t.shape.length >= 1);
    if (!x) return false;
    let cond: Value;
    let cont = x.cont;
    const exactIn = this.pick(em, (t) => t.exact);
    if (exactIn && this.chance(0.6)) {
      const s = this.reduceNode(em, 'ReduceSum', exactIn.v, undefined, 0);
      this.mk(em, s, DataType.FLOAT, [], 1e3, true, exactIn.cont, false);
      cond = this.node(em, 'Greater', [s, this.constF(em, 'zero', [], [0])])[0];
      cont = false;
    } else {
      cond = this.constT(em, 'cond', boolTensor([], [this.chance(0.5)]));
    }
    // onnxruntime 1.30 (optimisations disabled) loses a value made by Cast->Cast that a branch captures ("Missing
    // Input"); a clean-up pass that drops Identity/Dropout between them would expose that, so capture through a Tanh
    const capturable = (t: T) => !['Cast', 'Identity', 'Dropout'].includes(t.v.producer?.opType ?? '');
    const xs0 = this.tame(em, x);
    const xs = capturable(xs0) ? xs0 : this.op1(em, 'Tanh', [xs0.v], {}, xs0.dt, [...xs0.shape], 1, false, xs0.cont);
    const branch = (name: string): Graph => {
      const sb = subgraph(this.main.freshName(name));
      const bem: Em = { b: sb, pool: [], branch: true };
      let cur: T = { ...xs };
      const steps = this.int(1, 3);
      for (let i = 0; i < steps; i++) cur = this.shapePreserving(bem, cur);
      // sometimes the branch reads a second outer value too
      const other = this.pick(
        em,
        (t) =>
          t !== xs &&
          capturable(t) &&
          t.dt === xs.dt &&
          !!this.bcast(xs.shape, t.shape) &&
          this.bcast(xs.shape, t.shape)!.length === xs.shape.length &&
          this.bcast(xs.shape, t.shape)!.every((d, i) => d === xs.shape[i]),
      );
      if (other && this.chance(0.4))
        cur = this.op1(bem, 'Add', [cur.v, other.v], {}, cur.dt, [...xs.shape], cur.mag + other.mag, false, cur.cont && other.cont);
      const out = this.mk(bem, this.node(bem, 'Identity', [cur.v])[0], cur.dt, [...xs.shape], cur.mag, false, cur.cont, false);
      out.v.type = tensorType(DataType.FLOAT, this.decl(xs.shape));
      sb.graph.addOutput(out.v);
      return sb.graph;
    };
    const thenG = branch('then');
    const elseG = branch('else');
    const y = this.node(em, 'If', [cond], { then_branch: thenG, else_branch: elseG })[0];
    this.mk(em, y, DataType.FLOAT, [...xs.shape], 30, false, cont);
    return true;
  }

  /** One shape-preserving step for If branches: a plant or a unary op. */
  private shapePreserving(em: Em, x: T): T {
    const r = this.int(0, 7);
    const out =
      r === 0
        ? this.plantGelu(em, x)
        : r === 1
          ? this.plantTransposePair(em, x)
          : r === 2
            ? this.plantIdentityChain(em, x)
            : r === 3
              ? this.plantLayerNorm(em, x)
              : r === 4
                ? this.plantHardSwish(em, x)
                : r === 5
                  ? this.plantCastPair(em, x)
                  : undefined;
    if (out) return out;
    return this.op1(em, this.rng.pick(['Tanh', 'Relu', 'Sigmoid', 'Neg']), [x.v], {}, x.dt, [...x.shape], Math.min(x.mag, 30), false, x.cont);
  }

  // --------------------------------------------------------------------------------------------- plants

  /** Decomposed LayerNorm: ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add, with its unsafe variants. */
  private plantLayerNorm(em: Em, x0?: T): T | undefined {
    let x = x0 ?? this.pick(em, (t) => t.shape.length >= 2 && typeof t.shape[t.shape.length - 1] === 'number' && (t.shape[t.shape.length - 1] as number) >= 3);
    if (!x || x.shape.length < 2 || typeof x.shape[x.shape.length - 1] !== 'number' || (x.shape[x.shape.length - 1] as number) < 2) return undefined;
    const r = x.shape.length;
    if (!x.v.isGraphInput) {
      // LayerNorm of rows whose values nearly agree is ill-conditioned (x - mean cancels): any two correct
      // implementations differ there. A projection first (as in a transformer) spreads the row; in a branch it keeps D.
      const K = x.shape[r - 1] as number;
      const D2 = em.branch ? K : this.rng.pick([4, 6, 8]);
      const xs = this.tame(em, x);
      if (this.numel([...x.shape.slice(0, -1), D2]) > MAX_NUMEL) return undefined;
      x = this.op1(
        em,
        'MatMul',
        [xs.v, this.constF(em, 'proj', [K, D2], this.normal(K * D2, 1 / Math.sqrt(K)))],
        {},
        x.dt,
        [...x.shape.slice(0, -1), D2],
        xs.mag * 1.5,
        false,
        xs.cont,
      );
    }
    const D = x.shape[r - 1] as number;
    const s = [...x.shape];
    const tags: string[] = [];
    const wrong = this.rng.pick(['none', 'none', 'none', 'axis', 'mixed', 'eps-shape', 'eps-computed', 'pow4', 'suffix2']);
    let axes1 = [this.chance(0.5) ? -1 : r - 1];
    let axes2 = [...axes1];
    const prevNumeric = typeof x.shape[r - 2] === 'number';
    if (wrong === 'axis' && prevNumeric) axes1 = axes2 = [-2];
    else if (wrong === 'mixed' && prevNumeric) axes2 = [-2];
    else if (wrong === 'suffix2' && prevNumeric) axes1 = axes2 = [this.chance(0.5) ? -2 : r - 2, -1];
    if ((wrong === 'axis' || wrong === 'mixed' || wrong === 'suffix2') && prevNumeric) tags.push(wrong);
    const red = (ax: number[]) => s.map((d, i) => (ax.some((a) => (a + r) % r === i) ? 1 : d));
    const mean = this.mk(em, this.reduceNode(em, 'ReduceMean', x.v, axes1, this.chance(0.5) ? 1 : undefined), x.dt, red(axes1), x.mag, false, x.cont);
    const d = this.op1(em, 'Sub', [x.v, mean.v], {}, x.dt, s, x.mag * 2, false, x.cont);
    // an even wrong exponent: the "variance" stays non-negative, so no NaN hides the difference
    const exponent = wrong === 'pow4' ? 4 : 2;
    if (wrong === 'pow4') tags.push('pow4');
    const expV =
      this.chance(0.2) && this.opset >= 12 ? this.constI(em, 'two', [exponent], []) : this.constF(em, 'two', this.chance(0.5) ? [] : [1], [exponent]);
    const p = this.op1(em, 'Pow', [d.v, expV], {}, x.dt, [...s], (x.mag * 2) ** exponent, false, x.cont);
    const vr = this.mk(em, this.reduceNode(em, 'ReduceMean', p.v, axes2, 1), x.dt, red(axes2), p.mag, false, x.cont);
    let epsV: Value;
    const epsVal = this.rng.pick([1e-5, 1e-6, 1e-12, 1e-3]);
    if (wrong === 'eps-shape') {
      epsV = this.constF(
        em,
        'eps',
        [D],
        Float32Array.from({ length: D }, (_, i) => epsVal * (1 + i)),
      );
      tags.push('eps-shape');
    } else if (wrong === 'eps-computed') {
      const ein = this.floatInput(em, 'ln_eps', [1]);
      const a = this.op1(em, 'Abs', [ein.v], {}, x.dt, [1], 4, false, true);
      epsV = this.op1(em, 'Add', [a.v, this.constF(em, 'eps_floor', [], [1e-2])], {}, x.dt, [1], 4, false, true).v;
      tags.push('eps-computed');
    } else epsV = this.constF(em, 'eps', this.chance(0.5) ? [] : [1], [epsVal]);
    const vshape = this.bcast(vr.shape, wrong === 'eps-shape' ? [D] : [])!;
    const e = this.op1(em, 'Add', this.chance(0.3) ? [epsV, vr.v] : [vr.v, epsV], {}, x.dt, vshape, vr.mag, false, x.cont);
    const sq = this.op1(em, 'Sqrt', [e.v], {}, x.dt, [...vshape], Math.sqrt(vr.mag), false, x.cont);
    const n = this.op1(em, 'Div', [d.v, sq.v], {}, x.dt, this.bcast(s, vshape)!, 6, false, x.cont);
    let y = n;
    const inner = [mean, p, vr, e, sq];
    if (this.chance(0.85)) {
      const gamma = this.constF(em, 'ln_gamma', [D], this.uniform(D, 0.5, 1.5));
      y = this.op1(em, 'Mul', this.chance(0.3) ? [gamma, y.v] : [y.v, gamma], {}, x.dt, [...y.shape], 9, false, x.cont);
      inner.push(n);
      if (this.chance(0.8)) {
        const beta = this.constF(em, 'ln_beta', [D], this.normal(D, 0.2));
        const prev = y;
        y = this.op1(em, 'Add', this.chance(0.3) ? [beta, y.v] : [y.v, beta], {}, x.dt, [...y.shape], 10, false, x.cont);
        inner.push(prev);
      }
    }
    const u = this.unsafe();
    if (u) {
      this.expose(em, this.rng.pick(inner), u);
      tags.push(u);
    }
    if (this.opset >= 18) tags.push('axes-input');
    this.note(em, 'layernorm', tags.join(',') || undefined);
    return y;
  }

  /** erf-GELU in one of its written forms, sometimes after a bias Add. */
  private plantGelu(em: Em, x0?: T): T | undefined {
    let x = x0 ?? this.pick(em);
    if (!x) return undefined;
    const s = [...x.shape];
    const tags: string[] = [];
    if (!x0 && this.chance(0.3) && typeof s[s.length - 1] === 'number') {
      const N = s[s.length - 1] as number;
      x = this.op1(em, 'Add', [x.v, this.constF(em, 'gelu_bias', [N], this.normal(N, 0.3))], {}, x.dt, s, x.mag + 1, false, x.cont);
      tags.push('bias');
    }
    x = this.tame(em, x);
    const wrong = this.rng.pick(['none', 'none', 'none', 'none', 'sqrt', 'half', 'one', 'other']);
    const c = (base: string, v: number) => this.constF(em, base, this.chance(0.6) ? [] : [1], [v]);
    let erfIn: Value = x.v;
    if (wrong === 'other') {
      erfIn = this.op1(em, 'Neg', [x.v], {}, x.dt, [...s], x.mag, false, x.cont).v;
      tags.push('other-input');
    }
    const scaled = this.chance(0.5)
      ? this.op1(em, 'Div', [erfIn, c('sqrt2', wrong === 'sqrt' ? 1.5 : SQRT2)], {}, x.dt, [...s], x.mag, false, x.cont)
      : this.op1(em, 'Mul', [erfIn, c('inv_sqrt2', wrong === 'sqrt' ? 0.6 : 1 / SQRT2)], {}, x.dt, [...s], x.mag, false, x.cont);
    if (wrong === 'sqrt') tags.push('wrong-sqrt2');
    const er = this.op1(em, 'Erf', [scaled.v], {}, x.dt, [...s], 1, false, x.cont);
    const one = c('one', wrong === 'one' ? 2 : 1);
    if (wrong === 'one') tags.push('wrong-one');
    const ap = this.op1(em, 'Add', this.chance(0.3) ? [one, er.v] : [er.v, one], {}, x.dt, [...s], 2, false, x.cont);
    const half = c('half', wrong === 'half' ? 0.6 : 0.5);
    if (wrong === 'half') tags.push('wrong-half');
    const form = this.int(0, 2);
    let y: T;
    let inner: T[];
    if (form === 0) {
      const xh = this.op1(em, 'Mul', this.chance(0.3) ? [half, x.v] : [x.v, half], {}, x.dt, [...s], x.mag, false, x.cont);
      y = this.op1(em, 'Mul', this.chance(0.5) ? [xh.v, ap.v] : [ap.v, xh.v], {}, x.dt, [...s], x.mag * 2, false, x.cont);
      inner = [scaled, er, ap, xh];
    } else if (form === 1) {
      const ah = this.op1(em, 'Mul', [ap.v, half], {}, x.dt, [...s], 1, false, x.cont);
      y = this.op1(em, 'Mul', this.chance(0.5) ? [x.v, ah.v] : [ah.v, x.v], {}, x.dt, [...s], x.mag, false, x.cont);
      inner = [scaled, er, ap, ah];
    } else {
      const xa = this.op1(em, 'Mul', [x.v, ap.v], {}, x.dt, [...s], x.mag * 2, false, x.cont);
      y = this.op1(em, 'Mul', [xa.v, half], {}, x.dt, [...s], x.mag, false, x.cont);
      inner = [scaled, er, ap, xa];
    }
    const u = this.unsafe();
    if (u) {
      this.expose(em, this.rng.pick(inner), u);
      tags.push(u);
    }
    this.note(em, 'gelu', tags.join(',') || undefined);
    return y;
  }

  /** Conv (+bias) -> BatchNormalization, with weights or statistics that are not constants sometimes. */
  private plantConvBn(em: Em): T | undefined {
    const x = this.pick(
      em,
      (t) => (t.shape.length === 4 || t.shape.length === 3) && t.shape.slice(1).every((d) => typeof d === 'number') && (t.shape[2] as number) >= 3,
    );
    if (!x) return undefined;
    const tags: string[] = [];
    const wrong = this.rng.pick(['none', 'none', 'none', 'w-input', 'stat-input', 'init-input']);
    let conv: T | undefined;
    if (wrong === 'w-input') {
      // the weight is a graph input: fusing would have to fold into a value it cannot see
      const C = x.shape[1] as number;
      const sp = x.shape.slice(2) as number[];
      const k = Math.min(2, ...sp);
      const Cout = this.int(2, 4);
      const w = this.floatInput(em, 'conv_weight_in', [Cout, C, ...sp.map(() => k)]);
      const outSp = sp.map((v) => v - k + 1);
      conv = this.op1(em, 'Conv', [x.v, w.v], { kernel_shape: sp.map(() => k) }, x.dt, [x.shape[0], Cout, ...outSp], x.mag * 4 * C, false, x.cont);
      tags.push('w-input');
    } else conv = this.conv(em, x);
    if (!conv) return undefined;
    conv = this.tame(em, conv);
    const C = conv.shape[1] as number;
    const stat = (base: string, vals: Float32Array, positive: boolean): Value => {
      if (wrong === 'stat-input' && base === 'bn_mean') {
        const i = this.floatInput(em, 'bn_running_mean', [C]);
        return i.v;
      }
      if (wrong === 'init-input' && base === 'bn_var') {
        // an initializer that is also a graph input: its value may be overridden at run time
        const name = this.main.freshName('bn_var_default');
        const v = this.main.addInput(name, tensorType(DataType.FLOAT, [C]));
        this.main.addInitializer(name, floatTensor([C], vals));
        return v;
      }
      void positive;
      return this.constF(em, base, [C], vals);
    };
    const ins = [
      conv.v,
      stat('bn_scale', this.uniform(C, 0.5, 1.5), false),
      stat('bn_bias', this.normal(C, 0.2), false),
      stat('bn_mean', this.normal(C, 0.2), false),
      stat('bn_var', this.uniform(C, 0.5, 1.5), true),
    ];
    if (wrong === 'stat-input' || wrong === 'init-input') tags.push(wrong);
    const attrs = this.chance(0.6) ? { epsilon: f(this.rng.pick([1e-5, 1e-3, 0.1])) } : {};
    const y = this.op1(em, 'BatchNormalization', ins, attrs, x.dt, [...conv.shape], conv.mag * 2 + 1, false, x.cont);
    const u = this.unsafe();
    if (u) {
      this.expose(em, conv, u);
      tags.push(u);
    }
    if (x.shape.length === 3) tags.push('1d');
    this.note(em, 'conv-bn', tags.join(',') || undefined);
    return y;
  }

  /** MatMul -> Add, with biases of several shapes, some that Gemm cannot take. */
  private plantMatMulAdd(em: Em): T | undefined {
    const x = this.pick(em, (t) => (t.shape.length === 2 || t.shape.length === 3) && typeof t.shape[t.shape.length - 1] === 'number');
    if (!x) return undefined;
    const tags: string[] = [];
    const r = x.shape.length;
    if (r === 3) tags.push('rank3');
    const K = x.shape[r - 1] as number;
    const N = this.rng.pick([2, 3, 4, 8]);
    const w = this.chance(0.15) ? this.floatInput(em, 'mm_weight_in', [K, N]).v : this.constF(em, 'mm_w', [K, N], this.normal(K * N, 1 / Math.sqrt(K)));
    const mmShape = [...x.shape.slice(0, -1), N];
    if (this.numel(mmShape) * 2 > MAX_NUMEL) return undefined;
    const mm = this.op1(em, 'MatMul', [this.tame(em, x).v, w], {}, x.dt, mmShape, 10, false, x.cont);
    const kind = this.rng.pick(['N', 'N', '1N', 'scalar', 'MN', 'raise']);
    let bs: number[];
    const M = x.shape[r - 2];
    if (kind === 'N') bs = [N];
    else if (kind === '1N') bs = [1, N];
    else if (kind === 'scalar') bs = [];
    else if (kind === 'MN' && typeof M === 'number') bs = [M, N];
    else if (kind === 'raise') bs = [2, 1, N];
    else bs = [N];
    if (!this.bcast(mmShape, bs)) bs = [N];
    if (bs.length !== 1) tags.push(`bias-${kind}`);
    const outShape = this.bcast(mmShape, bs)!;
    if (this.numel(outShape) > MAX_NUMEL) bs = [N];
    const bias = this.constF(
      em,
      'mm_bias',
      bs,
      this.normal(
        bs.reduce((a, b) => a * b, 1),
        0.5,
      ),
    );
    const y = this.op1(em, 'Add', this.chance(0.3) ? [bias, mm.v] : [mm.v, bias], {}, x.dt, this.bcast(mmShape, bs)!, 12, false, x.cont);
    const u = this.unsafe();
    if (u) {
      this.expose(em, mm, u);
      tags.push(u);
    }
    this.note(em, 'matmul-add', tags.join(',') || undefined);
    return y;
  }

  /**
   * Reshape(x, [-1, K]) -> Gemm(W, b) -> Reshape(back to x's leading dims + [N]): a linear layer as torch exports
   * Hugging Face's Conv1D (addmm over the flattened input), with the reshape targets as constants or as torch's shape
   * arithmetic; sometimes transB, sometimes alpha (which fuse-reshape-gemm refuses).
   */
  private plantReshapeGemm(em: Em): T | undefined {
    const x0 = this.pick(em, (t) => t.shape.length >= 2 && t.shape.length <= 4 && typeof t.shape[t.shape.length - 1] === 'number');
    if (!x0) return undefined;
    const x = this.tame(em, x0);
    const tags: string[] = [];
    const r = x.shape.length;
    const K = x.shape[r - 1] as number;
    const N = this.rng.pick([2, 3, 4, 8]);
    const lead = x.shape.slice(0, -1);
    const outShape = [...lead, N];
    if (this.numel(outShape) > MAX_NUMEL) return undefined;
    const staticLead = lead.every((d) => typeof d === 'number');
    const flatDim: D = staticLead ? lead.reduce<number>((a, d) => a * (d as number), 1) : `?${lead.find((d) => typeof d === 'string')}`;
    let shape1: Value;
    if (this.chance(0.4)) {
      tags.push('torch-flatten');
      const shp = this.node(em, 'Shape', [x.v])[0];
      const g = this.node(em, 'Gather', [shp, this.constI(em, 'idx', [this.chance(0.5) ? -1 : r - 1], [])], { axis: 0 })[0];
      const u = this.node(em, 'Unsqueeze', [g, this.constI(em, 'axes', [0])])[0];
      shape1 = this.node(em, 'Concat', [this.constI(em, 'minus1', [-1]), u], { axis: 0 })[0];
    } else shape1 = this.constI(em, 'flat', [-1, K]);
    const flat = this.mk(em, this.node(em, 'Reshape', [x.v, shape1])[0], x.dt, [flatDim, K], x.mag, x.exact, x.cont, false);
    const transB = this.chance(0.3);
    const w = this.constF(em, 'c1d_w', transB ? [N, K] : [K, N], this.normal(K * N, 1 / Math.sqrt(K)));
    const attrs: Record<string, unknown> = {};
    if (transB) {
      attrs.transB = 1;
      tags.push('transB');
    }
    if (this.chance(0.1)) {
      attrs.alpha = f(0.5);
      tags.push('alpha');
    }
    const ins = [flat.v, w];
    if (this.chance(0.85)) ins.push(this.constF(em, 'c1d_b', this.chance(0.8) ? [N] : [1, N], this.normal(N, 0.5)));
    const gemm = this.mk(em, this.node(em, 'Gemm', ins, attrs)[0], x.dt, [flatDim, N], 10, false, x.cont, false);
    let shape2: Value;
    if (staticLead && this.chance(0.4)) shape2 = this.constI(em, 'unflat', [...(lead as number[]), N]);
    else {
      tags.push('torch-unflatten');
      const shp = this.node(em, 'Shape', [x.v])[0];
      const sl = this.node(em, 'Slice', [shp, this.constI(em, 'start', [0]), this.constI(em, 'end', [-1])])[0];
      shape2 = this.node(em, 'Concat', [sl, this.constI(em, 'n', [N])], { axis: 0 })[0];
    }
    const y = this.op1(em, 'Reshape', [gemm.v, shape2], {}, x.dt, outShape, 12, false, x.cont);
    const u = this.unsafe();
    if (u) {
      this.expose(em, gemm, u);
      tags.push(u);
    }
    this.note(em, 'reshape-gemm', tags.join(',') || undefined);
    return y;
  }

  /**
   * BERT-style self-attention on x [B, S, D]: q, k, v = x·W + b split into H heads (Reshape to [0, 0, H, D/H],
   * Transpose; k transposed to [B, H, D/H, S]), softmax(q·k / sqrt(D/H)) · v (sometimes through torch's identity
   * Cast of the probabilities), merged back to [0, 0, D]. Unsafe
   * variants: the probabilities also read elsewhere or a graph output, Softmax over another axis, a scale Mul,
   * an additive constant mask (not the HF form: a near miss).
   */
  private plantAttention(em: Em): T | undefined {
    const x0 = this.pick(em, (t) => t.shape.length === 3 && typeof t.shape[1] === 'number' && typeof t.shape[2] === 'number' && (t.shape[2] as number) >= 2);
    if (!x0) return undefined;
    const x = this.tame(em, x0);
    const [B, S, D] = x.shape as [D, number, number];
    const H = D % 2 === 0 ? this.rng.pick([1, 2]) : 1;
    const dh = D / H;
    if (this.numel([B, H, S, S]) > MAX_NUMEL || this.numel([B, S, 3 * D]) > MAX_NUMEL) return undefined;
    const tags: string[] = [];
    // intermediates stay out of the pool: random ops reading them would make nearly every plant a near miss
    const inner = (op: string, inputs: (Value | null)[], attrs: Record<string, unknown>, shape: D[], mag: number): T =>
      this.mk(em, this.node(em, op, inputs, attrs)[0]!, x.dt, shape, mag, false, x.cont, false);
    const heads = (name: string, perm: number[]): T => {
      const w = this.constF(em, `${name}_w`, [D, D], this.normal(D * D, 1 / Math.sqrt(D)));
      const mm = inner('MatMul', [x.v, w], {}, [B, S, D], 10);
      const proj = inner('Add', [mm.v, this.constF(em, `${name}_b`, [D], this.normal(D, 0.1))], {}, [B, S, D], 10);
      const split = inner('Reshape', [proj.v, this.constI(em, `${name}_heads`, [0, 0, H, dh])], {}, [B, S, H, dh], 10);
      return inner(
        'Transpose',
        [split.v],
        { perm },
        perm.map((i) => [B, S, H, dh][i]!),
        10,
      );
    };
    const q = heads('q', [0, 2, 1, 3]);
    const k = heads('k', [0, 2, 3, 1]);
    const v = heads('v', [0, 2, 1, 3]);
    let scores = inner('MatMul', [q.v, k.v], {}, [B, H, S, S], 30);
    if (this.chance(0.15)) {
      tags.push('mul-scale');
      scores = inner('Mul', [scores.v, this.constF(em, 'scale', [], [1 / Math.sqrt(dh)])], {}, [B, H, S, S], 10);
    } else scores = inner('Div', [scores.v, this.constF(em, 'sqrt_d', [], [Math.sqrt(dh)])], {}, [B, H, S, S], 10);
    if (this.chance(0.15)) {
      tags.push('const-mask');
      scores = inner('Add', [scores.v, this.constF(em, 'mask', [S], this.normal(S, 1))], {}, [B, H, S, S], 12);
    }
    const axis = this.chance(0.1) ? 1 : -1;
    if (axis !== -1) tags.push('axis');
    const probs = inner('Softmax', [scores.v], { axis }, [B, H, S, S], 1);
    // torch's `attn_weights.type(value.dtype)`: an identity Cast between the Softmax and the context MatMul
    const cast = this.chance(0.2);
    if (cast) tags.push('cast');
    const used = cast ? inner('Cast', [probs.v], { to: x.dt }, [B, H, S, S], 1) : probs;
    const ctx = inner('MatMul', [used.v, v.v], {}, [B, H, S, dh], 10);
    const merged = inner('Transpose', [ctx.v], { perm: [0, 2, 1, 3] }, [B, S, H, dh], 10);
    const y = this.op1(em, 'Reshape', [merged.v, this.constI(em, 'merge_heads', [0, 0, D])], {}, x.dt, [B, S, D], 10, false, x.cont);
    const u = this.unsafe();
    if (u) {
      this.expose(em, probs, u);
      tags.push(u);
    }
    this.note(em, 'attention', tags.join(',') || undefined);
    return y;
  }

  /**
   * GPT-2 causal self-attention as torch.onnx.export writes Hugging Face's GPT2Attention (fixtures/torch/
   * gpt2-tiny-op17.onnx): c_attn a Conv1D (Reshape(x, [-1, D] by shape arithmetic) -> Gemm(W [D, 3D]) -> Reshape
   * back), Split in three along axis 2, heads split by Shape/Gather/Unsqueeze/Concat Reshapes, Kᵀ = Transpose(0,2,3,1),
   * scores / sqrt(dh) (the divisor torch's Pow(Cast(shape[-1]), 0.5) arithmetic, or folded), the causal bool buffer
   * [1, 1, M, M] (M >= S) sliced to bias[:, :, kl - ql : kl, :kl] with the lengths read by Shape/Slice/Squeeze, an
   * identity Cast, Where(bias, scores, float32 lowest), Softmax, identity Cast, context, heads merged by a
   * shape-arithmetic Reshape, then c_proj another Conv1D. Near misses: a buffer that is not lower-triangular, a
   * fill that does not mask (-1), the probabilities read elsewhere.
   */
  private plantGpt2Attention(em: Em): T | undefined {
    // the sequence may be symbolic here (the causal buffer is sliced to the actual length)
    const x0 = this.pick(em, (t) => t.shape.length === 3 && typeof t.shape[2] === 'number' && (t.shape[2] as number) >= 2);
    if (!x0) return undefined;
    const x = this.tame(em, x0);
    const [B, S, D] = x.shape as [D, D, number];
    const Sn = this.sz(S);
    const H = D % 2 === 0 ? this.rng.pick([1, 2]) : 1;
    const dh = D / H;
    if (this.numel([B, H, S, S]) > MAX_NUMEL || this.numel([B, S, 3 * D]) > MAX_NUMEL) return undefined;
    const tags: string[] = [];
    const inner = (op: string, inputs: (Value | null)[], attrs: Record<string, unknown>, shape: D[], mag: number, dt = x.dt): T =>
      this.mk(em, this.node(em, op, inputs, attrs)[0]!, dt, shape, mag, false, x.cont, false);
    const I = (values: number[], dims?: number[]) => this.constI(em, 'c', values, dims);
    const INT64_MAX = 9223372036854775807n;
    // torch's size(i) of a value: Gather(Shape(t), i) as a scalar; its shape[-k] as Squeeze(Slice(Shape(t), -k, -k+1))
    const gatherDim = (t: Value, i: number) => this.node(em, 'Gather', [this.node(em, 'Shape', [t])[0]!, I([i], [])], { axis: 0 })[0]!;
    const sliceDim = (t: Value, k: number) => {
      const sl = this.node(em, 'Slice', [
        this.node(em, 'Shape', [t])[0]!,
        I([-k]),
        k === 1 ? this.constT(em, 'end', int64Tensor([1], [INT64_MAX])) : I([-k + 1]),
        I([0]),
      ])[0]!;
      return this.node(em, 'Squeeze', [sl, I([0])])[0]!;
    };
    const unsq = (s: Value) => this.node(em, 'Unsqueeze', [s, I([0])])[0]!;
    /** HF Conv1D: x [B, S, K] -> [B, S, N] */
    const flatDim: D = typeof B === 'number' && typeof S === 'number' ? B * S : `?${typeof B === 'string' ? B : S}`;
    const conv1d = (name: string, t: T, K: number, N: number): T => {
      const b0 = gatherDim(t.v, 0);
      const b1 = gatherDim(t.v, 1);
      const flatShape = this.node(em, 'Concat', [I([-1]), unsq(sliceDim(t.v, 1))], { axis: 0 })[0]!;
      const flat = inner('Reshape', [t.v, flatShape], {}, [flatDim, K], t.mag);
      const w = this.constF(em, `${name}.weight`, [K, N], this.normal(K * N, 1 / Math.sqrt(K)));
      const gemm = inner('Gemm', [flat.v, w, this.constF(em, `${name}.bias`, [N], this.normal(N, 0.1))], { alpha: f(1), beta: f(1) }, [flatDim, N], 10);
      const back = this.node(em, 'Concat', [unsq(b0), unsq(b1), I([N])], { axis: 0 })[0]!;
      return inner('Reshape', [gemm.v, back], {}, [B, S, N], 10);
    };
    const qkv = conv1d('c_attn', x, D, 3 * D);
    const parts = this.node(em, 'Split', [qkv.v, I([D, D, D])], { axis: 2 }, 3);
    const split = (p: Value): T => {
      const shape = this.node(em, 'Concat', [unsq(gatherDim(p, 0)), unsq(gatherDim(p, 1)), I([H]), I([dh])], { axis: 0 })[0]!;
      return inner('Reshape', [p, shape], {}, [B, S, H, dh], 10);
    };
    const [qs, ks, vs] = parts.map(split) as [T, T, T];
    const q = inner('Transpose', [qs.v], { perm: [0, 2, 1, 3] }, [B, H, S, dh], 10);
    const k = inner('Transpose', [ks.v], { perm: [0, 2, 1, 3] }, [B, H, S, dh], 10);
    const v = inner('Transpose', [vs.v], { perm: [0, 2, 1, 3] }, [B, H, S, dh], 10);
    const kT = inner('Transpose', [ks.v], { perm: [0, 2, 3, 1] }, [B, H, dh, S], 10);
    const scores = inner('MatMul', [q.v, kT.v], {}, [B, H, S, S], 30);
    let div: Value;
    if (this.chance(0.6)) {
      tags.push('torch-scale');
      const len = this.node(em, 'Cast', [sliceDim(v.v, 1)], { to: DataType.FLOAT })[0]!;
      const pow = this.node(em, 'Pow', [len, this.constF(em, 'half', [], [0.5])])[0]!;
      const zero = this.node(em, 'ConstantOfShape', [this.constT(em, 'empty', int64Tensor([0], []))], { value: floatTensor([1], [0]) })[0]!;
      div = this.node(em, 'Add', [zero, pow])[0]!;
    } else div = this.constF(em, 'sqrt_d', [], [Math.sqrt(dh)]);
    const scaled = inner('Div', [scores.v, div], {}, [B, H, S, S], 10);
    const ql = sliceDim(q.v, 2);
    const kl = sliceDim(k.v, 2);
    const M = Sn + this.int(0, 3);
    const tril = Array.from({ length: M * M }, (_, i) => Math.floor(i / M) >= i % M);
    if (this.chance(0.1)) {
      tags.push('not-tril');
      tril[Sn - 1] = true; // row 0 sees the last key of the slice
    }
    const bias = this.constT(em, 'bias', boolTensor([1, 1, M, M], tril), { node: this.chance(0.7) });
    const rows = this.node(em, 'Slice', [bias, unsq(this.node(em, 'Sub', [kl, ql])[0]!), unsq(kl), I([2]), I([1])])[0]!;
    const mask = this.node(em, 'Slice', [rows, I([0]), unsq(kl), I([3]), I([1])])[0]!;
    const cast1 = inner('Cast', [scaled.v], { to: x.dt }, [B, H, S, S], 10);
    const fill = this.chance(0.1) ? (tags.push('weak-fill'), -1) : -3.4028234663852886e38;
    const where = inner('Where', [mask, cast1.v, this.constF(em, 'minv', [], [fill])], {}, [B, H, S, S], 10);
    const probs = inner('Softmax', [where.v], { axis: -1 }, [B, H, S, S], 1);
    const cast2 = inner('Cast', [probs.v], { to: x.dt }, [B, H, S, S], 1);
    const ctx = inner('MatMul', [cast2.v, v.v], {}, [B, H, S, dh], 10);
    const merged = inner('Transpose', [ctx.v], { perm: [0, 2, 1, 3] }, [B, S, H, dh], 10);
    const mshape = this.node(em, 'Concat', [unsq(gatherDim(merged.v, 0)), unsq(gatherDim(merged.v, 1)), I([D])], { axis: 0 })[0]!;
    const y0 = inner('Reshape', [merged.v, mshape], {}, [B, S, D], 10);
    const y = conv1d('c_proj', y0, D, D);
    em.pool.push(y);
    const u = this.unsafe();
    if (u) {
      this.expose(em, probs, u);
      tags.push(u);
    }
    this.note(em, 'gpt2-attention', tags.join(',') || undefined);
    return y;
  }

  /**
   * nn.MultiheadAttention (batch_first, inside nn.TransformerEncoder) as torch.onnx.export writes it (fixtures/torch/
   * mha-encoder-tiny-op17.onnx): x [B, S, E] made sequence-first by Transpose(1,0,2), the packed in_proj
   * Add(b, MatMul(xs, W [E, 3E])) sliced in three by torch's (size + 2) / 3 arithmetic, heads Reshaped to
   * [S, B·H, E/H] with the targets computed from Shape, q / √D, Kᵀ = Transpose(1,2,0), scores·1 + 1·Where(pad, -inf,
   * 0) with the bool key padding mask [B, S] (a graph input) spread over the heads by Reshape/Expand/Reshape, Softmax,
   * context, Transpose back, Reshape to [S·B, E], out_proj Gemm(transB), Reshape, Transpose. The mask is And-ed with
   * a constant that keeps key 0 (a row of nothing but padded keys is NaN in torch, where the fused op differs by
   * design). Near misses: a scale Mul that is not 1, the probabilities read elsewhere.
   */
  private plantMhaAttention(em: Em): T | undefined {
    const x0 = this.pick(em, (t) => t.shape.length === 3 && typeof t.shape[1] === 'number' && typeof t.shape[2] === 'number' && (t.shape[2] as number) >= 2);
    if (!x0) return undefined;
    const x = this.tame(em, x0);
    const [B, S, E] = x.shape as [D, number, number];
    const H = E % 2 === 0 ? this.rng.pick([1, 2]) : 1;
    const hd = E / H;
    if (this.numel([B, H, S, S]) > MAX_NUMEL || this.numel([B, S, 3 * E]) > MAX_NUMEL) return undefined;
    const tags: string[] = [];
    const inner = (op: string, inputs: (Value | null)[], attrs: Record<string, unknown>, shape: D[], mag: number): T =>
      this.mk(em, this.node(em, op, inputs, attrs)[0]!, x.dt, shape, mag, false, x.cont, false);
    const I = (values: number[], dims?: number[]) => this.constI(em, 'c', values, dims);
    const n1 = (op: string, inputs: Value[], attrs: Record<string, unknown> = {}) => this.node(em, op, inputs, attrs)[0]!;
    const dim = (t: Value, i: number) => n1('Gather', [n1('Shape', [t]), I([i], [])], { axis: 0 });
    const unsq = (s: Value) => n1('Unsqueeze', [s, I([0])]);
    const BH: D = typeof B === 'number' ? B * H : `?${B}`;
    const xs = inner('Transpose', [x.v], { perm: [1, 0, 2] }, [S, B, E], x.mag);
    const tgtLen = dim(xs.v, 0);
    const bsz = dim(xs.v, 1);
    const embed = dim(xs.v, 2);
    const headDim = n1('Cast', [n1('Cast', [n1('Div', [embed, I([H], [])])], { to: DataType.INT64 })], { to: DataType.INT64 });
    const w = this.constF(em, 'in_proj_weight_t', [E, 3 * E], this.normal(3 * E * E, 1 / Math.sqrt(E)));
    const mm = inner('MatMul', [xs.v, w], {}, [S, B, 3 * E], 10);
    const proj = inner('Add', [this.constF(em, 'in_proj_bias', [3 * E], this.normal(3 * E, 0.1)), mm.v], {}, [S, B, 3 * E], 10);
    const third = n1('Div', [n1('Add', [n1('Gather', [n1('Shape', [proj.v]), I([-1])], { axis: 0 }), I([2])]), I([3])]);
    const bounds = [I([0]), n1('Mul', [third, I([1])]), n1('Mul', [third, I([2])]), n1('Mul', [third, I([3])])];
    const bh = n1('Mul', [bsz, I([H], [])]);
    const heads = (i: number, perm: number[]): [T, T] => {
      const part = inner('Slice', [proj.v, bounds[i]!, bounds[i + 1]!, I([-1])], {}, [S, B, E], 10);
      const len = i === 0 ? tgtLen : dim(part.v, 0);
      const target = n1('Concat', [unsq(len), unsq(bh), unsq(headDim)], { axis: 0 });
      const r = inner('Reshape', [part.v, target], {}, [S, BH, hd], 10);
      return [
        r,
        inner(
          'Transpose',
          [r.v],
          { perm },
          perm.map((p) => [S, BH, hd][p]!),
          10,
        ),
      ];
    };
    const [, q] = heads(0, [1, 0, 2]);
    const [kr, k] = heads(1, [1, 0, 2]);
    const [, v] = heads(2, [1, 0, 2]);
    const srcLen = dim(k.v, 1);
    // the key padding mask: a bool graph input [B, S], key 0 always kept
    const padName = this.main.freshName('src_key_padding_mask');
    let padB: D = B;
    if (typeof B === 'string' && B.startsWith('?')) {
      // an unnamed batch dimension: the mask's own (synthesizeInputs sizes it as "name[0]", like x's)
      this.dims[`${padName}[0]`] = this.sz(B);
      padB = `?${padName}[0]`;
    }
    const padIn = this.main.addInput(padName, tensorType(DataType.BOOL, this.decl([padB, S])));
    const keep = this.constT(
      em,
      'keep_first',
      boolTensor(
        [1, S],
        Array.from({ length: S }, (_, j) => j !== 0),
      ),
    );
    const pad = n1('And', [padIn, keep]);
    const m4 = n1('Reshape', [pad, n1('Concat', [unsq(bsz), I([1]), I([1]), unsq(srcLen)], { axis: 0 })]);
    const ones = n1('ConstantOfShape', [I([4])], { value: int64Tensor([1], [1]) });
    const expShape = n1('Where', [n1('Equal', [I([-1, H, -1, -1]), n1('Mul', [ones, I([-1], [])])]), ones, I([-1, H, -1, -1])]);
    const m3 = n1('Reshape', [n1('Expand', [m4, expShape]), n1('Concat', [unsq(bh), I([1]), unsq(srcLen)], { axis: 0 })]);
    const zeros = n1('ConstantOfShape', [n1('Shape', [m3])], { value: floatTensor([1], [0]) });
    const fmask = n1('Where', [n1('Cast', [m3], { to: DataType.BOOL }), this.constF(em, 'neg_inf', [], [Number.NEGATIVE_INFINITY]), zeros]);
    const qs = inner('Div', [q.v, this.constF(em, 'sqrt_hd', [], [Math.sqrt(hd)])], {}, [BH, S, hd], 10);
    const kT = inner('Transpose', [kr.v], { perm: [1, 2, 0] }, [BH, hd, S], 10);
    const scores = inner('MatMul', [qs.v, kT.v], {}, [BH, S, S], 30);
    const alpha = this.chance(0.1) ? (tags.push('alpha'), 0.5) : 1;
    const a = inner('Mul', [scores.v, this.constF(em, 'alpha', [], [alpha])], {}, [BH, S, S], 30);
    const bm = n1('Mul', [fmask, this.constF(em, 'beta', [], [1])]);
    const sum = inner('Add', [a.v, bm], {}, [BH, S, S], 30);
    const probs = inner('Softmax', [sum.v], { axis: -1 }, [BH, S, S], 1);
    const ctx = inner('MatMul', [probs.v, v.v], {}, [BH, S, hd], 10);
    const ctxT = inner('Transpose', [ctx.v], { perm: [1, 0, 2] }, [S, BH, hd], 10);
    const flat = inner('Reshape', [ctxT.v, n1('Concat', [unsq(n1('Mul', [tgtLen, bsz])), unsq(embed)], { axis: 0 })], {}, [`?${B}`, E], 10);
    const wo = this.constF(em, 'out_proj_weight', [E, E], this.normal(E * E, 1 / Math.sqrt(E)));
    const gemm = inner(
      'Gemm',
      [flat.v, wo, this.constF(em, 'out_proj_bias', [E], this.normal(E, 0.1))],
      { alpha: f(1), beta: f(1), transB: 1 },
      [`?${B}`, E],
      10,
    );
    const back = inner('Reshape', [gemm.v, n1('Concat', [unsq(tgtLen), unsq(bsz), unsq(dim(gemm.v, 1))], { axis: 0 })], {}, [S, B, E], 10);
    const y = this.op1(em, 'Transpose', [back.v], { perm: [1, 0, 2] }, x.dt, [B, S, E], 10, false, x.cont);
    const u = this.unsafe();
    if (u) {
      this.expose(em, probs, u);
      tags.push(u);
    }
    this.note(em, 'mha-attention', tags.join(',') || undefined);
    return y;
  }

  /**
   * LLaMA self-attention as torch.onnx.export writes Hugging Face's LlamaAttention (fixtures/torch/llama-tiny.onnx):
   * q/k/v MatMuls (k and v with fewer heads: grouped-query), heads split by shape-arithmetic Reshapes and
   * Transpose(0,2,1,3), rotary embeddings in the rotate_half form (cos/sin buffers [1, 1, M, D] sliced [0:len] by the
   * key length, Cast, Squeezed to [len, D], Gathered at position ids Range(0, S) [1, S], Unsqueezed to axis 1; x·cos +
   * Concat(-x[D/2:], x[:D/2])·sin with the halves cut by Cast(Div(shape[3], 2))), repeat_kv (Unsqueeze at 2, Expand
   * to [B, Hkv, n_rep, S, D], Reshape to [B, H, S, D]), softmax(q·kᵀ / √D) through torch's two identity Casts,
   * context, Transpose, Reshape to [B, S, E], o_proj. Near misses: tables whose halves differ (not cat(freqs,
   * freqs)), the probabilities read elsewhere.
   */
  private plantLlamaAttention(em: Em): T | undefined {
    const x0 = this.pick(em, (t) => t.shape.length === 3 && typeof t.shape[2] === 'number' && (t.shape[2] as number) % 2 === 0 && (t.shape[2] as number) >= 4);
    if (!x0) return undefined;
    const x = this.tame(em, x0);
    const [B, S, E] = x.shape as [D, D, number];
    const Sn = this.sz(S);
    const hd = E % 4 === 0 && this.chance(0.5) ? 4 : 2;
    const H = E / hd;
    const Hkv = H % 2 === 0 && this.chance(0.6) ? H / 2 : H;
    const rep = H / Hkv;
    if (this.numel([B, H, Sn, Sn]) > MAX_NUMEL || this.numel([B, H, Sn, hd]) * 3 > MAX_NUMEL) return undefined;
    const tags: string[] = [];
    if (rep > 1) tags.push('gqa');
    const inner = (op: string, inputs: (Value | null)[], attrs: Record<string, unknown>, shape: D[], mag: number): T =>
      this.mk(em, this.node(em, op, inputs, attrs)[0]!, x.dt, shape, mag, false, x.cont, false);
    const I = (values: (number | bigint)[], dims?: number[]) => this.constI(em, 'c', values, dims);
    const n1 = (op: string, inputs: Value[], attrs: Record<string, unknown> = {}) => this.node(em, op, inputs, attrs)[0]!;
    const dim = (t: Value, i: number) => n1('Gather', [n1('Shape', [t]), I([i], [])], { axis: 0 });
    const unsq = (s: Value, axis = 0) => n1('Unsqueeze', [s, I([axis])]);
    const bsz = dim(x.v, 0);
    const qLen = dim(x.v, 1);
    const proj = (name: string, heads: number): [T, T] => {
      const w = this.constF(em, `${name}_proj_t`, [E, heads * hd], this.normal(E * heads * hd, 1 / Math.sqrt(E)));
      const mm = inner('MatMul', [x.v, w], {}, [B, S, heads * hd], 10);
      const r = inner('Reshape', [mm.v, n1('Concat', [unsq(bsz), unsq(qLen), I([heads]), I([hd])], { axis: 0 })], {}, [B, S, heads, hd], 10);
      return [r, inner('Transpose', [r.v], { perm: [0, 2, 1, 3] }, [B, heads, S, hd], 10)];
    };
    const [, q] = proj('q', H);
    const [, k] = proj('k', Hkv);
    const [, v] = proj('v', Hkv);
    // position ids [1, S] and the rotary tables, sliced to the key length
    const pos = n1('Reshape', [
      unsq(n1('Range', [I([0], []), n1('Cast', [qLen], { to: DataType.INT64 }), I([1], [])])),
      n1('Concat', [I([-1]), unsq(qLen)], { axis: 0 }),
    ]);
    const M = Sn + this.int(0, 3);
    const inv = Array.from({ length: hd / 2 }, (_, j) => 1 / 10000 ** ((2 * j) / hd));
    const repeat = !this.chance(0.1);
    if (!repeat) tags.push('halves-differ');
    const table = (fn: (a: number) => number) => {
      const t = new Float32Array(M * hd);
      for (let p = 0; p < M; p++) for (let j = 0; j < hd; j++) t[p * hd + j] = fn(p * inv[j % (hd / 2)]! * (repeat || j < hd / 2 ? 1 : 1.5));
      return t;
    };
    const kLen = dim(k.v, 2);
    const gathered = (name: string, fn: (a: number) => number) => {
      const buf = this.constF(em, `${name}_cached`, [1, 1, M, hd], table(fn), { node: this.chance(0.7) });
      const sl = n1('Cast', [n1('Slice', [buf, I([0]), unsq(kLen), I([2]), I([1])])], { to: DataType.FLOAT });
      const sq = n1('Squeeze', [n1('Squeeze', [sl, I([1])]), I([0])]);
      return unsq(n1('Gather', [sq, pos], { axis: 0 }), 1);
    };
    const cos = gathered('cos', Math.cos);
    const sin = gathered('sin', Math.sin);
    const INT64_MAX = 9223372036854775807n;
    const rotary = (t: T, heads: number): T => {
      const half = unsq(n1('Cast', [n1('Cast', [n1('Div', [dim(t.v, 3), I([2], [])])], { to: DataType.INT64 })], { to: DataType.INT64 }));
      const x1 = n1('Slice', [t.v, I([0]), half, I([3]), I([1])]);
      const x2 = n1('Slice', [t.v, half, I([INT64_MAX]), I([3]), I([1])]);
      const rot = n1('Concat', [n1('Neg', [x2]), x1], { axis: -1 });
      const a = inner('Mul', [t.v, cos], {}, [B, heads, S, hd], 10);
      return inner('Add', [a.v, n1('Mul', [rot, sin])], {}, [B, heads, S, hd], 10);
    };
    const qr = rotary(q, H);
    const kr = rotary(k, Hkv);
    const repeatKv = (t: T): T => {
      if (rep === 1) return t;
      const [b, h, s, d] = [dim(t.v, 0), dim(t.v, 1), dim(t.v, 2), dim(t.v, 3)];
      const e = n1('Expand', [unsq(t.v, 2), n1('Concat', [unsq(b), unsq(h), I([rep]), unsq(s), unsq(d)], { axis: 0 })]);
      const r = n1('Concat', [unsq(b), unsq(n1('Mul', [h, I([rep], [])])), unsq(s), unsq(d)], { axis: 0 });
      return inner('Reshape', [e, r], {}, [B, H, S, hd], 10);
    };
    const kk = repeatKv(kr);
    const vv = repeatKv(v);
    const kT = inner('Transpose', [kk.v], { perm: [0, 1, 3, 2] }, [B, H, hd, S], 10);
    const scores = inner('MatMul', [qr.v, kT.v], {}, [B, H, S, S], 30);
    const scaled = inner('Div', [scores.v, this.constF(em, 'sqrt_hd', [], [Math.sqrt(hd)])], {}, [B, H, S, S], 10);
    const probs = inner('Softmax', [scaled.v], { axis: -1 }, [B, H, S, S], 1);
    const c2 = n1('Cast', [n1('Cast', [probs.v], { to: x.dt })], { to: x.dt });
    const ctx = inner('MatMul', [c2, vv.v], {}, [B, H, S, hd], 10);
    const ctxT = inner('Transpose', [ctx.v], { perm: [0, 2, 1, 3] }, [B, S, H, hd], 10);
    const merged = inner('Reshape', [ctxT.v, n1('Concat', [unsq(bsz), unsq(qLen), I([E])], { axis: 0 })], {}, [B, S, E], 10);
    const wo = this.constF(em, 'o_proj_t', [E, E], this.normal(E * E, 1 / Math.sqrt(E)));
    const y = this.op1(em, 'MatMul', [merged.v, wo], {}, x.dt, [B, S, E], 10, false, x.cont);
    const u = this.unsafe();
    if (u) {
      this.expose(em, probs, u);
      tags.push(u);
    }
    this.note(em, 'llama-attention', tags.join(',') || undefined);
    return y;
  }

  /** x * HardSigmoid(x) (HardSwish when alpha = 1/6 and beta = 0.5). */
  private plantHardSwish(em: Em, x0?: T): T | undefined {
    const x = x0 ?? this.pick(em);
    if (!x) return undefined;
    const tags: string[] = [];
    const wrong = this.rng.pick(['none', 'none', 'none', 'alpha', 'beta', 'other']);
    const attrs: Record<string, unknown> = wrong === 'alpha' ? {} : { alpha: f(1 / 6) };
    if (wrong === 'beta') attrs.beta = f(0.6);
    else if (this.chance(0.5)) attrs.beta = f(0.5);
    if (wrong !== 'none') tags.push(wrong);
    const h = this.op1(em, 'HardSigmoid', [x.v], attrs, x.dt, [...x.shape], 1, false, x.cont);
    const other = wrong === 'other' ? this.op1(em, 'Neg', [x.v], {}, x.dt, [...x.shape], x.mag, false, x.cont) : x;
    const y = this.op1(em, 'Mul', this.chance(0.5) ? [other.v, h.v] : [h.v, other.v], {}, x.dt, [...x.shape], x.mag, false, x.cont);
    const u = this.unsafe();
    if (u) {
      this.expose(em, h, u);
      tags.push(u);
    }
    this.note(em, 'hardswish', tags.join(',') || undefined);
    return y;
  }

  /** Identity / Dropout chains (inference: both are identities), mask outputs sometimes used. */
  private plantIdentityChain(em: Em, x0?: T): T | undefined {
    const x = x0 ?? this.pick(em);
    if (!x) return undefined;
    const tags: string[] = [];
    let cur = x;
    const chain: T[] = [];
    const n = this.int(1, 4);
    for (let i = 0; i < n; i++) {
      if (this.chance(0.5)) {
        cur = this.op1(em, 'Identity', [cur.v], {}, cur.dt, [...cur.shape], cur.mag, cur.exact, cur.cont);
      } else {
        const ins: (Value | null)[] = [cur.v];
        const form = this.int(0, 3);
        // form 3 omits the optional ratio ("") and gives training_mode
        if (form === 1 || form === 2) ins.push(this.constF(em, 'ratio', [], [this.rng.pick([0.1, 0.5])]));
        if (form === 3) ins.push(null);
        if (form >= 2) ins.push(this.constT(em, 'training_mode', boolTensor([], [false])));
        const withMask = this.chance(0.3);
        const outs = this.node(em, 'Dropout', ins, this.chance(0.2) ? { seed: 7 } : {}, withMask ? 2 : 1);
        const next = this.mk(em, outs[0], cur.dt, [...cur.shape], cur.mag, cur.exact, cur.cont);
        if (withMask) {
          const mask = this.mk(em, outs[1], DataType.BOOL, [...cur.shape], 1, true, true, false);
          if (this.chance(0.6)) {
            const mf = this.op1(em, 'Cast', [mask.v], { to: DataType.FLOAT }, DataType.FLOAT, [...cur.shape], 1, cur.exact, true);
            this.op1(em, 'Mul', [next.v, mf.v], {}, DataType.FLOAT, [...cur.shape], cur.mag, false, cur.cont);
            tags.push('mask-used');
          } else tags.push('mask');
        }
        cur = next;
      }
      chain.push(cur);
    }
    const u = chain.length > 1 ? this.unsafe() : undefined;
    if (u) {
      this.expose(em, chain[0], u);
      tags.push(u);
    }
    // an Identity that forwards a graph input straight to a graph output
    if (!em.branch && this.chance(0.15)) {
      const inp = this.root.pool.find((t) => t.v.isGraphInput);
      if (inp) {
        const fwd = this.mk(em, this.node(em, 'Identity', [inp.v])[0], inp.dt, [...inp.shape], inp.mag, true, true, false);
        this.outputs.add(fwd.v);
        tags.push('input-to-output');
      }
    }
    this.note(em, 'identity', tags.join(',') || undefined);
    return cur;
  }

  /** Transpose -> Transpose: cancelling (inverse perms) or merging. */
  private plantTransposePair(em: Em, x0?: T): T | undefined {
    const x = x0 ?? this.pick(em, (t) => t.shape.length >= 2);
    if (!x || x.shape.length < 2) return undefined;
    const r = x.shape.length;
    const p1 = this.rng.shuffle([...Array(r).keys()]);
    const s1 = p1.map((p) => x.shape[p]);
    const cancel = this.chance(0.5);
    let p2: number[];
    if (cancel) {
      p2 = new Array<number>(r);
      p1.forEach((p, i) => (p2[p] = i));
    } else p2 = this.rng.shuffle([...Array(r).keys()]);
    const s2 = p2.map((p) => s1[p]);
    const t1 = this.op1(em, 'Transpose', [x.v], { perm: p1 }, x.dt, s1, x.mag, x.exact, x.cont);
    const t2 = this.op1(em, 'Transpose', [t1.v], { perm: p2 }, x.dt, s2, x.mag, x.exact, x.cont);
    const tags = [cancel ? 'cancel' : 'merge'];
    const u = this.unsafe();
    if (u) {
      this.expose(em, t1, u);
      tags.push(u);
    }
    this.note(em, 'transpose', tags.join(','));
    // a cancelling pair inside a branch must keep the branch output's shape
    if (em.branch && !cancel) {
      const inv = new Array<number>(r);
      // undo the net permutation so the branch output keeps x's shape
      const net = p2.map((p) => p1[p]);
      net.forEach((p, i) => (inv[p] = i));
      return this.op1(em, 'Transpose', [t2.v], { perm: inv }, x.dt, [...x.shape], x.mag, x.exact, x.cont);
    }
    return t2;
  }

  /** Cast pairs: removable (f32->f64->f32, f32->f32) and not (f32->f16->f32, f32->i64->f32, f32->i32->f32). */
  private plantCastPair(em: Em, x0?: T): T | undefined {
    const kinds: [string, DataType, boolean][] = [
      ['f64', DataType.DOUBLE, true],
      ['same', DataType.FLOAT, true],
      ['f16', DataType.FLOAT16, false],
    ];
    const xe = x0 ?? (this.chance(0.5) ? this.pick(em, (t) => t.exact) : undefined) ?? this.pick(em);
    if (!xe) return undefined;
    if (xe.exact) {
      kinds.push(['i64', DataType.INT64, false], ['i32', DataType.INT32, false]);
    }
    const [label, mid, safe] = this.rng.pick(kinds);
    const discontinuous = mid === DataType.INT64 || mid === DataType.INT32;
    let src = this.tame(em, xe);
    if (discontinuous) {
      // scaled by 4 (exact) so the truncation shows
      const sc = this.op1(em, 'Mul', [xe.v, this.constF(em, 'scale', [], [4])], {}, xe.dt, [...xe.shape], xe.mag * 4, xe.exact, xe.cont);
      src = sc;
    }
    const c1 = this.op1(em, 'Cast', [src.v], { to: mid }, mid, [...xe.shape], src.mag, src.exact && safe, src.cont && !discontinuous);
    const c2 = this.op1(em, 'Cast', [c1.v], { to: DataType.FLOAT }, DataType.FLOAT, [...xe.shape], src.mag, src.exact && safe, src.cont && !discontinuous);
    const tags = [label + (safe ? '' : '-lossy')];
    const u = this.unsafe();
    if (u && !em.branch) {
      if (u === 'output' && (mid === DataType.DOUBLE || mid === DataType.FLOAT16 || mid === DataType.INT32)) {
        // a graph output of another element type (kept as it is)
        this.outputs.add(c1.v);
        tags.push('output');
      } else if (mid === DataType.FLOAT) {
        this.expose(em, c1, u);
        tags.push(u);
      }
    }
    this.note(em, 'cast', tags.join(','));
    return c2;
  }

  /** Duplicate constants: equal ones (mergeable) and look-alikes that must stay apart. */
  private plantDuplicateConstants(em: Em): boolean {
    const x = this.pick(em, (t) => typeof t.shape[t.shape.length - 1] === 'number');
    if (!x) return false;
    const D = x.shape[x.shape.length - 1] as number;
    const vals = this.normal(D, 1);
    const tags: string[] = [];
    const a = this.constF(em, 'dup', [D], vals, { node: false });
    const b = this.constF(em, 'dup', [D], vals.slice(), {});
    const y1 = this.op1(em, 'Add', [x.v, a], {}, x.dt, [...x.shape], x.mag + 3, false, x.cont);
    const y2 = this.op1(em, 'Mul', [this.tame(em, y1).v, b], {}, x.dt, [...x.shape], 10, false, x.cont);
    let cur = y2;
    const variant = this.rng.pick(['shape', 'dtype', 'input', 'near', 'none']);
    if (variant === 'shape' && x.shape.length >= 2) {
      // the same values as [1, D]: merging with [D] would change nothing here, but [D, 1] would
      const s = this.bcast(cur.shape, [D, 1]);
      if (s && this.numel(s) <= MAX_NUMEL) {
        const c = this.constF(em, 'dup_col', [D, 1], vals.slice(), { node: false });
        cur = this.op1(em, 'Add', [cur.v, c], {}, x.dt, s, cur.mag + 3, false, x.cont);
        tags.push('other-shape');
      }
    } else if (variant === 'dtype') {
      // an int32 constant and a float32 one with the very same bytes: small integers, whose float twin is denormal
      const small = Int32Array.from({ length: D }, () => this.int(1, 5));
      const twin = this.constT(em, 'dup_bits_f', Tensor.fromRaw(DataType.FLOAT, [D], new Uint8Array(small.buffer.slice(0))), { node: false });
      const ic = this.constT(em, 'dup_bits_i', int32Tensor([D], small.slice()), { node: false });
      const icf = this.op1(em, 'Cast', [ic], { to: DataType.FLOAT }, DataType.FLOAT, [D], 5, true, true);
      const sm = this.op1(em, 'Mul', [icf.v, this.constF(em, 'third', [], [1 / 3])], {}, x.dt, [D], 2, false, true);
      const withTwin = this.op1(em, 'Add', [sm.v, twin], {}, x.dt, [D], 2, false, true);
      cur = this.op1(em, 'Add', [cur.v, withTwin.v], {}, x.dt, [...cur.shape], cur.mag + 2, false, x.cont);
      tags.push('other-dtype');
    } else if (variant === 'input' && !em.branch) {
      const name = this.main.freshName('dup_overridable');
      const v = this.main.addInput(name, tensorType(DataType.FLOAT, [D]));
      this.main.addInitializer(name, floatTensor([D], vals.slice()));
      cur = this.op1(em, 'Sub', [cur.v, v], {}, x.dt, [...cur.shape], cur.mag + 3, false, x.cont);
      tags.push('graph-input');
    } else if (variant === 'near') {
      const near = vals.slice();
      near[0] = Math.fround(near[0] + 1e-3);
      cur = this.op1(em, 'Add', [cur.v, this.constF(em, 'dup_near', [D], near)], {}, x.dt, [...cur.shape], cur.mag + 3, false, x.cont);
      tags.push('near');
    }
    this.note(em, 'constants', tags.join(',') || undefined);
    return true;
  }

  // --------------------------------------------------------------------------------------------- build

  build(): FuzzCase {
    this.makeInputs();
    const em = this.root;
    const blocks = this.opts.maxBlocks ?? this.int(8, 24);
    const randomOps: [number, () => boolean][] = [
      [6, () => this.unary(em)],
      [7, () => this.binary(em)],
      [4, () => this.matmul(em)],
      [2, () => this.gemm(em)],
      [3, () => !!this.conv(em)],
      [2, () => this.pool2d(em)],
      [1, () => !!this.batchnorm(em)],
      [2, () => this.layernormOp(em)],
      [3, () => this.reshape(em)],
      [1, () => this.shapeChain(em)],
      [2, () => this.transpose(em)],
      [2, () => this.concat(em)],
      [2, () => this.slice(em)],
      [3, () => this.gather(em)],
      [1, () => this.split(em)],
      [1, () => this.squeeze(em)],
      [2, () => this.softmax(em)],
      [2, () => this.reduce(em)],
      [2, () => this.cast(em)],
      [1, () => this.constExpr(em)],
      [1, () => this.ifBlock(em)],
    ];
    // most plants are followed by a consumer, so the pattern sits mid-graph (a rewrite of a pattern whose end is a
    // graph output must keep that name, and careful passes skip it: both cases are wanted, the first more often)
    const follow = (t: T | undefined): boolean => {
      if (!t) return false;
      if (this.chance(0.75))
        this.op1(em, this.rng.pick(['Tanh', 'Relu', 'Neg', 'Sigmoid', 'Abs']), [t.v], {}, t.dt, [...t.shape], Math.min(t.mag, 30), false, t.cont);
      return true;
    };
    const plants: [number, () => boolean][] = [
      [3, () => follow(this.plantLayerNorm(em))],
      [3, () => follow(this.plantGelu(em))],
      [3, () => follow(this.plantConvBn(em))],
      [3, () => follow(this.plantMatMulAdd(em))],
      [2, () => follow(this.plantReshapeGemm(em))],
      [2, () => follow(this.plantAttention(em))],
      [2, () => follow(this.plantGpt2Attention(em))],
      [2, () => follow(this.plantMhaAttention(em))],
      [2, () => follow(this.plantLlamaAttention(em))],
      [2, () => follow(this.plantHardSwish(em))],
      [2, () => follow(this.plantIdentityChain(em))],
      [2, () => follow(this.plantTransposePair(em))],
      [2, () => follow(this.plantCastPair(em))],
      [2, () => this.plantDuplicateConstants(em)],
    ];
    const weighted = (list: [number, () => boolean][]) => {
      const total = list.reduce((a, [w]) => a + w, 0);
      let r = this.rng.float() * total;
      for (const [w, fn] of list) {
        if ((r -= w) < 0) return fn;
      }
      return list[list.length - 1][1];
    };
    for (let i = 0; i < blocks; i++) {
      this.layer = i;
      const list = this.chance(0.5) ? plants : randomOps;
      for (let attempt = 0; attempt < 6; attempt++) if (weighted(list)()) break;
    }
    this.chooseOutputs();
    this.main.sortTopologically();
    const discontinuous = this.main.outputs.filter((v) => !this.cont.get(v)).map((v) => v.name);
    this.model.setMetadata(META.seed, String(this.seed));
    this.model.setMetadata(META.dims, JSON.stringify(this.dims));
    this.model.setMetadata(META.planted, JSON.stringify(this.planted));
    this.model.setMetadata(META.discontinuous, JSON.stringify(discontinuous));
    return { seed: this.seed, model: this.model, dims: { ...this.dims }, planted: [...this.planted], discontinuousOutputs: discontinuous };
  }

  private readonly cont = new Map<Value, boolean>();

  private chooseOutputs(): void {
    const all = this.root.pool;
    const chosen: T[] = [];
    const add = (t: T | undefined) => {
      if (t && !chosen.includes(t)) chosen.push(t);
    };
    for (const v of this.outputs) add(this.facts.get(v));
    // every dead end is observed (so a wrong rewrite anywhere shows), except a few left for dead-code passes
    const produced = all.filter((t) => t.v.producer);
    for (const t of produced) if (!t.v.uses.length && (this.chance(0.9) || t === produced[produced.length - 1])) add(t);
    // and some intermediates that also feed other nodes
    const k = this.int(0, 2);
    for (let i = 0; i < k && produced.length; i++) add(this.rng.pick(produced));
    if (!chosen.length) add(all[all.length - 1]);
    for (const t of chosen) {
      if (!t.v.producer && !t.v.isGraphInput) continue;
      t.v.type = tensorType(t.dt, this.decl(t.shape));
      if (this.chance(0.1)) t.v.docString = `output ${t.v.name}`;
      this.main.addOutput(t.v);
      this.cont.set(t.v, t.cont);
    }
  }
}

// ================================================================================================ differential check
//
// Shared by test/fuzz/differential.test.ts (CI seeds), test/fuzz/regressions.test.ts (saved failures) and
// scripts/fuzz.ts (more seeds). For one generated model and each target (every registered pass, every preset):
//
//   1. clone the model (decode(encode(m))) and run the target through runPasses (verify after every pass);
//   2. verify() the result, and check it survives a save/load round trip;
//   3. a target that reports "not modified" must leave the model byte-for-byte as it was;
//   4. graph input and output names (and order) are kept; output element types too for lossless targets;
//   5. a second run changes nothing (the first reached a fixed point);
//   6. both models run in onnxruntime (its optimisations disabled) on the same seeded inputs and every output agrees:
//      rtol 1e-4 / atol 1e-5 for lossless targets, the pass's stated tolerance for lossy ones (outputs behind a
//      discontinuous op excepted), shapes and element types only for lossy targets that state no tolerance.
//
// Lossy float16/bfloat16 results: random graphs are not well-scaled, and rounding errors grow through their chains
// (cancellation in sums and means, LayerNorm of near-constant rows). So each element may also differ by
// SENSITIVITY_FACTOR times what the ORIGINAL model itself does when its weights, inputs and every float32
// intermediate are rounded at the target's precision (a per-element pseudo-random relative perturbation of 2^-11
// for float16, 2^-8 for bfloat16, two draws). A conversion that computes what it should stays inside that; a wrong
// rewrite (off by O(1)) does not.
//
// A failure names the seed and the target, and the input model is saved as test/fuzz/failures/<target>-<seed>.onnx,
// which regressions.test.ts replays from then on.

export interface FuzzTarget {
  /** pass name, or `preset.<name>` */
  name: string;
  passes: Pass[];
  lossless: boolean;
  /** for lossy targets: the tolerance their outputs stay within (undefined: not comparable by value) */
  tolerance?: { rtol: number; atol: number };
  /** pass options (runPasses' `options`) */
  options?: Record<string, unknown>;
  /** operator set the passes may emit (runPasses' `target`; default 'onnx') */
  target?: 'onnx' | 'ort';
}

export interface FuzzFailure {
  seed: number;
  target: string;
  stage: string;
  message: string;
  /** where the input model was saved */
  file?: string;
}

export interface FuzzStats {
  models: number;
  /** target runs over a model (pass or preset applications) */
  applications: number;
  /** applications that changed the model */
  modified: number;
  /** applications compared by value in onnxruntime */
  compared: number;
  /** results onnxruntime's CPU provider cannot run because they compute in bfloat16 (checked structurally only) */
  notRunnable: number;
  failures: FuzzFailure[];
}

export const LOSSLESS_TOLERANCE = { rtol: 1e-4, atol: 1e-5 } as const;
export const SENSITIVITY_FACTOR = 4;
export const FAILURES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'failures');

export function emptyStats(): FuzzStats {
  return { models: 0, applications: 0, modified: 0, compared: 0, notRunnable: 0, failures: [] };
}
export function addStats(into: FuzzStats, s: FuzzStats): FuzzStats {
  into.models += s.models;
  into.applications += s.applications;
  into.modified += s.modified;
  into.compared += s.compared;
  into.notRunnable += s.notRunnable;
  into.failures.push(...s.failures);
  return into;
}
export function summaryLine(s: FuzzStats, targets: number): string {
  const skipped = s.notRunnable ? `, ${s.notRunnable} bfloat16 results not runnable on CPU` : '';
  return `fuzz: ${s.models} generated models x ${targets} targets = ${s.applications} pass/preset applications checked (${s.modified} changed the model, ${s.compared} compared in onnxruntime${skipped}), ${s.failures.length} failure(s)`;
}

/**
 * Every registered pass and every preset, as they are at run time; conversion passes also in their weights-only form
 * (`<name>+weights-only`: low-precision storage, float32 compute), which onnxruntime's CPU provider runs for bfloat16;
 * fusion passes also with target 'ort' (`<name>+ort`: onnxruntime contrib operators allowed).
 */
export function fuzzTargets(only?: readonly string[]): FuzzTarget[] {
  const targets: FuzzTarget[] = [];
  for (const p of allPasses) {
    targets.push({ name: p.name, passes: [p], lossless: p.lossless, tolerance: p.lossless ? undefined : p.tolerance });
    if (p.kind === 'conversion')
      targets.push({
        name: `${p.name}+weights-only`,
        passes: [p],
        lossless: p.lossless,
        tolerance: p.lossless ? undefined : p.tolerance,
        options: { weightsOnly: true },
      });
    // fusions may emit onnxruntime contrib ops (com.microsoft) for target 'ort': the CPU provider runs those too
    if (p.kind === 'fusion')
      targets.push({ name: `${p.name}+ort`, passes: [p], lossless: p.lossless, tolerance: p.lossless ? undefined : p.tolerance, target: 'ort' });
  }
  for (const [name, list] of Object.entries(presets)) {
    const passes = resolvePasses(list);
    const lossy = passes.filter((p) => !p.lossless);
    const tolerance =
      lossy.length && lossy.every((p) => p.tolerance)
        ? lossy.reduce((t, p) => ({ rtol: t.rtol + p.tolerance!.rtol, atol: t.atol + p.tolerance!.atol }), { rtol: 0, atol: 0 })
        : undefined;
    targets.push({ name: `preset.${name}`, passes, lossless: lossy.length === 0, tolerance });
  }
  if (!only?.length) return targets;
  const picked = targets.filter((t) => only.includes(t.name) || only.includes(t.name.replace(/^preset\./, '')));
  const unknown = only.filter((n) => !picked.some((t) => t.name === n || t.name === `preset.${n}`));
  if (unknown.length) throw new Error(`unknown pass or preset: ${unknown.join(', ')}; known: ${targets.map((t) => t.name).join(', ')}`);
  return picked;
}

/** `<target>-<seed>.onnx` -> { target, seed } */
export function parseFailureFile(file: string): { target: string; seed: number } | undefined {
  const m = /^(.+)-(-?\d+)\.onnx$/.exec(path.basename(file));
  return m ? { target: m[1], seed: Number(m[2]) } : undefined;
}

export interface CheckOptions {
  /** save the input model of each failure under this folder (default FAILURES_DIR; false: do not save) */
  saveTo?: string | false;
  /** called for each failure as it happens */
  onFailure?: (f: FuzzFailure) => void;
}

/** Runs every target over one fuzz case and checks the result (see above). */
export async function checkCase(c: FuzzCase, targets: readonly FuzzTarget[], opts: CheckOptions = {}): Promise<FuzzStats> {
  const stats = emptyStats();
  stats.models = 1;
  const saveTo = opts.saveTo === undefined ? FAILURES_DIR : opts.saveTo;
  let bytes0: Uint8Array;
  const fail = (target: string, stage: string, e: unknown) => {
    const message = (e instanceof Error ? e.message : String(e)).split('\n').slice(0, 6).join(' | ');
    const f: FuzzFailure = { seed: c.seed, target, stage, message };
    if (saveTo && bytes0) {
      fs.mkdirSync(saveTo, { recursive: true });
      f.file = path.join(saveTo, `${target}-${c.seed}.onnx`);
      fs.writeFileSync(f.file, bytes0);
    }
    stats.failures.push(f);
    opts.onFailure?.(f);
  };
  // the generated model itself
  let feeds: Feeds;
  let ref: Record<string, ort.Tensor>;
  let before: Model;
  try {
    verify(c.model);
    bytes0 = encodeModel(c.model);
    before = decodeModelBytes(bytes0);
    verify(before);
    feeds = synthesizeInputs(before, { dims: c.dims, seed: c.seed })[0];
    ref = await runModel(before, feeds);
  } catch (e) {
    bytes0 ??= new Uint8Array(0);
    fail('generator', 'generate', e);
    return stats;
  }
  const inputNames = before.graph.inputs.map((v) => v.name);
  const sensitivityCache = new Map<number, Promise<Record<string, Float32Array>>>();
  let probe: Promise<Record<string, ort.Tensor>> | undefined;
  const sensitivityOf = (eps: number) => {
    let p = sensitivityCache.get(eps);
    if (!p) {
      probe ??= probeAll(bytes0, feeds);
      sensitivityCache.set(eps, (p = probe.then((all) => sensitivity(bytes0, feeds, ref, all, eps, c.seed))));
    }
    return p;
  };
  const outputs = before.graph.outputs.map((v) => ({ name: v.name, elem: elemTypeOf(v.type) }));
  for (const target of targets) {
    stats.applications++;
    let stage = 'run';
    try {
      const m = decodeModelBytes(bytes0);
      const report = runPasses(m, target.passes, { verify: true, options: target.options, target: target.target });
      stage = 'verify';
      verify(m);
      if (!report.converged) throw new Error(`no fixed point after ${report.iterations} rounds`);
      stage = 'save';
      const bytes1 = encodeModel(m);
      const reloaded = decodeModelBytes(bytes1);
      verify(reloaded);
      if (!report.modified) {
        stage = 'unmodified';
        if (Buffer.compare(Buffer.from(bytes0), Buffer.from(bytes1)) !== 0) throw new Error('the target reported no change but the model encodes differently');
        continue;
      }
      stats.modified++;
      stage = 'interface';
      const ins = m.graph.inputs.map((v) => v.name);
      const outs = m.graph.outputs.map((v) => ({ name: v.name, elem: elemTypeOf(v.type) }));
      if (ins.join('\u0000') !== inputNames.join('\u0000')) throw new Error(`graph inputs changed: [${inputNames.join(', ')}] -> [${ins.join(', ')}]`);
      if (outs.map((o) => o.name).join('\u0000') !== outputs.map((o) => o.name).join('\u0000'))
        throw new Error(`graph outputs changed: [${outputs.map((o) => o.name).join(', ')}] -> [${outs.map((o) => o.name).join(', ')}]`);
      if (target.lossless) {
        const changed = outs.filter((o, i) => o.elem !== outputs[i].elem);
        if (changed.length) throw new Error(`output element types changed: ${changed.map((o) => o.name).join(', ')}`);
      }
      // a second run changes nothing: on the same object always; after a save/load too for lossless targets (lossy
      // ones may define their amount relative to the model they first saw, e.g. prune-structured's sparsity)
      stage = 'idempotence';
      const again = runPasses(m, target.passes, { options: target.options, target: target.target });
      if (again.modified)
        throw new Error(
          `a second run changed the model again (${again.passes
            .filter((p) => p.modified)
            .map((p) => p.name)
            .join(', ')})`,
        );
      if (target.lossless) {
        const afterLoad = runPasses(reloaded, target.passes, { options: target.options, target: target.target });
        if (afterLoad.modified)
          throw new Error(
            `a second run on the saved result changed it again (${afterLoad.passes
              .filter((p) => p.modified)
              .map((p) => p.name)
              .join(', ')})`,
          );
      }
      if (Buffer.compare(Buffer.from(encodeModel(m)), Buffer.from(bytes1)) !== 0) throw new Error('a second run reported no change but changed the model');
      stage = 'onnxruntime';
      let got: Record<string, ort.Tensor>;
      try {
        got = await runModel(m, feedsFor(m, feeds));
      } catch (e) {
        // the CPU provider has no bfloat16 compute kernels (DESIGN.md): such a result is checked structurally only
        if (/Could not find an implementation/.test(String((e as Error).message)) && usesBfloat16(m)) {
          stats.notRunnable++;
          continue;
        }
        throw e;
      }
      stage = 'compare';
      const tol = target.lossless ? LOSSLESS_TOLERANCE : target.tolerance;
      if (tol) stats.compared++;
      const eps = target.lossless ? 0 : lowPrecisionEps(m);
      const allowance = eps ? await sensitivityOf(eps) : undefined;
      for (const o of outputs) {
        if (!got[o.name]) throw new Error(`output ${o.name} missing from the run`);
        if (!tol || (!target.lossless && c.discontinuousOutputs.includes(o.name))) {
          const a = got[o.name].dims.join(',');
          const b = ref[o.name].dims.join(',');
          if (a !== b) throw new Error(`output '${o.name}': shape [${a}] differs from the original [${b}]`);
          continue;
        }
        if (allowance?.[o.name]) compareWithAllowance(o.name, ref[o.name], got[o.name], tol, allowance[o.name]);
        else compareTensors(o.name, ref[o.name], got[o.name], tol.rtol, tol.atol);
      }
    } catch (e) {
      fail(target.name, stage, e);
    }
  }
  return stats;
}

/** Unit roundoff of the low-precision type a converted model uses (0: none). */
function lowPrecisionEps(m: Model): number {
  let fp16 = false;
  for (const g of m.allGraphs()) {
    const types = [
      ...[...g.initializers.values()].map((v) => v.initializer!.dataType),
      ...[...g.inputs, ...g.outputs].map((v) => elemTypeOf(v.type)),
      ...g.nodes.filter((n) => n.opType === 'Cast').map((n) => n.getInt('to')),
      // weights held in Constant nodes (as paddle2onnx writes them) are converted too
      ...g.nodes.filter((n) => n.opType === 'Constant').map((n) => n.getTensor('value')?.dataType),
    ];
    if (types.includes(DataType.BFLOAT16)) return 2 ** -8;
    if (types.includes(DataType.FLOAT16)) fp16 = true;
  }
  return fp16 ? 2 ** -11 : 0;
}

/**
 * Per element of each float32 output: the largest |perturbed - original| over four runs of the original model with
 * its float weights (more than one element), float inputs and every float32 intermediate of the main graph
 * multiplied by (1 +- eps), the sign pseudo-random per element (sign(sin(v * K)) for intermediates, computed in the
 * graph), except that in two of the runs all inputs take one sign and all weights the other.
 */
async function sensitivity(
  bytes: Uint8Array,
  feeds: Feeds,
  ref: Record<string, ort.Tensor>,
  all: Record<string, ort.Tensor>,
  eps: number,
  seed: number,
): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  // two draws with random signs everywhere, and two where every input moves one way and every weight the other (x - c
  // with x close to a constant c: random signs agree for both often enough to hide what rounding both does to x - c)
  const draws = [
    [1, 12345.678, 0],
    [2, 7654.3217, 0],
    [3, 3141.5926, 1],
    [4, 2718.2818, -1],
  ] as const;
  for (const [draw, K, inputSide] of draws) {
    const m = decodeModelBytes(bytes);
    const rng = new Rng(seed * 7919 + draw);
    const random = () => (rng.next() & 1 ? eps : -eps);
    const sign = inputSide === 0 ? random : () => -inputSide * eps;
    const inputSign = inputSide === 0 ? random : () => inputSide * eps;
    for (const g of m.allGraphs())
      for (const v of g.initializers.values()) {
        const t = v.initializer!;
        if (t.dataType !== DataType.FLOAT || t.size <= 1) continue;
        const d = t.toFloat32().slice();
        for (let i = 0; i < d.length; i++) d[i] *= 1 + sign();
        t.setData(d);
      }
    const g = m.graph;
    const kV = g.addConstant('sens_k', Tensor.fromArray(DataType.FLOAT, [], [K]));
    const eV = g.addConstant('sens_eps', Tensor.fromArray(DataType.FLOAT, [], [eps]));
    const oneV = g.addConstant('sens_one', Tensor.fromArray(DataType.FLOAT, [], [1]));
    // the sign is drawn from a clipped copy: v·K of a mask fill such as float32 lowest overflows to ±inf, and sin(inf)
    // is NaN, which would make every masked score NaN and the output's sensitivity nothing (NaN never wins)
    const loV = g.addConstant('sens_lo', Tensor.fromArray(DataType.FLOAT, [], [-1e30]));
    const hiV = g.addConstant('sens_hi', Tensor.fromArray(DataType.FLOAT, [], [1e30]));
    for (const n of [...g.nodes]) {
      for (const v of n.outputs) {
        const r = v && all[v.name];
        if (!v || !r || r.type !== 'float32' || (n.opType === 'Constant' && r.data.length <= 1)) continue;
        const uses = [...v.uses];
        if (!uses.length) continue;
        const sn = g.addNode('Sign', [g.addNode('Sin', [g.addNode('Mul', [g.addNode('Clip', [v, loV, hiV]).output(0), kV]).output(0)]).output(0)]).output(0);
        const p = g.addNode('Add', [g.addNode('Mul', [sn, eV]).output(0), oneV]).output(0);
        const v2 = g.addNode('Mul', [v, p]).output(0);
        for (const u of uses) u.node.setInput(u.index, v2);
      }
    }
    g.sortTopologically();
    const f2: Feeds = {};
    for (const [k, t] of Object.entries(feeds)) {
      if (t.type !== 'float32') {
        f2[k] = t;
        continue;
      }
      const d = (t.data as Float32Array).slice();
      for (let i = 0; i < d.length; i++) d[i] *= 1 + inputSign();
      f2[k] = toOrtTensor(Tensor.fromArray(DataType.FLOAT, t.dims.map(Number), d));
    }
    const res = await runModel(m, f2);
    for (const [name, t] of Object.entries(ref)) {
      if (t.type !== 'float32' || !res[name]) continue;
      const b = t.data as Float32Array;
      const a = res[name].data as Float32Array;
      const e = (out[name] ??= new Float32Array(b.length));
      for (let i = 0; i < b.length; i++) {
        const d = Math.abs(a[i] - b[i]);
        if (d > e[i]) e[i] = d; // NaN never wins
      }
    }
  }
  return out;
}

/** Every node output of the main graph, by name (to learn which are float32, and not scalar constants). */
async function probeAll(bytes: Uint8Array, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  const probe = decodeModelBytes(bytes);
  const outs = new Set(probe.graph.outputs);
  for (const n of probe.graph.nodes) for (const o of n.outputs) if (o && !outs.has(o)) probe.graph.addOutput(o);
  return runModel(probe, feeds);
}

/** Like compareTensors, each element allowed SENSITIVITY_FACTOR x the original's own rounding sensitivity on top. */
function compareWithAllowance(name: string, before: ort.Tensor, after: ort.Tensor, tol: { rtol: number; atol: number }, sens: Float32Array): void {
  const db = before.dims.map(Number);
  const da = after.dims.map(Number);
  if (db.join() !== da.join()) throw new Error(`output '${name}': shape [${da.join(', ')}] differs from the original [${db.join(', ')}]`);
  const b = before.data as Float32Array;
  const a = ortToFloat32(after);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < b.length; i++) {
    const x = b[i];
    const y = a[i];
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) {
        bad++;
        if (first < 0) first = i;
      }
      continue;
    }
    if (x === y) continue;
    if (!(Math.abs(y - x) <= tol.atol + tol.rtol * Math.abs(x) + SENSITIVITY_FACTOR * sens[i])) {
      bad++;
      if (first < 0) first = i;
    }
  }
  if (bad)
    throw new Error(
      `output '${name}' differs at index ${first}: before=${b[first]}, after=${a[first]}, |diff|=${Math.abs(a[first] - b[first])} > atol ${tol.atol} + rtol ${tol.rtol} * |before| + ${SENSITIVITY_FACTOR} x sensitivity ${sens[first]} (${bad} of ${b.length} elements)`,
    );
}

/**
 * Runs a model once (runtime optimisations off, as test/helpers/equivalence.ts does), on one intra-op thread: these
 * models are tiny, and the CI runs two test workers on two cores.
 */
export async function runModel(model: Model, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  const session = await createSession(model, { optimizationLevel: 'disabled', intraOpThreads: 1, interOpThreads: 1 });
  try {
    const used: Feeds = {};
    for (const n of session.inputNames) if (n in feeds) used[n] = feeds[n];
    return await runSession(session, used);
  } finally {
    await session.release();
  }
}

function usesBfloat16(m: Model): boolean {
  for (const g of m.allGraphs()) {
    for (const v of g.initializers.values()) if (v.initializer!.dataType === DataType.BFLOAT16) return true;
    for (const v of [...g.inputs, ...g.outputs]) if (elemTypeOf(v.type) === DataType.BFLOAT16) return true;
    for (const n of g.nodes) if (n.opType === 'Cast' && n.getInt('to') === DataType.BFLOAT16) return true;
  }
  return false;
}

/** The feeds of the original, converted to the element types the rewritten model declares (float16 inputs ...). */
export function feedsFor(m: Model, feeds: Feeds): Feeds {
  const out: Feeds = {};
  for (const v of m.graph.inputs) {
    const f0 = feeds[v.name];
    if (!f0) continue;
    const want = elemTypeOf(v.type);
    const have = onnxTypeOfOrt(f0.type);
    if (want === undefined || want === have || !isFloatType(want) || !isFloatType(have)) {
      out[v.name] = f0;
      continue;
    }
    const f32 = ortToFloat32(f0);
    const dims = f0.dims.map(Number);
    const t =
      want === DataType.FLOAT16
        ? Tensor.fromArray(want, dims, float32ToFloat16(f32))
        : want === DataType.DOUBLE
          ? Tensor.fromArray(want, dims, Float64Array.from(f32))
          : Tensor.fromArray(DataType.FLOAT, dims, f32);
    out[v.name] = toOrtTensor(t);
  }
  return out;
}
