import { UsageError } from '../errors.js';
import { DataType, dtypeBits, dtypeName, isFloatType, ortTypeName } from '../ir/dtype.js';
import { float32ToFloat16 } from '../ir/float-codecs.js';
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { isTensorType } from '../ir/types.js';
import { toOrtTensor, type Feeds } from '../runtime/session.js';
import { Rng } from '../util/rng.js';
import { describeInputs, modelInputs, symbolicDims, type InputInfo } from './describe.js';
import { checkDims } from './dims.js';

// ================================================================================================ synthesis

export interface SynthesizeOptions {
  /** sizes of symbolic dimensions by name; `"<input>[<axis>]"` for an unnamed one */
  dims?: Record<string, number>;
  /** default 0 */
  seed?: number;
  /** number of input sets (default 1) */
  count?: number;
}

/** How synthesis fills an input. */
export type InputRule =
  | { kind: 'normal' }
  | { kind: 'ones'; why: 'mask' }
  | { kind: 'ids'; below: number; table: string }
  | { kind: 'zeros'; why: 'token-type' }
  | { kind: 'small-ints'; below: 10 }
  | { kind: 'bool' };

export interface InputPlan extends InputInfo {
  rule: InputRule;
}

/** How each input would be synthesized (for reports and tests). */
export function planInputs(model: Model): InputPlan[] {
  const values = modelInputs(model);
  return describeInputs(model).map((info, i) => ({ ...info, rule: ruleFor(values[i], info) }));
}

function ruleFor(v: Value, info: InputInfo): InputRule {
  const lname = info.name.toLowerCase();
  const t = info.elemType;
  if (lname.includes('mask')) return { kind: 'ones', why: 'mask' };
  if (t === DataType.BOOL) return { kind: 'bool' };
  if (t !== undefined && isFloatType(t)) return { kind: 'normal' };
  const table = gatherTable(v);
  if (table) return { kind: 'ids', below: table.size, table: table.name };
  if (lname.includes('token_type') || lname.includes('segment')) return { kind: 'zeros', why: 'token-type' };
  return { kind: 'small-ints', below: 10 };
}

