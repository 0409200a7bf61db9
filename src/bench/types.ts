/**
 * The one result object of `autoglm bench` (schema 1). The table, JSON, Markdown, JUnit and HTML reports are all
 * renderers of a BenchResult; nothing is measured or decided while rendering.
 *
 * Units: milliseconds for times, bytes for sizes and memory, floating-point operations (a multiply-add is 2) for
 * FLOPs. Ratios are candidate / baseline (> 1: the candidate has more of it, or is slower). A value that could not
 * be measured is null, never NaN (JSON cannot carry NaN).
 */
import type { Fidelity, FlopsEstimate } from '../measure/types.js';
import type { Summary } from '../measure/stats.js';

export const BENCH_SCHEMA = 1 as const;

export type OptLevel = 'disabled' | 'basic' | 'extended' | 'all';
export type ExecutionProvider = 'cpu' | 'cuda';

/** What the bench ran on and with which settings (recorded so a number can be traced to its conditions). */
export interface BenchEnvironment {
  os: { platform: string; release: string; arch: string };
  cpu: { model: string; cores: number };
  totalMemory: number;
  node: string;
  onnxruntime: string;
  autoglm: string;
}

export interface BenchSettings {
  executionProvider: ExecutionProvider;
  /** intra-op threads (0 = onnxruntime's choice) */
  threads: number;
  optimizationLevel: OptLevel;
  warmup: number;
  /** minimum number of timed rounds */
  runs: number;
  /** minimum timed duration in seconds (0 = none) */
  minTime: number;
  concurrency: number;
  sessionRepeats: number;
  seed: number;
  /** absolute edge threshold of graph F1; null with a relative (`4/T`) or top-k rule (see graphEdges) */
  graphThreshold: number | null;
  /** the graph F1 edge rule as written: '0.2', '4/T', 'topk:2' */
  graphEdges: string;
  /** skipped and inconclusive gates do not fail the run (--allow-skipped) */
  allowSkipped: boolean;
  cvThreshold: number;
  confidence: number;
  inputs: InputsSummary;
}

export interface InputsSummary {
  source: 'synthesized' | 'file' | 'folder' | 'given';
  path: string | null;
  sets: number;
  dims: Record<string, number>;
  tensors: { name: string; dtype: string; shape: number[] }[];
}

export type ModelStatus = 'ok' | 'not-runnable' | 'failed';

export interface LatencyStats extends Summary {
  /** per-run latency in ms, in the order measured (round j of every model ran back to back) */
  samples: number[];
  /** samples outside Tukey's fences (reported, not dropped) */
  outliers: number;
  /** cv above the threshold: the numbers are shown but not treated as a result */
  noisy: boolean;
}

export interface MemoryStats {
  /** median over the repeats of: peak process RSS during session creation and a first run, minus RSS just before (bytes) */
  peakDelta: number;
  /** the peak growth of every repeat (interleaved with the other models' in a shuffled order per round) */
  peakDeltas: number[];
  /** median over the repeats of RSS after creation and a first run minus RSS before (bytes) */
  retainedDelta: number;
  /** sampling period of the RSS sampler thread (ms) */
  sampleIntervalMs: number;
  samples: number;
}

export interface OperatorTime {
  op: string;
  /** mean kernel time per profiled run spent in this operator type (ms), as the profiler reports it (inflated by it) */
  ms: number;
  /** kernel invocations per run */
  calls: number;
  /** share of the profiled kernel time (0..1): the number to read */
  share: number;
  /** share x the measured (unprofiled) p50 latency: this operator's estimated part of a real run (ms); null without one */
  estMs: number | null;
}

export interface ProfileStats {
  /** profiled runs (after warm-up) */
  runs: number;
  /** mean per profiled run of the sum of kernel times (ms), profiler overhead included */
  kernelMs: number;
  /** kernelMs / measured p50 latency: how much the profiler inflates times (null without a latency) */
  overhead: number | null;
  byOp: OperatorTime[];
}

export interface LoadStats {
  concurrency: number;
  /** intra-op threads of each worker's session */
  threadsPerWorker: number;
  runs: number;
  wallMs: number;
  /** inferences per second, all workers together */
  throughput: number;
  latency: Summary;
}

export interface StaticStats {
  fileSize: number;
  parameters: { total: number; nonZero: number; bytes: number };
  nodes: number;
  flops: FlopsEstimate | null;
}

export interface ModelReport {
  label: string;
  path: string | null;
  status: ModelStatus;
  /** why the model could not be measured (status not 'ok') */
  error: string | null;
  static: StaticStats;
  /** session creation times (ms), one per repeat */
  sessionCreateMs: number[];
  sessionCreate: number | null;
  latency: LatencyStats | null;
  /** sequential inferences per second (1000 / mean latency) */
  throughput: number | null;
  memory: MemoryStats | null;
  load: LoadStats | null;
  profile: ProfileStats | null;
  /** `--scenario server`: Poisson arrivals served by a pool of sessions (server.ts); absent or null when not run */
  server?: ServerStats | null;
  /** `--decode`: prefill then token-by-token decoding with the KV cache (decode.ts); absent or null when not run */
  decode?: DecodeStats | null;
  notes: string[];
}

