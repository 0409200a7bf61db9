/**
 * Model inputs: the one place that synthesizes them (bench, tests and calibration all come here) and that loads
 * the ones a user gives.
 *
 * Synthesis reads each graph input's declared type. Symbolic dimensions come from `dims` by name (an unnamed or
 * unknown dimension from `dims["<input>[<axis>]"]`). Values are seeded (one independent stream per set and input,
 * so set k and input x are the same whatever `count` is and whichever other inputs exist) and chosen to stay valid:
 *
 *   - a name containing 'mask'                     all ones (any dtype)
 *   - an integer input that reaches the indices of a Gather on a constant table (directly or through
 *     Cast/Reshape/Unsqueeze/Squeeze/Flatten/Identity/Expand), or the ids inputs of com.microsoft
 *     EmbedLayerNormalization: uniform below the table's size on the gathered axis (token ids < vocab)
 *   - 'token_type' / 'segment' in the name, with no such table: zeros
 *   - other integers: uniform 0..9;  bool: fair coin;  floats: normal(0, 1) (float16 rounded from float32)
 *
 * User inputs: `.npy` (C order; float16/32/64, int8/16/32/64, uint8/16/32/64, bool; either byte order), ONNX
 * `TensorProto` `.pb` files (as in ONNX test data sets; `input_<i>.pb` maps to the i-th input when the tensor has no
 * name of the model), and `.json` (`{"x": {"dims": [1, 8], "dtype": "int64", "data": [...]}}` or `{"x": [[...]]}`
 * with the dtype taken from the model). With a model, each tensor is checked against its input (name, rank, fixed
 * and shared symbolic dimensions) and converted to the input's element type when that loses nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError, UsageError } from '../errors.js';
import { DataType, dtypeBits, dtypeFromName, dtypeName, isFloatType, isKnownDataType, ortTypeName } from '../ir/dtype.js';
import { float32ToFloat16 } from '../ir/float-codecs.js';
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { elemTypeOf, isTensorType, shapeOf, type Dim } from '../ir/types.js';
import { decodeMessage } from '../onnx/schema.js';
import { tensorFromMsg } from '../onnx/serde.js';
import { WireError } from '../onnx/wire.js';
import { toOrtTensor, type Feeds } from '../runtime/session.js';
import { Rng } from '../util/rng.js';

// ================================================================================================ description

export interface InputInfo {
  name: string;
  /** ONNX element type, undefined when not declared */
  elemType: number | undefined;
  /** dtype name ('float32', 'int64', ...; '?' when not declared) */
  dtype: string;
  /** declared shape (numbers, symbols, null for unknown); undefined when the rank is unknown */
  shape: Dim[] | undefined;
  /** the symbolic dimensions of this input, in order of first appearance */
  symbols: string[];
}

/** Graph inputs a caller must feed (inputs that are also initializers have defaults and are left out). */
export function modelInputs(model: Model): Value[] {
  return model.graph.inputs.filter((v) => !v.initializer);
}

/** Name, dtype and shape (with symbols) of each input the model needs. */
export function describeInputs(model: Model): InputInfo[] {
  return modelInputs(model).map((v) => {
    const shape = isTensorType(v.type) ? shapeOf(v.type) : undefined;
    const elemType = isTensorType(v.type) ? elemTypeOf(v.type) : undefined;
    const symbols: string[] = [];
    for (const d of shape ?? []) if (typeof d === 'string' && !symbols.includes(d)) symbols.push(d);
    return { name: v.name, elemType, dtype: elemType === undefined ? '?' : dtypeName(elemType), shape, symbols };
  });
}

/** Every symbolic dimension of the model's inputs, in order of first appearance. */
export function symbolicDims(model: Model): string[] {
  const out: string[] = [];
  for (const i of describeInputs(model)) for (const s of i.symbols) if (!out.includes(s)) out.push(s);
  return out;
}

