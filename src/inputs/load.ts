/**
 * User inputs: `.npy` (C order; float16/32/64, int8/16/32/64, uint8/16/32/64, bool; either byte order), ONNX
 * `TensorProto` `.pb` files (as in ONNX test data sets; `input_<i>.pb` maps to the i-th input when the tensor has no
 * name of the model), and `.json` (`{"x": {"dims": [1, 8], "dtype": "int64", "data": [...]}}` or `{"x": [[...]]}`
 * with the dtype taken from the model). With a model, each tensor is checked against its input (name, rank, fixed
 * and shared symbolic dimensions) and converted to the input's element type when that loses nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError, UsageError } from '../errors.js';
import { DataType, dtypeBits, dtypeName, isFloatType, isIntegerType, ortTypeName } from '../ir/dtype.js';
import { float32ToFloat16 } from '../ir/float-codecs.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { toOrtTensor, type Feeds } from '../runtime/session.js';
import { describeInputs, formatInputs, type InputInfo } from './describe.js';
import { type DimLimit, dimLimits, showLimit } from './dims.js';
import { parseNpy, parseTensorProto, jsonTensors } from './tensor-files.js';

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
    throw new UsageError(
      `${dir}: has both input files (${topFiles.map((f) => path.basename(f)).join(', ')}) and subfolders with input files; use one folder per input set, or one folder of files`,
    );
  const setDirs = withInputs.length ? withInputs.sort(naturalCompare) : [dir];
  const limits = dimLimits(model);
  return setDirs.map((d) => {
    const files = inputFilesIn(d);
    if (!files.length) throw new UsageError(`${d}: no input files (.npy, .pb or .json)`);
    const tensors: Tensor[] = [];
    for (const f of files) tensors.push(...readTensors(f, model));
    return completeSet(tensorsToFeeds(tensors, model, d), model, d, limits);
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
  const limits = dimLimits(model);
  if (path.extname(p).toLowerCase() === '.json') {
    const doc = readJson(p);
    if (Array.isArray(doc)) {
      if (!doc.length) throw new ModelFormatError(`${p}: the JSON array holds no input sets`);
      return doc.map((set, i) => completeSet(tensorsToFeeds(jsonTensors(set, model, `${p} [set ${i}]`), model, p), model, `${p} [set ${i}]`, limits));
    }
    return [completeSet(tensorsToFeeds(jsonTensors(doc, model, p), model, p), model, p, limits)];
  }
  return [completeSet(loadInputsFile(p, model), model, p, limits)];
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

/** Every input given, and no size beyond what the model's position tables allow (dimLimits), found before running. */
function completeSet(feeds: Feeds, model: Model, label: string, limits: DimLimit[]): Feeds {
  const infos = describeInputs(model);
  const missing = infos.filter((i) => !(i.name in feeds));
  if (missing.length)
    throw new UsageError(`${label}: no data for input(s) ${missing.map((i) => `'${i.name}'`).join(', ')}; the model needs:\n${formatInputs(model)}`);
  if (!limits.length) return feeds;
  // the size each symbolic dimension has in this set, and the input (and axis) it was read from
  const sizes = new Map<string, { size: number; input: string; axis: number }>();
  for (const i of infos)
    i.shape?.forEach((d, axis) => {
      if (typeof d === 'string' && !sizes.has(d)) sizes.set(d, { size: feeds[i.name]!.dims[axis]!, input: i.name, axis });
    });
  for (const l of limits) {
    const names = Object.keys(l.terms);
    if (!names.every((k) => sizes.has(k))) continue;
    const value = names.reduce((s, k) => s + l.terms[k]! * sizes.get(k)!.size, l.c);
    if (value <= l.max) continue;
    const given = names.map((k) => {
      const at = sizes.get(k)!;
      return `input '${at.input}' has ${k}=${at.size} (axis ${at.axis})`;
    });
    const bound = names.length === 1 && l.terms[names[0]!] === 1 ? `${names[0]} <= ${l.max - l.c}` : `${showLimit(l)} <= ${l.max}`;
    throw new UsageError(`${label}: ${given.join(', ')}, beyond what the model allows: ${l.what}, so ${bound}`);
  }
  return feeds;
}

/** Checks a user tensor against an input's declared type and converts it to the input's element type when exact. */
function conform(t: Tensor, info: InputInfo, label: string): Tensor {
  const where = `${label}: input '${info.name}'`;
  if (info.shape) {
    const want = info.shape;
    if (want.length !== t.rank)
      throw new UsageError(`${where} has shape [${t.dims.join(', ')}] but the model expects rank ${want.length} [${want.map((d) => d ?? '?').join(', ')}]`);
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
    if (!isFloatType(t.dataType) && !(t.dataType === DataType.BOOL || isIntegerType(t.dataType))) throw refuse('it does not convert');
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

function withName(t: Tensor, name: string): Tensor {
  if (t.name === name) return t;
  const c = t.clone(name);
  return c;
}
