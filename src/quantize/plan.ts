/**
 * Planning a float16 / bfloat16 conversion: which nodes compute in the low type, which values change type, and what
 * type every reader of a value needs. Nothing is mutated here; src/quantize/rewrite.ts applies the plan.
 *
 * Per node, from its schema (src/onnx/opschema.ts) and the element types inferred for its inputs and outputs:
 *   - convertible variables: bound to float32 and allowing the low type (MatMul's T; Resize's T1 and T2 but not its
 *     fixed-float scales; not LayerNormalization's U, not Range's T);
 *   - free variables: bound by a single input and no output (Shape's T, Cast's T1): they read either type as is;
 *   - kind: compute (converted unless blocked), follower (data movement and Cast: converted exactly when a reader
 *     wants the low type, so casts land where arithmetic changes type and Cast(int -> float) feeding float32 code stays
 *     exact), control (If/Loop/Scan: a follower whose boundary values change type with it), unknown (not in the
 *     table: stays float32), passive (no float32 to convert).
 *   - shape computation: float arithmetic whose results only end in integer Casts or shape-like inputs (Reshape
 *     shape, Resize scales, Range) stays float32: above 2048 float16 no longer holds every integer.
 *
 * Runtime limits (RUNTIME_KEEP): operators onnxruntime cannot load or run in the low type stay float32 whatever the
 * block lists say (KeepReasonCode 'runtime'); in opsets 1-5 every node does (onnxruntime's own Casts are Cast-6).
 *
 * Out-of-range constants: a constant that the low type cannot hold (finite values beyond +-65504 in float16) is not
 * clamped unless `clamp` is set: every node that would read it in the low type stays float32 (through data
 * movement: a Reshape of it, and that Reshape's readers), KeepReasonCode 'out-of-range'. Data-dependent overflow of
 * computed values is not decided here (--mixed measures it).
 *
 * Readers: a converted node's convertible slot needs the low type; a kept node's float32 slot needs float32; a fixed
 * slot needs its fixed type; a free slot takes either; main-graph outputs need the low type unless kept by
 * --keep-io-types; subgraph outputs follow their control node.
 */
