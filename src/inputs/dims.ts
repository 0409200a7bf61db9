/**
 * Sizes of symbolic dimensions (`--dim name=size`), checked against the model before anything runs: every name must
 * be one of the model's dimensions (a typo gets a did-you-mean), every size a positive integer, and no size may pass
 * what the model's own tables allow. The last is found in the graph: a Gather on a constant table (a position
 * embedding) whose indices are `Range(0, n)` or a slice `[0:n]` of a constant position buffer, with n computed from
 * an input's shape (`Shape -> Gather`, casts, sums such as sequence + past_sequence), or a position input indexing it
 * directly. With 64 positions, `sequence=128` cannot run; onnxruntime would say so only as an index error mid-run.
 */
import { UsageError } from '../errors.js';
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { isTensorType, shapeOf } from '../ir/types.js';
import { didYouMean } from '../util/text.js';
import { describeInputs, symbolicDims } from './describe.js';

/** c + sum(coef * dim): a size computed from input dimensions. */
interface Linear {
  c: number;
  terms: Map<string, number>;
}

/** A limit the model puts on its dimensions: `expr <= max`. */
export interface DimLimit {
  /** the dimensions involved and their coefficients, and the constant: the size is c + sum(coef * dim) */
  terms: Record<string, number>;
  c: number;
  max: number;
  /** what sets the limit, for the message */
  what: string;
}

const PASS = new Set(['Cast', 'Squeeze', 'Unsqueeze', 'Identity', 'Reshape', 'Flatten', 'Expand']);

function constLinear(c: number): Linear {
  return { c, terms: new Map() };
}

function add(a: Linear, b: Linear, sign = 1): Linear {
  const terms = new Map(a.terms);
  for (const [k, v] of b.terms) terms.set(k, (terms.get(k) ?? 0) + sign * v);
  for (const [k, v] of terms) if (v === 0) terms.delete(k);
  return { c: a.c + sign * b.c, terms };
}

/** The one number a constant holds, if it holds exactly one. */
function scalar(v: Value | undefined): number | undefined {
  const t = v?.constTensor();
  if (t?.dims.reduce((a, b) => a * b, 1) !== 1) return undefined;
  const n = Number(t.toNumbers()[0]);
  return Number.isFinite(n) ? n : undefined;
}

/** The declared size of axis `axis` of `v`: a symbol, a number, or unknown. */
function axisOf(v: Value | undefined, axis: number): Linear | undefined {
  const shape = v && isTensorType(v.type) ? shapeOf(v.type) : undefined;
  if (!shape) return undefined;
  const a = axis < 0 ? axis + shape.length : axis;
  const d = shape[a];
  if (typeof d === 'string') return { c: 0, terms: new Map([[d, 1]]) };
  if (typeof d === 'number' && d >= 0) return constLinear(d);
  return undefined;
}

/** A scalar computed from input shapes, as a linear expression over their symbolic dimensions. */
function linear(v: Value | undefined, depth = 0): Linear | undefined {
  if (!v || depth > 16) return undefined;
  const k = scalar(v);
  if (k !== undefined) return constLinear(k);
  const n = v.producer;
  if (n?.domain !== '') return undefined;
  if (PASS.has(n.opType)) return linear(n.input(0), depth + 1);
  if (n.opType === 'Add' || n.opType === 'Sub') {
    const a = linear(n.input(0), depth + 1);
    const b = linear(n.input(1), depth + 1);
    return a && b ? add(a, b, n.opType === 'Add' ? 1 : -1) : undefined;
  }
  // Gather(Shape(x), k) and Slice(Shape(x), k, k + 1): one axis of x
  const shapeSrc = n.input(0)?.producer;
  if (shapeSrc?.opType !== 'Shape' || shapeSrc.domain !== '' || shapeSrc.attributes.size) return undefined;
  if (n.opType === 'Gather') {
    const idx = scalar(n.input(1));
    return idx === undefined ? undefined : axisOf(shapeSrc.input(0), idx);
  }
  if (n.opType === 'Slice') {
    const s = scalar(n.input(1));
    const e = scalar(n.input(2));
    if (s === undefined || e === undefined || !(e === s + 1 || (s === -1 && e >= 2 ** 30))) return undefined;
    return axisOf(shapeSrc.input(0), s);
  }
  return undefined;
}

/** How many distinct positions an index tensor reaches (its values are 0..n-1), and what bounds it besides a table. */
function positions(v: Value | undefined, limits: DimLimit[], depth = 0): Linear | undefined {
  if (!v || depth > 16) return undefined;
  const n = v.producer;
  if (!n) {
    // a position input: its last axis is the sequence
    if (v.isGraphInput && /position/i.test(v.name)) return axisOf(v, -1);
    return undefined;
  }
  if (n.domain !== '') return undefined;
  if (PASS.has(n.opType)) return positions(n.input(0), limits, depth + 1);
  if (n.opType === 'Range') {
    if (scalar(n.input(2)) !== 1) return undefined;
    return linear(n.input(1));
  }
  if (n.opType === 'Slice') {
    // buffer[..., 0:n]: a constant position buffer (arange) sliced to the sequence length
    const buf = n.input(0)?.constTensor();
    const start = scalar(n.input(1));
    const end = linear(n.input(2));
    const axis = scalar(n.input(3)) ?? 0;
    const step = n.input(4) ? scalar(n.input(4)) : 1;
    if (!buf || start !== 0 || !end || step !== 1) return undefined;
    const a = axis < 0 ? axis + buf.rank : axis;
    const len = buf.dims[a];
    if (len === undefined) return undefined;
    limits.push({ terms: Object.fromEntries(end.terms), c: end.c, max: len, what: `the position buffer '${n.input(0)!.name}' has ${len} entries` });
    return end;
  }
  return undefined;
}

