/**
 * Protobuf wire format, read and written by hand.
 *
 * Why not the generated onnx-proto decoder: it is built from ONNX 1.10's schema and silently drops every field a
 * newer exporter writes. This reader keeps each field it does not know as the exact bytes it read (tag included),
 * and gives `bytes` fields as views on the input buffer or, for files, as lazy ranges read only when needed, so a
 * 500 MB model is neither copied nor even read on load.
 *
 * Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (3/4, groups, are rejected: ONNX has none).
 */
import * as fs from 'node:fs';
import { ModelFormatError } from '../errors.js';

export class WireError extends Error {}

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const textEncoder = new TextEncoder();
const TWO_32 = 4294967296;

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
        throw new ModelFormatError(`${this.path} ended at byte ${position + done} while being read (it is ${fs.fstatSync(this.fd).size} bytes now): was it changed or truncated while in use?`);
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

export class Reader {
  pos: number;
  readonly end: number;
  readonly src: ByteSource;
  private blk: Uint8Array;
  private blkStart: number;
  private blkEnd: number;
  constructor(src: ByteSource | Uint8Array, start = 0, end?: number) {
    this.src = src instanceof Uint8Array ? new MemorySource(src) : src;
    this.pos = start;
    this.end = end ?? this.src.length;
    if (this.end > this.src.length) throw new WireError('message runs past the end of the file');
    const b = this.src.block(start);
    this.blk = b.bytes;
    this.blkStart = b.start;
    this.blkEnd = b.start + b.bytes.length;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }

  private byte(): number {
    const p = this.pos;
    if (p >= this.end) throw new WireError('truncated field');
    if (p < this.blkStart || p >= this.blkEnd) {
      const b = this.src.block(p);
      this.blk = b.bytes;
      this.blkStart = b.start;
      this.blkEnd = b.start + b.bytes.length;
    }
    this.pos = p + 1;
    return this.blk[p - this.blkStart];
  }

