/**
 * The report of prune(): data first (JSON-safe), rendered by the CLI as tables or printed with --json.
 * Also the measurements it is made of: parameter statistics, encoded size, per-layer sparsity.
 */
import type { FlopsEstimate, GraphF1Report } from '../measure/types.js';
import { countParameters } from '../inspect.js';
import type { Model } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { forEachTensor } from '../onnx/io.js';
import { messageSize } from '../onnx/schema.js';
import { modelToMsg } from '../onnx/serde.js';
import type { GraphPruneReport } from './graph.js';
import type { SearchReport } from './search.js';
import type { GroupDecision } from './structured.js';
import type { Criterion, LayerReport, PruneMethod, SkippedUnit, UnitKind } from './types.js';
import { findPrunableWeights } from './weights.js';

export interface ModelStats {
  parameters: number;
  nonZero: number;
  /** bytes of the weights */
  weightBytes: number;
  /** encoded model size (the CLI replaces the output's with the written file's size) */
  fileSize: number;
  nodes: number;
  /** estimated FLOPs of one run on the first calibration set (MatMul/Gemm/Conv), null when not measured */
  flops: number | null;
}

export interface PruneReport {
  schema: 1;
  method: PruneMethod;
  settings: {
    units: UnitKind[] | null;
    sparsity: number | null;
    global: boolean;
    nm: string | null;
    roundTo: number;
    criterion: Criterion | null;
    outputs: string[] | null;
    calibration: { sets: number; source: 'given' | 'synthesized' } | null;
  };
  before: ModelStats;
  after: ModelStats;
  parameters: { before: number; after: number; removed: number; zeroed: number; nonZeroBefore: number; nonZeroAfter: number };
  graph: GraphPruneReport;
  layers: LayerReport[];
  /** structured: every group and how many units it kept */
  groups: Omit<GroupDecision, 'keep'>[];
  /** units left alone, with the reason */
  skipped: SkippedUnit[];
  /** weights unstructured pruning left alone */
  skippedWeights: { name: string; reason: string }[];
  search: SearchReport | null;
  fidelity: { graphF1: GraphF1Report; maxError: number } | null;
  /**
   * The numeric self-check of a lossy prune without a search (a search holds its own limits): the pruned model's
   * outputs against the original's on the calibration inputs. Fails on an output that becomes non-finite or cannot be
   * compared, and below --min-cosine / --min-top1 when given. null when not run (lossless, a search, --no-check, or
   * no onnxruntime measurements).
   */
  check: { passed: boolean; minCosine: number | null; minTop1: number | null; failures: string[]; worstOutput: string | null } | null;
  flops: { before: FlopsEstimate | null; after: FlopsEstimate | null };
  /** false when a search could not meet its targets (the model is then left as graph pruning made it) */
  ok: boolean;
  notes: string[];
  ms: { total: number; prune: number; search: number | null };
}

/** Bytes the model encodes to with every tensor inline (computed, not written). */
export function encodedSize(model: Model): number {
  return messageSize('ModelProto', modelToMsg(model), new Map());
}

export function countNodes(m: Model): number {
  let n = 0;
  for (const _ of m.allNodes()) n++;
  return n;
}

export function modelStats(model: Model, fileSize: number, flops: FlopsEstimate | null): ModelStats {
  const p = countParameters(model);
  return { parameters: p.total, nonZero: p.nonZero, weightBytes: p.bytes, fileSize, nodes: countNodes(model), flops: flops?.total ?? null };
}

export interface WeightSnapshot {
  name: string;
  node: string;
  dims: number[];
  size: number;
}

export function snapshotWeights(model: Model): WeightSnapshot[] {
  return findPrunableWeights(model).weights.map((w) => ({
    name: w.value.name,
    node: `${w.node.opType} ${w.node.name || ''}`.trim(),
    dims: [...w.tensor.dims],
    size: w.tensor.size,
  }));
}

export function layerReports(before: WeightSnapshot[], model: Model): LayerReport[] {
  const byName = new Map<string, Tensor>();
  forEachTensor(model, (t) => {
    if (t.name) byName.set(t.name, t);
  });
  for (const n of model.allNodes()) if (n.opType === 'Constant' && n.outputs[0] && n.getTensor('value')) byName.set(n.output(0).name, n.getTensor('value')!);
  return before.map((b) => {
    const t = byName.get(b.name);
    const after = t?.size ?? 0;
    const nz = t ? t.countNonZero() : 0;
    return {
      name: b.name,
      node: b.node,
      shapeBefore: b.dims,
      shapeAfter: t ? [...t.dims] : [],
      paramsBefore: b.size,
      paramsAfter: after,
      nonZeroAfter: nz,
      sparsity: b.size ? 1 - nz / b.size : 0,
      removed: b.size ? 1 - after / b.size : 0,
    };
  });
}
