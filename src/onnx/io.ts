/**
 * Reading and writing model files: whole-file reads with tensors left as views on the file's bytes, lazy external
 * data, atomic writes (temporary file + rename), and external-data output.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError, UsageError } from '../errors.js';
import type { Model } from '../ir/model.js';
import type { Tensor, ExternalRef } from '../ir/tensor.js';
import { decodeMessage, encodeMessage, type Msg } from './schema.js';
import { modelFromMsg, modelToMsg, resolveInside } from './serde.js';
import { IRError } from '../ir/graph.js';
import { WireError } from './wire.js';
import { FileSource, MemorySource, isLazy, type ByteSource, type Bytes } from '../bytes/sources.js';

/** protobuf refuses messages of 2 GiB or more */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface LoadOptions {
  /** folder for external data (default: the model file's folder) */
  baseDir?: string;
}

/** Reads an ONNX model file. Bad input raises ModelFormatError with one clear sentence. */
export function loadModel(file: string, opts: LoadOptions = {}): Model {
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelFormatError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${code})`);
  }
  if (st.isDirectory()) throw new ModelFormatError(`${file}: is a directory, not an ONNX file`);
  if (!st.isFile()) throw new ModelFormatError(`${file}: is not a regular file`);
  if (st.size === 0) throw new ModelFormatError(`${file}: is empty`);
  if (st.size > PROTOBUF_LIMIT)
    throw new ModelFormatError(`${file}: is ${st.size} bytes, over protobuf's 2 GB limit; large models keep their weights in external data files`);
  let source: FileSource;
  try {
    source = new FileSource(abs);
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  const baseDir = opts.baseDir ?? path.dirname(abs);
  // weights are not read here: raw_data of 64 KiB or more stays on disk until a pass or a save asks for it
  const model = decodeModelSource(source, baseDir, file);
  let externalBytes = 0;
  const externalFiles = new Set<string>();
  forEachTensor(model, (t) => {
    const ref = t.external;
    if (ref) {
      externalBytes += ref.length;
      externalFiles.add(ref.location);
    }
  });
  model.source = { path: abs, baseDir, fileSize: st.size, externalBytes, externalFiles: [...externalFiles] };
  return model;
}

/** Decodes a model from bytes (external data, if any, is resolved against baseDir). */
export function decodeModelBytes(bytes: Uint8Array, baseDir?: string, label = 'model'): Model {
  return decodeModelSource(new MemorySource(bytes), baseDir, label);
}

function decodeModelSource(src: ByteSource, baseDir: string | undefined, label: string): Model {
  const head = Buffer.from(src.read(0, Math.min(64, src.length)))
    .toString('latin1')
    .trimStart();
  if (head.startsWith('{') || head.startsWith('[')) throw new ModelFormatError(`${label}: looks like a JSON file, not an ONNX model (binary protobuf)`);
  if (head.startsWith('version https://git-lfs.github.com/spec/'))
    throw new ModelFormatError(
      `${label}: is a Git LFS pointer, not the model: run 'git lfs pull' (in CI, check out with LFS, e.g. actions/checkout with 'lfs: true')`,
    );
  const sizes = new Map<string, number>();
  const checkExternal = (ref: ExternalRef, name: string) => {
    let size = sizes.get(ref.path);
    if (size === undefined) {
      try {
        const st = fs.statSync(ref.path);
        if (!st.isFile()) throw new Error('not a file');
        size = st.size;
      } catch {
        throw new ModelFormatError(`${label}: external data file '${ref.location}' for tensor '${name}' is missing`);
      }
      // a symlink inside the folder must not lead outside it either
      const real = fs.realpathSync(ref.path);
      if (!resolveInside(fs.realpathSync(ref.baseDir), path.relative(fs.realpathSync(ref.baseDir), real)))
        throw new ModelFormatError(
          `${label}: external data '${ref.location}' for tensor '${name}' resolves (through a link) outside the model's folder; refusing to read it`,
        );
      sizes.set(ref.path, size);
    }
    if (ref.offset + ref.length > size)
      throw new ModelFormatError(
        `${label}: tensor '${name}' needs bytes ${ref.offset}..${ref.offset + ref.length} of '${ref.location}', which has only ${size}`,
      );
  };
  let msg: Msg;
  try {
    msg = decodeMessage('ModelProto', src);
  } catch (e) {
    if (e instanceof WireError) throw new ModelFormatError(`${label}: not a valid ONNX model (${e.message}); the file may be truncated or of another format`);
    throw e;
  }
  try {
    const model = modelFromMsg(msg, { baseDir, checkExternal });
    // nodes may come unsorted (they are kept in file order) but must not form a cycle
    for (const g of model.allGraphs()) {
      try {
        g.topologicalOrder();
      } catch (e) {
        if (e instanceof IRError) throw new ModelFormatError(`nodes form a cycle: ${e.message.replace(/^graph \S* ?has a cycle through /, '')}`);
        throw e;
      }
    }
    return model;
  } catch (e) {
    if (e instanceof ModelFormatError) throw new ModelFormatError(`${label}: ${e.message.replace(/^not an ONNX model/, 'not an ONNX model')}`);
    throw e;
  }
}