/** One load point of the server scenario: a seeded Poisson arrival schedule at `targetQps`, served by the pool. */
export interface ServerLoadPoint {
  targetQps: number;
  /** completed requests / (last completion - first arrival), per second */
  achievedQps: number;
  /** requests that arrived in the schedule */
  requests: number;
  completed: number;
  /** not completed within the drain time after the last arrival */
  dropped: number;
  /** completed later than the SLO bound after their arrival (0 without an SLO) */
  late: number;
  /** end-to-end latency (arrival to completion, queueing included) of the completed requests, ms */
  latency: Summary;
  /** the latencies (ms) of the completed requests; empty in the steps of a --find-max-qps search */
  samples: number[];
  /** arrival to start of its batch's run, ms */
  queueWait: Summary;
  /** the run of the batch the request was in, as the worker timed it, ms */
  compute: Summary;
  /** mean requests per run */
  meanBatch: number;
  /** the SLO held at this load (null without an SLO) */
  sloMet: boolean | null;
  /** latency percentiles of each interleaved phase (with --qps; empty for search steps): drift shows here */
  perPhase: { p50: number; p90: number; p99: number }[];
}

export interface ServerStats {
  workers: number;
  threadsPerWorker: number;
  /** 'none', 'fixed:N' or 'adaptive' */
  batching: string;
  maxBatch: number;
  maxWaitMs: number;
  durationMs: number;
  /** e.g. { stat: 'p99', boundMs: 50 } */
  slo: { stat: 'p50' | 'p90' | 'p99'; boundMs: number } | null;
  /** the load at --qps (null with --find-max-qps only) */
  load: ServerLoadPoint | null;
  /**
   * --find-max-qps: the highest load at which the SLO held; [lo, hi] brackets it (lo: highest load that held,
   * hi: lowest that did not, or the top of the search)
   */
  maxQps: { value: number; lo: number; hi: number; steps: ServerLoadPoint[] } | null;
}

export interface DecodeStats {
  promptTokens: number;
  newTokens: number;
  /** repeats of the whole generation (interleaved with the other models) */
  repeats: number;
  /** time to first token: the prefill run, ms, one per repeat */
  ttft: Summary;
  ttftSamples: number[];
  /** time per output token after the first: every decode step of every repeat, ms */
  tpot: Summary;
  tpotSamples: number[];
  /** new tokens / (ttft + decode time), per second, median over repeats */
  tokensPerSecond: number;
  /** bytes of the past/present tensors after the last step */
  cacheBytes: number;
  /** process RSS after the generation minus before it (bytes), median over repeats */
  memoryGrowth: number;
  /** the generated ids of the first prompt (greedy) */
  tokens: number[];
  /** share of generated tokens equal to the baseline's, teacher-forced on the same prompts (null for the baseline) */
  tokenAgreement: number | null;
}

export interface LatencyComparison {
  /** ratio of median latencies, candidate / baseline */
  ratio: number;
  lo: number;
  hi: number;
  level: number;
  /**
   * median of the per-round ratios candidate[j] / baseline[j] with its interval: the check a latency.p50 gate also
   * needs beyond its threshold before it fails (robust where a median jumps between the modes of a busy machine)
   */
  perRound: { ratio: number; lo: number; hi: number };
  /** either measurement had a cv above the threshold */
  noisy: boolean;
  /** faster / slower: the interval excludes 1; same: it contains 1; noisy: no verdict */
  verdict: 'faster' | 'slower' | 'same' | 'noisy';
}

export interface Ratios {
  params: number | null;
  nonZeroParams: number | null;
  size: number | null;
  flops: number | null;
  sessionCreate: number | null;
  memory: number | null;
  throughput: number | null;
  loadThroughput: number | null;
}

export interface CandidateReport extends ModelReport {
  ratios: Ratios;
  latencyRatio: LatencyComparison | null;
  fidelity: Fidelity | null;
}

/**
 * pass; fail; error (the candidate could not be measured); skipped (the metric could not be decided: the model does
 * not run on this execution provider, the metric was not measured, or graph F1 is inconclusive; see `reason`).
 * A skipped gate is not a pass: it fails the run unless --allow-skipped (`blocks`).
 */
export type GateStatus = 'pass' | 'fail' | 'skipped' | 'error';
export type SkipReason = 'not-runnable' | 'not-measured' | 'inconclusive';

export interface GateResult {
  /** the expression as written */
  gate: string;
  candidate: string;
  metric: string;
  op: '<=' | '<' | '>=' | '>';
  threshold: number;
  relative: boolean;
  status: GateStatus;
  /** the measured value (ratio when relative) */
  value: number | null;
  /** confidence interval of the value, for latency and throughput gates */
  interval: { lo: number; hi: number; level: number } | null;
  /** the interval straddles the threshold: not failed, but not shown to pass either */
  inconclusive: boolean;
  /** why a gate was skipped (null unless status is 'skipped') */
  reason: SkipReason | null;
  /** this gate makes the run fail: fail, error, and skipped unless --allow-skipped */
  blocks: boolean;
  message: string;
}

export interface BenchResult {
  schema: typeof BENCH_SCHEMA;
  createdAt: string;
  durationMs: number;
  environment: BenchEnvironment;
  settings: BenchSettings;
  baseline: ModelReport;
  candidates: CandidateReport[];
  gates: GateResult[];
  /**
   * no gate blocks (failed, errored, or skipped/inconclusive without --allow-skipped), and every candidate was
   * measured or is not runnable here
   */
  passed: boolean;
  notes: string[];
}
