/**
 * What the structured analysis may assume about ranks and single dimensions: what a runtime probe measured (when the
 * caller has one), what the model declares, what constants hold, and what follows through a few shape-transparent
 * operators (element-wise ops with numpy broadcasting, Cast, Unsqueeze), then what passes/util/infer.ts derives from
 * the graph (torch exports declare no intermediate shapes). Nothing here guesses: unknown is undefined.
 */
import type { Value } from '../ir/graph.js';
import { shapeOf } from '../ir/types.js';
import { Inference } from '../passes/util/infer.js';
import { constantInts, constantOf } from '../rewrite/constant.js';
import { expandEntries } from './shape-spec.js';
import type { ShapeMap } from './types.js';
import { isStandardDomain } from '../ir/model.js';

export const UNARY_OPS = new Set([
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Erf',
  'Gelu',
  'Elu',
  'Selu',
  'Celu',
  'Softplus',
  'Softsign',
  'HardSigmoid',
  'HardSwish',
  'Mish',
  'Exp',
  'Log',
  'Sqrt',
  'Neg',
  'Abs',
  'Identity',
  'Cast',
  'Dropout',
  'Clip',
  'ThresholdedRelu',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Sin',
  'Cos',
  'Silu',
  'QuickGelu',
]);
export const BINARY_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'PRelu']);

export class ShapeFacts {
  /** what follows from the graph itself (exports write no value_info): the last resort, memoised per analysis */
  private readonly inference = new Inference();

  constructor(private readonly shapes?: ShapeMap) {}

  /** Static dims (numbers or undefined per axis) when the rank is known. */
  dims(v: Value | null | undefined): (number | undefined)[] | undefined {
    if (!v) return undefined;
    const probed = this.shapes?.get(v.name);
    if (probed) return [...probed];
    const t = constantOf(v);
    if (t) return [...t.dims];
    const s = shapeOf(v.type);
    if (s) return s.map((d) => (typeof d === 'number' ? d : undefined));
    const inferred = this.inference.shape(v);
    if (inferred) return inferred.map((d) => (typeof d === 'number' ? d : undefined));
    return undefined;
  }

  rank(v: Value | null | undefined, depth = 0): number | undefined {
    if (!v) return undefined;
    const d = this.dims(v);
    if (d) return d.length;
    if (depth > 16) return undefined;
    const p = v.producer;
    if (!p || !isStandardDomain(p.domain) || v.producerIndex !== 0) return undefined;
    if (UNARY_OPS.has(p.opType)) return this.rank(p.input(0), depth + 1);
    if (BINARY_OPS.has(p.opType)) {
      let r = 0;
      for (const i of p.inputs) {
        const ri = this.rank(i, depth + 1);
        if (ri === undefined) return undefined;
        r = Math.max(r, ri);
      }
      return r;
    }
    const r = (i: number) => this.rank(p.input(i), depth + 1);
    switch (p.opType) {
      case 'Unsqueeze': {
        const axes = unsqueezeAxes(p);
        const ri = r(0);
        return axes && ri !== undefined ? ri + axes.length : undefined;
      }
      case 'Squeeze': {
        const axes = p.getInts('axes') ?? constantInts(p.input(1));
        const ri = r(0);
        return axes && ri !== undefined ? ri - axes.length : undefined;
      }
      case 'Conv':
      case 'ConvTranspose':
        return constantOf(p.input(1))?.rank ?? r(0);
      case 'BatchNormalization':
      case 'InstanceNormalization':
      case 'LayerNormalization':
      case 'LRN':
      case 'Softmax':
      case 'LogSoftmax':
      case 'MaxPool':
      case 'AveragePool':
      case 'LpPool':
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
      case 'GlobalLpPool':
      case 'Transpose':
      case 'Slice':
      case 'Expand':
      case 'Where':
        return r(0);
      case 'Flatten':
      case 'Gemm':
        return 2;
      case 'Shape':
        return 1;
      case 'Gather': {
        const a = r(0);
        const b = r(1);
        return a !== undefined && b !== undefined ? a + b - 1 : undefined;
      }
      case 'MatMul': {
        const a = r(0);
        const b = r(1);
        if (a === undefined || b === undefined) return undefined;
        return Math.max(a, b, 2) - (a === 1 ? 1 : 0) - (b === 1 ? 1 : 0);
      }
      case 'Reshape': {
        const d = this.dims(p.input(1));
        return d && d.length === 1 ? d[0] : undefined;
      }
      case 'Concat':
        return p.inputs.map((x) => this.rank(x, depth + 1)).find((x) => x !== undefined);
    }
    if (p.opType.startsWith('Reduce')) {
      const ri = r(0);
      if (ri === undefined) return undefined;
      if (p.getInt('keepdims', 1) !== 0) return ri;
      const axes = p.getInts('axes') ?? constantInts(p.input(1));
      return axes ? ri - new Set(axes.map((a) => (a < 0 ? a + ri : a))).size : undefined;
    }
    return undefined;
  }

  /** Size of the dimension `k` from the end (1 = last); 1 for axes a lower-rank value broadcasts over. */
  dimFromEnd(v: Value | null | undefined, k: number, depth = 0): number | undefined {
    if (!v) return undefined;
    const d = this.dims(v);
    if (d && (k > d.length || d[d.length - k] !== undefined)) return k > d.length ? 1 : d[d.length - k];
    if (depth > 16) return undefined;
    const p = v.producer;
    if (!p || !isStandardDomain(p.domain) || v.producerIndex !== 0) return undefined;
    if (UNARY_OPS.has(p.opType)) return this.dimFromEnd(p.input(0), k, depth + 1);
    if (BINARY_OPS.has(p.opType)) {
      let out = 1;
      for (const i of p.inputs) {
        if (!i) continue;
        const di = this.dimFromEnd(i, k, depth + 1);
        if (di === undefined) return undefined;
        if (di !== 1) out = di;
      }
      return out;
    }
    if (p.opType === 'Where') {
      let out = 1;
      for (const i of p.inputs) {
        const di = i ? this.dimFromEnd(i, k, depth + 1) : 1;
        if (di === undefined) return undefined;
        if (di !== 1) out = di;
      }
      return out;
    }
    if (p.opType === 'Expand') {
      // the target's entry broadcasts with the input's dim: 1 keeps the input's, a size-1 input takes the target's
      const inDim = this.dimFromEnd(p.input(0), k, depth + 1);
      const e = expandEntries(p, this);
      const entry = typeof e === 'string' ? undefined : k > e.length ? 1 : e[e.length - k].value;
      if (entry === 1) return inDim;
      if (inDim === 1 && entry !== undefined) return entry;
      return inDim !== undefined && entry === inDim ? inDim : undefined;
    }
    if (p.opType === 'Unsqueeze') {
      const axes = unsqueezeAxes(p);
      const ri = this.rank(p.input(0), depth + 1);
      if (!axes || ri === undefined) return undefined;
      const r = ri + axes.length;
      const norm = axes.map((a) => (a < 0 ? a + r : a));
      const pos = r - k;
      if (pos < 0) return 1;
      if (norm.includes(pos)) return 1;
      const inPos = pos - norm.filter((a) => a < pos).length;
      return this.dimFromEnd(p.input(0), ri - inPos, depth + 1);
    }
    return undefined;
  }
}

/** Axes of an Unsqueeze (attribute before opset 13, input after). */
export function unsqueezeAxes(n: { getInts(name: string): number[] | undefined; input(i: number): Value | undefined }): number[] | undefined {
  return n.getInts('axes') ?? constantInts(n.input(1));
}
