/**
 * What the clean-up passes may assume about a value's element type and shape: only what the model states (value
 * types from inputs, outputs and value_info; constants' own tensors) or what follows from one node (a Cast's `to`).
 * Nothing here guesses.
 */
import { AttrType, type Value } from '../../ir/graph.js';
import { elemTypeOf, shapeOf, type Dim } from '../../ir/types.js';
import { constantOf } from '../../rewrite/constant.js';
import { isStandardDomain } from '../../ir/model.js';

/** The element type of a tensor value when it is known. */
export function knownElemType(v: Value | null | undefined): number | undefined {
  if (!v) return undefined;
  const t = constantOf(v);
  if (t) return t.dataType;
  const fromType = elemTypeOf(v.type);
  if (fromType !== undefined) return fromType;
  const p = v.producer;
  if (p && p.opType === 'Cast' && isStandardDomain(p.domain) && v.producerIndex === 0) {
    const a = p.attributes.get('to');
    if (a && a.type === AttrType.INT && a.value !== undefined) return Number(a.value);
  }
  return undefined;
}

/** The shape (static or symbolic dims) when the rank is known. */
export function knownShape(v: Value | null | undefined): Dim[] | undefined {
  if (!v) return undefined;
  const t = constantOf(v);
  if (t) return [...t.dims];
  return shapeOf(v.type);
}

/** The shape when every dimension is a known number. */
export function staticShape(v: Value | null | undefined): number[] | undefined {
  const s = knownShape(v);
  if (!s || s.some((d) => typeof d !== 'number' || d < 0)) return undefined;
  return s as number[];
}

export function knownRank(v: Value | null | undefined): number | undefined {
  return knownShape(v)?.length;
}

export function sameDims(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
