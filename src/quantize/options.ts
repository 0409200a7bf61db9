/**
 * Options of the float16 / bfloat16 conversion, the default operator block list (with the reason for each entry)
 * and the parsing of block lists as the CLI and configs write them.
 */
import { DataType } from '../ir/dtype.js';
import type { Node } from '../ir/graph.js';
import { UsageError } from '../errors.js';

/** The two target types. */
export type LowDType = 'fp16' | 'bf16';

export const LOW_TYPE: Record<LowDType, DataType> = { fp16: DataType.FLOAT16, bf16: DataType.BFLOAT16 };
export const LOW_NAME: Record<LowDType, string> = { fp16: 'float16', bf16: 'bfloat16' };

export interface ConvertOptions {
  dtype: LowDType;
  /**
   * Keep float32 model inputs and outputs (Casts at the boundary): true for all of them, or the names to keep.
   * Default false: every float32 input and output of the main graph becomes the low type.
   */
  keepIoTypes?: boolean | readonly string[];
  /** Operator types that stay float32 (replaces DEFAULT_OP_BLOCK_LIST; see resolveOpBlockList for `+` to extend). */
  opBlockList?: readonly string[];
  /** Nodes that stay float32: exact names, or regular expressions tested against the name. */
  nodeBlockList?: readonly (string | RegExp)[];
  /** Store weights in the low type with a Cast to float32 after each; compute stays float32. */
  weightsOnly?: boolean;
  /** weights-only: tensors with fewer elements stay float32 (default 16: scalars, epsilons, small shapes) */
  weightsMinElements?: number;
  /**
   * Constants holding finite values beyond the low type's range (a BatchNormalization variance above 65504 in
   * float16; for bfloat16, whose range is float32's, only values within 0.4% of float32's maximum) are never clamped
   * by default: the nodes that read them stay float32 (KeepReasonCode 'out-of-range'), so the model computes what it
   * computed. `clamp: true` converts them anyway, saturating those values to the largest finite value (+-65504,
   * +-3.39e38), counted per tensor in the report. Fusing first (BatchNormalization into the Conv before it, as
   * `optimize --preset cnn` does) often folds such a constant into values that fit.
   */
  clamp?: boolean;
  /** @internal node keys (see nodeKeys) to keep in float32: how --mixed tries keep-sets */
  keepNodeKeys?: ReadonlySet<string>;
}

export interface BlockEntry {
  op: string;
  reason: string;
}

/**
 * Operators kept in float32 by default, even though their ONNX definition allows float16. Everything else the
 * definitions forbid (Range's T, Resize's scales, NonMaxSuppression's boxes, LayerNormalization's statistics,
 * bfloat16 Conv below opset 22, ...) is derived from src/onnx/opschema.ts, and operators the table does not know
 * (ai.onnx.ml, custom domains) stay float32 with Casts at their boundary. Overflow-prone arithmetic (Pow,
 * ReduceSum, Exp) is not blocked here: whether it overflows depends on the data, which `--mixed` measures.
 */
export const DEFAULT_OP_BLOCK_LIST: readonly BlockEntry[] = [
  {
    op: 'CumSum',
    reason:
      'running sums of counts and positions (position ids from an attention mask) pass 2048, above which float16 no longer holds every integer; long sums also accumulate rounding error',
  },
  {
    op: 'RoiAlign',
    reason: 'box coordinates are pixel positions: above 2048 float16 steps by 2 or more, which moves the sampled regions',
  },
  { op: 'DFT', reason: 'a transform sums over the whole signal; its float16 error grows with the transform length' },
  { op: 'STFT', reason: 'a short-time transform sums over each frame; its float16 error grows with the frame length' },
  {
    op: 'QuantizeLinear',
    reason: 'quantization scales are calibrated float32 values: rounding them moves every quantized value (opset 19+ would allow float16)',
  },
  { op: 'DequantizeLinear', reason: 'quantization scales are calibrated float32 values: rounding them moves every dequantized value' },
  {
    op: 'RandomNormal',
    reason:
      "no float16 kernel in onnxruntime's CPU provider, which casts to float32 only around nodes with float16 inputs: a float16 generator without inputs fails to load; sampling in float32 then casting draws the same distribution",
  },
  { op: 'RandomUniform', reason: 'as RandomNormal: no float16 kernel on onnxruntime CPU and no input to cast around' },
];

export const DEFAULT_OP_BLOCK_NAMES: readonly string[] = DEFAULT_OP_BLOCK_LIST.map((e) => e.op);

/**
 * The effective op block list: undefined gives the default; a list replaces it; a list whose first entry starts with
 * '+' extends the default ('+Softmax,Exp'); [] or ['none'] blocks nothing.
 */
export function resolveOpBlockList(list: readonly string[] | undefined): string[] {
  if (list === undefined) return [...DEFAULT_OP_BLOCK_NAMES];
  const items = list.map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 1 && items[0].toLowerCase() === 'none') return [];
  if (items.length && items[0].startsWith('+')) return [...new Set([...DEFAULT_OP_BLOCK_NAMES, items[0].slice(1).trim(), ...items.slice(1)].filter(Boolean))];
  return [...new Set(items)];
}

/** Splits a comma-separated list, keeping commas inside /regex/ entries. */
export function splitList(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && (text[i] === ',' || text[i] === ' ')) i++;
    if (i >= text.length) break;
    let j = i;
    if (text[i] === '/') {
      j = i + 1;
      while (j < text.length && !(text[j] === '/' && text[j - 1] !== '\\')) j++;
      j++;
      while (j < text.length && /[a-z]/.test(text[j])) j++;
      if (j < text.length && text[j] !== ',') throw new UsageError(`node block list: expected ',' after the pattern ${text.slice(i, j)}`);
    } else while (j < text.length && text[j] !== ',') j++;
    out.push(text.slice(i, j).trim());
    i = j;
  }
  return out;
}

/** Parses `name,/regex/flags,...` into names and RegExps. */
export function parseNodeBlockList(text: string | readonly string[]): (string | RegExp)[] {
  const items = typeof text === 'string' ? splitList(text) : text.flatMap((t) => splitList(t));
  return items.map((s) => {
    const m = /^\/(.*)\/([a-z]*)$/s.exec(s);
    if (!m) return s;
    try {
      return new RegExp(m[1], m[2].replace(/[gy]/g, '')); // stateless: test() must not depend on lastIndex
    } catch (e) {
      throw new UsageError(`node block list: ${s} is not a valid regular expression (${(e as Error).message})`);
    }
  });
}

/** The name a node is matched by: its name, or (unnamed) its first output's name. */
export function nodeMatchName(n: Node): string {
  return n.name || n.outputs.find((o) => o)?.name || '';
}

export function matchesNodeList(n: Node, list: readonly (string | RegExp)[]): string | RegExp | undefined {
  const name = nodeMatchName(n);
  return list.find((e) => (typeof e === 'string' ? e === name : e.test(name)));
}

export function keepsIo(opts: ConvertOptions, name: string): boolean {
  const k = opts.keepIoTypes;
  if (k === true) return true;
  if (!k) return false;
  return k.includes(name);
}