  /** Reads a varint as two 32-bit halves. */
  private varint64(): [number, number] {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      const byte = this.byte();
      if (shift < 28) lo |= (byte & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (byte & 0x0f) << 28;
        hi |= (byte & 0x7f) >> 4;
      } else hi |= (byte & 0x7f) << (shift - 32);
      shift += 7;
      if ((byte & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** uint32 / enum / tag; values above 2^32 are truncated as protobuf does for uint32. */
  uint32(): number {
    const p = this.pos;
    if (p >= this.blkStart && p < this.blkEnd && p < this.end) {
      const b = this.blk[p - this.blkStart];
      if (b < 0x80) {
        this.pos = p + 1;
        return b;
      }
    }
    return this.varint64()[0];
  }
  /** int32: negative values are sign-extended 10-byte varints. */
  int32(): number {
    return this.varint64()[0] | 0;
  }
  /** int64 as a number when it is a safe integer, as a bigint otherwise (never loses a bit). */
  int64(): number | bigint {
    const [lo, hi] = this.varint64();
    if (hi < 0x200000) return hi * TWO_32 + lo;
    if (hi >= 0xffe00000) {
      // negative with magnitude < 2^53
      return (hi - TWO_32) * TWO_32 + lo;
    }
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }
  uint64(): number | bigint {
    const [lo, hi] = this.varint64();
    if (hi < 0x200000) return hi * TWO_32 + lo;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  int64Big(): bigint {
    const [lo, hi] = this.varint64();
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }
  uint64Big(): bigint {
    const [lo, hi] = this.varint64();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  private fixed(n: 4 | 8): DataView {
    if (this.pos + n > this.end) throw new WireError(`truncated fixed${n * 8}`);
    const b = this.src.read(this.pos, this.pos + n);
    this.pos += n;
    return new DataView(b.buffer, b.byteOffset, n);
  }
  float(): number {
    return this.fixed(4).getFloat32(0, true);
  }
  double(): number {
    return this.fixed(8).getFloat64(0, true);
  }
  /** A length-delimited field's payload: a view (memory), a copy or a lazy range (files). */
  bytes(): Bytes {
    const len = this.uint32Len();
    const start = this.pos;
    this.pos += len;
    return this.src.payload(start, start + len);
  }
  /** A length-delimited payload that the caller will parse now: always real bytes. */
  bytesNow(): Uint8Array {
    const len = this.uint32Len();
    const start = this.pos;
    this.pos += len;
    return this.src.read(start, start + len);
  }
  /** Skips a length-delimited payload, returning its [start, end) range (for nested messages). */
  range(): [number, number] {
    const len = this.uint32Len();
    const start = this.pos;
    this.pos += len;
    return [start, start + len];
  }
  /** Length prefix, checked against the enclosing message so a corrupt file cannot make us read past it. */
  uint32Len(): number {
    const [lo, hi] = this.varint64();
    if (hi !== 0 || lo > this.end - this.pos) throw new WireError('length-delimited field runs past the end of its message');
    return lo;
  }
  string(): string {
    const b = this.bytesNow();
    try {
      return textDecoder.decode(b);
    } catch {
      throw new WireError('string field is not valid UTF-8');
    }
  }
  /** Skips a field's payload and returns its whole encoding (tag included) from tagStart. */
  skip(wireType: number, tagStart: number): Bytes {
    switch (wireType) {
      case 0:
        this.varint64();
        break;
      case 1:
        if (this.pos + 8 > this.end) throw new WireError('truncated fixed64');
        this.pos += 8;
        break;
      case 2: {
        const len = this.uint32Len(); // read before adding: `pos += f()` would use the old pos
        this.pos += len;
        break;
      }
      case 5:
        if (this.pos + 4 > this.end) throw new WireError('truncated fixed32');
        this.pos += 4;
        break;
      default:
        throw new WireError(`unsupported wire type ${wireType}`);
    }
    return this.src.payload(tagStart, this.pos);
  }
}

/**
 * Writer that collects output as a list of parts: small fields are packed into scratch chunks, large byte fields
 * (weights) are appended as the caller's own views, so writing never copies a weight buffer.
 */
export class Writer {
  readonly parts: Bytes[] = [];
  private chunk: Uint8Array;
  private pos = 0;
  /** start of the bytes of `chunk` not yet handed out as a part */
  private mark = 0;
  length = 0;
  static readonly BIG = 64 * 1024;
  constructor(private readonly chunkSize = 256 * 1024) {
    this.chunk = new Uint8Array(chunkSize);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.chunk.length) return;
    this.flushChunk();
    this.chunk = new Uint8Array(Math.max(n, this.chunkSize));
    this.pos = 0;
    this.mark = 0;
  }
  /** Hands out the pending bytes as a part; the rest of the chunk stays in use (no new allocation). */
  private flushChunk(): void {
    if (this.pos > this.mark) this.parts.push(this.chunk.subarray(this.mark, this.pos));
    this.mark = this.pos;
  }
  finish(): Bytes[] {
    this.flushChunk();
    this.chunk = new Uint8Array(0);
    this.pos = 0;
    this.mark = 0;
    return this.parts;
  }
  byte(b: number): void {
    this.ensure(1);
    this.chunk[this.pos++] = b;
    this.length++;
  }
  uint32(v: number): void {
    this.ensure(5);
    v >>>= 0;
    while (v > 0x7f) {
      this.chunk[this.pos++] = (v & 0x7f) | 0x80;
      this.length++;
      v >>>= 7;
    }
    this.chunk[this.pos++] = v;
    this.length++;
  }
  /** Any integer (number or bigint) as a 64-bit two's-complement varint. */
  int64(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v <= 0xffffffff) return this.uint32(v);
    let big = BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(clampToInt64(v)));
    this.ensure(10);
    while (big > 0x7fn) {
      this.chunk[this.pos++] = Number(big & 0x7fn) | 0x80;
      this.length++;
      big >>= 7n;
    }
    this.chunk[this.pos++] = Number(big);
    this.length++;
  }
  tag(field: number, wireType: number): void {
    this.uint32((field << 3) | wireType);
  }
  float(v: number): void {
    this.ensure(4);
    new DataView(this.chunk.buffer, this.chunk.byteOffset + this.pos, 4).setFloat32(0, v, true);
    this.pos += 4;
    this.length += 4;
  }
  double(v: number): void {
    this.ensure(8);
    new DataView(this.chunk.buffer, this.chunk.byteOffset + this.pos, 8).setFloat64(0, v, true);
    this.pos += 8;
    this.length += 8;
  }
  /** Raw bytes (no length prefix). Large ones (and lazy file ranges) are referenced, not copied. */
  raw(b: Bytes): void {
    if (b instanceof LazyBytes || b.length >= Writer.BIG) {
      this.flushChunk();
      this.parts.push(b);
      this.length += b.length;
      return;
    }
    this.ensure(b.length);
    this.chunk.set(b, this.pos);
    this.pos += b.length;
    this.length += b.length;
  }
  string(s: string): void {
    const b = textEncoder.encode(s);
    this.uint32(b.length);
    this.raw(b);
  }
}

export function clampToInt64(v: number): bigint {
  if (!Number.isFinite(v)) throw new WireError(`cannot encode ${v} as an integer`);
  if (v >= 9223372036854775807) return 9223372036854775807n;
  if (v <= -9223372036854775808) return -9223372036854775808n;
  return BigInt(Math.trunc(v));
}

export function varintSize(v: number | bigint): number {
  if (typeof v === 'number' && v >= 0 && v <= 0xffffffff) {
    let n = 1;
    while (v > 0x7f) {
      v = Math.floor(v / 128);
      n++;
    }
    return n;
  }
  let big = BigInt.asUintN(64, typeof v === 'bigint' ? v : clampToInt64(v));
  let n = 1;
  while (big > 0x7fn) {
    big >>= 7n;
    n++;
  }
  return n;
}

export function utf8Length(s: string): number {
  // fast path for ASCII
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export { textEncoder, textDecoder };

/** A copy in a fresh, aligned ArrayBuffer (Buffer#slice would return a view). */
export function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b); // a typed-array copy: its own, aligned buffer
}
