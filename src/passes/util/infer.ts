/**
 * Element types, shapes and small values that follow from the graph itself, for exports that leave their
 * intermediate values untyped (torch writes no value_info): what the clean-up and fusion conditions may decide on.
 *
 *   elemType(v)   the element type: declared, a constant's, or by the operator's type rule (Cast's `to`, Shape ->
 *                 int64, comparisons -> bool, most ops -> their first input's type, Where -> its second, ...)
 *   shape(v)      dims: a number (static), a string (a symbolic dim from a declared type, e.g. 'batch'; equal
 *                 strings are equal sizes), or null (unknown); by the operator's shape rule (broadcast, MatMul, Gemm,
 *                 Transpose, Reshape with a target whose values are known, Squeeze/Unsqueeze, Gather, Slice, Split,
 *                 Concat, reductions, Expand, ...)
 *   values(v)     the elements of a small tensor (at most 64) when they are known: constants, and torch's shape
 *                 arithmetic on them (Shape, Gather, Slice, Squeeze/Unsqueeze, Concat, Cast, Add/Sub/Mul/Div, Pow,
 *                 Sqrt, ConstantOfShape, Range, ...); a shape read from a symbolic dim gives that dim's name.
 *
 * Everything is derived, nothing is guessed: an operator without a rule (or a non-standard domain other than the
 * com.microsoft fusions' outputs) gives unknown. Nothing is written to the model (value_info is left as it is); each
 * Inference memoises its answers, so create one per match or per pass run (answers stay true under lossless rewrites,
 * not under pruning).
 */
import { DataType, isIntegerType } from '../../ir/dtype.js';
import { AttrType, Graph, type Node, type Value } from '../../ir/graph.js';
import { isStandardDomain } from '../../ir/model.js';
import type { Tensor } from '../../ir/tensor.js';
import { elemTypeOf, shapeOf } from '../../ir/types.js';
import { constantOf, numbersOf } from '../../rewrite/constant.js';

export type IDim = number | string | null;
export type IVal = number | string | null;
const MAX_VALUES = 64;

const SAME_SHAPE = new Set([
  'Relu',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Softplus',
  'Softsign',
  'Exp',
  'Log',
  'Neg',
  'Abs',
  'Sqrt',
  'Reciprocal',
  'Erf',
  'Gelu',
  'Cast',
  'CastLike',
  'Identity',
  'Dropout',
  'Clip',
  'Softmax',
  'LogSoftmax',
  'BatchNormalization',
  'LayerNormalization',
  'InstanceNormalization',
  'RMSNormalization',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Not',
  'IsNaN',
  'IsInf',
  'Mish',
  'Sin',
  'Cos',
  'Trilu',
  'CumSum',
  'Shrink',
  'ThresholdedRelu',
  'Celu',
]);
const BROADCAST = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Max',
  'Min',
  'Where',
  'Sum',
  'Mean',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'And',
  'Or',
  'Xor',
  'Mod',
  'PRelu',
  'BitShift',
  'BitwiseAnd',
  'BitwiseOr',
  'BitwiseXor',
]);
const BOOL_OUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);
const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);
/** ops whose output 0 has the element type of input 0 (beyond the shape-rule lists) */
const FIRST_INPUT_TYPE = new Set([
  'MatMul',
  'Gemm',
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Flatten',
  'Gather',
  'GatherElements',
  'GatherND',
  'Slice',
  'Split',
  'Concat',
  'Expand',
  'Tile',
  'Pad',
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL2',
  'ReduceSumSquare',
  'Range',
  'Conv',
  'ConvTranspose',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Resize',
  'DepthToSpace',
  'SpaceToDepth',
  'ScatterND',
  'ScatterElements',
  'TopK',
]);
/** com.microsoft fusions autoglm writes: output 0 has the type (and, but for Attention-likes, the shape) of input 0 */
const MS_SAME = new Set([
  'FastGelu',
  'MultiHeadAttention',
  'BiasGelu',
  'Gelu',
  'SkipLayerNormalization',
  'SkipSimplifiedLayerNormalization',
  'SimplifiedLayerNormalization',
  'Attention',
  'MultiHeadAttention',
  'RotaryEmbedding',
  'GroupQueryAttention',
]);

