/**
 * Reading what a graph says about shapes, for the structured analyses:
 *
 *   - the entries of a Reshape's target shape, given as one constant or as a Concat of constant pieces and length-1
 *     dynamic pieces (Unsqueeze of a Gather from Shape, as torch.onnx.export writes `x.view(b, s, H, D)`), each
 *     constant entry with the (node, input, index) where it can be rewritten;
 *   - whether a Shape node only feeds Gathers of axes whose size pruning does not change (batch and sequence sizes
 *     read to build a Reshape target), which makes it harmless to the pruning.
 */
import type { Node, Value } from '../ir/graph.js';
import { constantInts } from '../rewrite/constant.js';
import type { ShapeFacts } from './shape-facts.js';
import { isStandardDomain } from '../ir/model.js';

/** A node for messages: `Op 'name'`, or `Op(first output)` when it has no name. */
export function describe(n: Node): string {
  return n.name ? `${n.opType} '${n.name}'` : `${n.opType}(${n.outputs.find((o) => o)?.name ?? '?'})`;
}

export interface ShapeEntry {
  /** the constant entry, undefined for a dynamic one */
  value: number | undefined;
  /** where a constant entry can be rewritten: element `index` of the constant read by `node` at `input` */
  edit?: { node: Node; input: number; index: number };
}

/** The entries of the shape a Reshape reads at `input`, or the reason they cannot be known. */
export function reshapeEntries(reshape: Node, input: number, facts: ShapeFacts): ShapeEntry[] | string {
  const spec = reshape.input(input)!;
  const direct = constantInts(spec);
  if (direct) return direct.map((value, index) => ({ value, edit: { node: reshape, input, index } }));
  const c = spec.producer;
  if (c?.opType !== 'Concat' || !isStandardDomain(c.domain) || c.getInt('axis', 0) !== 0)
    return `the shape of ${describe(reshape)} is neither a constant nor a Concat`;
  const out: ShapeEntry[] = [];
  for (const [j, piece] of c.inputs.entries()) {
    if (!piece) continue;
    const ci = constantInts(piece);
    if (ci) ci.forEach((value, index) => out.push({ value, edit: { node: c, input: j, index } }));
    else {
      const len = pieceLength(piece, facts);
      if (len === undefined) return `a piece of the shape of ${describe(reshape)} ('${piece.name}') has unknown length`;
      for (let i = 0; i < len; i++) out.push({ value: undefined });
    }
  }
  return out;
}

/**
 * The entries of an Expand target: a constant or Concat, or torch's `x.expand(*sizes)` form
 * Where(Equal(Reshape(Concat, [-1]), -1), 1, Reshape(Concat, [-1])), whose Concat holds the entries.
 */
export function expandEntries(expand: Node, facts: ShapeFacts): ShapeEntry[] | string {
  const direct = reshapeEntries(expand, 1, facts);
  if (typeof direct !== 'string') return direct;
  const w = expand.input(1)!.producer;
  const flat = w?.opType === 'Where' ? w.input(2)?.producer : undefined;
  if (flat?.opType !== 'Reshape' || constantInts(flat.input(1))?.join() !== '-1') return direct;
  return reshapeEntries(flat, 0, facts);
}

function pieceLength(v: Value, facts: ShapeFacts): number | undefined {
  const d = facts.dims(v);
  if (d && d.length === 1 && d[0] !== undefined) return d[0];
  const p = v.producer;
  if (p && p.opType === 'Unsqueeze' && facts.rank(p.input(0)) === 0) return 1;
  return facts.rank(v) === 0 ? 1 : undefined;
}

/**
 * Why a Shape node reading a value pruning reshapes is not harmless (undefined when it is): it must feed only
 * Gathers (axis 0, constant indices) or Slices (constant start/end, step 1) of axes other than `changing` (positions
 * in the value read).
 */
export function shapeReadProblem(shapeNode: Node, changing: readonly number[], facts: ShapeFacts): string | undefined {
  const x = shapeNode.input(0)!;
  const what = `the shape of '${x.name}' is read by ${describe(shapeNode)}`;
  if (!isStandardDomain(shapeNode.domain) || shapeNode.attr('start') || shapeNode.attr('end') || shapeNode.output(0).isGraphOutput) return what;
  const rank = facts.rank(x);
  for (const u of shapeNode.output(0).uses) {
    const g = u.node;
    if (g.opType === 'Slice' && u.index === 0 && isStandardDomain(g.domain) && g.inputs.length >= 3) {
      // torch's x.size(-2) in 1.13: Slice(Shape(x), [-2], [-1]) then Squeeze
      const [st, en] = [constantInts(g.input(1)), constantInts(g.input(2))];
      const ax = g.input(3) ? constantInts(g.input(3)) : [0];
      const sp = g.input(4) ? constantInts(g.input(4)) : [1];
      if (!st || !en || !ax || !sp || st.length !== 1 || en.length !== 1 || (ax[0] !== 0 && ax[0] !== -1) || sp[0] !== 1)
        return `${what} and used by ${describe(g)}`;
      if (rank === undefined) return `${what}, whose rank is not known`;
      const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
      for (let i = clamp(st[0]); i < clamp(en[0]); i++) if (changing.includes(i)) return `${what} for an axis whose size changes`;
      continue;
    }
    const ix = constantInts(g.input(1));
    if (g.opType !== 'Gather' || u.index !== 0 || g.getInt('axis', 0) !== 0 || !ix) return `${what} and used by ${describe(g)}`;
    for (const i of ix) {
      if (i < 0 && rank === undefined) return `${what}, whose rank is not known`;
      if (changing.includes(i < 0 ? i + rank! : i)) return `${what} for an axis whose size changes`;
    }
  }
  return undefined;
}
