/**
 * Element-type inference and a type-consistency checker over the IR, driven by the operator table in
 * src/onnx/opschema.ts.
 *
 * Inference walks each graph in order: graph inputs take their declared type (a Loop/Scan body input takes the type
 * of the outer value bound to it), initializers their data's type, and each node's outputs follow from its type
 * variables as bound by its inputs (or by an attribute: Cast `to`, ConstantOfShape `value`, RandomNormal `dtype`),
 * from its branches (If) or body (Loop, Scan). Operators the table does not know keep their declared output types.
 *
 * The checker reports what onnxruntime would reject at load time and what a converter most often breaks:
 *   - inputs sharing a type variable that disagree (MatMul float16 x float32), a type a variable does not allow
 *     (float16 Range), a fixed type not honoured (float16 Resize scales);
 *   - a value whose declared type (value_info, graph output, subgraph input) differs from what produces it;
 *   - an initializer whose data type differs from its declared type;
 *   - If branches that disagree, Loop/Scan carried values whose types change across the body boundary.
 */
import { AttrType, type Graph, type Node, type Value } from '../ir/graph.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import { isStandardDomain } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { innerElemType } from '../ir/types.js';
import { getOpSchema, inputSlot, outputSlot, type OpSchema, type SlotSpec } from '../onnx/opschema.js';

export type ElemTypes = Map<Value, number | undefined>;

/** The declared element type of a value (tensor, sequence or optional), if any. */
export function declaredElemType(v: Value): number | undefined {
  return innerElemType(v.type);
}

/** Element types of every value of the model's main graph and subgraphs (function bodies are not walked). */
export function inferElemTypes(model: Model): ElemTypes {
  const types: ElemTypes = new Map();
  walkGraph(model, model.graph, types, undefined);
  return types;
}

/**
 * Problems with the model's types (empty when consistent). Each names the node or value, the slot and both types,
 * e.g. "node MatMul_3 (MatMul): input 1 'w' is float32 but T is float16 (bound by input 0 'x')".
 */
export function checkTypes(model: Model): string[] {
  const problems: string[] = [];
  const types: ElemTypes = new Map();
  walkGraph(model, model.graph, types, problems);
  return problems;
}

const tn = (t: number | undefined): string => (t === undefined ? '?' : dtypeName(t));

function walkGraph(model: Model, g: Graph, types: ElemTypes, problems: string[] | undefined): void {
  for (const v of g.inputs) {
    if (types.has(v)) continue;
    const d = declaredElemType(v);
    types.set(v, d ?? v.initializer?.dataType);
    if (problems && v.initializer && d !== undefined && d !== v.initializer.dataType)
      problems.push(`graph ${g.name}: input '${v.name}' is declared ${tn(d)} but its initializer holds ${tn(v.initializer.dataType)}`);
  }
  for (const v of g.initializers.values()) {
    if (g.inputs.includes(v)) continue;
    types.set(v, v.initializer!.dataType);
    const d = declaredElemType(v);
    if (problems && d !== undefined && d !== v.initializer!.dataType)
      problems.push(`graph ${g.name}: initializer '${v.name}' holds ${tn(v.initializer!.dataType)} but is declared ${tn(d)}`);
  }
  for (const n of g.nodes) inferNode(model, n, types, problems);
  if (problems && g.parentNode === null) {
    for (const v of g.outputs) {
      const d = declaredElemType(v);
      const t = types.get(v);
      if (d !== undefined && t !== undefined && d !== t) problems.push(`graph ${g.name}: output '${v.name}' is declared ${tn(d)} but produced as ${tn(t)}`);
    }
  }
}

function nodeLabel(n: Node): string {
  return `node ${n.label} (${n.opType})`;
}

/** Sets the inferred type of an output and checks it against the declared type. */
function setOutput(n: Node, i: number, t: number | undefined, types: ElemTypes, problems: string[] | undefined): void {
  const v = n.outputs[i];
  if (!v) return;
  const d = declaredElemType(v);
  if (problems && t !== undefined && d !== undefined && t !== d)
    problems.push(`${nodeLabel(n)}: output ${i} '${v.name}' is declared ${tn(d)} but produced as ${tn(t)}`);
  types.set(v, t ?? d);
}

