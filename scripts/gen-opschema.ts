/**
 * Generates src/onnx/opschema-table.ts, the operator type-constraint table behind src/onnx/opschema.ts, from ONNX's
 * own operator documentation plus the small hand-maintained overlay below.
 *
 *     npx tsx scripts/gen-opschema.ts path/to/onnx/docs/Changelog.md [--commit <sha>] [--version <x.y.z>]
 *         parses the changelog (every version of every ai.onnx operator: inputs, outputs, optional / variadic /
 *         heterogeneous markers, type constraints), writes the extract to scripts/data/onnx-opschemas.json, then
 *         writes the table;
 *     npx tsx scripts/gen-opschema.ts
 *         rewrites the table from the committed extract (after an edit to the overlay).
 *
 * Getting the changelog without a clone of ONNX: `git -C <onnx clone> show <commit>:docs/Changelog.md > Changelog.md`,
 * or https://raw.githubusercontent.com/onnx/onnx/<commit>/docs/Changelog.md. The 1.4 MB changelog is not kept here;
 * the extract (a few hundred kB) is, so the table can be regenerated and checked (test/onnx/opschema.test.ts) without it.
 *
 * What the documentation does not say, and the overlay supplies:
 *   - `#` shape-like inputs (shapes, sizes, axes, indices, counts, scales), by input name;
 *   - output variables chosen by an attribute (`@to`, `@dtype:1`, ...), defaults, and `~fallback` variables;
 *   - links: a sequence / optional variable that is the container of a tensor variable (SequenceAt's S is seq(T));
 *   - versions the documentation lacks: onnxruntime's contrib LayerNormalization / SimplifiedLayerNormalization in the
 *     default domain, GroupNormalization-18 (marked deprecated by the docs, still run by onnxruntime);
 *   - the com.microsoft contrib operators the fusion passes emit (onnxruntime's docs/ContribOperators.md).
 *
 * Only versions still current at opset 7 or later are kept (the table has always started at opset 7: Add-6 is not
 * in it, Abs-6 is), and none introduced after MAX_OPSET (what the bundled onnxruntime loads). Deprecated versions
 * become tombstones: the operator does not exist from that opset on (onnxruntime refuses such models).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const EXTRACT_PATH = join(ROOT, 'scripts/data/onnx-opschemas.json');
export const TABLE_PATH = join(ROOT, 'src/onnx/opschema-table.ts');

/** Versions superseded before this opset are dropped. */
const MIN_OPSET = 7;
/**
 * Versions introduced after this opset are dropped: the highest default-domain opset the bundled onnxruntime-node
 * (1.30) loads. Raise it with the runtime (ONNX at f75469120 documents up to opset 28: Range-27 takes float16, ...).
 */
export const MAX_OPSET = 26;

// ------------------------------------------------------------------------------------------------ the overlay

