import { ModelFormatError, UsageError } from '../errors.js';
import { DataType, dtypeBits, dtypeFromName, dtypeName, isFloatType, isKnownDataType, ortTypeName } from '../ir/dtype.js';
import { float32ToFloat16 } from '../ir/float-codecs.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { decodeMessage, type Msg } from '../onnx/schema.js';
import { tensorFromMsg } from '../onnx/serde.js';
import { WireError } from '../onnx/wire.js';
import { describeInputs } from './describe.js';

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
  let msg: Msg;
  try {
    msg = decodeMessage('TensorProto', bytes);
  } catch (e) {
    if (e instanceof WireError) throw new ModelFormatError(`${label}: not a serialized ONNX TensorProto (${e.message})`);
    throw e;
  }
  const dt = msg.data_type as number | undefined;
  if (!dt || !isKnownDataType(dt))
    throw new ModelFormatError(`${label}: not a serialized ONNX TensorProto (${dt ? `unknown data type ${dt}` : 'no data type'})`);
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

export function jsonTensors(doc: unknown, model: Model | undefined, label: string): Tensor[] {
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
        if (!Array.isArray(d) || !d.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0))
          throw new ModelFormatError(`${where}: "dims" must be an array of non-negative integers`);
        dims = d as number[];
      }
      if (spec.dtype !== undefined) {
        if (typeof spec.dtype !== 'string' || dtypeFromName(spec.dtype) === undefined)
          throw new ModelFormatError(`${where}: unknown dtype ${JSON.stringify(spec.dtype)}`);
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
    if (!Array.isArray(x) || x.length !== shape[depth])
      throw new ModelFormatError(`${where}: "data" is not rectangular (expected ${shape[depth]} entries at depth ${depth})`);
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
  if (dtype === DataType.STRING)
    return Tensor.fromStrings(
      dims,
      flat.map((x) => String(x)),
      name,
    );
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
    for (let i = 0; i < big.length; i++)
      if (arr[i] !== big[i]) throw new ModelFormatError(`${where}: value ${i} (${big[i]}) is out of range for ${dtypeName(dtype)}`);
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
  for (let i = 0; i < vals.length; i++)
    if (back[i] !== vals[i]) throw new ModelFormatError(`${where}: value ${i} (${vals[i]}) is out of range for ${dtypeName(dtype)}`);
  return t;
}