function inferNode(model: Model, n: Node, types: ElemTypes, problems: string[] | undefined): void {
  const opset = model.opset(n.domain);
  if (isStandardDomain(n.domain)) {
    if (n.opType === 'Constant') return inferConstant(n, types, problems);
    if (n.opType === 'If') return inferIf(model, n, types, problems);
    if (n.opType === 'Loop') return inferLoop(model, n, types, problems);
    if (n.opType === 'Scan') return inferScan(model, n, types, problems, opset ?? 21);
  }
  // nodes of unknown operators may still hold subgraphs: walk them so their values get types
  for (const sg of n.subgraphs()) walkGraph(model, sg, types, problems);
  const schema = getOpSchema(n.opType, n.domain, opset);
  if (!schema) {
    n.outputs.forEach((o, i) => o && setOutput(n, i, undefined, types, problems));
    return;
  }
  const binding = bindVars(schema, n, types, problems);
  n.outputs.forEach((o, i) => {
    if (!o) return;
    const slot = outputSlot(schema, i);
    if (!slot) return setOutput(n, i, undefined, types, problems);
    const t = slot.fixed ?? outputVarType(schema, slot, n, binding);
    if (problems && t !== undefined && slot.typeVar) {
      const tv = schema.vars.get(slot.typeVar)!;
      if (tv.allowed !== 'any' && !tv.allowed.has(t))
        problems.push(`${nodeLabel(n)}: output ${i} '${o.name}' would be ${tn(t)}, which ${slot.typeVar} does not allow`);
    }
    setOutput(n, i, t, types, problems);
  });
}

interface Bound {
  type: number;
  where: string;
}

/** Binds type variables from the node's inputs, reporting disagreements and disallowed types. */
function bindVars(schema: OpSchema, n: Node, types: ElemTypes, problems: string[] | undefined): Map<string, Bound> {
  const binding = new Map<string, Bound>();
  n.inputs.forEach((v, i) => {
    if (!v) return;
    const slot = inputSlot(schema, i);
    const t = types.get(v);
    if (!slot) {
      problems?.push(`${nodeLabel(n)}: has ${n.inputs.length} inputs, more than ${n.opType}-${schema.since} takes`);
      return;
    }
    if (t === undefined) return;
    const where = `input ${i} '${v.name}'`;
    if (slot.fixed !== undefined) {
      if (problems && t !== slot.fixed) problems.push(`${nodeLabel(n)}: ${where} is ${tn(t)} but ${n.opType} requires ${slot.type}`);
      return;
    }
    const tv = schema.vars.get(slot.typeVar!)!;
    if (problems && tv.allowed !== 'any' && !tv.allowed.has(t))
      problems.push(`${nodeLabel(n)}: ${where} is ${tn(t)}, which ${slot.typeVar} of ${n.opType}-${schema.since} does not allow`);
    const prev = binding.get(slot.typeVar!);
    if (!prev) binding.set(slot.typeVar!, { type: t, where });
    else if (problems && prev.type !== t)
      problems.push(`${nodeLabel(n)}: ${where} is ${tn(t)} but ${slot.typeVar} is ${tn(prev.type)} (bound by ${prev.where})`);
  });
  return binding;
}

/** The element type an attribute names: an INT dtype, a TENSOR's data type, or (Cast-1) a type name. Undefined when absent (or 0). */
export function attrElemType(n: Node, attr: string): number | undefined {
  const a = n.attributes.get(attr);
  if (!a || a.value === undefined) return undefined;
  if (a.type === AttrType.INT) {
    const v = Number(a.value);
    return v === 0 ? undefined : v;
  }
  if (a.type === AttrType.TENSOR) return (a.value as Tensor).dataType;
  // Cast-1 (opsets 1-5): `to` is the TensorProto.DataType name, "FLOAT16"
  if (a.type === AttrType.STRING) {
    const name = (typeof a.value === 'string' ? a.value : new TextDecoder().decode(a.value as Uint8Array)).trim().toUpperCase();
    const t = (DataType as unknown as Record<string, number | undefined>)[name];
    return typeof t === 'number' && t !== 0 ? t : undefined;
  }
  return undefined;
}

function outputVarType(schema: OpSchema, slot: SlotSpec, n: Node, binding: Map<string, Bound>): number | undefined {
  const name = slot.typeVar!;
  const bound = binding.get(name);
  if (bound) return bound.type;
  const tv = schema.vars.get(name)!;
  if (tv.attr) {
    const t = attrElemType(n, tv.attr);
    if (t !== undefined) return t;
  }
  if (tv.fallback) {
    const f = binding.get(tv.fallback);
    if (f) return f.type;
  }
  if (tv.default === undefined && tv.allowed !== 'any' && tv.allowed.size === 1) return [...tv.allowed][0];
  return tv.default;
}

