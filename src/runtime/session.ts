/**
 * onnxruntime-node glue: sessions from an IR Model, bytes or a path; running them; converting tensors between the
 * IR and onnxruntime. Used by the bench, the tests, `quantize --mixed` and `prune`.
 *
 * Errors raised by onnxruntime become OperationError with the runtime's message on one line.
 *
 * External data: a Model is normally encoded with every tensor inline (encodeModel reads external tensors from their
 * files), which is always faithful to the in-memory model, edits included. A model whose inline encoding would pass
 * protobuf's 2 GB limit cannot go that way: when its structure (external tensors as references) still encodes to
 * exactly the bytes of the file it was loaded from, the runtime is given that path; otherwise a temporary model file
 * that references the same external data is written beside it, used, and removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OperationError, UsageError } from '../errors.js';
import { DataType, dtypeName, ortTypeName } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import { Tensor, type TensorArray } from '../ir/tensor.js';
import { encodeModel } from '../onnx/encode.js';
import { forEachTensor, PROTOBUF_LIMIT } from '../onnx/io.js';
import { encodeMessageToBytes } from '../onnx/schema.js';
import { modelToMsg } from '../onnx/serde.js';

export interface SessionOptions {
  /** graph optimisation level of the runtime (default 'all', onnxruntime's own default) */
  optimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpThreads?: number;
  interOpThreads?: number;
  /** execution providers in order of preference (default ['cpu']) */
  executionProviders?: string[];
  /** where the runtime writes the model after its own optimisations */
  optimizedModelFilePath?: string;
  enableProfiling?: boolean;
  profileFilePrefix?: string;
  /** the runtime's own log output on stderr (default 'fatal': its errors reach the caller as exceptions, never as log lines beside autoglm's message) */
  logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
}

/** Inputs of one run, by input name. */
export type Feeds = Record<string, ort.Tensor>;

