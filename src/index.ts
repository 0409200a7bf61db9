/**
 * autoglm's library API. Everything the CLI does is a function here, one name each. Every step rewrites the model
 * in place; the steps that run the model (prune measures it, quantize checks it) are async:
 *
 *   import { benchmark, fuse, loadModel, prune, quantize, saveModel } from 'autoglm';
 *   const model = loadModel('model.onnx');
 *   fuse(model, { preset: 'transformer' });
 *   await prune(model, { method: 'structured', units: ['ffn'], sparsity: 0.5, dims: { batch: 1, sequence: 32 } });
 *   await quantize(model, { dtype: 'fp16', keepIoTypes: true });
 *   saveModel(model, 'model.opt.onnx');
 *   const result = await benchmark({ baseline: 'model.onnx', candidates: ['model.opt.onnx'], dims: { batch: 1, sequence: 32 }, gates: ['graphF1 >= 0.95'] });
 */
export { DataType, dtypeName, dtypeFromName, dtypeBits, isFloatType } from './ir/dtype.js';
export { Tensor, type TensorArray, type ExternalRef } from './ir/tensor.js';
export { Value, Node, Graph, Attribute, AttrType, IRError, NameSet, type Use, type AddNodeOptions } from './ir/graph.js';
export { Model, ModelFunction, type OpsetImport } from './ir/model.js';
export { tensorType, elemTypeOf, shapeOf, withElemType, type Dim, type TypeProto } from './ir/types.js';
export { verify, checkModel, VerifyError } from './ir/verify.js';
export { createModel, GraphBuilder, subgraph, floatTensor, int64Tensor, int32Tensor, boolTensor, ints, scalar } from './ir/builder.js';
export { loadModel, saveModel, decodeModelBytes, forEachTensor, type SaveOptions, type SaveResult, type LoadOptions } from './onnx/io.js';
export { encodeModel } from './onnx/encode.js';
export { AutoglmError, ModelFormatError, UsageError, OperationError, EXIT } from './errors.js';
export { inspectModel, countParameters, isWeightTensor, type InspectResult, type ParamStats } from './inspect.js';
export type { RunReport, RunOptions, PassReport } from './pass/manager.js';
export {
  allPasses,
  fuse,
  getPass,
  PASS_NAMES,
  presets,
  resolvePasses,
  runPasses,
  type FuseOptions,
  type PassName,
  type PassPresetName,
} from './optimize/registry.js';
export type { Pass, PassContext, PassResult, PassKind, Target, NearMiss } from './pass/pass.js';
/** The pattern DSL and rewrite engine, for writing passes: `import { rewrite } from 'autoglm'; const { add, c, op } = rewrite;` */
export * as rewrite from './rewrite/index.js';
export { createSession, runSession, type SessionOptions, type Feeds } from './runtime/session.js';
export { loadInputs, loadInputsFile, loadInputsDir } from './inputs/load.js';
export { synthesizeInputs } from './inputs/synthesize.js';
export { describeInputs } from './inputs/describe.js';
export { benchmark, type BenchOptions, type BenchProgress, type ModelInput, type ServerScenarioOptions } from './bench/benchmark.js';
export * from './bench/types.js';
export { parseGate, parseBudget, loadBudget, evaluateGates, type Gate } from './bench/gates.js';
export { renderBenchTable } from './bench/report-table.js';
export { renderBenchJson } from './bench/report-json.js';
export { renderBenchMarkdown } from './bench/report-markdown.js';
export { renderBenchJunit } from './bench/report-junit.js';
export { renderBenchHtml } from './bench/report-html.js';
export { renderBenchPrometheus } from './bench/prometheus.js';
export { relationGraph, renderGraphDot, renderGraphJson, renderGraphSvg, loadVocab, type RelationGraph, type GraphEdge } from './bench/graph.js';
export { runServerScenario, parseSlo, poissonArrivals, type ServerOptions, type Slo } from './bench/server.js';
export { parseBatching, AdaptiveBatcher, type BatchPolicy } from './bench/batching.js';
export { runDecodeBenchmark, decoderSignature, type DecodeOptions } from './bench/decode.js';
export { optimize, presetPipeline, passListFor, type OptimizeReport, type StepReport } from './optimize/pipeline.js';
export { loadConfig, checkConfig, type OptimizeConfig, type PresetName } from './optimize/config.js';
export * from './prune/index.js';
export { probeModel, channelEnergy, type ProbeOptions, type ProbeResult } from './measure/probe.js';
export { compareModels, compareRuns } from './measure/compare-models.js';
export { compareOutputs, worstError, type OutputSet, type FloatTensor } from './measure/fidelity.js';
export { adaptFeeds, adaptFeed } from './inputs/adapt.js';
export { fidelityReference, measureFidelity, normalizedMaxError, type FidelityReference, type FidelityMeasure } from './measure/fidelity-probe.js';
export {
  quantize,
  type QuantizeOptions,
  convertFloat,
  convertMixed,
  emulateConversion,
  checkTypes,
  inferElemTypes,
  measureEmulated,
  DEFAULT_OP_BLOCK_LIST,
  resolveOpBlockList,
  parseNodeBlockList,
  type ConvertOptions,
  type MixedOptions,
  type QuantizeReport,
  type LowDType,
  quantizeDynamic,
  quantizeInt4,
  quantizeStatic,
  quantizeEmbeddings,
  quantizeGuided,
  checkQuantized,
  calibrateRanges,
  recommendInt8,
  detectCpuFeatures,
  parseCpuFlags,
  DEFAULT_MIN_COSINE,
  type DynamicQuantizeOptions,
  type Int4Options,
  type StaticQuantizeOptions,
  type StaticQuantizeReport,
  type EmbeddingOptions,
  type GuidedOptions,
  type GuidedReport,
  type IntCheckReport,
  type IntTolerance,
  type IntQuantizeReport,
  type QuantizedNode,
  type SkippedNode,
  type CpuFeatures,
  type Int8Recommendation,
} from './quantize/index.js';
export { getOpSchema, inputTypeVar, outputTypeVar, fixedFloatInputs } from './onnx/opschema.js';
export { loadSweepConfig, checkSweepConfig, type SweepConfig, type SweepModel, type SweepRecipe, type SweepBench } from './sweep/config.js';
export { expandJobs, parseShard, type Job, type Shard } from './sweep/jobs.js';
export { runSweep, runJob, type SweepOptions, type SweepSummary, type JobResult, type JobVerdict } from './sweep/runner.js';
export { ModelCache, type CacheStats } from './sweep/cache.js';
export { mergeResults, paretoFront, type SweepReport, type MergedJob } from './sweep/merge.js';
export { renderSweepTable, renderSweepJson, renderSweepMarkdown, renderSweepHtml } from './sweep/report.js';
export { emitK8sJob, type K8sOptions, type K8sJob } from './sweep/k8s.js';
export { initSweepConfig } from './sweep/init.js';
