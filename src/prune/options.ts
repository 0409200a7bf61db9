/**
 * The options of prune() (and so of `autoglm prune`), and the check of their combinations: every impossible
 * combination is a UsageError (exit 2) before any work starts.
 */
import { UsageError } from '../errors.js';
import type { Feeds } from '../runtime/session.js';
import { parseEdgeRule } from '../measure/graph-f1.js';
import { parseNM } from './nm.js';
import type { SearchProgress } from './search.js';
import { UNIT_KINDS, type Criterion, type PruneMethod, type UnitKind } from './types.js';

export interface PruneOptions {
  /** default 'graph' (lossless only) */
  method?: PruneMethod;
  /** structured: which units (default all: ffn, heads, channels) */
  units?: readonly UnitKind[];
  /** fraction removed (magnitude: of weights; structured: of units per group); default 0.5 */
  sparsity?: number;
  /** magnitude: one threshold over all layers */
  global?: boolean;
  /** nm: the pattern, `{ n: 2, m: 4 }` or '2:4' (default) */
  nm?: { n: number; m: number } | string;
  /** structured: kept channels per group rounded to a multiple of this */
  roundTo?: number;
  /** default 'l2' */
  criterion?: Criterion;
  /** graph outputs after pruning (sub-model extraction) */
  outputs?: readonly string[];
  /** calibration input sets; default: synthesized from the model's input types */
  calibration?: Feeds[];
  /** sizes of symbolic input dimensions for synthesized inputs */
  dims?: Record<string, number>;
  /** synthesized calibration sets (default 4) */
  calibrationSets?: number;
  seed?: number;
  targetF1?: number;
  maxError?: number;
  targetLatency?: number;
  /** resumable search state */
  checkpoint?: string;
  /** search levels (default 0.1 .. 0.9) */
  levels?: number[];
  latencyRuns?: number;
  /** edge threshold of graph F1: absolute (default 0.2) or relative to uniform attention ('4/T') */
  graphThreshold?: number | string;
  /** graph F1 edges: 'threshold' (default) or 'topk:K' */
  graphEdges?: string;
  /** search co-limit: worst top-1 agreement over the outputs (default 0.9 with --target-f1; 0 = off); without a search, a self-check threshold */
  minTop1?: number;
  /** search co-limit: worst output cosine (default 0.99 with --target-f1; 0 = off); without a search, a self-check threshold */
  minCosine?: number;
  /** the self-check of a lossy prune without a search (default true; see PruneReport.check) */
  check?: boolean;
  /** measure FLOPs and graph F1 with onnxruntime (default true; off: no runs unless a search or activations need them) */
  measure?: boolean;
  onProgress?: (p: PruneProgress) => void;
}

export interface PruneProgress {
  phase: 'measure' | 'graph' | 'importance' | 'search' | 'prune' | 'verify';
  message: string;
  search?: SearchProgress;
}

export function checkOptions(o: PruneOptions): void {
  const method = o.method ?? 'graph';
  if (!['graph', 'magnitude', 'nm', 'structured'].includes(method)) throw new UsageError(`unknown method '${method}'; use graph, magnitude, nm or structured`);
  if (o.sparsity !== undefined && !(o.sparsity >= 0 && o.sparsity < 1)) throw new UsageError(`--sparsity must be in [0, 1), got ${o.sparsity}`);
  if (o.sparsity !== undefined && method !== 'magnitude' && method !== 'structured')
    throw new UsageError(`--sparsity applies to --method magnitude or structured${method === 'nm' ? ' (N:M fixes the sparsity at 1 - N/M)' : ''}`);
  if (o.global && method !== 'magnitude') throw new UsageError('--global applies to --method magnitude');
  if (o.roundTo !== undefined && !(Number.isInteger(o.roundTo) && o.roundTo >= 1))
    throw new UsageError(`--round-to must be a positive integer, got ${o.roundTo}`);
  if (o.roundTo !== undefined && o.roundTo > 1 && method !== 'structured') throw new UsageError('--round-to applies to --method structured');
  if (o.units && method !== 'structured') throw new UsageError('--units applies to --method structured');
  for (const u of o.units ?? []) if (!UNIT_KINDS.includes(u)) throw new UsageError(`unknown unit '${u}'; use ${UNIT_KINDS.join(', ')}`);
  if (o.nm !== undefined && method !== 'nm') throw new UsageError('--nm applies to --method nm');
  if (typeof o.nm === 'string' && !parseNM(o.nm)) throw new UsageError(`--nm must be N:M with 1 <= N < M (e.g. 2:4), got '${o.nm}'`);
  if (o.criterion && !['l1', 'l2', 'activation'].includes(o.criterion)) throw new UsageError(`unknown criterion '${o.criterion}'; use l1, l2 or activation`);
  if (o.criterion && method === 'graph') throw new UsageError('--criterion applies to the lossy methods (magnitude, nm, structured)');
  const search = o.targetF1 !== undefined || o.maxError !== undefined || o.targetLatency !== undefined;
  if (o.targetF1 !== undefined && o.maxError !== undefined) throw new UsageError('give either --target-f1 or --max-error, not both');
  if (o.targetF1 !== undefined && !(o.targetF1 > 0 && o.targetF1 <= 1)) throw new UsageError(`--target-f1 must be in (0, 1], got ${o.targetF1}`);
  if (o.maxError !== undefined && !(o.maxError >= 0)) throw new UsageError(`--max-error must be a non-negative number, got ${o.maxError}`);
  if (o.targetLatency !== undefined && !(o.targetLatency > 0)) throw new UsageError(`--target-latency must be a positive ratio, got ${o.targetLatency}`);
  if (search && method === 'graph')
    throw new UsageError('a search (--target-f1, --max-error, --target-latency) needs a lossy --method (magnitude, nm or structured)');
  if (search && o.global) throw new UsageError('--global does not combine with a search, which picks a sparsity per layer');
  if (search && o.sparsity !== undefined) throw new UsageError('--sparsity does not combine with a search, which picks the sparsity');
  for (const [flag, v] of [
    ['--min-top1', o.minTop1],
    ['--min-cosine', o.minCosine],
  ] as const) {
    if (v === undefined) continue;
    if (!(v >= 0 && v <= 1)) throw new UsageError(`${flag} must be in [0, 1], got ${v}`);
    if (method === 'graph') throw new UsageError(`${flag} applies to the lossy methods (a search co-limit, or the self-check of a fixed sparsity)`);
    if (!search && o.check === false) throw new UsageError(`${flag} is a self-check threshold: it does not combine with --no-check`);
  }
  parseEdgeRule(o.graphThreshold, o.graphEdges);
  if (o.checkpoint && !search) throw new UsageError('--checkpoint applies to a search (--target-f1, --max-error or --target-latency)');
  if (o.calibrationSets !== undefined && !(Number.isInteger(o.calibrationSets) && o.calibrationSets >= 1))
    throw new UsageError('calibration sets must be a positive integer');
}