/** The limits a model's position tables and buffers put on its symbolic dimensions. */
export function dimLimits(model: Model): DimLimit[] {
  const limits: DimLimit[] = [];
  for (const n of model.graph.nodes) {
    if (n.domain !== '' || n.opType !== 'Gather' || n.getInt('axis', 0) !== 0) continue;
    const table = n.input(0)?.constTensor();
    if (!table || table.rank < 1) continue;
    const reach = positions(n.input(1), limits);
    if (!reach || reach.terms.size === 0) continue;
    limits.push({ terms: Object.fromEntries(reach.terms), c: reach.c, max: table.dims[0]!, what: `the table '${n.input(0)!.name}' has ${table.dims[0]} rows` });
  }
  return limits;
}

/** A limit's expression, `past_sequence + sequence` or `sequence + 1`. */
export const showLimit = (l: DimLimit): string =>
  [...Object.entries(l.terms).map(([k, v]) => (v === 1 ? k : `${v}*${k}`)), ...(l.c ? [String(l.c)] : [])].join(' + ').replace(/\+ -/g, '- ');

/** The size a symbolic dimension gets when none is given: 1 for a batch-like name, 32 for any other. */
export const defaultDimSize = (name: string): number => (/batch|^n$/i.test(name) ? 1 : 32);

/** The terms of a dimension named as a sum (torch names `past_sequence + sequence` so), or undefined. */
function sumTerms(name: string): string[] | undefined {
  const terms = name.split('+').map((t) => t.trim());
  return terms.length > 1 && terms.every((t) => /^[A-Za-z_][\w.]*$|^\d+$/.test(t)) ? terms : undefined;
}

/**
 * `given`, plus a size for each of `names` it does not size: a dimension named as a sum of others (`past_sequence +
 * sequence`, as torch's exporter names the attention mask of a KV-cache decoder) gets the sum of their sizes, so the
 * inputs agree with each other; any other gets defaultDimSize.
 */
export function withDefaultDims(names: readonly string[], given: Record<string, number>): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const n of names) dims[n] = defaultDimSize(n);
  Object.assign(dims, given);
  for (const n of names) {
    const terms = given[n] === undefined ? sumTerms(n) : undefined;
    const sizes = terms?.map((t) => (/^\d+$/.test(t) ? Number(t) : dims[t]));
    if (sizes?.every((v) => v !== undefined)) dims[n] = sizes.reduce((a, b) => a! + b!, 0)!;
  }
  return dims;
}

/** The names `dims` may give sizes to: the model's symbolic dimensions and `input[axis]` for each unnamed axis. */
export function dimNames(model: Model): string[] {
  const unnamed: string[] = [];
  for (const i of describeInputs(model))
    i.shape?.forEach((d, axis) => (d === null || (typeof d === 'number' && d < 0) ? unnamed.push(`${i.name}[${axis}]`) : 0));
  return [...symbolicDims(model), ...unnamed];
}

/**
 * Checks `dims` against the model: known names (`name` or `input[axis]` for an unnamed axis; `names: false` skips
 * this, for callers that pass one set of sizes to many models), positive integer sizes, and the model's position
 * limits. Throws a UsageError naming the dimension and what is wrong.
 */
export function checkDims(model: Model, dims: Record<string, number>, opts: { names?: boolean } = {}): void {
  const known = dimNames(model);
  for (const [name, size] of Object.entries(dims)) {
    if (opts.names !== false && !known.includes(name)) {
      const guess = didYouMean(name, known);
      const list = known.length ? `the model's dimensions are: ${known.join(', ')}` : 'the model has no symbolic dimensions';
      throw new UsageError(`--dim ${name}: the model has no dimension '${name}'${guess ? ` (did you mean '${guess}'?)` : ''}; ${list}`, { help: true });
    }
    if (!Number.isSafeInteger(size) || size < 1) throw new UsageError(`--dim ${name}=${size}: a size must be a positive integer`, { help: true });
  }
  for (const l of dimLimits(model)) {
    const names = Object.keys(l.terms);
    if (!names.every((k) => dims[k] !== undefined)) continue;
    const value = names.reduce((s, k) => s + l.terms[k]! * dims[k]!, l.c);
    if (value <= l.max) continue;
    const given = names.map((k) => `${k}=${dims[k]}`).join(', ');
    const bound = names.length === 1 && l.terms[names[0]!] === 1 ? `${names[0]} <= ${l.max - l.c}` : `${showLimit(l)} <= ${l.max}`;
    throw new UsageError(`--dim ${given}: beyond what the model allows: ${l.what}, so ${bound}`, { help: true });
  }
}
