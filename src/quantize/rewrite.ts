/**
 * Applies a conversion plan (src/quantize/plan.ts) to the model:
 *
 *   1. type-carrying attributes of converted nodes: Cast `to`, ConstantOfShape `value`, RandomNormal(Like) /
 *      RandomUniform(Like) / EyeLike / Bernoulli / SequenceEmpty `dtype`, window `output_datatype`;
 *   2. constants read in the low type: initializers and Constant nodes converted in place, or copied when float32
 *      readers share them (a blocked node and a converted node reading one weight: each gets its own exact copy);
 *   3. declared types of every value that changes (graph inputs and outputs, value_info, subgraph inputs);
 *   4. Casts wherever a reader needs another type than the value now has (a kept node after a converted one, a
 *      fixed-float input such as Resize scales, a kept model input or output), one per value, type and scope;
 *   5. Cast folding (no-ops, lossless round trips, duplicates) and a stable topological sort of every graph.
 */
import { DataType } from '../ir/dtype.js';
import type { ConversionStats } from '../ir/float-codecs.js';
import { Attribute, AttrType, Node, Value, type Graph, type Use } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { tensorType, withElemType } from '../ir/types.js';
import { outputSlot } from '../onnx/opschema.js';
import { CastFactory, castTo, foldCasts, typeSuffix } from './casts.js';
import { needsOf, newType, sharedConstants, type Need, type Plan } from './plan.js';
import type { TensorReport } from './report.js';
import { convertTensorInPlace, encodeConstant, lowCopy } from './tensors.js';

const FLOAT = DataType.FLOAT;

export interface RewriteResult {
  tensors: TensorReport[];
  retyped: number;
  attributes: number;
  castsInserted: number;
  castsRemoved: number;
  warnings: string[];
}

interface Pending {
  value: Value;
  type: number;
  needs: { use?: Use; graph?: Graph; index?: number; need: Need }[];
}

export function applyPlan(plan: Plan): RewriteResult {
  const { model, low } = plan;
  const res: RewriteResult = { tensors: [], retyped: 0, attributes: 0, castsInserted: 0, castsRemoved: 0, warnings: [] };

  // snapshot every float32 value's final type and its readers' needs before anything moves
  const pending: Pending[] = [];
  for (const [v, t] of plan.types) {
    if (t !== FLOAT) continue;
    pending.push({ value: v, type: newType(plan, v)!, needs: needsOf(plan, v) });
  }
  const shared = new Set(sharedConstants(plan));

  // 1. attributes of converted nodes
  for (const p of plan.order) {
    if (p.mode !== 'low' || !p.schema) continue;
    const seen = new Set<string>();
    p.node.outputs.forEach((o, i) => {
      const slot = o && outputSlot(p.schema!, i);
      if (!slot?.typeVar || !p.convVars.has(slot.typeVar) || seen.has(slot.typeVar)) return;
      seen.add(slot.typeVar);
      const tv = p.schema!.vars.get(slot.typeVar)!;
      if (!tv.attr) return;
      const a = p.node.attributes.get(tv.attr);
      if (tv.attr === 'value') {
        if (a && a.type === AttrType.TENSOR) res.tensors.push(convertTensorInPlace(a.value as Tensor, low, 'attribute', `${p.node.label}.value`));
        else p.node.setAttr(Attribute.tensor('value', Tensor.fromArray(low, [1], new Uint16Array(1))));
      } else p.node.setAttr(p.node.opType === 'Cast' && tv.attr === 'to' ? castTo(model.opset(''), low) : Attribute.int(tv.attr, low));
      res.attributes++;
    });
  }

  // 2. constants
  for (const x of pending) {
    const v = x.value;
    const isInputInit = !!v.initializer && !!v.graph && v.graph.inputs.includes(v);
    if (isInputInit && x.type === low) res.tensors.push(convertTensorInPlace(v.initializer!, low, 'initializer'));
    if (!plan.constants.has(v)) continue;
    if (x.type === low) {
      if (v.initializer) res.tensors.push(convertTensorInPlace(v.initializer, low, 'initializer'));
      else res.tensors.push(convertConstantNode(v.producer!, low, v.name));
    } else if (shared.has(v)) {
      const copy = lowCopyOf(plan, v, res);
      for (const n of x.needs) if (n.use && n.need === low) n.use.node.setInput(n.use.index, copy);
      pending.push({ value: copy, type: low, needs: x.needs.filter((n) => n.need === low) });
      x.needs = x.needs.filter((n) => n.need !== low || !n.use);
    }
  }

  // 3. declared types
  for (const x of pending) {
    if (x.type === FLOAT || !x.value.type) continue;
    x.value.type = withElemType(x.value.type, x.type);
    res.retyped++;
  }
  for (const g of model.graph.allGraphs()) {
    for (const vi of g.orphanValueInfo) {
      const v = g.lookup(vi.name as string);
      if (v && vi.type && plan.types.get(v) === FLOAT && newType(plan, v) !== FLOAT) vi.type = withElemType(vi.type as never, newType(plan, v)!);
    }
  }

  // 4. casts
  const casts = new CastFactory(model.opset(''));
  for (const x of pending) {
    for (const n of x.needs) {
      if (n.need === 'any' || n.need === x.type) continue;
      if (n.use) n.use.node.setInput(n.use.index, casts.castOf(x.value, n.need));
      else if (n.graph) castOutput(plan, casts, n.graph, n.index!, x.value, n.need, res);
    }
  }
  res.castsInserted = casts.inserted;

  // 5. tidy
  res.castsRemoved = foldCasts(model);
  for (const g of model.graph.allGraphs()) g.sortTopologically();
  return res;
}