const toNum = (x: unknown): number => (typeof x === 'bigint' ? Number(x) : (x as number));

function attrInts(n: Node, name: string): number[] | undefined {
  const a = n.attributes.get(name);
  if (!a || a.refAttrName || a.value === undefined) return undefined;
  if (a.type === AttrType.INTS) return (a.value as (number | bigint)[]).map(toNum);
  if (a.type === AttrType.INT) return [toNum(a.value)];
  return undefined;
}

export class Inference {
  private readonly types = new Map<Value, number | undefined>();
  private readonly shapes = new Map<Value, IDim[] | undefined>();
  private readonly vals = new Map<Value, IVal[] | undefined>();

  // ---------------------------------------------------------------------------------------------- element types

  elemType(v: Value | null | undefined): number | undefined {
    if (!v) return undefined;
    if (this.types.has(v)) return this.types.get(v);
    this.types.set(v, undefined);
    const t = this.typeOf(v);
    this.types.set(v, t);
    return t;
  }

  private typeOf(v: Value): number | undefined {
    const c = constantOf(v);
    if (c) return c.dataType;
    const declared = elemTypeOf(v.type);
    if (declared !== undefined) return declared;
    const p = v.producer;
    if (!p) return undefined;
    const op = p.opType;
    const first = () => this.elemType(p.input(0));
    if (!isStandardDomain(p.domain)) return p.domain === 'com.microsoft' && MS_SAME.has(op) && v.producerIndex === 0 ? first() : undefined;
    if (op === 'Split' || op === 'TopK') return v.producerIndex === 0 || op === 'Split' ? first() : DataType.INT64;
    if (v.producerIndex !== 0) return op === 'Dropout' && v.producerIndex === 1 ? DataType.BOOL : undefined;
    if (op === 'Cast') return p.attr('to')?.type === AttrType.INT ? toNum(p.attr('to')!.value) : undefined;
    if (op === 'CastLike') return this.elemType(p.input(1));
    if (INT64_OUT.has(op)) return DataType.INT64;
    if (BOOL_OUT.has(op)) return DataType.BOOL;
    if (op === 'Where') return this.elemType(p.input(1)) ?? this.elemType(p.input(2));
    if (op === 'ConstantOfShape') {
      const a = p.attributes.get('value');
      return a?.type === AttrType.TENSOR ? (a.value as Tensor).dataType : DataType.FLOAT;
    }
    if (SAME_SHAPE.has(op) || BROADCAST.has(op) || FIRST_INPUT_TYPE.has(op) || op === 'SimplifiedLayerNormalization') return first();
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------- shapes

  shape(v: Value | null | undefined): IDim[] | undefined {
    if (!v) return undefined;
    if (this.shapes.has(v)) return this.shapes.get(v);
    this.shapes.set(v, undefined);
    const s = this.shapeOfValue(v);
    this.shapes.set(v, s);
    return s;
  }

  rank(v: Value | null | undefined): number | undefined {
    return this.shape(v)?.length;
  }

  /** The dims when every one is a number. */
  staticShape(v: Value | null | undefined): number[] | undefined {
    const s = this.shape(v);
    return s?.every((d) => typeof d === 'number' && d >= 0) ? (s as number[]) : undefined;
  }

  private shapeOfValue(v: Value): IDim[] | undefined {
    const c = constantOf(v);
    if (c) return [...c.dims];
    const declared = shapeOf(v.type);
    if (declared) {
      const known = declared.map((d) => ((typeof d === 'number' && d >= 0) || (typeof d === 'string' && d !== '') ? d : null));
      if (known.every((d) => typeof d === 'number')) return known;
      // an exporter's value_info of unnamed or named dims: the producer may know them as numbers (or name them)
      const inferred = this.inferredShape(v);
      if (inferred?.length !== known.length) return known;
      return known.map((d, i) => (typeof inferred[i] === 'number' ? inferred[i] : (d ?? inferred[i] ?? null)));
    }
    return this.inferredShape(v);
  }

  private inferredShape(v: Value): IDim[] | undefined {
    const p = v.producer;
    if (!p) return undefined;
    const op = p.opType;
    const inShape = (i: number) => this.shape(p.input(i));
    if (!isStandardDomain(p.domain)) {
      if (p.domain !== 'com.microsoft' || v.producerIndex !== 0) return undefined;
      if (
        [
          'FastGelu',
          'BiasGelu',
          'Gelu',
          'SkipLayerNormalization',
          'SkipSimplifiedLayerNormalization',
          'SimplifiedLayerNormalization',
          'RotaryEmbedding',
        ].includes(op)
      )
        return inShape(0);
      if (op === 'MultiHeadAttention') {
        // [B, S, hidden of v]: v is [B, T, N·Dv] or, with k and v in BNSH, [B, N, T, Dv]
        const [q, vs] = [inShape(0), inShape(2)];
        const hv = vs?.length === 4 && typeof vs[1] === 'number' && typeof vs[3] === 'number' ? vs[1] * vs[3] : vs?.length === 3 ? vs[2] : null;
        return q && q.length === 3 ? [q[0], q[1], hv ?? null] : undefined;
      }
      if (op === 'Attention') {
        const x = inShape(0);
        const w = inShape(1);
        const hidden = w?.[1] && typeof w[1] === 'number' ? w[1] / 3 : null;
        return x && x.length === 3 ? [x[0], x[1], Number.isInteger(hidden) ? hidden : null] : undefined;
      }
      return undefined;
    }
    if (op === 'Split') return this.splitShape(p, v.producerIndex);
    if (op === 'If') return this.shape(this.takenBranch(p)?.outputs[v.producerIndex]);
    if (v.producerIndex !== 0) return op === 'Dropout' ? inShape(0) : undefined;
    // onnxruntime registers SimplifiedLayerNormalization in the ONNX domain
    if (SAME_SHAPE.has(op) || op === 'SimplifiedLayerNormalization') return inShape(0);
    if (BROADCAST.has(op)) return broadcast(p.inputs.map((x) => this.shape(x)));
    switch (op) {
      case 'MatMul':
        return matmulShape(inShape(0), inShape(1));
      case 'Gemm': {
        const [a, b] = [inShape(0), inShape(1)];
        if (!a || !b || a.length !== 2 || b.length !== 2) return a && b ? undefined : [null, null];
        return [a[p.getInt('transA', 0) ? 1 : 0], b[p.getInt('transB', 0) ? 0 : 1]];
      }
      case 'Transpose': {
        const x = inShape(0);
        if (!x) return undefined;
        const perm = attrInts(p, 'perm') ?? x.map((_, i) => x.length - 1 - i);
        return perm.length === x.length ? perm.map((i) => x[i] ?? null) : undefined;
      }
      case 'Reshape':
        return this.reshapeShape(p);
      case 'Unsqueeze': {
        const x = inShape(0);
        const axes = p.input(1) ? this.numbers(p.input(1)) : attrInts(p, 'axes');
        if (!x || !axes) return undefined;
        const r = x.length + axes.length;
        const norm = new Set(axes.map((a) => (a < 0 ? a + r : a)));
        const out: IDim[] = [];
        let j = 0;
        for (let i = 0; i < r; i++) out.push(norm.has(i) ? 1 : (x[j++] ?? null));
        return out;
      }
      case 'Squeeze': {
        const x = inShape(0);
        const axes = p.input(1) ? this.numbers(p.input(1)) : attrInts(p, 'axes');
        if (!x) return undefined;
        // without axes every 1 goes: only decidable when every dim is a number (a symbolic dim may be 1 at run time)
        if (!axes) return x.every((d) => typeof d === 'number') ? x.filter((d) => d !== 1) : undefined;
        const norm = new Set(axes.map((a) => (a < 0 ? a + x.length : a)));
        return x.filter((_, i) => !norm.has(i));
      }
      case 'Flatten': {
        const x = inShape(0);
        if (!x) return [null, null];
        const ax = p.getInt('axis', 1);
        const a = ax < 0 ? ax + x.length : ax;
        return [product(x.slice(0, a)), product(x.slice(a))];
      }
      case 'Gather': {
        const [d, i] = [inShape(0), inShape(1)];
        if (!d || !i) return undefined;
        const ax = p.getInt('axis', 0);
        const a = ax < 0 ? ax + d.length : ax;
        return [...d.slice(0, a), ...i, ...d.slice(a + 1)];
      }
      case 'Concat': {
        const ins = p.inputs.map((x) => this.shape(x));
        if (ins.some((s) => !s)) return undefined;
        const ss = ins as IDim[][];
        const r = ss[0].length;
        const ax = p.getInt('axis', 0);
        const a = ax < 0 ? ax + r : ax;
        return ss[0].map((_, i) => (i === a ? sumDims(ss.map((s) => s[i])) : (ss.map((s) => s[i]).find((d) => d !== null) ?? null)));
      }
      case 'Slice':
        return this.sliceShape(p);
      case 'Shape': {
        const x = inShape(0);
        if (!x) return [null];
        const r = x.length;
        const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + r : i, 0), r);
        return [Math.max(0, clamp(p.getInt('end', r)) - clamp(p.getInt('start', 0)))];
      }
      case 'Size':
        return [];
      case 'ConstantOfShape': {
        const s = this.values(p.input(0));
        const len = this.shape(p.input(0));
        if (s) return s.map((d) => (typeof d === 'number' || typeof d === 'string' ? d : null));
        return len && typeof len[0] === 'number' ? new Array(len[0]).fill(null) : undefined;
      }
      case 'Expand': {
        const t = this.values(p.input(1));
        const ts = this.shape(p.input(1));
        const target = t ?? (ts && typeof ts[0] === 'number' ? new Array(ts[0]).fill(null) : undefined);
        return target ? broadcast([inShape(0), target.map((d) => (d === 1 ? null : d))]) : undefined;
      }
      case 'Range': {
        const vs = this.values(v);
        if (vs) return [vs.length];
        // torch's arange(seq): Range(0, n, 1) has n elements, whatever n is
        const lim = this.values(p.input(1));
        return this.scalar(p.input(0)) === 0 && this.scalar(p.input(2)) === 1 && lim?.length === 1 ? [lim[0]] : [null];
      }
      default:
        if (op.startsWith('Reduce')) return this.reduceShape(p);
        return undefined;
    }
  }

  private splitShape(p: Node, index: number): IDim[] | undefined {
    const x = this.shape(p.input(0));
    if (!x) return undefined;
    const ax = p.getInt('axis', 0);
    const a = ax < 0 ? ax + x.length : ax;
    const sizes = p.input(1) ? this.numbers(p.input(1)) : attrInts(p, 'split');
    const d = x[a];
    let part: IDim = null;
    if (sizes) part = sizes[index] ?? null;
    else if (typeof d === 'number' && d % p.outputs.length === 0) part = d / p.outputs.length;
    return x.map((dd, i) => (i === a ? part : dd));
  }

  private reshapeShape(p: Node): IDim[] | undefined {
    const t = this.values(p.input(1));
    const x = this.shape(p.input(0));
    if (!t) {
      const ts = this.shape(p.input(1));
      return ts && typeof ts[0] === 'number' ? new Array(ts[0]).fill(null) : undefined;
    }
    const allowZero = p.getInt('allowzero', 0) === 1;
    const out: IDim[] = t.map((d, i) => (d === 0 && !allowZero ? (x?.[i] ?? null) : d === -1 ? null : d));
    const minus = t.indexOf(-1);
    if (minus >= 0 && x) {
      const known = out.filter((_, i) => i !== minus);
      const xs = x.every((d) => typeof d === 'number') ? (x as number[]).reduce((a, b) => a * b, 1) : undefined;
      if (xs !== undefined && known.every((d) => typeof d === 'number')) out[minus] = xs / (known as number[]).reduce((a, b) => a * b, 1);
      else if (x.length === t.length && known.every((d, i) => d === x[i < minus ? i : i + 1] && d !== null)) out[minus] = x[minus];
      else {
        // the dims of x left over after taking away the equal ones, when the leftover is one dim
        const rest = [...x];
        for (const d of known) {
          const j = rest.indexOf(d);
          if (d === null || j < 0) return out;
          rest.splice(j, 1);
        }
        if (rest.length === 1) out[minus] = rest[0];
      }
    }
    return out;
  }

  private sliceShape(p: Node): IDim[] | undefined {
    const x = this.shape(p.input(0));
    if (!x) return undefined;
    const starts = this.numbers(p.input(1));
    const ends = this.numbers(p.input(2));
    const axesIn = p.input(3) ? this.numbers(p.input(3)) : undefined;
    if (p.input(3) && !axesIn) return x.map(() => null);
    const steps = p.input(4) ? this.numbers(p.input(4)) : undefined;
    if (p.input(4) && !steps) return x.map(() => null);
    const axes = axesIn ?? (starts ?? this.values(p.input(1)) ?? []).map((_, i) => i);
    const out = [...x];
    if (!starts || !ends) {
      for (const a of axes) out[a < 0 ? a + x.length : a] = null;
      if (!axesIn && !this.shape(p.input(1))) return x.map(() => null);
      return out;
    }
    axes.forEach((ax, i) => {
      const a = ax < 0 ? ax + x.length : ax;
      const d = x[a];
      const step = steps?.[i] ?? 1;
      if (typeof d !== 'number') {
        out[a] = starts[i] === 0 && ends[i] >= 2 ** 31 - 1 && step === 1 ? d : null;
        return;
      }
      const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
      const norm = (v: number) => (v < 0 ? v + d : v);
      if (step > 0) {
        const s = clamp(norm(starts[i]), 0, d);
        const e = clamp(norm(ends[i]), 0, d);
        out[a] = Math.max(0, Math.ceil((e - s) / step));
      } else {
        const s = clamp(norm(starts[i]), -1, d - 1);
        const e = clamp(norm(ends[i]), -1, d - 1);
        out[a] = Math.max(0, Math.ceil((s - e) / -step));
      }
    });
    return out;
  }

  /** The branch an If takes when its condition is a known scalar (torch's Squeeze of a dim that may be 1). */
  private takenBranch(p: Node): Graph | undefined {
    const cond = this.scalar(p.input(0));
    if (cond === undefined) return undefined;
    const g = p.attr(cond ? 'then_branch' : 'else_branch')?.value;
    return g instanceof Graph ? g : undefined;
  }

  private reduceShape(p: Node): IDim[] | undefined {
    const x = this.shape(p.input(0));
    if (!x) return undefined;
    const axes = p.input(1) ? this.numbers(p.input(1)) : attrInts(p, 'axes');
    if (p.input(1) && !axes) return p.getInt('keepdims', 1) ? x.map(() => null) : undefined;
    const norm = new Set((axes ?? x.map((_, i) => i)).map((a) => (a < 0 ? a + x.length : a)));
    if (!axes && p.getInt('noop_with_empty_axes', 0)) return x;
    return p.getInt('keepdims', 1) ? x.map((d, i) => (norm.has(i) ? 1 : d)) : x.filter((_, i) => !norm.has(i));
  }

  // ---------------------------------------------------------------------------------------------- values

  /** The elements of a small tensor when known (numbers; a symbolic dim's name where a shape was read). */
  values(v: Value | null | undefined): IVal[] | undefined {
    if (!v) return undefined;
    if (this.vals.has(v)) return this.vals.get(v);
    this.vals.set(v, undefined);
    const r = this.valuesOf(v);
    this.vals.set(v, r && r.length <= MAX_VALUES ? r : undefined);
    return this.vals.get(v);
  }

  /** The elements when every one is a known number. */
  numbers(v: Value | null | undefined): number[] | undefined {
    const vs = this.values(v);
    return vs?.every((x) => typeof x === 'number') ? (vs as number[]) : undefined;
  }

  /** The value of a one-element tensor when it is a known number. */
  scalar(v: Value | null | undefined): number | undefined {
    const vs = this.numbers(v);
    return vs?.length === 1 ? vs[0] : undefined;
  }

  private valuesOf(v: Value): IVal[] | undefined {
    const c = constantOf(v);
    if (c) return c.size <= MAX_VALUES ? numbersOf(c) : undefined;
    const p = v.producer;
    if (!p || !isStandardDomain(p.domain) || v.producerIndex !== 0) return undefined;
    const op = p.opType;
    const input = (i: number) => this.values(p.input(i));
    switch (op) {
      case 'Shape': {
        const x = this.shape(p.input(0));
        if (!x) return undefined;
        const r = x.length;
        const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + r : i, 0), r);
        return x.slice(clamp(p.getInt('start', 0)), clamp(p.getInt('end', r)));
      }
      case 'Size': {
        const x = this.staticShape(p.input(0));
        return x ? [x.reduce((a, b) => a * b, 1)] : undefined;
      }
      case 'Identity':
      case 'Squeeze':
      case 'Unsqueeze':
      case 'Reshape':
      case 'Flatten':
        return input(0);
      case 'Cast': {
        const x = input(0);
        const to = p.getInt('to');
        if (!x || to === undefined) return undefined;
        if (to === DataType.BOOL) return x.map((e) => (typeof e === 'number' ? Number(e !== 0) : null));
        if (isIntegerType(to)) return x.map((e) => (typeof e === 'number' ? Math.trunc(e) : e));
        if (to === DataType.FLOAT) return x.map((e) => (typeof e === 'number' ? Math.fround(e) : null));
        return to === DataType.DOUBLE ? x.map((e) => (typeof e === 'number' ? e : null)) : undefined;
      }
      case 'Gather': {
        const [d, i] = [input(0), this.numbers(p.input(1))];
        const ds = this.shape(p.input(0));
        if (!d || !i || ds?.length !== 1) return undefined;
        return i.map((k) => d[k < 0 ? k + d.length : k] ?? null);
      }
      case 'Concat': {
        if (p.inputs.some((x) => this.shape(x)?.length !== 1)) return undefined;
        const parts = p.inputs.map((x) => this.values(x));
        return parts.every((x) => x) ? (parts as IVal[][]).flat() : undefined;
      }
      case 'Slice': {
        const d = input(0);
        if (!d || this.shape(p.input(0))?.length !== 1) return undefined;
        const [s, e] = [this.numbers(p.input(1)), this.numbers(p.input(2))];
        const step = p.input(4) ? this.numbers(p.input(4))?.[0] : 1;
        if (!s || !e || step === undefined) return undefined;
        const n = d.length;
        const norm = (x: number) => (x < 0 ? x + n : x);
        const out: IVal[] = [];
        if (step > 0) for (let k = Math.min(Math.max(norm(s[0]), 0), n); k < Math.min(Math.max(norm(e[0]), 0), n); k += step) out.push(d[k]);
        else for (let k = Math.min(Math.max(norm(s[0]), -1), n - 1); k > Math.min(Math.max(norm(e[0]), -1), n - 1); k += step) out.push(d[k]);
        return out;
      }
      case 'ConstantOfShape': {
        const s = this.numbers(p.input(0));
        const a = p.attributes.get('value');
        const fill = a?.type === AttrType.TENSOR ? (numbersOf(a.value as Tensor)?.[0] ?? 0) : 0;
        if (!s) return undefined;
        const size = s.reduce((x, y) => x * y, 1);
        return size <= MAX_VALUES ? new Array(size).fill(fill) : undefined;
      }
      case 'Range': {
        const [st, lim, dl] = [this.scalar(p.input(0)), this.scalar(p.input(1)), this.scalar(p.input(2))];
        if (st === undefined || lim === undefined || !dl) return undefined;
        const n = Math.max(Math.ceil((lim - st) / dl), 0);
        return n <= MAX_VALUES ? Array.from({ length: n }, (_, k) => st + k * dl) : undefined;
      }
      case 'Neg':
      case 'Sqrt':
      case 'Reciprocal': {
        const x = input(0);
        const f = op === 'Neg' ? (a: number) => -a : op === 'Sqrt' ? Math.sqrt : (a: number) => 1 / a;
        return x?.map((e) => (typeof e === 'number' ? this.round(v, f(e)) : null));
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Pow':
      case 'Max':
      case 'Min':
        return this.binary(v, p);
      default:
        return undefined;
    }
  }

  private round(v: Value, x: number): number {
    const t = this.elemType(v);
    return t === DataType.FLOAT ? Math.fround(x) : t !== undefined && isIntegerType(t) ? Math.trunc(x) : x;
  }

  private binary(v: Value, p: Node): IVal[] | undefined {
    const [a, b] = [this.values(p.input(0)), this.values(p.input(1))];
    if (!a || !b || (a.length !== b.length && a.length !== 1 && b.length !== 1)) return undefined;
    const n = Math.max(a.length, b.length);
    const f: Record<string, (x: number, y: number) => number> = {
      Add: (x, y) => x + y,
      Sub: (x, y) => x - y,
      Mul: (x, y) => x * y,
      Div: (x, y) => x / y,
      Pow: (x, y) => x ** y,
      Max: Math.max,
      Min: Math.min,
    };
    const out: IVal[] = [];
    for (let i = 0; i < n; i++) {
      const [x, y] = [a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i]];
      out.push(typeof x === 'number' && typeof y === 'number' ? this.round(v, f[p.opType](x, y)) : null);
    }
    return out;
  }
}

