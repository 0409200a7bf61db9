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
import { LazyBytes, MemorySource, type ByteSource, type Bytes } from '../bytes/sources.js';

export class WireError extends Error {}

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const textEncoder = new TextEncoder();
const TWO_32 = 4294967296;

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
  if (v >= 2 ** 63) return 9223372036854775807n;
  if (v <= -(2 ** 63)) return -9223372036854775808n;
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
