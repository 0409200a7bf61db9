/**
 * Emulated low precision: the float32 model with every value that a conversion would store in float16 / bfloat16
 * rounded through `Cast(Cast(v, to=low), to=float)`, and every weight it would convert rounded in place.
 *
 *     a ─MatMul─> h ─ReduceSum─> e          a ─MatMul─> h ─Cast(f16)─Cast(f32)─> h' ─ReduceSum─> e ─Cast─Cast─> e'
 *
 * Why: onnxruntime's CPU provider has float16 kernels for few operators and runs a float16 region in float32 behind
 * Casts ("precision-free casts"), so a float16 model measured on CPU shows the rounding of its weights and I/O but not
 * the overflow of an intermediate value (a ReduceSum of 100 000 becomes inf on a GPU, not on CPU). The emulation
 * stores each value in the low type as a device would (arithmetic inside an operator stays float32, as in a float16
 * GEMM that accumulates in float32): float16 overflows to inf, rounds to 11 significant bits, flushes below 2^-24.
 * onnxruntime keeps explicit Cast(float -> low -> float) pairs (they lose precision), for bfloat16 too, so the
 * emulation runs anywhere. `--mixed` searches on it; `--compare` reports it beside the real run.
 */
import { DataType } from '../ir/dtype.js';
import { bfloat16ToFloat32, float16ToFloat32, type ConversionStats } from '../ir/float-codecs.js';
import { Attribute, AttrType, Node, Value, type Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { withElemType } from '../ir/types.js';
import { castTo } from './casts.js';
import type { ConvertOptions } from './options.js';
import { makePlan, needsOf, newType, type Plan } from './plan.js';
import { encodeConstant, float32Values } from './tensors.js';
import { encodeModel } from '../onnx/encode.js';
import { decodeModelBytes } from '../onnx/io.js';
import type { Feeds } from '../runtime/session.js';
import { compareModels } from '../measure/compare-models.js';
import type { OutputFidelity } from '../measure/types.js';

const FLOAT = DataType.FLOAT;

/** Rewrites the float32 model in place into its emulation; returns the plan it followed. */
export function emulateConversion(model: Model, opts: ConvertOptions): Plan {
  const plan = makePlan(model, { ...opts, weightsOnly: false });
  const low = plan.low;
  const opset = model.opset('');
  const round = (g: Graph, v: Value, name?: string): Value => {
    const mid = new Value(g.freshName(`${v.name}_${low === DataType.FLOAT16 ? 'fp16' : 'bf16'}`), v.type ? withElemType(v.type, low) : undefined);
    const out = new Value(name ?? g.freshName(`${v.name}_rounded`), v.type);
    const n1 = new Node('Cast', [v], [mid], { name: g.freshName(`Round_${v.name}_a`), attributes: [castTo(opset, low)] });
    const n2 = new Node('Cast', [mid], [out], { name: g.freshName(`Round_${v.name}_b`), attributes: [castTo(opset, FLOAT)] });
    const prod = v.producer;
    if (prod && prod.graph === g) {
      g.insertAfter(n1, prod);
      g.insertAfter(n2, n1);
    } else if (g.nodes.length) {
      g.insertBefore(n1, g.nodes[0]);
      g.insertAfter(n2, n1);
    } else {
      g.appendNode(n1);
      g.appendNode(n2);
    }
    return out;
  };

  // snapshot first: the rewiring below changes uses
  const work: { v: Value; type: number; needs: ReturnType<typeof needsOf> }[] = [];
  for (const [v, t] of plan.types) if (t === FLOAT) work.push({ v, type: newType(plan, v)!, needs: needsOf(plan, v) });

  for (const { v, type, needs } of work) {
    const g = v.graph!;
    const isConstant = plan.constants.has(v);
    if (type === low) {
      if (isConstant || (v.initializer && g.inputs.includes(v))) {
        roundConstant(v, low);
        continue;
      }
      if (g.inputs.includes(v)) {
        // a model or body input stored low: round it once for every reader
        const r = round(g, v);
        for (const x of needs) {
          if (x.use) x.use.node.setInput(x.use.index, r);
          else if (x.graph) x.graph.setOutput(x.index!, r);
        }
        continue;
      }
      // a node output stored low: the rounded value takes over its name (graph outputs keep theirs)
      const name = v.name;
      v.name = g.freshName(`${name}_unrounded`);
      const r = round(g, v, name);
      for (const x of needs) {
        if (x.use) x.use.node.setInput(x.use.index, r);
        else if (x.graph) x.graph.setOutput(x.index!, r);
      }
      continue;
    }
    // stays float32: readers that want the low type see it rounded (the Cast a conversion would insert)
    const lowNeeds = needs.filter((x) => x.need === low);
    if (!lowNeeds.length) continue;
    let shared: Value | undefined;
    if (isConstant) {
      const copy = g.addInitializer(g.freshName(`${v.name}_rounded`), constantTensor(v).clone());
      roundConstant(copy, low);
      shared = copy;
    }
    for (const x of lowNeeds) {
      if (x.use) x.use.node.setInput(x.use.index, shared ?? (shared = round(g, v)));
      else if (x.graph) {
        const og = x.graph;
        const r = og === g ? (shared ?? (shared = round(g, v))) : round(og, v);
        if (og === plan.model.graph) {
          // keep the output's name: the rounded value takes it
          const name = v.name;
          if (!og.inputs.includes(v)) {
            v.name = og.freshName(`${name}_unrounded`);
            r.name = name;
          }
        }
        og.setOutput(x.index!, r);
      }
    }
  }
  for (const g of model.graph.allGraphs()) g.sortTopologically();
  return plan;
}

function constantTensor(v: Value): Tensor {
  if (v.initializer) return v.initializer;
  const p = v.producer!;
  const a = p.attributes.get('value');
  if (a?.type === AttrType.TENSOR) return a.value as Tensor;
  const many = p.getFloats('value_floats');
  return Tensor.fromArray(FLOAT, many ? [many.length] : [], Float32Array.from(many ?? [p.getFloat('value_float') ?? 0]));
}

/** Replaces a float32 constant's values by their low-type roundings (still float32). */
function roundConstant(v: Value, low: number): void {
  const prod = v.producer;
  if (!v.initializer && prod && !prod.getTensor('value')) {
    // value_float / value_floats: turn into a tensor first
    const many = prod.getFloats('value_floats');
    const vals = many ?? [prod.getFloat('value_float') ?? 0];
    prod.attributes.delete('value_float');
    prod.attributes.delete('value_floats');
    prod.setAttr(Attribute.tensor('value', roundedTensor(Float32Array.from(vals), many ? [vals.length] : [], low)));
    return;
  }
  const t = constantTensor(v);
  t.setData(roundValues(float32Values(t), low), FLOAT);
}

function roundValues(values: Float32Array, low: number): Float32Array {
  const stats: ConversionStats = { clamped: 0, flushed: 0, nan: 0 };
  const { bits } = encodeConstant(values, low, stats);
  return low === DataType.FLOAT16 ? float16ToFloat32(bits) : bfloat16ToFloat32(bits);
}

function roundedTensor(values: Float32Array, dims: number[], low: number): Tensor {
  return Tensor.fromArray(FLOAT, dims, roundValues(values, low));
}

/** Fidelity of a conversion with low-type storage emulated, measured against the float32 model. */
export async function measureEmulated(reference: Model, opts: ConvertOptions, feeds: readonly Feeds[]): Promise<OutputFidelity[]> {
  const emulated = decodeModelBytes(encodeModel(reference), reference.source?.baseDir);
  emulateConversion(emulated, opts);
  return compareModels(reference, emulated, feeds);
}