/** Inputs whose value is a shape, size, axis, index, count or scale (integer-valued or precision-critical). */
const SHAPE_LIKE: Record<string, string[]> = {
  // from the hand-typed table
  CumSum: ['axis'],
  ReduceMean: ['axes'],
  ReduceProd: ['axes'],
  ReduceL1: ['axes'],
  ReduceL2: ['axes'],
  ReduceLogSum: ['axes'],
  ReduceLogSumExp: ['axes'],
  ReduceSumSquare: ['axes'],
  ReduceMax: ['axes'],
  ReduceMin: ['axes'],
  ReduceSum: ['axes'],
  TopK: ['K'],
  MaxRoiPool: ['rois'],
  MaxUnpool: ['output_shape'],
  Upsample: ['scales'],
  Resize: ['roi', 'scales', 'sizes'],
  GridSample: ['grid'],
  AffineGrid: ['size'],
  RoiAlign: ['rois'],
  NonMaxSuppression: ['boxes', 'max_output_boxes_per_class', 'iou_threshold', 'score_threshold'],
  DFT: ['dft_length', 'axis'],
  STFT: ['frame_step', 'frame_length'],
  HannWindow: ['size'],
  HammingWindow: ['size'],
  BlackmanWindow: ['size'],
  MelWeightMatrix: ['num_mel_bins', 'dft_length', 'sample_rate', 'lower_edge_hertz', 'upper_edge_hertz'],
  Col2Im: ['image_shape', 'block_shape'],
  CenterCropPad: ['shape'],
  Reshape: ['shape'],
  Squeeze: ['axes'],
  Unsqueeze: ['axes'],
  Split: ['split'],
  Slice: ['starts', 'ends', 'axes', 'steps'],
  Gather: ['indices'],
  GatherElements: ['indices'],
  GatherND: ['indices'],
  ScatterElements: ['indices'],
  Scatter: ['indices'],
  ScatterND: ['indices'],
  Expand: ['shape'],
  Tile: ['repeats'],
  Pad: ['pads', 'axes'],
  ReverseSequence: ['sequence_lens'],
  Trilu: ['k'],
  OneHot: ['indices', 'depth'],
  ConstantOfShape: ['input'],
  Loop: ['M'],
  SequenceInsert: ['position'],
  SequenceAt: ['position'],
  SequenceErase: ['position'],
  SplitToSequence: ['split'],
  QuantizeLinear: ['y_scale'],
  DequantizeLinear: ['x_scale'],
  QLinearMatMul: ['a_scale', 'b_scale', 'y_scale'],
  QLinearConv: ['x_scale', 'w_scale', 'y_scale'],
  // operators the hand-typed table did not have
  CumProd: ['axis'],
  RotaryEmbedding: ['position_ids'],
  Attention: ['nonpad_kv_seqlen'],
  TensorScatter: ['write_indices'],
};

/**
 * Type variables an attribute chooses, per first version they apply to (until the next entry):
 * `VAR@attr[:default][~fallback]`; `VAR@:default` for a default with no attribute.
 */
const ATTRS: Record<string, string[]> = {
  Cast: ['6 T2@to'],
  BitCast: ['26 T2@to'],
  Constant: ['1 T@value'],
  ConstantOfShape: ['9 T2@value:1'],
  EyeLike: ['9 T2@dtype~T1'],
  RandomNormal: ['1 T@dtype:1'],
  RandomUniform: ['1 T@dtype:1'],
  RandomNormalLike: ['1 T2@dtype~T1'],
  RandomUniformLike: ['1 T2@dtype~T1'],
  Multinomial: ['7 T2@dtype:6'],
  Bernoulli: ['15 T2@dtype~T1'],
  HannWindow: ['17 T2@output_datatype:1'],
  HammingWindow: ['17 T2@output_datatype:1'],
  BlackmanWindow: ['17 T2@output_datatype:1'],
  MelWeightMatrix: ['17 T3@output_datatype:1'],
  SequenceEmpty: ['11 S@dtype:1'],
  LayerNormalization: ['17 U@stash_type:1'],
  QuantizeLinear: ['10 T2@:2', '21 T2@output_dtype:2', '23 T3@output_dtype:2'],
  DequantizeLinear: ['23 T3@output_dtype~T2'],
};

/** Sequence / optional variables that hold the tensor variable's type (the docs constrain them separately). */
const LINKS: Record<string, Record<string, string>> = {
  SequenceAt: { S: 'T' },
  SequenceConstruct: { S: 'T' },
  SequenceInsert: { S: 'T' },
  SplitToSequence: { S: 'T' },
  ConcatFromSequence: { S: 'T' },
  Optional: { O: 'V' },
  OptionalGetElement: { O: 'V' },
};