/** Collapses the runtime's (often multi-line) message to one line. */
export function ortMessage(e: unknown): string {
  const raw = e instanceof Error ? e.message : String(e);
  return raw
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const LOG_LEVELS = { verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 } as const;

function toOrtOptions(opts: SessionOptions): ort.InferenceSession.SessionOptions {
  const o: ort.InferenceSession.SessionOptions = {
    executionProviders: opts.executionProviders ?? ['cpu'],
    logSeverityLevel: LOG_LEVELS[opts.logLevel ?? 'fatal'],
  };
  if (opts.optimizationLevel !== undefined) o.graphOptimizationLevel = opts.optimizationLevel;
  if (opts.intraOpThreads !== undefined) o.intraOpNumThreads = checkThreads('intraOpThreads', opts.intraOpThreads);
  if (opts.interOpThreads !== undefined) {
    o.interOpNumThreads = checkThreads('interOpThreads', opts.interOpThreads);
    if (opts.interOpThreads > 1) o.executionMode = 'parallel';
  }
  if (opts.optimizedModelFilePath !== undefined) o.optimizedModelFilePath = opts.optimizedModelFilePath;
  if (opts.enableProfiling !== undefined) o.enableProfiling = opts.enableProfiling;
  if (opts.profileFilePrefix !== undefined) o.profileFilePrefix = opts.profileFilePrefix;
  return o;
}

function checkThreads(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${what} must be a non-negative integer (0 = the runtime's choice), got ${n}`);
  return n;
}

/**
 * Creates an onnxruntime session. `model` is an IR Model (encoded in memory), ONNX bytes, or a file path (the runtime
 * reads it and resolves external data beside it).
 */
export async function createSession(model: Model | Uint8Array | string, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const options = toOrtOptions(opts);
  if (typeof model === 'string') return create(model, options, model);
  if (model instanceof Uint8Array) return create(model, options, 'model bytes');
  const label = model.source?.path ?? (model.graph.name || 'model');
  if (!hasExternalTensors(model) || inlineSize(model) <= sessionInternals.inlineLimit) {
    let bytes: Uint8Array;
    try {
      bytes = encodeModel(model);
    } catch (e) {
      throw new OperationError(`cannot encode ${label} for onnxruntime: ${ortMessage(e)}`, { cause: e });
    }
    return create(bytes, options, label);
  }
  return createFromExternal(model, options, label);
}

async function create(what: string | Uint8Array, options: ort.InferenceSession.SessionOptions, label: string): Promise<ort.InferenceSession> {
  try {
    return typeof what === 'string' ? await ort.InferenceSession.create(what, options) : await ort.InferenceSession.create(what, options);
  } catch (e) {
    throw new OperationError(`onnxruntime could not load ${label}: ${ortMessage(e)}`, { cause: e });
  }
}

function hasExternalTensors(model: Model): boolean {
  let ext = false;
  forEachTensor(model, (t) => {
    if (t.isExternal) ext = true;
  });
  return ext;
}

function inlineSize(model: Model): number {
  let n = 0;
  forEachTensor(model, (t) => {
    n += t.byteLength;
  });
  return n;
}

/**
 * A large model with external data: handed to the runtime as a file in the folder its external data is resolved
 * against: the file it was loaded from when that is unchanged, else a temporary model written there and removed after.
 */
async function createFromExternal(model: Model, options: ort.InferenceSession.SessionOptions, label: string): Promise<ort.InferenceSession> {
  const dirs = new Set<string>();
  forEachTensor(model, (t) => {
    if (t.external) dirs.add(path.resolve(t.external.baseDir));
  });
  if (dirs.size !== 1) throw new OperationError(`${label}: its external data lives in ${dirs.size} folders (${[...dirs].join(', ')}); save the model first`);
  const baseDir = [...dirs][0];
  let bytes: Uint8Array;
  try {
    bytes = encodeMessageToBytes('ModelProto', modelToMsg(model, { externalize: (t) => t.external?.entries }));
  } catch (e) {
    throw new OperationError(`cannot encode ${label} for onnxruntime: ${ortMessage(e)}`, { cause: e });
  }
  const src = model.source;
  if (src && path.resolve(src.baseDir) === baseDir && sameAsFile(bytes, src.path)) return create(src.path, options, label);
  const tmp = path.join(baseDir, `.autoglm-session-${process.pid}-${Math.random().toString(36).slice(2, 10)}.onnx`);
  try {
    fs.writeFileSync(tmp, bytes);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new OperationError(`${label}: cannot write a temporary model beside its external data in ${baseDir} (${ortMessage(e)}); save the model first`, {
      cause: e,
    });
  }
  try {
    return await create(tmp, options, label);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function sameAsFile(bytes: Uint8Array, file: string): boolean {
  try {
    if (fs.statSync(file).size !== bytes.length) return false;
    return Buffer.compare(fs.readFileSync(file), bytes) === 0;
  } catch {
    return false;
  }
}

/** Test hook: the inline size above which a model with external data is handed to the runtime as a file. */
export const sessionInternals = { inlineLimit: PROTOBUF_LIMIT - 64 * 1024 * 1024 };

/** Runs a session; all outputs unless `outputNames` is given. Runtime errors become OperationError. */
export async function runSession(session: ort.InferenceSession, feeds: Feeds, outputNames?: readonly string[]): Promise<Record<string, ort.Tensor>> {
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length) {
    throw new OperationError(`inputs missing from the feeds: ${missing.join(', ')} (the model takes ${session.inputNames.join(', ')})`);
  }
  if (outputNames) {
    const unknown = outputNames.filter((n) => !session.outputNames.includes(n));
    if (unknown.length) throw new OperationError(`unknown output(s) ${unknown.join(', ')}; the model's outputs are ${session.outputNames.join(', ')}`);
  }
  const used: Feeds = {};
  for (const n of session.inputNames) used[n] = feeds[n];
  try {
    const out = outputNames ? await session.run(used, outputNames as string[]) : await session.run(used);
    return out as Record<string, ort.Tensor>;
  } catch (e) {
    throw new OperationError(`onnxruntime failed to run the model: ${ortMessage(e)}`, { cause: e });
  }
}

// ------------------------------------------------------------------------------------------------ tensors

const ORT_TO_ONNX: Record<string, DataType> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  int16: DataType.INT16,
  uint16: DataType.UINT16,
  int32: DataType.INT32,
  uint32: DataType.UINT32,
  int64: DataType.INT64,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
  string: DataType.STRING,
  int4: DataType.INT4,
  uint4: DataType.UINT4,
};

/** The ONNX data type of an onnxruntime tensor type name ('float32' -> FLOAT). */
export function onnxTypeOfOrt(type: string): DataType {
  const t = ORT_TO_ONNX[type];
  if (t === undefined) throw new OperationError(`onnxruntime tensor type '${type}' has no ONNX equivalent here`);
  return t;
}

/** An IR tensor as an onnxruntime tensor (float16 as Uint16Array bits, bool as Uint8Array). Data is shared, not copied. */
export function toOrtTensor(t: Tensor): ort.Tensor {
  const type = ortTypeName(t.dataType);
  if (!type) throw new OperationError(`tensor ${t.name || '(unnamed)'}: onnxruntime-node has no ${dtypeName(t.dataType)} tensors`);
  if (t.dataType === DataType.STRING) {
    const dec = new TextDecoder();
    return new ort.Tensor(
      'string',
      t.strings.map((s) => dec.decode(s)),
      t.dims,
    );
  }
  const data = t.data();
  return new ort.Tensor(type as 'float32', data as Float32Array, t.dims);
}

/** An onnxruntime tensor as an IR tensor (copied, so it does not depend on the runtime's buffers). */
export function fromOrtTensor(t: ort.Tensor, name = ''): Tensor {
  const dataType = onnxTypeOfOrt(t.type);
  const dims = t.dims.map(Number);
  if (dataType === DataType.STRING) return Tensor.fromStrings(dims, [...(t.data as string[])], name);
  const src = t.data as unknown as ArrayBufferView;
  const bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice();
  if (dataType === DataType.INT4 || dataType === DataType.UINT4) return Tensor.fromRaw(dataType, dims, bytes, name);
  const tensor = Tensor.fromRaw(dataType, dims, bytes, name);
  // float16 may arrive as a Float16Array on runtimes that have one; the bytes are the same either way
  const expected = tensor.byteLength;
  if (bytes.length !== expected) throw new OperationError(`onnxruntime tensor of type ${t.type} [${dims}] has ${bytes.length} bytes, expected ${expected}`);
  return tensor;
}

/** Values of an onnxruntime tensor as float32 (float16 decoded, integers converted, bool 0/1). */
export function ortToFloat32(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  return fromOrtTensor(t).toFloat32();
}

/** A typed array of the natural JS type for an ONNX element type (helper for callers building feeds). */
export function ortTensorFromArray(dataType: DataType, dims: readonly number[], data: TensorArray): ort.Tensor {
  return toOrtTensor(Tensor.fromArray(dataType, dims, data));
}
