/**
 * Tensor: an ONNX TensorProto's data and metadata.
 *
 * Data stays where it was found until something changes it: a view on the model file's bytes (raw_data), the
 * decoded typed field (float_data, int64_data, ...), or a reference to an external-data file that is read only when
 * the bytes are asked for. Writing back an untouched tensor reproduces the field it came from.
 */
import * as fs from 'node:fs';
import { DataType, dtypeBits, dtypeField, dtypeName, isKnownDataType, rawByteLength, type TypedFieldName } from './dtype.js';
import { bfloat16ToFloat32, float16ToFloat32, float8ToFloat32, float4e2m1ToFloat32, unpack4bit } from './float-codecs.js';
import type { OpaqueFields } from './fields.js';
import { ExternalDataError, openDataFile } from '../bytes/external-files.js';
import { copyBytes, FileRange, LazyBytes, sameBytes, type Bytes } from '../bytes/sources.js';

export interface ExternalRef {
  /** path relative to the model's folder, as written in the file */
  location: string;
  offset: number;
  length: number;
  /** absolute folder the location is resolved against */
  baseDir: string;
  /** resolved absolute path, already checked to stay inside baseDir */
  path: string;
  /** every external_data entry as found (checksum and keys this tool does not use are kept) */
  entries: { key: string; value: string }[];
}

type Source =
  | { kind: 'raw'; bytes: Uint8Array }
  | { kind: 'lazy'; bytes: LazyBytes; cached?: Uint8Array }
  | { kind: 'field'; field: TypedFieldName; values: ArrayLike<number | bigint> & { length: number } }
  | { kind: 'strings'; values: Uint8Array[] }
  | { kind: 'external'; ref: ExternalRef; cached?: Uint8Array };

export type TensorArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export class TensorError extends Error {}

export class Tensor {
  name: string;
  dataType: number;
  dims: number[];
  docString?: string;
  /** TensorProto fields this class does not model (segment, metadata_props, unknown fields) */
  extra: OpaqueFields;
  private source: Source;

  constructor(init: { name?: string; dataType: number; dims: readonly number[]; source: Source; docString?: string; extra?: OpaqueFields }) {
    this.name = init.name ?? '';
    this.dataType = init.dataType;
    this.dims = [...init.dims];
    this.source = init.source;
    this.docString = init.docString;
    this.extra = init.extra ?? {};
  }

  // ---------------------------------------------------------------------------------- construction helpers

  static fromRaw(dataType: number, dims: readonly number[], bytes: Uint8Array | LazyBytes, name = ''): Tensor {
    return new Tensor({ name, dataType, dims, source: bytes instanceof LazyBytes ? { kind: 'lazy', bytes } : { kind: 'raw', bytes } });
  }
  static fromField(
    dataType: number,
    dims: readonly number[],
    field: TypedFieldName,
    values: ArrayLike<number | bigint> & { length: number },
    name = '',
  ): Tensor {
    return new Tensor({ name, dataType, dims, source: { kind: 'field', field, values } });
  }
  static fromStrings(dims: readonly number[], values: (string | Uint8Array)[], name = ''): Tensor {
    const enc = new TextEncoder();
    return new Tensor({
      name,
      dataType: DataType.STRING,
      dims,
      source: { kind: 'strings', values: values.map((v) => (typeof v === 'string' ? enc.encode(v) : v)) },
    });
  }
  static fromExternal(dataType: number, dims: readonly number[], ref: ExternalRef, name = ''): Tensor {
    return new Tensor({ name, dataType, dims, source: { kind: 'external', ref } });
  }
  /** From a typed array in the element type's natural JS representation (see `data()`). */
  static fromArray(dataType: number, dims: readonly number[], data: TensorArray | readonly number[], name = ''): Tensor {
    const count = dims.reduce((a, b) => a * b, 1);
    let arr: TensorArray;
    if (Array.isArray(data) || !ArrayBuffer.isView(data)) arr = typedArrayFor(dataType, data as readonly number[]);
    else arr = data as TensorArray;
    const bits = dtypeBits(dataType);
    if (bits >= 8 && arr.length !== count) throw new TensorError(`tensor ${name || '(unnamed)'}: ${arr.length} values for shape [${dims}]`);
    const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    return Tensor.fromRaw(dataType, dims, bytes, name);
  }
  static scalar(dataType: number, value: number | bigint, name = ''): Tensor {
    return Tensor.fromArray(dataType, [], typedArrayFor(dataType, [value as number]), name);
  }