/** Versions the documentation lacks (default domain), in the table's text form; merged by since-version. */
const EXTRA_VERSIONS: Record<string, string[]> = {
  // onnxruntime's contrib schema registered in the default domain (used below opset 17)
  LayerNormalization: ['1 X:T Scale:V B:V? -> Y:V Mean:U? InvStdDev:U? | T=FB, V=FB, U=f32+bf16@stash_type:1'],
  SimplifiedLayerNormalization: ['1 X:T scale:V -> Y:V inv_std_var:U? | T=FB, V=FB, U=f32+f64@stash_type:1'],
  // the docs mark GroupNormalization-18 deprecated (replaced by -21); onnxruntime still expands it as a function
  GroupNormalization: ['18 X:T scale:T bias:T -> Y:T | T=FB'],
};

/** onnxruntime contrib ops (com.microsoft, version 1) that fusion passes emit; bfloat16 only where kernels exist. */
const CONTRIB: Record<string, string[]> = {
  Attention: ['1 input:T weights:T bias:T? mask_index:M? past:T? attention_bias:T? past_sequence_length:M? -> output:T present:T? | T=f32+f16, M=i32'],
  MultiHeadAttention: [
    '1 query:T key:T? value:T? bias:T? key_padding_mask:M? attention_bias:T? past_key:T? past_value:T? -> output:T present_key:T? present_value:T? | T=f32+f16, M=i32',
  ],
  SkipLayerNormalization: ['1 input:T skip:T gamma:T beta:T? bias:T? -> output:T mean:U? inv_std_var:U? input_skip_bias_sum:T? | T=f32+f16, U=f32'],
  SkipSimplifiedLayerNormalization: ['1 input:T skip:T gamma:T bias:T? -> output:T mean:U? inv_std_var:U? input_skip_bias_sum:T? | T=f32+f16, U=f32'],
  EmbedLayerNormalization: [
    '1 input_ids:T1# segment_ids:T1?# word_embedding:T position_embedding:T segment_embedding:T? gamma:T beta:T mask:T1? position_ids:T1?# -> output:T mask_index:T1 embedding_sum:T? | T1=i32, T=f32+f16',
  ],
  BiasGelu: ['1 A:T B:T -> C:T | T=f32+f16'],
  FastGelu: ['1 X:T bias:T? -> Y:T | T=f32+f16+bf16'],
  Gelu: ['1 X:T -> Y:T | T=f32+f16+bf16'],
  QuickGelu: ['1 X:T -> Y:T | T=f32+f16+bf16'],
  BiasAdd: ['1 X:T bias:T skip:T -> Y:T | T=f32+f16'],
  FusedMatMul: ['1 A:T B:T -> Y:T | T=f32+f16+f64+bf16'],
  FusedConv: ['1 X:T W:T B:T? Z:T? -> Y:T | T=f32+f16'],
  RotaryEmbedding: ['1 input:T position_ids:M# cos_cache:T sin_cache:T -> output:T | T=f32+f16+bf16, M=i64'],
  // quantized forms (scales are calibrated values: precision-critical)
  DynamicQuantizeMatMul: ['1 A:T1 B:T2 b_scale:T1# b_zero_point:T2? bias:T1? -> Y:T1 | T1=f32, T2=i8+u8'],
  MatMulNBits: ['1 A:T1 B:T2 scales:T1# zero_points:T3? g_idx:T4?# bias:T1? -> Y:T1 | T1=f32+f16+bf16, T2=u8, T3=u8+f16+f32+bf16, T4=i32'],
  QAttention: [
    '1 input:T1 weight:T2 bias:T3 input_scale:T3# weight_scale:T3# mask_index:T4? input_zero_point:T1? weight_zero_point:T2? past:T3? -> output:T3 present:T3? | T1=i8+u8, T2=i8+u8, T3=f32+f16, T4=i32',
  ],
};

// ------------------------------------------------------------------------------------------------ types