export interface SaveOptions {
  /**
   * Write tensor data to a separate file: true, false, or 'auto' (default: keep external data if the model was
   * loaded with it, and switch to it when the file would pass protobuf's 2 GB limit).
   */
  externalData?: boolean | 'auto';
  /** external data file name, relative to the output's folder (default: `<output name>.data`) */
  location?: string;
  /** tensors smaller than this many bytes stay inline (default 1024) */
  sizeThreshold?: number;
  /** allow writing over the file the model was loaded from */
  overwriteInput?: boolean;
}

export interface SaveResult {
  path: string;
  bytes: number;
  externalPath?: string;
  externalBytes: number;
}

/** Writes a model atomically. The model's own file is never overwritten unless `overwriteInput` is set. */
export function saveModel(model: Model, file: string, opts: SaveOptions = {}): SaveResult {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  checkOutputPath(abs, model, opts);
  const threshold = opts.sizeThreshold ?? 1024;
  const initializers = collectInitializers(model);
  const inlineEstimate = estimateSize(model);
  const wantExternal =
    opts.externalData === true ||
    (opts.externalData !== false && ((model.source?.externalBytes ?? 0) > 0 || inlineEstimate > PROTOBUF_LIMIT - 64 * 1024 * 1024));
  const location = opts.location ?? `${path.basename(abs)}.data`;
  let dataTmp: string | undefined;
  let dataPath: string | undefined;
  let externalBytes = 0;
  const newRefs = new Map<Tensor, ExternalRef>();
  try {
    if (wantExternal) {
      dataPath = resolveInside(dir, location);
      if (!dataPath) throw new UsageError(`external data location '${location}' must be a relative path inside the output folder`);
      dataTmp = tempName(dataPath);
      const fd = fs.openSync(dataTmp, 'w');
      try {
        let offset = 0;
        for (const t of initializers) {
          // tensors that were external stay external; others move out from the size threshold on
          if (t.dataType === 8 || (t.byteLength < threshold && !t.isExternal)) continue;
          const bytes = t.rawForWrite();
          const pad = (64 - (offset % 64)) % 64;
          if (pad) offset += fs.writeSync(fd, new Uint8Array(pad), 0, pad, offset);
          writeBytes(fd, bytes, offset);
          const entries = [
            { key: 'location', value: location },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(bytes.length) },
          ];
          newRefs.set(t, { location, offset, length: bytes.length, baseDir: dir, path: dataPath, entries });
          offset += bytes.length;
        }
        externalBytes = offset;
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    const msg = modelToMsg(model, { externalize: (t) => newRefs.get(t)?.entries });
    const { parts, size } = encodeMessage('ModelProto', msg);
    if (size > PROTOBUF_LIMIT) throw new UsageError(`the model would be ${size} bytes, over protobuf's 2 GB limit; save with external data`);
    writeFileAtomic(abs, parts, () => {
      if (!dataTmp || !dataPath) return;
      if (externalBytes === 0) return; // nothing went external: leave any existing data file alone
      // tensors still reading the file about to be replaced must take their bytes first
      forEachTensor(model, (t) => {
        if (t.external?.path === dataPath && !newRefs.has(t)) t.internalize();
      });
      fs.renameSync(dataTmp, dataPath);
      dataTmp = undefined;
    });
    // tensors now live in the new data file: point them there (their old file may just have been replaced)
    for (const [t, ref] of newRefs) if (t.isExternal) t.setExternal(ref);
    if (model.source && model.source.path === abs) model.source = { ...model.source, fileSize: size, externalBytes };
    return { path: abs, bytes: size, externalPath: dataPath && externalBytes > 0 ? dataPath : undefined, externalBytes };
  } finally {
    if (dataTmp) fs.rmSync(dataTmp, { force: true });
  }
}

function checkOutputPath(abs: string, model: Model, opts: SaveOptions): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(abs);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) throw new UsageError(`${abs}: output path is a directory`);
  if (!opts.overwriteInput && model.source && path.resolve(model.source.path) === abs)
    throw new UsageError(`refusing to overwrite the input model ${abs}; choose another output path or ask for it explicitly`);
  const dir = path.dirname(abs);
  try {
    if (!fs.statSync(dir).isDirectory()) throw new Error();
  } catch {
    throw new UsageError(`${abs}: output folder ${dir} does not exist`);
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new UsageError(`${abs}: output folder is not writable`);
  }
}