function product(ds: IDim[]): IDim {
  return ds.every((d) => typeof d === 'number') ? (ds as number[]).reduce((a, b) => a * b, 1) : null;
}

function sumDims(ds: IDim[]): IDim {
  return ds.every((d) => typeof d === 'number') ? (ds as number[]).reduce((a, b) => a + b, 0) : null;
}

/** Multidirectional broadcast of known shapes (unknown when a rank is unknown). */
export function broadcast(shapes: (IDim[] | undefined)[]): IDim[] | undefined {
  if (shapes.some((s) => !s)) return undefined;
  const ss = shapes as IDim[][];
  const r = Math.max(...ss.map((s) => s.length));
  const out: IDim[] = [];
  for (let i = 0; i < r; i++) {
    const ds = ss.map((s) => (i - (r - s.length) >= 0 ? s[i - (r - s.length)] : 1)).filter((d) => d !== 1);
    const num = ds.find((d) => typeof d === 'number');
    if (ds.length === 0) out.push(1);
    else if (num !== undefined) out.push(num);
    else if (ds.every((d) => d === ds[0])) out.push(ds[0]);
    else out.push(null);
  }
  return out;
}

function matmulShape(a: IDim[] | undefined, b: IDim[] | undefined): IDim[] | undefined {
  if (!a || !b || a.length < 1 || b.length < 1) return undefined;
  if (a.length === 1 || b.length === 1) return undefined;
  const batch = broadcast([a.slice(0, -2), b.slice(0, -2)]);
  return batch ? [...batch, a[a.length - 2], b[b.length - 1]] : undefined;
}

/** One-off answers (each call walks the producers afresh; hold an Inference to share the work). */
export const inferElemType = (v: Value | null | undefined): number | undefined => new Inference().elemType(v);
export const inferShape = (v: Value | null | undefined): IDim[] | undefined => new Inference().shape(v);