/** ONNX element type names, as the docs write them inside tensor(...), and the table's tokens for them. */
const ELEM_TOKEN: Record<string, string> = {
  float16: 'f16',
  float: 'f32',
  double: 'f64',
  bfloat16: 'bf16',
  int8: 'i8',
  int16: 'i16',
  int32: 'i32',
  int64: 'i64',
  uint8: 'u8',
  uint16: 'u16',
  uint32: 'u32',
  uint64: 'u64',
  bool: 'bool',
  string: 'str',
  complex64: 'c64',
  complex128: 'c128',
  float8e4m3fn: 'e4m3fn',
  float8e4m3fnuz: 'e4m3fnuz',
  float8e5m2: 'e5m2',
  float8e5m2fnuz: 'e5m2fnuz',
  uint4: 'u4',
  int4: 'i4',
  float4e2m1: 'f4e2m1',
  float8e8m0: 'e8m0',
  uint2: 'u2',
  int2: 'i2',
};

/**
 * Named unions written into the table, after the ONNX helpers (all_numeric_types, all_tensor_types, ..._ir4 ...
 * _ir13). Each set is written as the largest named set it contains plus the remaining tokens.
 */
export const TYPE_SETS: Record<string, string> = {
  F: 'f16+f32+f64',
  FB: 'F+bf16',
  F8: 'e4m3fn+e4m3fnuz+e5m2+e5m2fnuz',
  INT: 'i8+i16+i32+i64+u8+u16+u32+u64',
  NUM7: 'u32+u64+i32+i64+F',
  NUM: 'INT+F',
  NUMB: 'NUM+bf16',
  ALL: 'NUM+bool+str+c64+c128',
  ALLB: 'ALL+bf16',
  ALL19: 'ALLB+F8',
  ALL21: 'ALL19+i4+u4',
  ALL23: 'ALL21+f4e2m1',
  ALL24: 'ALL23+e8m0',
  ALL25: 'ALL24+i2+u2',
  CAST6: 'F+INT+bool',
  CAST9: 'CAST6+str',
  CAST13: 'CAST9+bf16',
  CAST19: 'CAST13+F8',
  CAST21: 'CAST19+i4+u4',
  CAST23: 'CAST21+f4e2m1',
  CAST24: 'CAST23+e8m0',
  CAST25: 'CAST24+i2+u2',
};

function expandSet(expr: string): Set<string> {
  const out = new Set<string>();
  for (const p of expr.split('+')) {
    if (TYPE_SETS[p]) for (const t of expandSet(TYPE_SETS[p])) out.add(t);
    else if (Object.values(ELEM_TOKEN).includes(p)) out.add(p);
    else throw new Error(`gen-opschema: unknown type '${p}' in '${expr}'`);
  }
  return out;
}

const TOKEN_ORDER = Object.values(ELEM_TOKEN);
const NAMED = Object.keys(TYPE_SETS).map((name) => ({ name, set: expandSet(name) }));

/** Writes a set of tokens as NAME+rest, NAME the largest named set it contains. */
export function writeSet(tokens: Iterable<string>): string {
  const want = new Set(tokens);
  let best: { name: string; set: Set<string> } | undefined;
  for (const n of NAMED) if ([...n.set].every((t) => want.has(t)) && (!best || n.set.size > best.set.size)) best = n;
  const parts = best && best.set.size > 1 ? [best.name] : [];
  for (const t of TOKEN_ORDER) if (want.has(t) && !(best && best.set.size > 1 && best.set.has(t))) parts.push(t);
  return parts.join('+');
}

// ------------------------------------------------------------------------------------------------ the extract

interface ExtractSlot {
  name: string;
  /** a variable ('T1') or a type as the docs write it, less 'tensor(...)' ('float', 'seq(float)') */
  type: string;
  /** '?' optional, '*' variadic, '*h' variadic heterogeneous */
  flags: string;
}
export interface ExtractVersion {
  since: number;
  deprecated?: true;
  inputs?: ExtractSlot[];
  outputs?: ExtractSlot[];
  /** variable -> allowed types, space-separated, 'tensor(...)' dropped ('float16 seq(float) optional(seq(int8))') */
  types?: Record<string, string>;
}
export interface Extract {
  source: { file: string; onnx: string; commit: string };
  ops: Record<string, ExtractVersion[]>;
}