  // ---------------------------------------------------------------------------------- shape and storage facts

  get size(): number {
    let n = 1;
    for (const d of this.dims) n *= d;
    return n;
  }
  get rank(): number {
    return this.dims.length;
  }
  /** Bytes the data occupies in raw form (0 for strings, which have none). */
  get byteLength(): number {
    if (this.dataType === DataType.STRING) return 0;
    return rawByteLength(this.dataType, this.size);
  }
  get isExternal(): boolean {
    return this.source.kind === 'external';
  }
  get external(): ExternalRef | undefined {
    return this.source.kind === 'external' ? this.source.ref : undefined;
  }
  /** How the data is held now: raw bytes (in memory, or still in the model file: 'lazy'), a typed field, strings, or external. */
  get storage(): Source['kind'] {
    return this.source.kind;
  }
  /** Whether the bytes are in memory (false while they are still only in the model file or an external file). */
  get isLoaded(): boolean {
    const s = this.source;
    return s.kind === 'lazy' || s.kind === 'external' ? s.cached !== undefined : true;
  }
  /** The typed field and its values, when the data came from one and has not changed. */
  get fieldValues(): { field: TypedFieldName; values: ArrayLike<number | bigint> } | undefined {
    return this.source.kind === 'field' ? { field: this.source.field, values: this.source.values } : undefined;
  }
  get strings(): Uint8Array[] {
    if (this.source.kind !== 'strings') throw new TensorError(`tensor ${this.name} is not a string tensor`);
    return this.source.values;
  }

  // ---------------------------------------------------------------------------------- data access