/** One line per input: `input_ids: int64[batch, sequence]`. */
export function formatInputs(model: Model): string {
  return describeInputs(model)
    .map((i) => `${i.name}: ${i.dtype}${i.shape ? `[${i.shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '[?]'}`)
    .join('\n');
}

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
  if (!info) throw new UsageError(`the model has no input '${input}'; its inputs are: ${describeInputs(model).map((i) => i.name).join(', ') || '(none)'}`);
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
      if (typeof d === 'string') throw new UsageError(`no size given for dimension '${d}' (axis ${axis} of input '${info.name}'); ${known}; set it, e.g. --dim ${d}=8`);
      throw new UsageError(`axis ${axis} of input '${info.name}' has an unknown size and no name; give it as '${key}' (e.g. --dim '${key}=8'); ${known}`);
    }
    if (!Number.isInteger(given) || given < 0) throw new UsageError(`dimension '${key}' must be a non-negative integer, got ${given}`);
    return given;
  });
  const elements = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(elements) || elements > MAX_INPUT_ELEMENTS)
    throw new UsageError(`input '${info.name}' of shape [${shape.join(', ')}] has ${elements} elements, more than inputs can be synthesized for (${MAX_INPUT_ELEMENTS}); check the model's declared shape or the --dim sizes`);
  return shape;
}

/** 2^28 elements (1 GiB of float32): more is certainly a mistaken shape, not a benchmark input */
const MAX_INPUT_ELEMENTS = 2 ** 28;

/** `count` seeded input sets for the model. */
export function synthesizeInputs(model: Model, opts: SynthesizeOptions = {}): Feeds[] {
  const count = opts.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`input set count must be a positive integer, got ${count}`);
  const dims = opts.dims ?? {};
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

// ================================================================================================ loading

const INPUT_EXTS = ['.npy', '.pb', '.json'];

/**
 * Reads one input file: `.npy`, `.pb` (TensorProto) or `.json`. The tensor of a `.npy` file, and of a `.pb` file
 * whose tensor has no name, is named after the file. With `model`, tensors are matched to its inputs and converted
 * to their element types (see the module comment); without it, plain JSON arrays are refused (no dtype).
 */
export function loadInputsFile(file: string, model?: Model): Feeds {
  return tensorsToFeeds(readTensors(file, model), model, file);
}

/**
 * Input sets from a folder: one set per subfolder (sorted by name, numbers in order: test_data_set_0, _1, ... _10),
 * or, when it has no subfolders with input files, one set from the files in the folder itself. Files named
 * `output_*` are skipped (ONNX test data sets keep expected outputs beside the inputs). Every set must give every
 * input of the model.
 */
export function loadInputsDir(dir: string, model: Model): Feeds[] {
  const entries = listDir(dir);
  const subdirs = entries.filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  const withInputs = subdirs.filter((d) => inputFilesIn(d).length > 0);
  const topFiles = inputFilesIn(dir);
  if (withInputs.length && topFiles.length)
    throw new UsageError(`${dir}: has both input files (${topFiles.map((f) => path.basename(f)).join(', ')}) and subfolders with input files; use one folder per input set, or one folder of files`);
  const setDirs = withInputs.length ? withInputs.sort(naturalCompare) : [dir];
  return setDirs.map((d) => {
    const files = inputFilesIn(d);
    if (!files.length) throw new UsageError(`${d}: no input files (.npy, .pb or .json)`);
    const tensors: Tensor[] = [];
    for (const f of files) tensors.push(...readTensors(f, model));
    return completeSet(tensorsToFeeds(tensors, model, d), model, d);
  });
}

/**
 * Input sets from a path: a folder (see loadInputsDir), a JSON file holding an array of sets, or one file giving
 * every input.
 */
export function loadInputs(p: string, model: Model): Feeds[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new UsageError(`${p}: no such file or folder`);
  }
  if (st.isDirectory()) return loadInputsDir(p, model);
  if (path.extname(p).toLowerCase() === '.json') {
    const doc = readJson(p);
    if (Array.isArray(doc)) {
      if (!doc.length) throw new ModelFormatError(`${p}: the JSON array holds no input sets`);
      return doc.map((set, i) => completeSet(tensorsToFeeds(jsonTensors(set, model, `${p} [set ${i}]`), model, p), model, `${p} [set ${i}]`));
    }
    return [completeSet(tensorsToFeeds(jsonTensors(doc, model, p), model, p), model, p)];
  }
  return [completeSet(loadInputsFile(p, model), model, p)];
}

function listDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${dir}: no such folder` : code === 'ENOTDIR' ? `${dir}: is not a folder` : `${dir}: cannot read (${code})`);
  }
}

function inputFilesIn(dir: string): string[] {
  return listDir(dir)
    .filter((e) => e.isFile() && INPUT_EXTS.includes(path.extname(e.name).toLowerCase()) && !/^output_/i.test(e.name))
    .map((e) => path.join(dir, e.name))
    .sort(naturalCompare);
}

function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function readTensors(file: string, model: Model | undefined): Tensor[] {
  const ext = path.extname(file).toLowerCase();
  if (!INPUT_EXTS.includes(ext)) throw new UsageError(`${file}: unsupported input file type '${ext || '(none)'}'; use .npy, .pb (TensorProto) or .json`);
  if (ext === '.json') return jsonTensors(readJson(file), model, file);
  const bytes = readBytes(file);
  const stem = path.basename(file, path.extname(file));
  if (ext === '.npy') return [parseNpy(bytes, file, stem)];
  return [parseTensorProto(bytes, file, stem)];
}

function readBytes(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${code})`);
  }
}