/** Converts a Constant node's float value (tensor, value_float, value_floats) to the low type. */
function convertConstantNode(n: Node, low: DataType, name: string): TensorReport {
  const t = n.getTensor('value');
  if (t) return convertTensorInPlace(t, low, 'constant', name);
  const one = n.getFloat('value_float');
  const many = n.getFloats('value_floats');
  const values = Float32Array.from(many ?? [one ?? 0]);
  const stats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
  const { bits, raised } = encodeConstant(values, low, stats);
  n.attributes.delete('value_float');
  n.attributes.delete('value_floats');
  n.setAttr(Attribute.tensor('value', Tensor.fromArray(low, many ? [many.length] : [], bits)));
  const report: TensorReport = {
    name,
    kind: 'constant',
    elements: values.length,
    bytesBefore: values.length * 4,
    bytesAfter: values.length * 2,
    ...stats,
    duplicated: false,
  };
  if (raised) report.raised = raised;
  if (values.length === 1) report.scalar = values[0];
  return report;
}

/** A low-type copy of a shared constant, next to the original. */
function lowCopyOf(plan: Plan, v: Value, res: RewriteResult): Value {
  const g = v.graph!;
  const name = g.freshName(`${v.name}_${typeSuffix(plan.low)}`);
  if (v.initializer) {
    const { tensor, report } = lowCopy(v.initializer, plan.low, name, 'initializer');
    res.tensors.push(report);
    const copy = g.addInitializer(name, tensor);
    if (v.type) copy.type = withElemType(v.type, plan.low);
    return copy;
  }
  const prod = v.producer!;
  const src =
    prod.getTensor('value') ??
    Tensor.fromArray(
      FLOAT,
      prod.getFloats('value_floats') ? [prod.getFloats('value_floats')!.length] : [],
      Float32Array.from(prod.getFloats('value_floats') ?? [prod.getFloat('value_float') ?? 0]),
    );
  const { tensor, report } = lowCopy(src, plan.low, name, 'constant');
  report.name = v.name;
  res.tensors.push(report);
  const out = new Value(name, v.type ? withElemType(v.type, plan.low) : undefined);
  g.insertAfter(new Node('Constant', [], [out], { name: g.freshName(`Constant_${name}`), attributes: [Attribute.tensor('value', tensor)] }), prod);
  return out;
}

/**
 * Gives graph output `index` the needed type. Main graph: the output keeps its name (the model's interface) on a
 * Cast of the renamed value. Subgraphs: a Cast at the end of the body becomes the output.
 */
function castOutput(plan: Plan, casts: CastFactory, g: Graph, index: number, v: Value, to: number, res: RewriteResult): void {
  if (g !== plan.model.graph) {
    g.setOutput(index, casts.castOf(v, to, g, 'end'));
    return;
  }
  if (g.inputs.includes(v)) {
    res.warnings.push(`output '${v.name}' is also an input: it keeps the input's type`);
    return;
  }
  const name = v.name;
  v.name = g.freshName(`${name}_${typeSuffix(newTypeOf(v, plan))}`);
  const out = new Value(name, v.type ? withElemType(v.type, to) : tensorType(to));
  out.docString = v.docString;
  out.extra = v.extra;
  v.docString = undefined;
  v.extra = {};
  casts.insert(g, v, out, to, v.producer && v.producer.graph === g ? 'defined' : 'defined');
  g.setOutput(index, out);
}

function newTypeOf(v: Value, plan: Plan): number {
  return newType(plan, v) ?? FLOAT;
}