const stripTensor = (t: string): string => t.replace(/tensor\(([a-z0-9]+)\)/g, '$1');

/** Parses ONNX's docs/Changelog.md (ai.onnx domain only). */
export function parseChangelog(text: string, source: Extract['source']): Extract {
  const ops: Record<string, ExtractVersion[]> = {};
  let domain = '';
  let cur: ExtractVersion | undefined;
  let section: 'in' | 'out' | 'types' | undefined;
  const lines = text.split('\n');
  for (const raw of lines) {
    const line = raw.trimEnd();
    const dom = /^# (\S+)/.exec(line);
    if (dom) {
      domain = dom[1];
      cur = undefined;
      continue;
    }
    const head = /^### <a name="[^"]*"><\/a>\*\*([A-Za-z0-9_.]+)-(\d+)\*\*( \(deprecated\))?/.exec(line);
    if (head) {
      cur = undefined;
      section = undefined;
      if (domain !== 'ai.onnx') continue;
      cur = { since: Number(head[2]) };
      if (head[3]) cur.deprecated = true;
      (ops[head[1]] ??= []).push(cur);
      continue;
    }
    if (!cur) continue;
    if (/^#### /.test(line)) {
      section = /^#### Inputs/.test(line) ? 'in' : /^#### Outputs/.test(line) ? 'out' : /^#### Type Constraints/.test(line) ? 'types' : undefined;
      if (section === 'in') cur.inputs = [];
      if (section === 'out') cur.outputs = [];
      if (section === 'types') cur.types = {};
      continue;
    }
    if (/^## /.test(line)) {
      section = undefined;
      continue;
    }
    if (!section || !line.startsWith('<dt><tt>')) continue;
    if (section === 'types') {
      const m = /^<dt><tt>([A-Za-z0-9_]+)<\/tt> : (.+)<\/dt>$/.exec(line);
      if (!m) throw new Error(`gen-opschema: cannot read type constraint '${line}'`);
      cur.types![m[1]] = m[2].split(/,\s*/).map(stripTensor).join(' ');
    } else {
      const m = /^<dt><tt>([A-Za-z0-9_]+)(?:\.\.\.)?<\/tt>(?: \(([^)]*)\))? : (.+)<\/dt>$/.exec(line);
      if (!m) throw new Error(`gen-opschema: cannot read slot '${line}'`);
      const marks = (m[2] ?? '').split(/,\s*/);
      let flags = '';
      if (marks.includes('optional')) flags += '?';
      if (marks.includes('variadic')) flags += marks.includes('heterogeneous') ? '*h' : '*';
      (section === 'in' ? cur.inputs! : cur.outputs!).push({ name: m[1], type: stripTensor(m[3]), flags });
    }
  }
  for (const [op, vs] of Object.entries(ops)) {
    vs.sort((a, b) => a.since - b.since);
    for (const v of vs) if (!v.deprecated && !v.inputs && !v.outputs) throw new Error(`gen-opschema: ${op}-${v.since} has no inputs or outputs`);
  }
  return { source, ops: Object.fromEntries(Object.entries(ops).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
}

/** The extract as JSON, one operator version per line. */
export function writeExtract(ex: Extract): string {
  const lines = Object.entries(ex.ops).map(([op, vs]) => `    ${JSON.stringify(op)}: [\n${vs.map((v) => `      ${JSON.stringify(v)}`).join(',\n')}\n    ]`);
  return `{\n  "source": ${JSON.stringify(ex.source)},\n  "ops": {\n${lines.join(',\n')}\n  }\n}\n`;
}

// ------------------------------------------------------------------------------------------------ extract -> table

interface ElemType {
  container: 'tensor' | 'seq' | 'opt';
  elem: string;
}

function parseDocType(t: string, where: string): ElemType {
  let m = /^([a-z0-9]+)$/.exec(t);
  if (m && ELEM_TOKEN[m[1]]) return { container: 'tensor', elem: ELEM_TOKEN[m[1]] };
  m = /^seq\(([a-z0-9]+)\)$/.exec(t);
  if (m && ELEM_TOKEN[m[1]]) return { container: 'seq', elem: ELEM_TOKEN[m[1]] };
  m = /^optional\((?:seq\()?([a-z0-9]+)\)?\)$/.exec(t);
  if (m && ELEM_TOKEN[m[1]]) return { container: 'opt', elem: ELEM_TOKEN[m[1]] };
  throw new Error(`gen-opschema: ${where}: unknown type '${t}'`);
}

interface VarInfo {
  attr?: string;
  default?: number;
  fallback?: string;
}

function attrSpecsFor(op: string, since: number): Record<string, VarInfo> {
  let pick: string | undefined;
  for (const e of ATTRS[op] ?? []) if (Number(e.split(' ')[0]) <= since) pick = e;
  const out: Record<string, VarInfo> = {};
  for (const spec of pick?.split(' ').slice(1) ?? []) {
    const m = /^(\w+)@(\w*)(?::(\d+))?(?:~(\w+))?$/.exec(spec);
    if (!m) throw new Error(`gen-opschema: bad attribute spec '${spec}' for ${op}`);
    out[m[1]] = { attr: m[2] || undefined, default: m[3] !== undefined ? Number(m[3]) : undefined, fallback: m[4] };
  }
  return out;
}

/** Shape-like marks of the overlay that met an input (each must, or the overlay names a slot that does not exist). */
const shapeUsed = new Set<string>();

/** One documented version in the table's text form (slots, then every constraint). */
function versionLine(op: string, v: ExtractVersion, warnings: string[]): { slots: string; vars: Map<string, string> } {
  const where = `${op}-${v.since}`;
  const links = LINKS[op] ?? {};
  const shape = new Set(SHAPE_LIKE[op] ?? []);
  const slots = [...(v.inputs ?? []), ...(v.outputs ?? [])];
  const hetero = new Set(slots.filter((s) => s.flags.includes('h')).map((s) => s.type));
  const vars = new Map<string, string>();
  const kinds = new Map<string, Set<string>>();
  const attrs = attrSpecsFor(op, v.since);
  for (const [name, list] of Object.entries(v.types ?? {})) {
    if (links[name]) continue;
    const types = list.split(' ').map((t) => parseDocType(t, where));
    kinds.set(name, new Set(types.map((t) => t.container)));
    let def = hetero.has(name) ? '*' : writeSet(types.map((t) => t.elem));
    const a = attrs[name];
    if (a) {
      def += `@${a.attr ?? ''}${a.default !== undefined ? `:${a.default}` : ''}`;
      if (a.fallback) def += `~${a.fallback}`;
      delete attrs[name];
    }
    vars.set(name, def);
  }
  for (const name of Object.keys(attrs)) throw new Error(`gen-opschema: overlay names ${name} for ${where}, which has no such variable`);
  for (const [from, to] of Object.entries(links)) {
    const a = v.types?.[from];
    const b = v.types?.[to];
    if (a === undefined || b === undefined) throw new Error(`gen-opschema: link ${from}->${to} for ${where}: no such variables`);
    const ea = new Set(a.split(' ').map((t) => parseDocType(t, where).elem));
    const eb = new Set(b.split(' ').map((t) => parseDocType(t, where).elem));
    if (ea.size !== eb.size || [...ea].some((t) => !eb.has(t))) warnings.push(`${where}: linked ${from} and ${to} allow different element types`);
  }
  const slot = (s: ExtractSlot, input: boolean): string => {
    let type: string;
    if (/^[A-Z]/.test(s.type)) {
      const linked = links[s.type];
      const name = linked ?? s.type;
      if (!linked && !vars.has(name)) throw new Error(`gen-opschema: ${where} does not constrain ${name}`);
      const k = linked ? new Set(v.types![s.type].split(' ').map((t) => parseDocType(t, where).container)) : kinds.get(name)!;
      const only = k.size === 1 ? [...k][0] : undefined;
      type = only === 'seq' ? `seq(${name})` : only === 'opt' ? `opt(${name})` : name;
    } else {
      const t = parseDocType(s.type, where);
      if (t.container !== 'tensor') throw new Error(`gen-opschema: ${where}: fixed container type '${s.type}' is not supported`);
      type = Object.keys(ELEM_TOKEN).find((k) => ELEM_TOKEN[k] === t.elem)!;
    }
    const flags = s.flags.replace('h', '') + (input && shape.has(s.name) ? '#' : '');
    return `${s.name}:${type}${flags}`;
  };
  for (const s of v.inputs ?? []) if (shape.has(s.name)) shapeUsed.add(`${op}.${s.name}`);
  const text = `${(v.inputs ?? []).map((s) => slot(s, true)).join(' ')} -> ${(v.outputs ?? []).map((s) => slot(s, false)).join(' ')}`.trim();
  return { slots: text, vars };
}

/** The table's lines for one operator: documented versions (current at MIN_OPSET or later) and overlay versions. */
function opLines(op: string, versions: ExtractVersion[], warnings: string[]): string[] {
  const extra = (EXTRA_VERSIONS[op] ?? []).map((l) => ({ since: Number(l.split(' ')[0]), line: l }));
  const known = versions.filter((v) => v.since <= MAX_OPSET && !(v.deprecated && extra.some((e) => e.since === v.since)));
  const kept = known.filter((v, i) => i === known.length - 1 || known[i + 1].since > MIN_OPSET);
  const out: string[] = [];
  let prevSlots: string | undefined;
  let prevVars = new Map<string, string>();
  const entries = [...kept.map((v) => ({ since: v.since, v })), ...extra.map((e) => ({ since: e.since, line: e.line }))].sort((a, b) => a.since - b.since);
  for (const e of entries) {
    if ('line' in e) {
      if (kept.some((k) => k.since === e.since && !k.deprecated)) throw new Error(`gen-opschema: overlay version ${op}-${e.since} is documented`);
      out.push(e.line!);
      prevSlots = undefined; // the next documented version writes its slots and constraints in full
      prevVars = new Map();
      continue;
    }
    const v = e.v!;
    if (v.deprecated) {
      out.push(`${v.since} deprecated`);
      prevSlots = undefined;
      prevVars = new Map();
      continue;
    }
    const { slots, vars } = versionLine(op, v, warnings);
    const changed = [...vars].filter(([k, d]) => prevVars.get(k) !== d).map(([k, d]) => `${k}=${d}`);
    const head = slots === prevSlots ? `${v.since}` : `${v.since} ${slots}`;
    out.push(changed.length ? `${head} | ${changed.join(', ')}` : head);
    prevSlots = slots;
    prevVars = new Map([...prevVars, ...vars]);
    // an output-only variable must be decidable: bound by an attribute, a default, or a single type
    const inVars = new Set((v.inputs ?? []).map((s) => LINKS[op]?.[s.type] ?? s.type));
    for (const s of v.outputs ?? []) {
      const d = vars.get(s.type);
      if (d && !inVars.has(s.type) && !d.includes('@') && d !== '*' && expandSet(d.replace(/@.*$/, '')).size > 1)
        warnings.push(`${op}-${v.since}: output ${s.name}:${s.type} is bound by no input and has no attribute in the overlay`);
    }
  }
  return out;
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function writeTable(name: string, doc: string, table: Record<string, string[]>): string {
  const rows = Object.entries(table).map(([op, lines]) => {
    const one = `  ${op}: [${lines.map(quote).join(', ')}],`;
    return one.length <= 120 ? one : `  ${op}: [\n${lines.map((l) => `    ${quote(l)},`).join('\n')}\n  ],`;
  });
  return `/** ${doc} */\nexport const ${name}: Readonly<Record<string, readonly string[]>> = {\n${rows.join('\n')}\n};\n`;
}

/** The generated file's text, from the extract and the overlay. */
export function generateTable(ex: Extract, warnings: string[] = []): string {
  const onnx: Record<string, string[]> = {};
  const names = [...new Set([...Object.keys(ex.ops), ...Object.keys(EXTRA_VERSIONS)])].sort();
  for (const op of names) {
    const lines = opLines(op, ex.ops[op] ?? [], warnings);
    if (lines.length) onnx[op] = lines;
  }
  for (const op of [...Object.keys(SHAPE_LIKE), ...Object.keys(ATTRS), ...Object.keys(LINKS)])
    if (!onnx[op]) throw new Error(`gen-opschema: the overlay names ${op}, which is not in the table`);
  for (const [op, names] of Object.entries(SHAPE_LIKE))
    for (const n of names) if (!shapeUsed.has(`${op}.${n}`)) throw new Error(`gen-opschema: the overlay marks ${op} input '${n}', which no version has`);
  const sets = Object.entries(TYPE_SETS).map(([k, v]) => `  ${k}: '${v}',`);
  const body = [
    `/** Named unions of element types (after the ONNX helpers all_numeric_types, all_tensor_types_ir4 ... _ir13). */`,
    `export const TYPE_SETS: Readonly<Record<string, string>> = {\n${sets.join('\n')}\n};\n`,
    writeTable('ONNX_OPS', 'ai.onnx operators: every version current at opset 7 or later, oldest first.', onnx),
    writeTable('MS_OPS', 'onnxruntime contrib operators (com.microsoft), hand-maintained in the overlay.', CONTRIB),
  ].join('\n');
  const hash = createHash('sha256').update(body).digest('hex');
  return `// GENERATED by scripts/gen-opschema.ts from ONNX ${ex.source.onnx} (commit ${ex.source.commit}) ${ex.source.file}
// and the overlay in the generator. Do not edit: edit the overlay and run \`npx tsx scripts/gen-opschema.ts\`
// (or \`npx tsx scripts/gen-opschema.ts <path to docs/Changelog.md>\` to re-read a newer ONNX).
// Text form: see src/onnx/opschema.ts. sha256 of the body: ${hash}
/* eslint-disable */

${body}`;
}

// ------------------------------------------------------------------------------------------------ command line

function main(argv: string[]): void {
  const args = [...argv];
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const commit = opt('--commit');
  const version = opt('--version');
  const changelog = args[0];
  let ex: Extract;
  if (changelog) {
    const prev = (() => {
      try {
        return (JSON.parse(readFileSync(EXTRACT_PATH, 'utf8')) as Extract).source;
      } catch {
        return undefined;
      }
    })();
    ex = parseChangelog(readFileSync(changelog, 'utf8'), {
      file: 'docs/Changelog.md',
      onnx: version ?? prev?.onnx ?? 'unknown',
      commit: commit ?? prev?.commit ?? 'unknown',
    });
    writeFileSync(EXTRACT_PATH, writeExtract(ex));
    const n = Object.values(ex.ops).reduce((a, v) => a + v.length, 0);
    console.log(`${EXTRACT_PATH}: ${Object.keys(ex.ops).length} operators, ${n} versions`);
  } else ex = JSON.parse(readFileSync(EXTRACT_PATH, 'utf8')) as Extract;
  const warnings: string[] = [];
  writeFileSync(TABLE_PATH, generateTable(ex, warnings));
  console.log(`${TABLE_PATH} written`);
  for (const w of warnings) console.warn(`warning: ${w}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main(process.argv.slice(2));