/**
 * Removes temporary files that an earlier save of the same target left behind when its process was killed (the
 * target itself was never touched: the rename had not happened). Only files of processes that no longer exist.
 */
function sweepStaleTemps(target: string): void {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}.autoglm-`;
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.startsWith(prefix) && n.endsWith('.tmp'));
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(/^(\d+)-/.exec(n.slice(prefix.length))?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    fs.rmSync(path.join(dir, n), { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.autoglm-${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`);
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}

let streamBuffer: Uint8Array | undefined;

/**
 * Writes bytes at a position and returns how many. Lazy bytes (a range of a source file, or bytes derived from one)
 * are streamed through one reused 8 MiB buffer: a tensor is never whole in memory on its way to the file.
 */
function writeBytes(fd: number, bytes: Bytes, position: number): number {
  if (!isLazy(bytes)) {
    writeAll(fd, bytes, position);
    return bytes.length;
  }
  streamBuffer ??= new Uint8Array(8 << 20);
  let at = position;
  bytes.forEachPiece((piece) => {
    writeAll(fd, piece, at);
    at += piece.length;
  }, streamBuffer);
  if (at - position !== bytes.length) throw new Error(`internal: streamed ${at - position} of ${bytes.length} bytes`);
  return bytes.length;
}

/**
 * Writes parts to a temporary file beside the target, syncs it, and renames it over the target, so an interrupted
 * write never leaves a half-written file in place of the previous one. `beforeRename` runs just before the rename.
 */
export function writeFileAtomic(target: string, parts: Bytes[], beforeRename?: () => void): void {
  sweepStaleTemps(target);
  const tmp = tempName(target);
  const fd = fs.openSync(tmp, 'w', 0o644);
  let ok = false;
  try {
    let pos = 0;
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = () => {
      if (!batch.length) return;
      writeBatch(fd, batch, batchBytes, pos);
      pos += batchBytes;
      batch = [];
      batchBytes = 0;
    };
    for (const p of parts) {
      if (isLazy(p)) {
        flush();
        pos += writeBytes(fd, p, pos);
        continue;
      }
      batch.push(p);
      batchBytes += p.length;
      if (batch.length >= 512) flush();
    }
    flush();
    fs.fsyncSync(fd);
    ok = true;
  } finally {
    fs.closeSync(fd);
    if (!ok) fs.rmSync(tmp, { force: true });
  }
  try {
    beforeRename?.();
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** writev at a position, finishing part by part when the kernel writes less than asked. */
function writeBatch(fd: number, batch: Uint8Array[], total: number, position: number): void {
  let written = fs.writevSync(fd, batch, position);
  if (written >= total) return;
  let at = 0;
  for (const p of batch) {
    const end = at + p.length;
    if (written < end) {
      const from = Math.max(0, written - at);
      writeAll(fd, p.subarray(from), position + at + from);
      written = end;
    }
    at = end;
  }
}

/** Every tensor of the model: initializers, Constant/attribute tensors, in all graphs and functions. */
export function forEachTensor(model: Model, fn: (t: Tensor, where: 'initializer' | 'attribute') => void): void {
  for (const g of model.allGraphs()) {
    for (const v of g.initializers.values()) fn(v.initializer!, 'initializer');
    for (const n of g.nodes)
      for (const a of n.attributes.values()) {
        if (a.type === 4 && a.value) fn(a.value as Tensor, 'attribute');
        else if (a.type === 9 && a.value) for (const t of a.value as Tensor[]) fn(t, 'attribute');
      }
  }
}

function collectInitializers(model: Model): Tensor[] {
  const out: Tensor[] = [];
  for (const g of model.allGraphs()) for (const v of g.initializers.values()) out.push(v.initializer!);
  return out;
}

function estimateSize(model: Model): number {
  let n = 0;
  forEachTensor(model, (t) => {
    n += t.byteLength;
  });
  return n;
}