/** Ops an id tensor passes through unchanged in value (only the data input, index 0, is followed). */
const ID_PASSTHROUGH = new Set(['Cast', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Identity', 'Expand', 'Transpose']);

/**
 * The smallest constant table an integer value indexes: a Gather whose indices it reaches and whose data is a
 * constant, or a com.microsoft EmbedLayerNormalization it feeds as ids.
 */
function gatherTable(v: Value): { size: number; name: string } | undefined {
  let best: { size: number; name: string } | undefined;
  const consider = (table: Value | undefined, axis: number) => {
    const t = table?.constTensor();
    if (!t || t.rank === 0) return;
    const a = axis < 0 ? axis + t.rank : axis;
    const size = t.dims[a];
    if (size === undefined || size <= 0) return;
    if (!best || size < best.size) best = { size, name: table!.name };
  };
  const seen = new Set<Value>();
  const stack = [v];
  while (stack.length) {
    const cur = stack.pop()!;
    if (seen.has(cur)) continue;
    seen.add(cur);
    for (const u of cur.uses) {
      const n = u.node;
      if (n.domain === '' && ID_PASSTHROUGH.has(n.opType) && u.index === 0 && n.outputs[0]) stack.push(n.outputs[0]);
      else if (n.domain === '' && n.opType === 'Gather' && u.index === 1) consider(n.input(0), n.getInt('axis', 0));
      else if (n.domain === 'com.microsoft' && n.opType === 'EmbedLayerNormalization') {
        if (u.index === 0) consider(n.input(2), 0);
        else if (u.index === 1) consider(n.input(4), 0);
      }
    }
  }
  return best;
}

/** The concrete shape of an input under `dims`; UsageError naming what is missing. */
export function resolveShape(model: Model, input: string, dims: Record<string, number> = {}): number[] {
  const info = describeInputs(model).find((i) => i.name === input);
  if (!info)
    throw new UsageError(
      `the model has no input '${input}'; its inputs are: ${
        describeInputs(model)
          .map((i) => i.name)
          .join(', ') || '(none)'
      }`,
    );
  return shapeFor(model, info, dims);
}

function shapeFor(model: Model, info: InputInfo, dims: Record<string, number>): number[] {
  if (!info.shape) throw new UsageError(`input '${info.name}' declares no shape, so inputs cannot be synthesized for it; give input files instead`);
  const shape = info.shape.map((d, axis) => {
    if (typeof d === 'number') {
      if (d >= 0) return d;
      d = null;
    }
    const key = typeof d === 'string' ? d : `${info.name}[${axis}]`;
    const given = dims[key];
    if (given === undefined) {
      const symbols = symbolicDims(model);
      const known = symbols.length ? `the model's symbolic dimensions are: ${symbols.join(', ')}` : 'the model has no named symbolic dimensions';
      if (typeof d === 'string')
        throw new UsageError(`no size given for dimension '${d}' (axis ${axis} of input '${info.name}'); ${known}; set it, e.g. --dim ${d}=8`);
      throw new UsageError(`axis ${axis} of input '${info.name}' has an unknown size and no name; give it as '${key}' (e.g. --dim '${key}=8'); ${known}`);
    }
    if (!Number.isInteger(given) || given < 0) throw new UsageError(`dimension '${key}' must be a non-negative integer, got ${given}`);
    return given;
  });
  const elements = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(elements) || elements > MAX_INPUT_ELEMENTS)
    throw new UsageError(
      `input '${info.name}' of shape [${shape.join(', ')}] has ${elements} elements, more than inputs can be synthesized for (${MAX_INPUT_ELEMENTS}); check the model's declared shape or the --dim sizes`,
    );
  return shape;
}

/** 2^28 elements (1 GiB of float32): more is certainly a mistaken shape, not a benchmark input */
const MAX_INPUT_ELEMENTS = 2 ** 28;

/** `count` seeded input sets for the model. */
export function synthesizeInputs(model: Model, opts: SynthesizeOptions = {}): Feeds[] {
  const count = opts.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`input set count must be a positive integer, got ${count}`);
  const dims = opts.dims ?? {};
  // sizes and position limits; names are checked where a user gives them (bench, the commands): callers may pass
  // one set of sizes to several models
  checkDims(model, dims, { names: false });
  const plans = planInputs(model).map((p) => {
    if (!isTensorType(modelInputs(model).find((v) => v.name === p.name)?.type)) throw new UsageError(`input '${p.name}' is not a tensor; cannot synthesize it`);
    if (p.elemType === undefined) throw new UsageError(`input '${p.name}' declares no element type; cannot synthesize it`);
    if (!ortTypeName(p.elemType) || p.elemType === DataType.STRING || dtypeBits(p.elemType) < 8)
      throw new UsageError(`input '${p.name}' is ${p.dtype}, which cannot be synthesized for onnxruntime-node; give input files instead`);
    return { ...p, dims: shapeFor(model, p, dims) };
  });
  const root = new Rng(opts.seed ?? 0);
  const sets: Feeds[] = [];
  for (let s = 0; s < count; s++) {
    const setRng = root.fork(s);
    const feeds: Feeds = {};
    for (const p of plans) feeds[p.name] = toOrtTensor(fill(p.elemType!, p.dims, p.rule, setRng.fork(p.name), p.name));
    sets.push(feeds);
  }
  return sets;
}

function fill(t: number, dims: number[], rule: InputRule, rng: Rng, name: string): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  if (isFloatType(t)) {
    const f = new Float32Array(n);
    if (rule.kind === 'ones') f.fill(1);
    else rng.fillNormal(f, 1);
    if (t === DataType.FLOAT) return Tensor.fromArray(t, dims, f, name);
    if (t === DataType.DOUBLE) return Tensor.fromArray(t, dims, Float64Array.from(f), name);
    if (t === DataType.FLOAT16) return Tensor.fromArray(t, dims, float32ToFloat16(f), name);
    throw new UsageError(`input '${name}' is ${dtypeName(t)}, which cannot be synthesized for onnxruntime-node`);
  }
  const vals = new Array<number>(n);
  switch (rule.kind) {
    case 'ones':
      vals.fill(1);
      break;
    case 'zeros':
      vals.fill(0);
      break;
    case 'bool':
      for (let i = 0; i < n; i++) vals[i] = rng.next() & 1;
      break;
    case 'ids':
      for (let i = 0; i < n; i++) vals[i] = rng.int(0, rule.below);
      break;
    default:
      for (let i = 0; i < n; i++) vals[i] = rng.int(0, 10);
  }
  return Tensor.fromArray(t, dims, vals, name);
}
