/**
 * fold-constants' shape folding, which runs nothing: Shape(x) from x's static type, and integer shape arithmetic
 * whose values util/infer.ts derives from static dims (see fold-constants' header).
 */
import { DataType } from '../../ir/dtype.js';
import type { Node } from '../../ir/graph.js';
import { isStandardDomain } from '../../ir/model.js';
import { Tensor } from '../../ir/tensor.js';
import type { Inference } from './infer.js';
import { staticShape } from './types.js';

const SHAPE_ARITHMETIC = new Set(['Shape', 'Gather', 'Slice', 'Squeeze', 'Unsqueeze', 'Concat', 'Cast']);
const EXACT_TYPES = new Set<number>([DataType.INT64, DataType.INT32, DataType.BOOL]);

/** Shape arithmetic whose integer result inference derives from static dims (see the header). */
export function foldInferred(n: Node, inf: Inference): Tensor | undefined {
  const o = n.outputs[0];
  if (!SHAPE_ARITHMETIC.has(n.opType) || !isStandardDomain(n.domain) || n.outputs.length !== 1 || !o) return undefined;
  const dtype = inf.elemType(o);
  const dims = inf.staticShape(o);
  const vals = inf.numbers(o);
  if (dtype === undefined || !EXACT_TYPES.has(dtype) || !dims || !vals || vals.length !== dims.reduce((a, b) => a * b, 1)) return undefined;
  return Tensor.fromArray(dtype, dims, dtype === DataType.INT64 ? BigInt64Array.from(vals, (x) => BigInt(x)) : vals);
}

/** Shape(x) from x's static type: the int64 tensor of its dims (start/end applied); else as foldInferred. */
export function foldShape(n: Node, inf: Inference): Tensor | undefined {
  const dims = staticShape(n.input(0));
  if (!dims) return foldInferred(n, inf);
  const r = dims.length;
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + r : i, 0), r);
  const start = clamp(n.getInt('start', 0));
  const end = clamp(n.getInt('end', r));
  const sel = dims.slice(start, Math.max(start, end));
  return Tensor.fromArray(
    DataType.INT64,
    [sel.length],
    BigInt64Array.from(sel, (d) => BigInt(d)),
  );
}
