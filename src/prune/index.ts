/**
 * The pruning library API (what `autoglm prune` uses). src/index.ts re-exports it.
 *
 *   const { report } = await prune(model, { method: 'structured', units: ['ffn'], sparsity: 0.5 });
 *   pruneGraph(model, { outputs: ['logits'] });            // lossless, synchronous
 *   pruneStructured(model, { units: ['heads'], sparsity: 0.25 });
 */
export { prune, DEFAULT_LEVELS, ZEROS_NOTE } from './prune.js';
export { checkOptions, type PruneOptions, type PruneProgress } from './options.js';
export { encodedSize, layerReports, modelStats, type ModelStats, type PruneReport } from './report.js';
export { pruneGraph, findValue, type GraphPruneOptions, type GraphPruneReport } from './graph.js';
export { inlineConstantIfs, constantBranch } from './inline-if.js';
export { pruneMagnitude, lowestMasks, type MagnitudeOptions, type UnstructuredResult, type UnstructuredLayer } from './magnitude.js';
export { pruneNM, parseNM, type NMOptions } from './nm.js';
export {
  analyzeUnits,
  pruneStructured,
  applyGroup,
  type AnalyzeOptions,
  type StructuredOptions,
  type StructuredResult,
  type GroupDecision,
} from './structured.js';
export { analyzeChannels } from './channels.js';
export { analyzeHeads } from './heads.js';
export { unitScores, keptCount, topUnits, type ActivationNorms } from './importance.js';
export { findPrunableWeights, weightScores, type PrunableWeight } from './weights.js';
export { searchSparsity, latencyRatio, type SearchSpace, type SearchOptions, type SearchReport, type SearchProgress, type SearchGroup } from './search.js';
export { Checkpoint, fingerprint, configKey, CHECKPOINT_FORMAT, type CheckpointData, type Evaluation } from './checkpoint.js';
export { sliceUnits, zeroElements } from './tensors.js';
export {
  UNIT_KINDS,
  type PruneMethod,
  type UnitKind,
  type Criterion,
  type UnitGroup,
  type UnitAnalysis,
  type SkippedUnit,
  type WeightSlice,
  type ShapeEdit,
  type AttrEdit,
  type DimEdit,
  type SinkInput,
  type LayerReport,
  type ShapeMap,
} from './types.js';