function readJson(file: string): unknown {
  const text = Buffer.from(readBytes(file)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

// ------------------------------------------------------------------------------------------------ .npy

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const NPY_TYPES: Record<string, DataType> = {
  f2: DataType.FLOAT16,
  f4: DataType.FLOAT,
  f8: DataType.DOUBLE,
  i1: DataType.INT8,
  i2: DataType.INT16,
  i4: DataType.INT32,
  i8: DataType.INT64,
  u1: DataType.UINT8,
  u2: DataType.UINT16,
  u4: DataType.UINT32,
  u8: DataType.UINT64,
  b1: DataType.BOOL,
};

/** Parses a NumPy `.npy` file (format 1.0, 2.0 or 3.0, C order). */
export function parseNpy(bytes: Uint8Array, label = 'npy', name = ''): Tensor {
  const bad = (why: string) => new ModelFormatError(`${label}: not a usable .npy file (${why})`);
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) throw bad('missing the \\x93NUMPY magic');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad('truncated header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else throw bad(`format version ${major}.${bytes[7]} is not supported`);
  if (start + headerLen > bytes.length) throw bad('truncated header');
  const header = Buffer.from(bytes.subarray(start, start + headerLen)).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined) throw bad(/['"]descr['"]\s*:\s*\[/.test(header) ? 'structured dtypes are not supported' : 'no descr in the header');
  if (fortran === undefined || shapeText === undefined) throw bad('header lacks fortran_order or shape');
  const dims = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map((s) => {
      if (!/^\d+$/.test(s)) throw bad(`bad shape entry '${s}'`);
      return Number(s);
    });
  const order = descr[0];
  const key = /^[<>|=]/.test(descr) ? descr.slice(1) : descr;
  const dataType = NPY_TYPES[key === '?' ? 'b1' : key];
  if (dataType === undefined) throw bad(`dtype '${descr}' is not supported (float16/32/64, int8..64, uint8..64, bool)`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (fortran === 'True' && dims.filter((d) => d > 1).length > 1) throw bad('the array is in Fortran order; save it with np.ascontiguousarray(a)');
  const width = dtypeBits(dataType) / 8;
  const body = bytes.subarray(start + headerLen);
  if (body.length !== count * width) throw bad(`shape (${dims.join(', ')}) of ${descr} needs ${count * width} data bytes, the file has ${body.length}`);
  const data = new Uint8Array(body); // a copy: aligned, and independent of the file buffer
  if (order === '>' && width > 1) {
    for (let i = 0; i < data.length; i += width)
      for (let a = i, b = i + width - 1; a < b; a++, b--) {
        const tmp = data[a];
        data[a] = data[b];
        data[b] = tmp;
      }
  }
  return Tensor.fromRaw(dataType, dims, data, name);
}

/** A tensor as `.npy` bytes (format 1.0, little-endian, C order); for writing inputs and in tests. */
export function encodeNpy(t: Tensor): Uint8Array {
  const key = Object.entries(NPY_TYPES).find(([, v]) => v === t.dataType)?.[0];
  if (!key) throw new UsageError(`${dtypeName(t.dataType)} tensors have no .npy form here`);
  const descr = (key === 'i1' || key === 'u1' || key === 'b1' ? '|' : '<') + key;
  const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const data = t.rawBytes();
  const out = new Uint8Array(10 + header.length + data.length);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(data, 10 + header.length);
  return out;
}

// ------------------------------------------------------------------------------------------------ .pb

/** Parses a serialized ONNX TensorProto (as in ONNX test data sets). */
export function parseTensorProto(bytes: Uint8Array, label = 'pb', fallbackName = ''): Tensor {
  let msg;
  try {
    msg = decodeMessage('TensorProto', bytes);
  } catch (e) {
    if (e instanceof WireError) throw new ModelFormatError(`${label}: not a serialized ONNX TensorProto (${e.message})`);
    throw e;
  }
  const dt = msg.data_type as number | undefined;
  if (!dt || !isKnownDataType(dt)) throw new ModelFormatError(`${label}: not a serialized ONNX TensorProto (${dt ? `unknown data type ${dt}` : 'no data type'})`);
  let t: Tensor;
  try {
    t = tensorFromMsg(msg, {});
  } catch (e) {
    if (e instanceof ModelFormatError) throw new ModelFormatError(`${label}: ${e.message}`);
    throw e;
  }
  if (t.extra.$noData) throw new ModelFormatError(`${label}: the tensor has shape [${t.dims}] but holds no data`);
  if (!ortTypeName(t.dataType)) throw new ModelFormatError(`${label}: ${dtypeName(t.dataType)} tensors cannot be fed to onnxruntime-node`);
  if (t.dataType !== DataType.STRING) {
    try {
      t.rawBytes();
    } catch (e) {
      throw new ModelFormatError(`${label}: ${(e as Error).message}`);
    }
  }
  if (!t.name) t.name = fallbackName;
  return t;
}

// ------------------------------------------------------------------------------------------------ .json

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function jsonTensors(doc: unknown, model: Model | undefined, label: string): Tensor[] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new ModelFormatError(`${label}: expected a JSON object of inputs, e.g. {"input_ids": {"dims": [1, 8], "dtype": "int64", "data": [...]}}`);
  const infos = model ? describeInputs(model) : [];
  return Object.entries(doc as Record<string, Json>).map(([name, spec]) => {
    const where = `${label}: input '${name}'`;
    let dims: number[] | undefined;
    let dtype: number | undefined;
    let data: Json;
    if (spec !== null && typeof spec === 'object' && !Array.isArray(spec)) {
      const extra = Object.keys(spec).filter((k) => !['dims', 'shape', 'dtype', 'data'].includes(k));
      if (extra.length) throw new ModelFormatError(`${where}: unknown key(s) ${extra.join(', ')}; expected dims, dtype and data`);
      if (!('data' in spec)) throw new ModelFormatError(`${where}: has no "data"`);
      data = spec.data;
      const d = spec.dims ?? spec.shape;
      if (d !== undefined) {
        if (!Array.isArray(d) || !d.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) throw new ModelFormatError(`${where}: "dims" must be an array of non-negative integers`);
        dims = d as number[];
      }
      if (spec.dtype !== undefined) {
        if (typeof spec.dtype !== 'string' || dtypeFromName(spec.dtype) === undefined) throw new ModelFormatError(`${where}: unknown dtype ${JSON.stringify(spec.dtype)}`);
        dtype = dtypeFromName(spec.dtype);
      }
    } else data = spec;
    if (dtype === undefined) {
      const info = infos.find((i) => i.name === name);
      if (!model) throw new UsageError(`${where}: gives no dtype; write {"dims": [...], "dtype": "...", "data": [...]} or load it with the model`);
      if (!info) throw new UsageError(`${where}: the model has no such input; its inputs are: ${infos.map((i) => i.name).join(', ')}`);
      if (info.elemType === undefined) throw new UsageError(`${where}: gives no dtype and the model declares none`);
      dtype = info.elemType;
    }
    const nested = nestedShape(data, where);
    const flat: Json[] = [];
    const collect = (x: Json): void => {
      if (Array.isArray(x)) x.forEach(collect);
      else flat.push(x);
    };
    collect(data);
    if (dims === undefined) dims = nested;
    const count = dims.reduce((a, b) => a * b, 1);
    if (flat.length !== count) throw new ModelFormatError(`${where}: dims [${dims.join(', ')}] need ${count} values, "data" has ${flat.length}`);
    return jsonTensor(dtype, dims, flat, name, where);
  });
}

/** Shape of a rectangular nested array (a scalar has shape []). */
function nestedShape(data: Json, where: string): number[] {
  if (!Array.isArray(data)) return [];
  const shape: number[] = [];
  for (let cur: Json = data; Array.isArray(cur); cur = cur[0] as Json) {
    shape.push(cur.length);
    if (cur.length === 0) break;
  }
  const check = (x: Json, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(x)) throw new ModelFormatError(`${where}: "data" is not rectangular (too deep at depth ${depth})`);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) throw new ModelFormatError(`${where}: "data" is not rectangular (expected ${shape[depth]} entries at depth ${depth})`);
    for (const y of x) check(y, depth + 1);
  };
  check(data, 0);
  return shape;
}

function jsonTensor(dtype: number, dims: number[], flat: Json[], name: string, where: string): Tensor {
  const num = (x: Json, i: number): number => {
    if (typeof x === 'number') return x;
    if (typeof x === 'boolean') return x ? 1 : 0;
    if (typeof x === 'string' && ['nan', 'inf', '-inf', 'infinity', '-infinity'].includes(x.toLowerCase()) && isFloatType(dtype))
      return x.toLowerCase() === 'nan' ? NaN : x.startsWith('-') ? -Infinity : Infinity;
    if (typeof x === 'string' && /^-?\d+$/.test(x)) return Number(x);
    throw new ModelFormatError(`${where}: value ${i} (${JSON.stringify(x)}) is not a number`);
  };
  if (dtype === DataType.STRING) return Tensor.fromStrings(dims, flat.map((x) => String(x)), name);
  if (!ortTypeName(dtype) || dtypeBits(dtype) < 8) throw new ModelFormatError(`${where}: ${dtypeName(dtype)} inputs cannot be fed to onnxruntime-node`);
  if (isFloatType(dtype)) {
    const f = Float32Array.from(flat, num);
    if (dtype === DataType.FLOAT) return Tensor.fromArray(dtype, dims, f, name);
    if (dtype === DataType.DOUBLE) return Tensor.fromArray(dtype, dims, Float64Array.from(flat, num), name);
    return Tensor.fromArray(dtype, dims, float32ToFloat16(f), name);
  }
  if (dtype === DataType.INT64 || dtype === DataType.UINT64) {
    const big = flat.map((x, i) => {
      if (typeof x === 'string' && /^-?\d+$/.test(x)) return BigInt(x);
      const v = num(x, i);
      if (!Number.isInteger(v)) throw new ModelFormatError(`${where}: value ${i} (${v}) is not an integer`);
      return BigInt(v);
    });
    const arr = dtype === DataType.INT64 ? BigInt64Array.from(big) : BigUint64Array.from(big);
    for (let i = 0; i < big.length; i++) if (arr[i] !== big[i]) throw new ModelFormatError(`${where}: value ${i} (${big[i]}) is out of range for ${dtypeName(dtype)}`);
    return Tensor.fromArray(dtype, dims, arr, name);
  }
  const vals = flat.map((x, i) => {
    const v = num(x, i);
    if (!Number.isInteger(v)) throw new ModelFormatError(`${where}: value ${i} (${v}) is not an integer`);
    if (dtype === DataType.BOOL && v !== 0 && v !== 1) throw new ModelFormatError(`${where}: value ${i} (${v}) is not a boolean`);
    return v;
  });
  const t = Tensor.fromArray(dtype, dims, vals, name);
  const back = t.toNumbers();
  for (let i = 0; i < vals.length; i++) if (back[i] !== vals[i]) throw new ModelFormatError(`${where}: value ${i} (${vals[i]}) is out of range for ${dtypeName(dtype)}`);
  return t;
}

// ------------------------------------------------------------------------------------------------ matching to the model

function tensorsToFeeds(tensors: Tensor[], model: Model | undefined, label: string): Feeds {
  const feeds: Feeds = {};
  const infos = model ? describeInputs(model) : undefined;
  const symbols = new Map<string, { size: number; input: string }>();
  for (let t of tensors) {
    let name = t.name;
    if (infos) {
      let info = infos.find((i) => i.name === name);
      const m = /^input_(\d+)$/.exec(name);
      if (!info && m && Number(m[1]) < infos.length) info = infos[Number(m[1])];
      if (!info) throw new UsageError(`${label}: tensor '${name}' is not an input of the model; its inputs are: ${infos.map((i) => i.name).join(', ')}`);
      name = info.name;
      t = conform(t, info, label);
      info.shape?.forEach((d, axis) => {
        if (typeof d !== 'string') return;
        const prev = symbols.get(d);
        if (prev && prev.size !== t.dims[axis])
          throw new UsageError(`${label}: dimension '${d}' is ${prev.size} in '${prev.input}' but ${t.dims[axis]} in '${name}'`);
        symbols.set(d, { size: t.dims[axis], input: name });
      });
    }
    if (!name) throw new UsageError(`${label}: a tensor has no name`);
    if (name in feeds) throw new UsageError(`${label}: input '${name}' is given more than once`);
    feeds[name] = toOrtTensor(t);
  }
  return feeds;
}

function completeSet(feeds: Feeds, model: Model, label: string): Feeds {
  const missing = describeInputs(model).filter((i) => !(i.name in feeds));
  if (missing.length) throw new UsageError(`${label}: no data for input(s) ${missing.map((i) => `'${i.name}'`).join(', ')}; the model needs:\n${formatInputs(model)}`);
  return feeds;
}

/** Checks a user tensor against an input's declared type and converts it to the input's element type when exact. */
function conform(t: Tensor, info: InputInfo, label: string): Tensor {
  const where = `${label}: input '${info.name}'`;
  if (info.shape) {
    const want = info.shape;
    if (want.length !== t.rank) throw new UsageError(`${where} has shape [${t.dims.join(', ')}] but the model expects rank ${want.length} [${want.map((d) => d ?? '?').join(', ')}]`);
    want.forEach((d, i) => {
      if (typeof d === 'number' && d >= 0 && d !== t.dims[i]) throw new UsageError(`${where} has size ${t.dims[i]} on axis ${i} but the model expects ${d}`);
    });
  }
  const target = info.elemType;
  if (target === undefined || target === t.dataType) return withName(t, info.name);
  const fromName = dtypeName(t.dataType);
  const toName = dtypeName(target);
  const refuse = (why: string) => new UsageError(`${where} is ${fromName} but the model expects ${toName}, and ${why}`);
  if (t.dataType === DataType.STRING || target === DataType.STRING) throw refuse('strings do not convert');
  if (isFloatType(target)) {
    if (!isFloatType(t.dataType) && !isIntType(t.dataType)) throw refuse('it does not convert');
    const f =
      t.dataType === DataType.DOUBLE
        ? (t.data() as Float64Array)
        : t.dataType === DataType.INT64 || t.dataType === DataType.UINT64
          ? Float64Array.from(t.toNumbers())
          : Float64Array.from(t.toFloat32());
    if (target === DataType.DOUBLE) return Tensor.fromArray(target, t.dims, f, info.name);
    const f32 = Float32Array.from(f);
    if (target === DataType.FLOAT) return Tensor.fromArray(target, t.dims, f32, info.name);
    if (target === DataType.FLOAT16) return Tensor.fromArray(target, t.dims, float32ToFloat16(f32), info.name);
    throw refuse(`${toName} inputs cannot be fed to onnxruntime-node`);
  }
  // integer or bool target: every value must be an integer in range
  if (!ortTypeName(target) || dtypeBits(target) < 8) throw refuse(`${toName} inputs cannot be fed to onnxruntime-node`);
  let values: (number | bigint)[];
  if (t.dataType === DataType.INT64 || t.dataType === DataType.UINT64) values = [...(t.data() as BigInt64Array)];
  else if (isFloatType(t.dataType)) values = Array.from(t.dataType === DataType.DOUBLE ? (t.data() as Float64Array) : t.toFloat32());
  else values = t.toNumbers();
  const bad = values.findIndex((v) => typeof v === 'number' && !Number.isInteger(v));
  if (bad >= 0) throw refuse(`value ${bad} (${values[bad]}) is not an integer`);
  let out: Tensor;
  if (target === DataType.INT64 || target === DataType.UINT64) {
    const big = values.map((v) => BigInt(v));
    const arr = target === DataType.INT64 ? BigInt64Array.from(big) : BigUint64Array.from(big);
    const wrong = big.findIndex((v, i) => arr[i] !== v);
    if (wrong >= 0) throw refuse(`value ${wrong} (${big[wrong]}) is out of range`);
    out = Tensor.fromArray(target, t.dims, arr, info.name);
  } else {
    const nums = values.map((v) => Number(v));
    if (target === DataType.BOOL) {
      const wrong = nums.findIndex((v) => v !== 0 && v !== 1);
      if (wrong >= 0) throw refuse(`value ${wrong} (${nums[wrong]}) is not 0 or 1`);
    }
    out = Tensor.fromArray(target, t.dims, nums, info.name);
    const back = out.toNumbers();
    const wrong = nums.findIndex((v, i) => back[i] !== v);
    if (wrong >= 0) throw refuse(`value ${wrong} (${nums[wrong]}) is out of range`);
  }
  return out;
}

function isIntType(t: number): boolean {
  return [DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64, DataType.BOOL].includes(t);
}

function withName(t: Tensor, name: string): Tensor {
  if (t.name === name) return t;
  const c = t.clone(name);
  return c;
}

/** For callers holding an ort tensor map: the dims of each feed (for reports). */
export function feedShapes(feeds: Feeds): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(feeds)) out[k] = v.dims.map(Number);
  return out;
}

export type { Feeds };