import { DataType, isFloatType } from '../ir/dtype.js';
import type { Graph, Node, Use, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { isStandardDomain } from '../ir/model.js';
import { getOpSchema, inputSlot, outputSlot, varAllows, type OpSchema } from '../onnx/opschema.js';
import { keepsIo, LOW_NAME, LOW_TYPE, matchesNodeList, resolveOpBlockList, type ConvertOptions } from './options.js';
import type { KeepReasonCode } from './report.js';
import { castAllows } from './casts.js';
import { rangeCheck, rangeCheckValues } from './tensors.js';
import { attrElemType, inferElemTypes, type ElemTypes } from './type-check.js';

const FLOAT = DataType.FLOAT;

/** What a reader needs: an element type, or 'any' (a free slot takes the value as it is). */
export type Need = number | 'any';

/** Data movement (and Cast): converted when a reader wants the low type, not on their own account. */
export const FOLLOWERS: ReadonlySet<string> = new Set([
  'Identity',
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
  'Transpose',
  'Concat',
  'Split',
  'Slice',
  'Gather',
  'GatherElements',
  'GatherND',
  'Expand',
  'Tile',
  'DepthToSpace',
  'SpaceToDepth',
  'Compress',
  'ReverseSequence',
  'Cast',
  'CastLike',
  'Pad',
  'Trilu',
  'Where',
  'ScatterND',
  'ScatterElements',
  'Scatter',
  'Dropout',
  'SequenceConstruct',
  'SequenceAt',
  'SequenceInsert',
  'SequenceErase',
  'SplitToSequence',
  'ConcatFromSequence',
  'Optional',
  'OptionalGetElement',
]);

const CONTROL = new Set(['If', 'Loop', 'Scan']);

export interface NodePlan {
  node: Node;
  /** stable position key ('3', '3/then_branch/0'), the same for every decode of the same file */
  key: string;
  /** 'main' or the path of the subgraph ('main/If_1.then_branch') */
  graphPath: string;
  schema?: OpSchema;
  kind: 'compute' | 'follower' | 'control' | 'unknown' | 'passive' | 'constant';
  convVars: Set<string>;
  freeVars: Set<string>;
  /** control nodes: output positions carrying float32 */
  floatOutputs: Set<number>;
  mode: 'low' | 'keep';
  reason?: { code: KeepReasonCode; detail: string };
}

export interface Plan {
  model: Model;
  opts: ConvertOptions;
  low: DataType;
  lowName: string;
  types: ElemTypes;
  nodes: Map<Node, NodePlan>;
  /** every node, depth first (a control node before its subgraphs' nodes) */
  order: NodePlan[];
  /** constant sources (float32 initializers that are not inputs, Constant outputs) and their decided type */
  constants: Map<Value, number>;
  /** constants the low type cannot hold, found when not clamping (their readers were kept float32) */
  outOfRange: OutOfRange[];
  /**
   * Whether model inputs and outputs may take the low type: only when the opset's Cast can convert to and from it
   * (bfloat16 needs opset 13), since any float32 reader of an input needs a Cast.
   */
  ioLow: boolean;
}

/** Stable keys for every node of the main graph and its subgraphs. */
export function nodeKeys(model: Model): Map<Node, { key: string; graphPath: string }> {
  const out = new Map<Node, { key: string; graphPath: string }>();
  const walk = (g: Graph, prefix: string, path: string) => {
    g.nodes.forEach((n, i) => {
      const key = prefix ? `${prefix}/${i}` : String(i);
      out.set(n, { key, graphPath: path });
      for (const [name, a] of n.attributes) {
        const graphs = a.type === 5 ? [a.value as Graph] : a.type === 10 ? (a.value as Graph[]) : [];
        graphs.forEach((sg, j) => walk(sg, `${key}/${name}${graphs.length > 1 ? `[${j}]` : ''}`, `${path}/${n.label}.${name}`));
      }
    });
  };
  walk(model.graph, '', 'main');
  return out;
}

export function makePlan(model: Model, opts: ConvertOptions): Plan {
  const low = LOW_TYPE[opts.dtype];
  const types = inferElemTypes(model);
  // opsets 1-5 convert nothing (see runtimeLimit): their interface stays float32 too
  const ioLow = (model.opset('') ?? 21) >= 6 && castAllows(model.opset(''), low);
  const plan: Plan = { model, opts, low, lowName: LOW_NAME[opts.dtype], types, nodes: new Map(), order: [], constants: new Map(), outOfRange: [], ioLow };
  const blockOps = new Set(resolveOpBlockList(opts.opBlockList));
  const keys = nodeKeys(model);
  for (const [node, k] of keys) {
    const p = classify(plan, node, k.key, k.graphPath);
    if (p.kind === 'compute' || p.kind === 'follower' || p.kind === 'control') {
      const hit = opts.nodeBlockList ? matchesNodeList(node, opts.nodeBlockList) : undefined;
      if (blockOps.has(node.opType)) p.reason = { code: 'op-block-list', detail: `${node.opType} is in the op block list` };
      else if (hit !== undefined) p.reason = { code: 'node-block-list', detail: `matches ${String(hit)} in the node block list` };
      else if (opts.keepNodeKeys?.has(k.key)) p.reason = { code: 'mixed', detail: 'kept in float32 by the --mixed search' };
      if (!p.reason) {
        const why = runtimeLimit(model, node, plan.lowName, types);
        if (why) p.reason = { code: 'runtime', detail: why };
      }
      if (!p.reason && p.kind === 'compute') p.mode = 'low';
    }
    plan.nodes.set(node, p);
    plan.order.push(p);
  }
  markShapeComputations(plan);
  settleFollowers(plan);
  if (!opts.clamp) keepOutOfRange(plan);
  decideConstants(plan);
  return plan;
}

/**
 * Operators that onnxruntime (CPU provider) cannot load or run in float16 / bfloat16, though their definitions allow
 * it. Without a kernel for a node's types, the runtime runs it in float32 behind Casts it inserts ("precision-free
 * casts"), which fails when the node's output type is set by an attribute and no float input can carry the cast.
 */
export const RUNTIME_KEEP: Readonly<Record<string, string>> = {
  EyeLike: 'no float16 kernel in onnxruntime, and its dtype attribute fixes the output type, so the runtime cannot cast around it',
  RandomNormalLike: 'no float16 kernel in onnxruntime, and its dtype attribute fixes the output type, so the runtime cannot cast around it',
  RandomUniformLike: 'no float16 kernel in onnxruntime, and its dtype attribute fixes the output type, so the runtime cannot cast around it',
  MelWeightMatrix: 'no float16 kernel in onnxruntime, and its output_datatype attribute fixes the output type, so the runtime cannot cast around it',
  MeanVarianceNormalization:
    'no float16 kernel in onnxruntime, which expands its function body instead, with float32 constants that do not match float16 data (the model fails to load)',
};

/** RUNTIME_KEEP entries that load when a float32 input can carry the runtime's Casts. */
const ATTR_TYPED = new Set(['EyeLike', 'RandomNormalLike', 'RandomUniformLike']);

/**
 * Why onnxruntime cannot take `n` in the low type, or undefined. (RandomNormal and RandomUniform, which have no input
 * at all, are in DEFAULT_OP_BLOCK_LIST instead: a user who unblocks them targets a provider with float16 generators.)
 */
function runtimeLimit(model: Model, n: Node, lowName: string, types: ElemTypes): string | undefined {
  const opset = model.opset('');
  if (opset !== undefined && opset < 6)
    return `opset ${opset}: onnxruntime runs ${lowName} nodes that lack a ${lowName} kernel behind Casts it inserts as Cast-6 (an int 'to'), which an opset-${opset} model cannot hold; convert the model to opset 6 or newer first`;
  if (!isStandardDomain(n.domain)) return undefined;
  const why = RUNTIME_KEEP[n.opType];
  // with a float32 input the runtime casts around it (EyeLike, Random*Like): only attribute-typed outputs without one fail
  if (why && !(ATTR_TYPED.has(n.opType) && n.inputs.some((v) => v && types.get(v) === FLOAT))) return why.replace(/float16/g, lowName);
  // Attention-23's schema lets a float attn_mask keep another type than Q, and an out-of-range fill (finfo.min) keeps
  // the mask's region float32; onnxruntime then expands the function body (no float16 CPU kernel) into Casts that
  // do not type-check and the model fails to load (test/passes/opset23-ops.test.ts). Without a float mask it runs.
  const mask = n.opType === 'Attention' ? n.input(3) : undefined;
  if (mask && types.get(mask) === FLOAT)
    return `onnxruntime expands Attention without a ${lowName} kernel, and a float32 attn_mask beside ${lowName} q, k, v fails to load`;
  if ((n.opType === 'ScatterElements' || n.opType === 'ScatterND') && (n.getString('reduction') ?? 'none') !== 'none')
    return `onnxruntime's ${lowName} ${n.opType} kernel refuses reduction='${n.getString('reduction')}' when it runs`;
  return undefined;
}

/** The float32 data of a constant source (initializer or Constant node), for the range check. */
function constantRange(v: Value, low: DataType): { values: number; maxAbs: number } {
  if (v.initializer) return rangeCheck(v.initializer, low);
  const prod = v.producer;
  if (!prod) return { values: 0, maxAbs: 0 };
  const t = prod.getTensor('value');
  if (t) return rangeCheck(t, low);
  const many = prod.getFloats('value_floats');
  const one = prod.getFloat('value_float');
  if (many) return rangeCheckValues(Float32Array.from(many), low);
  if (one !== undefined) return rangeCheckValues(Float32Array.of(one), low);
  return { values: 0, maxAbs: 0 };
}

/** A constant the low type cannot hold, and the nodes kept float32 because of it. */
export interface OutOfRange {
  value: Value;
  values: number;
  maxAbs: number;
  readers: Node[];
}

/**
 * Keeps float32 every node that would read an out-of-range constant in the low type: compute nodes, and data
 * movement (whose float32 outputs are then followed to their own readers, which would otherwise get a runtime Cast
 * that overflows to infinity). Records what it found on the plan.
 */
function keepOutOfRange(plan: Plan): void {
  const { low, lowName } = plan;
  for (const g of plan.model.graph.allGraphs()) {
    const sources: Value[] = [];
    for (const v of g.initializers.values()) if (!g.inputs.includes(v)) sources.push(v);
    for (const n of g.nodes) if (plan.nodes.get(n)?.kind === 'constant' && n.outputs[0]) sources.push(n.outputs[0]);
    for (const v of sources) {
      if (plan.types.get(v) !== FLOAT || !needsOf(plan, v).some((x) => x.need === low)) continue;
      const r = constantRange(v, low);
      if (!r.values) continue;
      const entry: OutOfRange = { value: v, values: r.values, maxAbs: r.maxAbs, readers: [] };
      plan.outOfRange.push(entry);
      const detail = (n: Node) =>
        `reads '${v.name}', whose ${r.values} value(s) beyond ${lowName}'s range (largest ${r.maxAbs.toPrecision(6)}) converting would clamp; ` +
        `kept float32 (clamp: true / --clamp saturates them instead)${n.opType === 'BatchNormalization' ? '; fusing it into the Conv before it (fuse-conv-bn, optimize --preset cnn) folds the value away' : ''}`;
      const work: Value[] = [v];
      const seen = new Set<Value>();
      while (work.length) {
        const x = work.pop()!;
        if (seen.has(x)) continue;
        seen.add(x);
        for (const nd of needsOf(plan, x)) {
          if (nd.need !== low) continue;
          const node = nd.use?.node ?? nd.graph?.parentNode ?? undefined;
          const p = node ? plan.nodes.get(node) : undefined;
          if (p?.mode !== 'low') continue;
          p.mode = 'keep';
          p.reason = { code: 'out-of-range', detail: detail(p.node) };
          entry.readers.push(p.node);
          if (p.kind === 'follower' || p.kind === 'control') for (const o of floatOutputsOf(plan, p)) work.push(o);
        }
      }
    }
  }
  // constants a kept reader still converts at the value level (ConstantOfShape's value) are out of range too
  for (const p of plan.order) {
    if (p.mode !== 'low' || !p.schema) continue;
    for (const tvName of p.convVars) {
      const tv = p.schema.vars.get(tvName);
      const t = tv?.attr === 'value' ? p.node.getTensor('value') : undefined;
      if (!t || t.dataType !== FLOAT) continue;
      const r = rangeCheck(t, low);
      if (!r.values) continue;
      p.mode = 'keep';
      p.reason = {
        code: 'out-of-range',
        detail: `its value attribute holds ${r.values} value(s) beyond ${lowName}'s range (largest ${r.maxAbs.toPrecision(6)}); kept float32 (clamp: true / --clamp saturates them instead)`,
      };
      const out = p.node.outputs[0];
      if (out) plan.outOfRange.push({ value: out, values: r.values, maxAbs: r.maxAbs, readers: [p.node] });
    }
  }
}

function classify(plan: Plan, n: Node, key: string, graphPath: string): NodePlan {
  const { model, types, low } = plan;
  const p: NodePlan = { node: n, key, graphPath, kind: 'passive', convVars: new Set(), freeVars: new Set(), floatOutputs: new Set(), mode: 'keep' };
  const std = isStandardDomain(n.domain);
  if (std && n.opType === 'Constant') {
    p.kind = 'constant';
    return p;
  }
  if (std && CONTROL.has(n.opType)) {
    // sequences and optionals cannot be Cast: they keep their element type across the boundary
    n.outputs.forEach((o, i) => o && types.get(o) === FLOAT && !isContainer(o) && p.floatOutputs.add(i));
    const floatIn = n.inputs.some((v) => v && types.get(v) === FLOAT);
    if (p.floatOutputs.size || floatIn) p.kind = 'control';
    return p;
  }
  const schema = getOpSchema(n.opType, n.domain, model.opset(n.domain));
  p.schema = schema;
  const touchesFloat = n.inputs.some((v) => v && types.get(v) === FLOAT) || n.outputs.some((v) => v && types.get(v) === FLOAT);
  if (!schema) {
    if (touchesFloat) {
      p.kind = 'unknown';
      p.reason = { code: 'unknown-op', detail: `${n.domain ? n.domain + '::' : ''}${n.opType} is not in the operator table: it keeps its float32 types` };
    }
    return p;
  }
  const inCount = new Map<string, number>();
  const outCount = new Map<string, number>();
  const bound = new Map<string, number>();
  const unknownIn = new Set<string>();
  let fixedFloat = false;
  n.inputs.forEach((v, i) => {
    const s = inputSlot(schema, i);
    if (!v || !s) return;
    if (s.fixed === FLOAT) fixedFloat = true;
    if (!s.typeVar) return;
    inCount.set(s.typeVar, (inCount.get(s.typeVar) ?? 0) + 1);
    const t = types.get(v);
    if (t === undefined) unknownIn.add(s.typeVar);
    else if (!bound.has(s.typeVar)) bound.set(s.typeVar, t);
  });
  n.outputs.forEach((v, i) => {
    const s = outputSlot(schema, i);
    if (!v || !s?.typeVar) return;
    outCount.set(s.typeVar, (outCount.get(s.typeVar) ?? 0) + 1);
    const t = types.get(v);
    if (t !== undefined && !bound.has(s.typeVar)) bound.set(s.typeVar, t);
  });
  const blocked: string[] = [];
  const unknown: string[] = [];
  const containerVars = new Set<string>();
  const markContainers = (vals: readonly (Value | null)[], slotOf: (i: number) => ReturnType<typeof inputSlot>) =>
    vals.forEach((v, i) => {
      const s = slotOf(i);
      if (v && s?.typeVar && (s.container !== 'tensor' || isContainer(v))) containerVars.add(s.typeVar);
    });
  markContainers(n.inputs, (i) => inputSlot(schema, i));
  markContainers(n.outputs, (i) => outputSlot(schema, i));
  for (const [name, t] of bound) {
    if (t !== FLOAT) continue;
    const tv = schema.vars.get(name)!;
    // EyeLike / Random*Like read their float input in the low type when converted: onnxruntime casts around a node
    // without a float16 kernel only through a float16 input (see RUNTIME_KEEP)
    // Attention's V (T2) and attn_mask (U) may differ from Q by its schema, but onnxruntime's expansion of the
    // function body (its CPU path for float16) needs one type: they convert, or stay, with Q
    if ((inCount.get(name) ?? 0) === 1 && !outCount.get(name) && !tv.attr && !(std && (ATTR_TYPED.has(n.opType) || n.opType === 'Attention')))
      p.freeVars.add(name);
    else if (unknownIn.has(name)) unknown.push(name);
    // LayerNormalization's statistics type (stash_type) is a precision setting, not the data's type: it stays
    else if (tv.attr === 'stash_type') continue;
    else if (containerVars.has(name)) blocked.push(`${name} (a sequence or optional: cannot be Cast)`);
    else if (varAllows(schema, name, low)) p.convVars.add(name);
    else blocked.push(name);
  }
  if (unknown.length) {
    p.convVars.clear();
    p.reason = { code: 'unknown-types', detail: `some inputs bound to ${unknown.join(', ')} have no known type` };
    return p;
  }
  if (p.convVars.size === 0) {
    if (blocked.length) p.reason = { code: 'schema', detail: `${n.opType}-${schema.since}: ${blocked.join(', ')} does not allow ${plan.lowName}` };
    else if (fixedFloat) p.reason = { code: 'schema', detail: `${n.opType}-${schema.since} takes tensor(float) inputs by definition` };
    return p;
  }
  p.kind = FOLLOWERS.has(n.opType) && std ? 'follower' : 'compute';
  return p;
}

/** Sequence and optional values: their element type cannot change through a Cast. */
function isContainer(v: Value): boolean {
  return !!v.type && !v.type.tensor_type && !v.type.sparse_tensor_type;
}

// ------------------------------------------------------------------------------------------------ value types

/** Type a value has after the conversion (values that were not float32 keep theirs). */
export function newType(plan: Plan, v: Value): number | undefined {
  const orig = plan.types.get(v);
  if (orig !== FLOAT) return orig;
  const c = plan.constants.get(v);
  if (c !== undefined) return c;
  const prod = v.producer;
  if (prod) {
    const np = plan.nodes.get(prod)!;
    if (np.mode !== 'low') return FLOAT;
    if (np.kind === 'control') return np.floatOutputs.has(v.producerIndex) ? plan.low : FLOAT;
    const slot = np.schema && outputSlot(np.schema, v.producerIndex);
    return slot?.typeVar && np.convVars.has(slot.typeVar) ? plan.low : FLOAT;
  }
  const g = v.graph;
  if (!g) return FLOAT;
  if (g === plan.model.graph) return g.inputs.includes(v) ? (keepsIo(plan.opts, v.name) || !plan.ioLow ? FLOAT : plan.low) : FLOAT;
  const parent = g.parentNode;
  const idx = g.inputs.indexOf(v);
  if (!parent || idx < 0) return FLOAT;
  const pp = plan.nodes.get(parent)!;
  if (pp.kind !== 'control' || pp.mode !== 'low') return FLOAT;
  return bodyInputLow(plan, pp, idx) ? plan.low : FLOAT;
}

/** Whether body input `idx` of a converted Loop/Scan carries the low type. */
function bodyInputLow(plan: Plan, pp: NodePlan, idx: number): boolean {
  const n = pp.node;
  if (n.opType === 'Loop') return idx >= 2 && pp.floatOutputs.has(idx - 2);
  if (n.opType === 'Scan') {
    const numState = scanStates(plan, n);
    if (idx < numState) return pp.floatOutputs.has(idx);
    const off = scanOffset(plan, n);
    const v = n.inputs[off + idx];
    return !!v && plan.types.get(v) === FLOAT;
  }
  return false;
}

function scanOffset(plan: Plan, n: Node): number {
  return (plan.model.opset('') ?? 21) < 9 ? 1 : 0;
}
function scanStates(plan: Plan, n: Node): number {
  return Math.max(0, n.inputs.length - scanOffset(plan, n) - n.getInt('num_scan_inputs', 0));
}

/** What the reader `u` needs of a float32 value. */
export function need(plan: Plan, u: Use): Need {
  const np = plan.nodes.get(u.node)!;
  const v = u.node.inputs[u.index]!;
  const orig = plan.types.get(v);
  const n = u.node;
  if (np.kind === 'control') {
    if (n.opType === 'If') return 'any';
    if (n.opType === 'Loop') {
      if (u.index < 2) return 'any';
      return np.mode === 'low' && np.floatOutputs.has(u.index - 2) ? plan.low : (orig ?? 'any');
    }
    const off = scanOffset(plan, n);
    const i = u.index - off;
    if (i < 0) return 'any';
    const low = i < scanStates(plan, n) ? np.floatOutputs.has(i) : orig === FLOAT;
    return np.mode === 'low' && low ? plan.low : (orig ?? 'any');
  }
  const schema = np.schema;
  if (!schema) return orig ?? 'any';
  const slot = inputSlot(schema, u.index);
  if (!slot) return orig ?? 'any';
  if (slot.fixed !== undefined) return slot.fixed;
  const tv = slot.typeVar!;
  if (np.convVars.has(tv)) return np.mode === 'low' ? plan.low : FLOAT;
  if (np.freeVars.has(tv)) {
    // a float printed as a string prints its float16 digits: Cast(to=STRING) reads float32
    if (isStandardDomain(n.domain) && n.opType === 'Cast' && attrElemType(n, 'to') === DataType.STRING) return FLOAT;
    return varAllows(schema, tv, plan.low) ? 'any' : FLOAT;
  }
  return orig ?? 'any';
}

/** What output `index` of graph `g` needs (for float32 values). */
export function outputNeed(plan: Plan, g: Graph, index: number): Need {
  const v = g.outputs[index];
  if (g === plan.model.graph) return keepsIo(plan.opts, v.name) || !plan.ioLow ? FLOAT : plan.low;
  const parent = g.parentNode;
  const pp = parent && plan.nodes.get(parent);
  if (pp?.kind !== 'control' || pp.mode !== 'low') return FLOAT;
  const pos = parent!.opType === 'Loop' ? index - 1 : index;
  if (parent!.opType === 'Loop' && index === 0) return 'any';
  return pp.floatOutputs.has(pos) ? plan.low : FLOAT;
}

/** Every need on a value: its readers, and the graph outputs it is. */
export function needsOf(plan: Plan, v: Value): { use?: Use; graph?: Graph; index?: number; need: Need }[] {
  const out: { use?: Use; graph?: Graph; index?: number; need: Need }[] = v.uses.map((u) => ({ use: u, need: need(plan, u) }));
  for (const g of v.outputOf) g.outputs.forEach((o, i) => o === v && out.push({ graph: g, index: i, need: outputNeed(plan, g, i) }));
  return out;
}

// ------------------------------------------------------------------------------------------------ passes over the plan

function floatOutputsOf(plan: Plan, p: NodePlan): Value[] {
  if (p.kind === 'control') return [...p.floatOutputs].map((i) => p.node.outputs[i]!).filter(Boolean);
  const schema = p.schema!;
  return p.node.outputs.filter((o, i): o is Value => {
    const s = o && outputSlot(schema, i);
    return !!s && !!s.typeVar && p.convVars.has(s.typeVar);
  });
}

/** Float arithmetic feeding only integer Casts and shape-like inputs stays float32. */
function markShapeComputations(plan: Plan): void {
  const marked = new Set<Node>();
  const sinkOk = (v: Value): boolean => {
    if (v.outputOf.length || v.uses.length === 0) return false;
    return v.uses.every((u) => {
      if (marked.has(u.node)) return true;
      const np = plan.nodes.get(u.node)!;
      const slot = np.schema && inputSlot(np.schema, u.index);
      if (slot?.shapeLike) return true;
      if (u.node.opType === 'Cast' && !u.node.domain) {
        const to = attrElemType(u.node, 'to');
        return to !== undefined && !isFloatType(to);
      }
      return false;
    });
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = plan.order.length - 1; i >= 0; i--) {
      const p = plan.order[i];
      if (marked.has(p.node) || (p.kind !== 'compute' && p.kind !== 'follower')) continue;
      const outs = floatOutputsOf(plan, p);
      if (outs.length && outs.every(sinkOk)) {
        marked.add(p.node);
        changed = true;
      }
    }
  }
  for (const n of marked) {
    const p = plan.nodes.get(n)!;
    p.mode = 'keep';
    if (!p.reason) p.reason = { code: 'shape-computation', detail: 'its results only become integers or shapes, which float16 cannot hold exactly above 2048' };
  }
}

