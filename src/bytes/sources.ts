/**
 * Where bytes come from: a buffer in memory, or a file read in blocks on demand, and bytes produced only when asked
 * (LazyBytes: a range of a file, or bytes derived from others). The protobuf reader decodes from these, the IR's
 * tensors hold them, the writer streams them: so a 500 MB model is neither copied nor even read on load.
 */
import * as fs from 'node:fs';
import { ModelFormatError } from '../errors.js';

/** Payloads this large are not read from a file while decoding: they become LazyBytes, read when needed. */
export const LAZY_MIN = 64 * 1024;

/**
 * Where a Reader's bytes come from: a buffer in memory, or a model file read in blocks on demand (so that a
 * 500 MB model's weights are not read, or even paged in, until something asks for them).
 */
export interface ByteSource {
  readonly length: number;
  /** a block holding `pos`; for memory sources the whole buffer */
  block(pos: number): { start: number; bytes: Uint8Array };
  /** bytes [start, end): a view for memory sources, a fresh copy for files */
  read(start: number, end: number): Uint8Array;
  /** a length-delimited payload: like read(), except that large file payloads stay on disk as LazyBytes */
  payload(start: number, end: number): Uint8Array | LazyBytes;
}

export class MemorySource implements ByteSource {
  constructor(readonly buf: Uint8Array) {}
  get length(): number {
    return this.buf.length;
  }
  block(): { start: number; bytes: Uint8Array } {
    return { start: 0, bytes: this.buf };
  }
  read(start: number, end: number): Uint8Array {
    return this.buf.subarray(start, end);
  }
  payload(start: number, end: number): Uint8Array {
    return this.buf.subarray(start, end);
  }
}

const closeOnCollect = new FinalizationRegistry<number>((fd) => {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
});

/**
 * A model file read through an open descriptor, 64 KiB blocks at a time (a few kept). The descriptor stays open for
 * as long as anything references the source, so lazy payloads keep reading the file that was loaded even if the
 * path is replaced (saving over the input renames a new file into place; the old one lives on for us).
 */
export class FileSource implements ByteSource {
  static readonly BLOCK = 64 << 10;
  readonly length: number;
  private readonly fd: number;
  private readonly cache = new Map<number, Uint8Array>();
  /** device and inode of the open file ("dev:ino"), to tell whether a path still names it */
  readonly identity: string;
  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'r');
    const st = fs.fstatSync(this.fd);
    this.length = st.size;
    this.identity = `${st.dev}:${st.ino}`;
    closeOnCollect.register(this, this.fd);
  }
  block(pos: number): { start: number; bytes: Uint8Array } {
    const start = pos - (pos % FileSource.BLOCK);
    let bytes = this.cache.get(start);
    if (!bytes) {
      bytes = this.read(start, Math.min(this.length, start + FileSource.BLOCK));
      if (this.cache.size >= 4) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(start, bytes);
    }
    return { start, bytes };
  }
  read(start: number, end: number): Uint8Array {
    const out = new Uint8Array(end - start);
    this.readInto(out, 0, start, end - start);
    return out;
  }
  readInto(dst: Uint8Array, dstOffset: number, position: number, length: number): void {
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, dst, dstOffset + done, length - done, position + done);
      if (n === 0)
        throw new ModelFormatError(
          `${this.path} ended at byte ${position + done} while being read (it is ${fs.fstatSync(this.fd).size} bytes now): was it changed or truncated while in use?`,
        );
      done += n;
    }
  }
  payload(start: number, end: number): Uint8Array | LazyBytes {
    return end - start >= LAZY_MIN ? new FileRange(this, start, end - start) : this.read(start, end);
  }
}

/**
 * Bytes that are produced only when asked: a range of a model file (FileRange), or bytes derived from others (a
 * weight's float16 conversion, src/quantize/tensors.ts; attention's packed Q/K/V, src/passes/util/concat-rows.ts).
 * Has a `length` like a Uint8Array; the writer streams it through a reused buffer, so the whole never needs to be in
 * memory.
 */
export abstract class LazyBytes {
  abstract readonly length: number;
  /** Copies [from, from + n) of these bytes into dst[0, n). */
  abstract readInto(dst: Uint8Array, from: number, n: number): void;
  /** All of the bytes, in a new array. */
  read(): Uint8Array {
    const out = new Uint8Array(this.length);
    this.readInto(out, 0, this.length);
    return out;
  }
  /**
   * Hands all of the bytes to `sink` in order, a piece at a time (each a view valid only during the call), read
   * through `buffer`; derived bytes may hand out their own pieces instead and leave the buffer unused.
   */
  forEachPiece(sink: (piece: Uint8Array) => void, buffer: Uint8Array): void {
    for (let off = 0; off < this.length; off += buffer.length) {
      const n = Math.min(buffer.length, this.length - off);
      this.readInto(buffer, off, n);
      sink(buffer.subarray(0, n));
    }
  }
}

/** A byte range of a model file, read only when asked. */
export class FileRange extends LazyBytes {
  constructor(
    readonly source: FileSource,
    readonly offset: number,
    readonly length: number,
  ) {
    super();
  }
  override read(): Uint8Array {
    return this.source.read(this.offset, this.offset + this.length);
  }
  readInto(dst: Uint8Array, from: number, n: number): void {
    if (from < 0 || n < 0 || from + n > this.length) throw new RangeError(`bytes [${from}, ${from + n}) of a ${this.length}-byte range`);
    this.source.readInto(dst, 0, this.offset + from, n);
  }
}

export type Bytes = Uint8Array | LazyBytes;
export const isLazy = (b: unknown): b is LazyBytes => b instanceof LazyBytes;
/** The bytes themselves (reads a lazy range). */
export const materialize = (b: Bytes): Uint8Array => (b instanceof LazyBytes ? b.read() : b);

/** A copy in a fresh, aligned ArrayBuffer (Buffer#slice would return a view). */
export function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b); // a typed-array copy: its own, aligned buffer
}

/** Byte equality of two byte sources, reading lazy ones a chunk at a time (nothing is loaded or kept). */
export function sameBytes(a: Bytes, b: Bytes): boolean {
  if (a.length !== b.length) return false;
  const CHUNK = 1 << 20;
  const piece = (src: Bytes, buf: Uint8Array, at: number, n: number): Uint8Array => {
    if (!(src instanceof LazyBytes)) return src.subarray(at, at + n);
    src.readInto(buf, at, n);
    return buf.subarray(0, n);
  };
  const bufA = new Uint8Array(a instanceof LazyBytes ? Math.min(CHUNK, a.length) : 0);
  const bufB = new Uint8Array(b instanceof LazyBytes ? Math.min(CHUNK, b.length) : 0);
  for (let at = 0; at < a.length; at += CHUNK) {
    const n = Math.min(CHUNK, a.length - at);
    if (Buffer.compare(piece(a, bufA, at, n), piece(b, bufB, at, n)) !== 0) return false;
  }
  return true;
}
