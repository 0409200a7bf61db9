/**
 * Row-wise concatenation of matrices as raw bytes: row i of the result is row i of each source in turn
 * ([Wq | Wk | Wv] for a packed attention weight). When a source is still in the model file (or the result is large)
 * the result is a LazyBytes that reads the rows on demand, so packing the weights of a 400 MB model neither reads
 * them now nor holds a second copy; saving streams them (and a later float16 conversion streams through them).
 */
import { dtypeBits } from '../../ir/dtype.js';
import { Tensor } from '../../ir/tensor.js';
import { LAZY_MIN, LazyBytes, type Bytes } from '../../bytes/sources.js';

/** The sources, `rows` rows each of `rowBytes` bytes, interleaved row by row. */
export class InterleavedRows extends LazyBytes {
  readonly length: number;
  private readonly outRow: number;
  constructor(
    private readonly parts: readonly Bytes[],
    rows: number,
    private readonly rowBytes: number,
  ) {
    super();
    this.outRow = rowBytes * parts.length;
    this.length = rows * this.outRow;
    for (const p of parts) if (p.length !== rows * rowBytes) throw new RangeError(`a source of ${p.length} bytes is not ${rows} rows of ${rowBytes}`);
  }
  readInto(dst: Uint8Array, from: number, n: number): void {
    if (from < 0 || n < 0 || from + n > this.length) throw new RangeError(`bytes [${from}, ${from + n}) of ${this.length}`);
    const end = from + n;
    for (let row = Math.floor(from / this.outRow); row * this.outRow < end; row++) {
      for (let k = 0; k < this.parts.length; k++) {
        const segStart = row * this.outRow + k * this.rowBytes;
        const lo = Math.max(from, segStart);
        const hi = Math.min(end, segStart + this.rowBytes);
        if (lo >= hi) continue;
        const src = this.parts[k]!;
        const at = row * this.rowBytes + (lo - segStart);
        if (src instanceof LazyBytes) src.readInto(dst.subarray(lo - from, hi - from), at, hi - lo);
        else dst.set(src.subarray(at, at + (hi - lo)), lo - from);
      }
    }
  }
}

/**
 * [t0 | t1 | ...] row by row, for tensors of one type that are `rows` x `cols` (in any shape of that size), with
 * the given dims: raw bytes moved, no float conversion. Lazy (interleaved when read or saved) when any source is
 * still in a file or the result is large: packing BERT-base's attention weights in memory first-touched 85 MB.
 */
export function concatRows(ts: readonly Tensor[], rows: number, cols: number, dims: readonly number[] = [rows, cols * ts.length]): Tensor {
  const rowBytes = (dtypeBits(ts[0]!.dataType) / 8) * cols;
  const lazy = ts.map((t) => t.lazyBytes());
  if (lazy.some((l) => l !== undefined) || rows * rowBytes * ts.length >= LAZY_MIN) {
    const parts = ts.map((t, i) => lazy[i] ?? t.rawBytes());
    return Tensor.fromRaw(ts[0]!.dataType, dims, new InterleavedRows(parts, rows, rowBytes));
  }
  const out = new Uint8Array(rows * rowBytes * ts.length);
  const raw = ts.map((t) => t.rawBytes());
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < ts.length; j++) out.set(raw[j]!.subarray(i * rowBytes, (i + 1) * rowBytes), (i * ts.length + j) * rowBytes);
  return Tensor.fromRaw(ts[0]!.dataType, dims, out);
}
