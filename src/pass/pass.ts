/**
 * The one pass interface every rewrite in autoglm implements (clean-up, fusion, conversion, pruning).
 */
import type { Model } from '../ir/model.js';
import type { Node } from '../ir/graph.js';

export type PassKind = 'cleanup' | 'fusion' | 'conversion' | 'pruning';

/** Which operators a pass may emit: standard ONNX only, or onnxruntime contrib ops (com.microsoft) too. */
export type Target = 'onnx' | 'ort';

/** Why a rewrite did not fire on a node that looked like a candidate (powers `--explain`). */
export interface NearMiss {
  pass: string;
  rule: string;
  node: string;
  reason: string;
}

export interface PassContext {
  target: Target;
  /** records a near miss; present only when the user asked for explanations */
  explain?: (m: NearMiss) => void;
  /** pass-specific options (e.g. the size cap of constant folding) */
  options: Record<string, unknown>;
  /** informational messages for the user (shown by the CLI) */
  log: (message: string) => void;
}

export interface PassResult {
  modified: boolean;
  /** what changed, by kind: { fused: 12, removed: 3 } */
  counts: Record<string, number>;
  notes?: string[];
}

export interface Pass {
  /** kebab-case verb phrase, equal to the file name under src/passes */
  name: string;
  /** one line for `--list` */
  description: string;
  kind: PassKind;
  /** true when outputs stay equal (within float rounding); false for lossy passes */
  lossless: boolean;
  /** tolerance outputs stay within, for lossy passes */
  tolerance?: { rtol: number; atol: number };
  /** whether the pass applies inside If/Loop/Scan bodies and functions */
  recursesIntoSubgraphs: boolean;
  run(model: Model, ctx: PassContext): PassResult;
}

export function defaultContext(partial: Partial<PassContext> = {}): PassContext {
  return { target: 'onnx', options: {}, log: () => {}, ...partial };
}

export type { Node };