/** Followers and control nodes convert when one of their float32 outputs has a reader that wants the low type. */
function settleFollowers(plan: Plan): void {
  const wantsLow = (v: Value) => needsOf(plan, v).some((x) => x.need === plan.low);
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = plan.order.length - 1; i >= 0; i--) {
      const p = plan.order[i];
      if ((p.kind !== 'follower' && p.kind !== 'control') || p.mode === 'low' || p.reason) continue;
      if (floatOutputsOf(plan, p).some(wantsLow)) {
        p.mode = 'low';
        changed = true;
      }
    }
  }
}

/**
 * Constant sources take the low type when a reader wants it; when float32 readers want it too, a low copy is made
 * for the low readers (decided here, done in rewrite) so neither side is rounded twice.
 */
function decideConstants(plan: Plan): void {
  for (const g of plan.model.graph.allGraphs()) {
    const sources: Value[] = [];
    for (const v of g.initializers.values()) if (!g.inputs.includes(v)) sources.push(v);
    for (const n of g.nodes) if (plan.nodes.get(n)?.kind === 'constant' && n.outputs[0]) sources.push(n.outputs[0]);
    for (const v of sources) {
      if (plan.types.get(v) !== FLOAT) continue;
      const needs = needsOf(plan, v);
      plan.constants.set(v, needs.some((x) => x.need === plan.low) && !needs.some((x) => x.need === FLOAT) ? plan.low : FLOAT);
    }
  }
}

/** Constant sources read as both low and float32: they get a low copy. */
export function sharedConstants(plan: Plan): Value[] {
  const out: Value[] = [];
  for (const [v, t] of plan.constants) {
    if (t !== FLOAT) continue;
    const needs = needsOf(plan, v);
    if (needs.some((x) => x.need === plan.low)) out.push(v);
  }
  return out;
}
