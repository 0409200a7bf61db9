/**
 * Protobuf wire format, read and written by hand.
 *
 * Why not the generated onnx-proto decoder: it is built from ONNX 1.10's schema and silently drops every field a
 * newer exporter writes. This reader keeps each field it does not know as the exact bytes it read (tag included),
 * and gives `bytes` fields as views on the input buffer, so a 500 MB model is never copied on load.
 *
 * Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (3/4, groups, are rejected: ONNX has none).
 */

export class WireError extends Error {}

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const textEncoder = new TextEncoder();
const TWO_32 = 4294967296;

export class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a varint as two 32-bit halves. */
  private varint64(): [number, number] {
    const b = this.buf;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    let p = this.pos;
    for (let i = 0; i < 10; i++) {
      if (p >= this.end) throw new WireError('truncated varint');
      const byte = b[p++];
      if (shift < 28) lo |= (byte & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (byte & 0x0f) << 28;
        hi |= (byte & 0x7f) >> 4;
      } else hi |= (byte & 0x7f) << (shift - 32);
      shift += 7;
      if ((byte & 0x80) === 0) {
        this.pos = p;
        return [lo >>> 0, hi >>> 0];
      }
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** uint32 / enum / tag; values above 2^32 are truncated as protobuf does for uint32. */
  uint32(): number {
    const b = this.buf;
    const p = this.pos;
    if (p < this.end && b[p] < 0x80) {
      this.pos = p + 1;
      return b[p];
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
  fixed32View(): DataView {
    if (this.pos + 4 > this.end) throw new WireError('truncated fixed32');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4);
    this.pos += 4;
    return v;
  }
  float(): number {
    return this.fixed32View().getFloat32(0, true);
  }
  double(): number {
    if (this.pos + 8 > this.end) throw new WireError('truncated fixed64');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }
  /** A length-delimited field's payload, as a view (no copy). */
  bytes(): Uint8Array {
    const len = this.uint32Len();
    const start = this.pos;
    this.pos += len;
    return this.buf.subarray(start, start + len);
  }
  /** Length prefix, checked against the enclosing message so a corrupt file cannot make us read past it. */
  uint32Len(): number {
    const [lo, hi] = this.varint64();
    if (hi !== 0 || lo > this.end - this.pos) throw new WireError('length-delimited field runs past the end of its message');
    return lo;
  }
  string(): string {
    const b = this.bytes();
    try {
      return textDecoder.decode(b);
    } catch {
      throw new WireError('string field is not valid UTF-8');
    }
  }
  /** Skips a field's payload and returns its whole encoding (tag included) from tagStart. */
  skip(wireType: number, tagStart: number): Uint8Array {
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
    return this.buf.subarray(tagStart, this.pos);
  }
}

/**
 * Writer that collects output as a list of parts: small fields are packed into scratch chunks, large byte fields
 * (weights) are appended as the caller's own views, so writing never copies a weight buffer.
 */
export class Writer {
  readonly parts: Uint8Array[] = [];
  private chunk: Uint8Array;
  private pos = 0;
  length = 0;
  static readonly BIG = 64 * 1024;
  constructor(private readonly chunkSize = 256 * 1024) {
    this.chunk = new Uint8Array(chunkSize);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.chunk.length) return;
    this.flushChunk();
    if (n > this.chunk.length) this.chunk = new Uint8Array(Math.max(n, this.chunkSize));
  }
  private flushChunk(): void {
    if (this.pos > 0) this.parts.push(this.chunk.subarray(0, this.pos));
    this.chunk = new Uint8Array(this.chunkSize);
    this.pos = 0;
  }
  finish(): Uint8Array[] {
    if (this.pos > 0) this.parts.push(this.chunk.subarray(0, this.pos));
    this.pos = 0;
    this.chunk = new Uint8Array(0);
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
  /** Raw bytes (no length prefix). Large ones are referenced, not copied. */
  raw(b: Uint8Array): void {
    if (b.length >= Writer.BIG) {
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
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}
