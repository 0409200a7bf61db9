/**
 * Structured pruning: find unit groups (channels.ts, heads.ts), rank their units (importance.ts), and cut every member
 * of a group with the same kept indices. Cutting replaces each constant by a new, smaller initializer (the old one is
 * dropped when nothing else reads it), rewrites the shape constants and `group` attributes the group names, and
 * updates declared shapes of the values in between, so the model stays valid with smaller tensors and less compute.
 */
import { Attribute, type Graph, type Node, type Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { runPassList } from '../pass/manager.js';
import eliminateDeadNodes from '../passes/eliminate-dead-nodes.js';
import foldConstants from '../passes/fold-constants.js';
import fuseReshapeGemm from '../passes/fuse-reshape-gemm.js';
import { constantOf } from '../rewrite/constant.js';
import { analyzeChannels } from './channels.js';
import { analyzeHeads } from './heads.js';
import { keptCount, topUnits, unitScores, type ActivationNorms } from './importance.js';
import { sliceUnits } from './tensors.js';
import type { Criterion, ShapeMap, SkippedUnit, UnitAnalysis, UnitGroup, UnitKind } from './types.js';

export interface AnalyzeOptions {
  units: readonly UnitKind[];
  shapes?: ShapeMap;
}

/**
 * The lossless rewrites structured pruning needs before its analysis sees the units: torch's `addmm` linears (Hugging
 * Face Conv1D, GPT-2's c_attn/c_fc/c_proj) are exported as Reshape-Gemm-Reshape, which hides the feature axis behind
 * a flatten; fuse-reshape-gemm makes them MatMul + Add on the N-D input, fold-constants folds the shape arithmetic
 * that only constants feed. Returns the number of linears rewritten (0 when the model already had that form).
 */
export function canonicalizeForStructured(model: Model): number {
  const r = runCanonicalization(model);
  const p = r.passes.find((x) => x.name === fuseReshapeGemm.name);
  return p ? Object.values(p.counts).reduce((a, b) => a + b, 0) : 0;
}

const runCanonicalization = (model: Model) => runPassList(model, [fuseReshapeGemm, foldConstants, eliminateDeadNodes]);

/** Every prunable unit group of the requested kinds in the main graph, and what was left alone. */
export function analyzeUnits(model: Model, opts: AnalyzeOptions): UnitAnalysis {
  const groups: UnitGroup[] = [];
  const skipped: SkippedUnit[] = [];
  let claimed = new Set<Node>();
  if (opts.units.includes('heads')) {
    const h = analyzeHeads(model.graph, { shapes: opts.shapes, opset: model.opset('') ?? 13 });
    groups.push(...h.groups);
    skipped.push(...h.skipped);
    claimed = h.claimed;
  }
  const kinds = opts.units.filter((k) => k !== 'heads');
  if (kinds.length) {
    const c = analyzeChannels(model.graph, { kinds, shapes: opts.shapes, claimed });
    groups.push(...c.groups.filter((g) => !g.slices.some((s) => s.role !== 'param' && claimed.has(s.node))));
    skipped.push(...c.skipped);
  }
  return { groups, skipped };
}

export interface GroupDecision {
  id: string;
  kind: UnitKind;
  label: string;
  units: number;
  kept: number;
  unitWidth: number;
  /** kept unit indices, ascending */
  keep: number[];
}

export interface StructuredOptions {
  units: readonly UnitKind[];
  /** fraction of units removed per group (default 0.5); per-group values from a search override it */
  sparsity?: number;
  perGroup?: Record<string, number>;
  criterion?: Criterion;
  roundTo?: number;
  shapes?: ShapeMap;
  activations?: ActivationNorms;
  /** precomputed scores by group id (the search scores once on the original model) */
  scores?: Record<string, number[]>;
  /**
   * unit counts before any pruning, by group id: the sparsity is taken of these, and groups pruned here are added.
   * Passing the same map again makes a repeated run a no-op (the pass keeps one per model for its fixed point).
   */
  originalUnits?: Map<string, number>;
}

export interface StructuredResult {
  groups: GroupDecision[];
  skipped: SkippedUnit[];
  /** removed elements of weights (sum over the cut tensors) */
  removedParams: number;
  /** canonicalizeForStructured changed the model (a lossless rewrite, even when no unit was cut) */
  canonicalized: boolean;
}

/** Prunes the model in place (after canonicalizeForStructured, a no-op when the caller already ran it). */
export function pruneStructured(model: Model, opts: StructuredOptions): StructuredResult {
  const canonicalized = runCanonicalization(model).modified;
  const analysis = analyzeUnits(model, { units: opts.units, shapes: opts.shapes });
  const decisions: GroupDecision[] = [];
  let removedParams = 0;
  // decide every group before cutting anything: scores read the original tensors
  const plans = analysis.groups.map((g) => {
    const s = opts.perGroup?.[g.id] ?? opts.sparsity ?? 0.5;
    const scores = opts.scores?.[g.id] ? Float64Array.from(opts.scores[g.id]) : unitScores(g, opts.criterion ?? 'l2', opts.activations);
    const base = opts.originalUnits?.get(g.id) ?? g.units;
    const kept = s <= 0 ? g.units : Math.min(g.units, keptCount(base, s, g.unitWidth, opts.roundTo ?? 1));
    const keep = kept === g.units ? Array.from({ length: g.units }, (_, i) => i) : topUnits(scores, kept);
    if (opts.originalUnits && !opts.originalUnits.has(g.id)) opts.originalUnits.set(g.id, g.units);
    return { g, keep };
  });
  for (const { g, keep } of plans) {
    if (keep.length < g.units) removedParams += applyGroup(model, g, keep);
    decisions.push({ id: g.id, kind: g.kind, label: g.label, units: g.units, kept: keep.length, unitWidth: g.unitWidth, keep });
  }
  return { groups: decisions, skipped: analysis.skipped, removedParams, canonicalized };
}

/** Cuts one group down to the units `keep`; returns the number of weight elements removed. */
export function applyGroup(model: Model, g: UnitGroup, keep: readonly number[]): number {
  let removed = 0;
  const replaced = new Map<Value, Value>();
  // slices: one new tensor per original constant, cut on every (axis, width) the group names for it; the units a
  // slice does not cover (the other parts of a packed weight) stay
  const byValue = new Map<Value, { cuts: Map<string, { axis: number; width: number; offsets: Set<number> }>; readers: { node: Node; input: number }[] }>();
  for (const s of g.slices) {
    const v = s.node.input(s.input)!;
    const e = byValue.get(v) ?? byValue.set(v, { cuts: new Map(), readers: [] }).get(v)!;
    const key = `${s.axis}/${s.width}`;
    const cut = e.cuts.get(key) ?? e.cuts.set(key, { axis: s.axis, width: s.width, offsets: new Set() }).get(key)!;
    cut.offsets.add(s.offset ?? 0);
    if (!e.readers.some((r) => r.node === s.node && r.input === s.input)) e.readers.push({ node: s.node, input: s.input });
  }
  const kept = new Set(keep);
  for (const [v, { cuts, readers }] of byValue) {
    let t = constantOf(v)!;
    const before = t.size;
    for (const { axis, width, offsets } of cuts.values()) {
      const total = t.dims[axis] / width;
      const idx: number[] = [];
      for (let u = 0; u < total; u++) {
        const o = [...offsets].find((x) => u >= x && u < x + g.units);
        if (o === undefined || kept.has(u - o)) idx.push(u);
      }
      t = sliceUnits(t, axis, idx, width);
    }
    removed += before - t.size;
    const graph = readers[0].node.graph!;
    const nv = addTensor(graph, v.name, t);
    for (const r of readers) r.node.setInput(r.input, nv);
    replaced.set(v, nv);
  }
  // shape constants
  const edits = new Map<Node, Map<number, Map<number, number>>>();
  for (const e of g.shapeEdits) {
    const perNode = edits.get(e.node) ?? edits.set(e.node, new Map()).get(e.node)!;
    const set = perNode.get(e.input) ?? perNode.set(e.input, new Map()).get(e.input)!;
    set.set(e.index, keep.length * e.perUnit);
  }
  for (const [node, perNode] of edits)
    for (const [input, set] of perNode) {
      const v = node.input(input)!;
      const t = constantOf(v)!;
      const vals = t.toNumbers();
      for (const [i, x] of set) vals[i] = x;
      const nv = addTensor(node.graph!, v.name, Tensor.fromArray(t.dataType, t.dims, vals));
      node.setInput(input, nv);
      replaced.set(v, nv);
    }
  for (const a of g.attrEdits) a.node.setAttr(Attribute.int(a.name, keep.length * a.perUnit));
  for (const d of g.dimEdits) setDeclaredDim(d.value, d.axisFromEnd, keep.length * d.perUnit);
  // the new tensors take the old names when the old ones are gone
  for (const [v, nv] of replaced) if (dropIfUnused(v)) nv.name = v.name;
  return removed;
}

function addTensor(graph: Graph, base: string, t: Tensor): Value {
  return graph.addConstant(base, t);
}

/** Removes an initializer or Constant node nothing reads any more; true when it did. */
export function dropIfUnused(v: Value): boolean {
  if (v.uses.length || v.isGraphOutput) return false;
  if (v.initializer && v.graph && v.graph.initializers.get(v.name) === v && !v.isGraphInput) {
    v.graph.removeInitializer(v);
    return true;
  }
  const p = v.producer;
  if (p && p.opType === 'Constant' && p.graph && p.outputs.every((o) => !o || (!o.uses.length && !o.isGraphOutput))) {
    p.graph.removeNode(p);
    return true;
  }
  return false;
}

/** Sets a numeric declared dimension (counted from the end); symbolic and unknown dims are left as they are. */
function setDeclaredDim(v: Value, axisFromEnd: number, size: number): void {
  const tt = v.type?.tensor_type as Record<string, unknown> | undefined;
  const shape = tt?.shape as { dim?: Record<string, unknown>[] } | undefined;
  if (!tt || !shape?.dim) return;
  const i = shape.dim.length - axisFromEnd;
  if (i < 0 || shape.dim[i].dim_value === undefined) return;
  const dim = shape.dim.map((d, j) => (j === i ? { ...d, dim_value: size } : d));
  v.type = { ...v.type, tensor_type: { ...tt, shape: { ...shape, dim } } };
}