function inferConstant(n: Node, types: ElemTypes, problems: string[] | undefined): void {
  let t: number | undefined;
  for (const a of n.attributes.values()) {
    if (a.name === 'value' && a.type === AttrType.TENSOR) t = (a.value as Tensor).dataType;
    else if (a.name === 'value_float' || a.name === 'value_floats') t = DataType.FLOAT;
    else if (a.name === 'value_int' || a.name === 'value_ints') t = DataType.INT64;
    else if (a.name === 'value_string' || a.name === 'value_strings') t = DataType.STRING;
  }
  setOutput(n, 0, t, types, problems);
}

function inferIf(model: Model, n: Node, types: ElemTypes, problems: string[] | undefined): void {
  const thenG = graphAttr(n, 'then_branch');
  const elseG = graphAttr(n, 'else_branch');
  for (const g of [thenG, elseG]) if (g) walkGraph(model, g, types, problems);
  n.outputs.forEach((o, i) => {
    if (!o) return;
    const a = thenG ? types.get(thenG.outputs[i]) : undefined;
    const b = elseG ? types.get(elseG.outputs[i]) : undefined;
    if (problems && a !== undefined && b !== undefined && a !== b)
      problems.push(`${nodeLabel(n)}: output ${i} is ${tn(a)} in then_branch but ${tn(b)} in else_branch`);
    setOutput(n, i, a ?? b, types, problems);
  });
}

/** Binds a body input to the type of the outer value feeding it, checking its declared type. */
function bindBodyInput(n: Node, body: Graph, i: number, t: number | undefined, types: ElemTypes, problems: string[] | undefined): void {
  const v = body.inputs[i];
  if (!v) return;
  const d = declaredElemType(v);
  if (problems && t !== undefined && d !== undefined && t !== d)
    problems.push(`${nodeLabel(n)}: body input ${i} '${v.name}' is declared ${tn(d)} but receives ${tn(t)}`);
  types.set(v, t ?? d);
}

function inferLoop(model: Model, n: Node, types: ElemTypes, problems: string[] | undefined): void {
  const body = graphAttr(n, 'body');
  if (!body) return;
  const carried = Math.max(0, n.inputs.length - 2);
  bindBodyInput(n, body, 0, DataType.INT64, types, problems);
  bindBodyInput(n, body, 1, DataType.BOOL, types, problems);
  for (let k = 0; k < carried; k++) {
    const v = n.inputs[2 + k];
    bindBodyInput(n, body, 2 + k, v ? types.get(v) : undefined, types, problems);
  }
  walkGraph(model, body, types, problems);
  n.outputs.forEach((o, i) => {
    if (!o) return;
    const bo = body.outputs[1 + i];
    const t = bo ? types.get(bo) : undefined;
    if (problems && i < carried) {
      const init = types.get(body.inputs[2 + i]);
      if (t !== undefined && init !== undefined && t !== init)
        problems.push(`${nodeLabel(n)}: loop-carried value ${i} enters the body as ${tn(init)} but leaves as ${tn(t)}`);
    }
    setOutput(n, i, t, types, problems);
  });
}

function inferScan(model: Model, n: Node, types: ElemTypes, problems: string[] | undefined, opset: number): void {
  const body = graphAttr(n, 'body');
  if (!body) return;
  const off = opset < 9 ? 1 : 0;
  const numScanIn = n.getInt('num_scan_inputs', 0);
  const total = n.inputs.length - off;
  const numState = Math.max(0, total - numScanIn);
  for (let i = 0; i < total; i++) {
    const v = n.inputs[off + i];
    bindBodyInput(n, body, i, v ? types.get(v) : undefined, types, problems);
  }
  walkGraph(model, body, types, problems);
  n.outputs.forEach((o, i) => {
    if (!o) return;
    const bo = body.outputs[i];
    const t = bo ? types.get(bo) : undefined;
    if (problems && i < numState) {
      const init = types.get(body.inputs[i]);
      if (t !== undefined && init !== undefined && t !== init)
        problems.push(`${nodeLabel(n)}: state ${i} enters the body as ${tn(init)} but leaves as ${tn(t)}`);
    }
    setOutput(n, i, t, types, problems);
  });
}

/** The subgraph held by a GRAPH attribute. */
export function graphAttr(n: Node, name: string): Graph | undefined {
  const a = n.attributes.get(name);
  return a && a.type === AttrType.GRAPH ? (a.value as Graph) : undefined;
}
