/**
 * The data the pruning modules pass around: unit groups found by the structured analysis, what was left alone and
 * why, and the per-layer report rows. Reports are plain data (JSON-safe); the CLI renders them.
 */
import type { Node, Value } from '../ir/graph.js';

export type PruneMethod = 'graph' | 'magnitude' | 'nm' | 'structured';
export type UnitKind = 'ffn' | 'heads' | 'channels';
export const UNIT_KINDS: readonly UnitKind[] = ['ffn', 'heads', 'channels'];
export type Criterion = 'l1' | 'l2' | 'activation';

/** A constant read by a node, cut along one axis in blocks of `width` entries per unit. */
export interface WeightSlice {
  node: Node;
  input: number;
  axis: number;
  width: number;
  /** source: the weight that produces the units; sink: the weight that consumes them; param: bias, BN, scale */
  role: 'source' | 'sink' | 'param';
  /**
   * where the group's units start on the axis, in units of `width` (default 0): a packed projection (GPT-2's c_attn,
   * q|k|v in one weight) holds several groups of units side by side; the entries outside [offset, offset + units)
   * are not the group's and are kept
   */
  offset?: number;
}

/** Element `index` of a 1-D integer constant read by `node` at `input` becomes `kept units * perUnit`. */
export interface ShapeEdit {
  node: Node;
  input: number;
  index: number;
  perUnit: number;
}

/** An integer attribute that becomes `kept units * perUnit` (the `group` of a depthwise Conv). */
export interface AttrEdit {
  node: Node;
  name: string;
  perUnit: number;
}

/** A declared dimension (counted from the end of the shape, 1 = last) that becomes `kept units * perUnit`. */
export interface DimEdit {
  value: Value;
  axisFromEnd: number;
  perUnit: number;
}

/** The activation a sink weight reads (for activation-aware importance): channel axis counted from the end. */
export interface SinkInput {
  value: Value;
  axisFromEnd: number;
  slice: WeightSlice;
}

/** A set of units that are removed together: every member tensor is cut with the same kept indices. */
export interface UnitGroup {
  id: string;
  kind: UnitKind;
  /** number of units (neurons, channels, heads) */
  units: number;
  /** channels per unit (1, or the head size) */
  unitWidth: number;
  /** a short human label: the node that produces the units */
  label: string;
  slices: WeightSlice[];
  shapeEdits: ShapeEdit[];
  attrEdits: AttrEdit[];
  dimEdits: DimEdit[];
  sinks: SinkInput[];
  /** every node that reads or writes the units (for reports) */
  nodes: string[];
}

/** A unit (or group of them) that was left alone, and why. */
export interface SkippedUnit {
  id: string;
  kind: UnitKind;
  /** the node or value where the analysis stopped */
  where: string;
  reason: string;
}

export interface UnitAnalysis {
  groups: UnitGroup[];
  skipped: SkippedUnit[];
}

/** One weight tensor in the before/after report. */
export interface LayerReport {
  /** the weight tensor's name (before pruning) */
  name: string;
  /** the node reading it (op and name) */
  node: string;
  shapeBefore: number[];
  shapeAfter: number[];
  paramsBefore: number;
  paramsAfter: number;
  nonZeroAfter: number;
  /** share of the original elements removed or zero now: 1 - nonZeroAfter / paramsBefore */
  sparsity: number;
  /** share of the original elements really removed */
  removed: number;
}

/** Shapes by value name (from a runtime probe), used where the graph does not state them. */
export type ShapeMap = ReadonlyMap<string, readonly number[]>;