  /**
   * The data as little-endian bytes in raw_data layout. A view (no copy) for raw and external-cached data; external
   * data is read from its file on first access and kept.
   */
  rawBytes(): Uint8Array {
    const s = this.source;
    switch (s.kind) {
      case 'raw':
        return s.bytes;
      case 'lazy':
        if (!s.cached) s.cached = s.bytes.read();
        return s.cached;
      case 'external':
        if (!s.cached) s.cached = this.readExternal();
        return s.cached;
      case 'field':
        return fieldToRaw(this.dataType, s.field, s.values, this.size);
      case 'strings':
        throw new TensorError(`tensor ${this.name}: string tensors have no raw bytes`);
    }
  }
  /** Reads external data without keeping it (used when saving, so a large model is not held twice). */
  readRawUncached(): Uint8Array {
    if (this.source.kind === 'external') return this.source.cached ?? this.readExternal();
    if (this.source.kind === 'lazy') return this.source.cached ?? this.source.bytes.read();
    return this.rawBytes();
  }
  /**
   * The bytes as a LazyBytes while they are still only in a file (a range of the model file, derived bytes such as a
   * pending conversion, or a range of an external-data file, which stays readable even if that file is later
   * replaced); undefined once they are in memory (and for external data past MAX_OPEN_EXTERNAL_FILES open files).
   */
  lazyBytes(): LazyBytes | undefined {
    const s = this.source;
    if (s.kind === 'lazy') return s.cached ? undefined : s.bytes;
    if (s.kind === 'external' && !s.cached) {
      const length = this.checkExternalLength(s.ref);
      const file = dataFileOf(s.ref, length, this.name);
      return file && new FileRange(file, s.ref.offset, length);
    }
    return undefined;
  }
  /** The raw bytes for writing: data still in a file is passed on unread (lazyBytes), to be streamed by the writer. */
  rawForWrite(): Bytes {
    return this.lazyBytes() ?? this.readRawUncached();
  }
  private checkExternalLength(ref: ExternalRef): number {
    const expected = this.byteLength;
    const length = ref.length || expected;
    if (length !== expected) {
      throw new TensorError(
        `tensor ${this.name}: external data length ${length} does not match its shape [${this.dims}] of ${dtypeName(this.dataType)} (${expected} bytes)`,
      );
    }
    return length;
  }
  private readExternal(): Uint8Array {
    const ref = (this.source as { ref: ExternalRef }).ref;
    const length = this.checkExternalLength(ref);
    const out = new Uint8Array(length);
    let fd: number;
    try {
      fd = fs.openSync(ref.path, 'r');
    } catch (e) {
      throw new TensorError(`tensor ${this.name}: cannot open external data file ${ref.location}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    try {
      let done = 0;
      while (done < length) {
        const n = fs.readSync(fd, out, done, length - done, ref.offset + done);
        if (n === 0) throw new TensorError(`tensor ${this.name}: external data file ${ref.location} ends before offset ${ref.offset} + ${length}`);
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    return out;
  }

  /**
   * The data as a typed array of its natural JS type: Float32Array (float), Float64Array (double), Uint16Array
   * (float16 and bfloat16 bits), Int8/Uint8/Int16/Uint16/Int32/Uint32 arrays, BigInt64Array/BigUint64Array, Uint8Array
   * (bool, float8 bits, and packed 4-bit / 2-bit types). A view when the bytes are aligned, a copy otherwise.
   */
  data(): TensorArray {
    return viewAs(this.dataType, this.rawBytes());
  }

  /** Values converted to float32 (floats decoded, integers converted); for statistics and numeric checks. */
  toFloat32(): Float32Array {
    const t = this.dataType;
    const d = this.data();
    switch (t) {
      case DataType.FLOAT:
        return d as Float32Array;
      case DataType.FLOAT16:
        return float16ToFloat32(d as Uint16Array);
      case DataType.BFLOAT16:
        return bfloat16ToFloat32(d as Uint16Array);
      case DataType.FLOAT8E4M3FN:
        return float8ToFloat32(d as Uint8Array, 'e4m3fn');
      case DataType.FLOAT8E4M3FNUZ:
        return float8ToFloat32(d as Uint8Array, 'e4m3fnuz');
      case DataType.FLOAT8E5M2:
        return float8ToFloat32(d as Uint8Array, 'e5m2');
      case DataType.FLOAT8E5M2FNUZ:
        return float8ToFloat32(d as Uint8Array, 'e5m2fnuz');
      case DataType.FLOAT8E8M0:
        return float8ToFloat32(d as Uint8Array, 'e8m0');
      case DataType.FLOAT4E2M1:
        return float4e2m1ToFloat32(unpack4bit(d as Uint8Array, this.size, false) as Uint8Array);
      case DataType.INT4:
      case DataType.UINT4:
        return Float32Array.from(unpack4bit(d as Uint8Array, this.size, t === DataType.INT4));
      case DataType.STRING:
      case DataType.COMPLEX64:
      case DataType.COMPLEX128:
      case DataType.UINT2:
      case DataType.INT2:
        throw new TensorError(`tensor ${this.name}: ${dtypeName(t)} has no float32 form`);
      default: {
        const out = new Float32Array(d.length);
        for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
        return out;
      }
    }
  }

  /** Integer values as JS numbers (for shape constants, axes, indices). */
  toNumbers(): number[] {
    const d = this.data();
    const out: number[] = new Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
    return out;
  }

  /** Number of elements that are not zero (-0 counts as zero; NaN counts as non-zero). */
  countNonZero(): number {
    if (this.dataType === DataType.STRING) return this.size;
    const t = this.dataType;
    if (dtypeBits(t) < 8) {
      const vals = this.toFloat32OrInts();
      let n = 0;
      for (let i = 0; i < vals.length; i++) if (vals[i] !== 0) n++;
      return n;
    }
    // data still in a file (or derived: a pending conversion) is counted a piece at a time, not loaded and kept; raw
    // bytes at an offset their element type cannot be viewed at go through a small aligned buffer, not a whole copy
    const lazy = this.lazyBytes();
    if (!lazy && this.source.kind === 'field') return nonZeroIn(this.data(), t);
    const bytes = lazy ? undefined : this.rawBytes();
    if (bytes && bytes.byteOffset % (dtypeBits(t) / 8) === 0) return nonZeroIn(viewAs(t, bytes), t);
    let n = 0;
    const count = (piece: Uint8Array) => (n += nonZeroIn(viewAs(t, piece), t));
    const buffer = new Uint8Array(Math.min(this.byteLength, 1 << 20));
    if (lazy) lazy.forEachPiece(count, buffer);
    else
      for (let at = 0; at < bytes!.length; at += buffer.length) {
        const k = Math.min(buffer.length, bytes!.length - at);
        buffer.set(bytes!.subarray(at, at + k));
        count(buffer.subarray(0, k));
      }
    return n;
  }
  private toFloat32OrInts(): ArrayLike<number> {
    if (this.dataType === DataType.INT4 || this.dataType === DataType.UINT4 || this.dataType === DataType.FLOAT4E2M1)
      return unpack4bit(this.data() as Uint8Array, this.size, this.dataType === DataType.INT4);
    const bytes = this.rawBytes();
    const out = new Uint8Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = (bytes[i >> 2] >> ((i & 3) * 2)) & 3;
    return out;
  }

  // ---------------------------------------------------------------------------------- mutation

  /** Replaces the data (and optionally type and shape); the tensor is written as raw_data from now on. */
  setData(data: TensorArray | Uint8Array, dataType = this.dataType, dims: readonly number[] = this.dims): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const count = dims.reduce((a, b) => a * b, 1);
    if (dataType !== DataType.STRING && bytes.length !== rawByteLength(dataType, count))
      throw new TensorError(`tensor ${this.name}: ${bytes.length} bytes for [${dims}] of ${dtypeName(dataType)}`);
    this.dataType = dataType;
    this.dims = [...dims];
    this.source = { kind: 'raw', bytes };
  }
  /**
   * Replaces the data with bytes produced when first needed (a conversion of a weight still in the model file): read
   * and kept on first access, streamed without being kept when saving.
   */
  setLazy(bytes: LazyBytes, dataType = this.dataType): void {
    if (bytes.length !== rawByteLength(dataType, this.size))
      throw new TensorError(`tensor ${this.name}: ${bytes.length} bytes for [${this.dims}] of ${dtypeName(dataType)}`);
    this.dataType = dataType;
    this.source = { kind: 'lazy', bytes };
  }
  /** Points an external tensor at a new file location (after saving external data). */
  setExternal(ref: ExternalRef): void {
    this.source = { kind: 'external', ref };
  }
  /** Makes the data in-memory raw bytes (reading external data), so the tensor no longer depends on a file. */
  internalize(): void {
    if (this.source.kind === 'external') this.source = { kind: 'raw', bytes: this.rawBytes() };
  }

  clone(name = this.name): Tensor {
    const s = this.source;
    const source: Source =
      s.kind === 'raw'
        ? { kind: 'raw', bytes: s.bytes }
        : s.kind === 'lazy'
          ? { kind: 'lazy', bytes: s.bytes, cached: s.cached }
          : s.kind === 'field'
            ? { kind: 'field', field: s.field, values: s.values }
            : s.kind === 'strings'
              ? { kind: 'strings', values: [...s.values] }
              : { kind: 'external', ref: s.ref, cached: s.cached };
    return new Tensor({ name, dataType: this.dataType, dims: this.dims, source, docString: this.docString, extra: { ...this.extra } });
  }

  /** Byte-level equality of type, shape and data (used to merge duplicate initializers); data still in a file is
   * compared a chunk at a time, without being loaded. */
  sameDataAs(other: Tensor): boolean {
    if (this.dataType !== other.dataType || this.dims.length !== other.dims.length) return false;
    for (let i = 0; i < this.dims.length; i++) if (this.dims[i] !== other.dims[i]) return false;
    if (this.dataType === DataType.STRING) {
      const a = this.strings;
      const b = other.strings;
      return a.length === b.length && a.every((x, i) => Buffer.compare(x, b[i]) === 0);
    }
    const a = this.lazyBytes();
    const b = other.lazyBytes();
    if (!a && !b) return Buffer.compare(this.rawBytes(), other.rawBytes()) === 0;
    return sameBytes(a ?? this.rawBytes(), b ?? other.rawBytes());
  }

  toString(): string {
    return `Tensor(${this.name || '?'}: ${dtypeName(this.dataType)}[${this.dims.join(',')}])`;
  }
}

function typedArrayFor(t: number, values: readonly (number | bigint)[]): TensorArray {
  switch (t) {
    case DataType.FLOAT:
      return Float32Array.from(values as number[]);
    case DataType.DOUBLE:
      return Float64Array.from(values as number[]);
    case DataType.INT8:
      return Int8Array.from(values as number[]);
    case DataType.UINT8:
    case DataType.BOOL:
      return Uint8Array.from(values as number[], (v) => Number(v));
    case DataType.INT16:
      return Int16Array.from(values as number[]);
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return Uint16Array.from(values as number[]);
    case DataType.INT32:
      return Int32Array.from(values as number[]);
    case DataType.UINT32:
      return Uint32Array.from(values as number[]);
    case DataType.INT64:
      return BigInt64Array.from(values, (v) => BigInt(v));
    case DataType.UINT64:
      return BigUint64Array.from(values, (v) => BigInt(v));
    default:
      throw new TensorError(`cannot build a ${dtypeName(t)} tensor from a JS array`);
  }
}

/** A typed view on raw bytes (copied when the offset is not aligned to the element size). */
export function viewAs(t: number, bytes: Uint8Array): TensorArray {
  const make = (Ctor: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TensorArray, width: number): TensorArray => {
    if (bytes.length % width !== 0) throw new TensorError(`${bytes.length} bytes is not a whole number of ${dtypeName(t)} elements`);
    const src = bytes.byteOffset % width === 0 ? bytes : copyBytes(bytes);
    return new Ctor(src.buffer, src.byteOffset, src.length / width);
  };
  switch (t) {
    case DataType.FLOAT:
    case DataType.COMPLEX64:
      return make(Float32Array, 4);
    case DataType.DOUBLE:
    case DataType.COMPLEX128:
      return make(Float64Array, 8);
    case DataType.INT8:
      return make(Int8Array, 1);
    case DataType.INT16:
      return make(Int16Array, 2);
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return make(Uint16Array, 2);
    case DataType.INT32:
      return make(Int32Array, 4);
    case DataType.UINT32:
      return make(Uint32Array, 4);
    case DataType.INT64:
      return make(BigInt64Array, 8);
    case DataType.UINT64:
      return make(BigUint64Array, 8);
    default:
      if (!isKnownDataType(t) || t === DataType.STRING) throw new TensorError(`no raw view for ${dtypeName(t)}`);
      return bytes; // uint8, bool, float8 family, packed 4-bit and 2-bit
  }
}

/** Converts a typed-field payload (float_data, int32_data, ...) to raw_data layout. */
function fieldToRaw(t: number, field: TypedFieldName, values: ArrayLike<number | bigint>, count: number): Uint8Array {
  const bits = dtypeBits(t);
  if (field === 'float_data' || field === 'double_data') {
    const v = values as Float32Array | Float64Array;
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  if (field === 'int64_data') {
    const v = values as BigInt64Array;
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  if (field === 'uint64_data') {
    const v = values as BigUint64Array;
    if (t === DataType.UINT64) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    const out = new Uint32Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = Number(v[i]);
    return new Uint8Array(out.buffer);
  }
  // int32_data: one element per entry, or packed bytes for sub-byte types
  const v = values as Int32Array;
  if (bits < 8) {
    const out = new Uint8Array(rawByteLength(t, count));
    for (let i = 0; i < out.length && i < v.length; i++) out[i] = v[i] & 0xff;
    return out;
  }
  const arr = viewAs(t, new Uint8Array(rawByteLength(t, v.length)));
  for (let i = 0; i < v.length; i++) (arr as Int32Array)[i] = v[i];
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

export { dtypeField };

/** Non-zero elements of a typed array of the element type's natural representation (float16/bfloat16: -0 is zero). */
function nonZeroIn(d: TensorArray, t: number): number {
  let n = 0;
  if (t === DataType.FLOAT16 || t === DataType.BFLOAT16) {
    const u = d as Uint16Array;
    for (let i = 0; i < u.length; i++) if ((u[i]! & 0x7fff) !== 0) n++;
  } else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < d.length; i++) if (d[i] !== 0n) n++;
  } else {
    const a = d as Float32Array;
    for (let i = 0; i < a.length; i++) if (a[i] !== 0) n++;
  }
  return n;
}

/** The shared open source of a tensor's external-data file, or undefined past the open-file limit. */
function dataFileOf(ref: ExternalRef, length: number, tensorName: string): ReturnType<typeof openDataFile> {
  try {
    return openDataFile(ref.path, ref.location, ref.offset, length);
  } catch (e) {
    if (e instanceof ExternalDataError) throw new TensorError(`tensor ${tensorName}: ${e.message}`);
    throw e;
  }
}
