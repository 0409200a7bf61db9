/** Transpose permutations: reading them (the absent-perm default included) and composing them. */
import type { Node } from '../../ir/graph.js';
import { knownRank } from './types.js';

/** The node's permutation; when `perm` is absent, the axis reversal for a known input rank; else undefined. */
export function permOf(node: Node): number[] | undefined {
  const p = node.getInts('perm');
  if (p) return p;
  const r = knownRank(node.input(0));
  return r === undefined ? undefined : Array.from({ length: r }, (_, i) => r - 1 - i);
}

export function isIdentityPerm(p: readonly number[]): boolean {
  return p.every((x, i) => x === i);
}

/** Transpose(Transpose(x, first), second) == Transpose(x, composePerms(first, second)). */
export function composePerms(first: readonly number[], second: readonly number[]): number[] {
  return second.map((i) => first[i]);
}

/** True when p is a permutation of 0..n-1. */
export function isPermutation(p: readonly number[]): boolean {
  const seen = new Set(p);
  return seen.size === p.length && p.every((x) => Number.isInteger(x) && x >= 0 && x < p.length);
}
