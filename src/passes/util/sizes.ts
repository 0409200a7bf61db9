/** Sizes of tensors, known or estimated before computing them (the caps of constant folding). */
import { DataType, dtypeBits } from '../../ir/dtype.js';
import type { Node, Value } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { constantOf } from '../../rewrite/constant.js';
import { staticShape } from './types.js';

/** Bytes of a tensor's data (strings: the bytes of their contents). */
export function tensorBytes(t: Tensor): number {
  if (t.dataType === DataType.STRING) return t.strings.reduce((s, x) => s + x.length, 0);
  return t.byteLength;
}

/** A static estimate of an output's size, when it is cheap to know (declared static type; broadcast-style ops). */
export function estimateBytes(n: Node, out: Value): number | undefined {
  const elemBits = (t: number | undefined) => (t === undefined ? undefined : t === DataType.STRING ? undefined : dtypeBits(t));
  const declared = staticShape(out);
  const count = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
  if (n.opType === 'ConstantOfShape') {
    const s = constantOf(n.input(0));
    if (s) return count(s.toNumbers()) * ((elemBits(n.getTensor('value')?.dataType ?? DataType.FLOAT) ?? 32) / 8);
  }
  if (n.opType === 'Expand' || n.opType === 'Tile') {
    const x = constantOf(n.input(0));
    const s = constantOf(n.input(1));
    if (x && s) {
      const sv = s.toNumbers();
      const bits = elemBits(x.dataType);
      if (bits !== undefined) {
        if (n.opType === 'Tile') return (count(x.dims) * count(sv) * bits) / 8;
        const r = Math.max(x.dims.length, sv.length);
        const dims = Array.from({ length: r }, (_, i) => {
          const a = x.dims[i - (r - x.dims.length)] ?? 1;
          const b = sv[i - (r - sv.length)] ?? 1;
          return a === 1 ? b : a;
        });
        return (count(dims) * bits) / 8;
      }
    }
  }
  const t = out.type ? (out.type.tensor_type as { elem_type?: number } | undefined)?.elem_type : undefined;
  if (declared && t) {
    const bits = elemBits(t);
    if (bits !== undefined) return (count(declared) * bits) / 8;
  }
  return undefined;
}
