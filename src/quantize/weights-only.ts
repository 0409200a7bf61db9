/**
 * Weights-only conversion: float32 weights are stored in the low type and a Cast back to float32 follows each, so
 * every computation still runs in float32 and only the file shrinks.
 *
 *     W: float32 initializer ──> MatMul          W: float16 initializer ──> Cast(to=float) ──> MatMul
 *
 * onnxruntime constant-folds those Casts when it loads the model, so latency and memory at run time are those of the
 * float32 model, with each weight rounded once (float16: values beyond +-65504 saturate, counted per tensor). This is
 * the mode that runs on onnxruntime's CPU provider with bfloat16 storage.
 *
 * Tensors with fewer than `weightsMinElements` elements (default 16: scalars, epsilons) stay float32, and so do
 * tensors read as shapes, scales or indices (Resize scales, Range bounds), which rounding would change, and (unless
 * `clamp`) tensors holding values beyond the low type's range, which storing would clamp.
 */
import { DataType, dtypeName } from '../ir/dtype.js';
import { AttrType, Node, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { tensorType, withElemType } from '../ir/types.js';
import { getOpSchema, inputSlot } from '../onnx/opschema.js';
import { castAllows, castTo, typeSuffix } from './casts.js';
import { LOW_TYPE, type ConvertOptions } from './options.js';
import type { TensorReport } from './report.js';
import { convertTensorInPlace, rangeCheck } from './tensors.js';
import { inferElemTypes } from './type-check.js';

export interface WeightsOnlyResult {
  tensors: TensorReport[];
  castsInserted: number;
  retyped: number;
  skippedShapeLike: string[];
  /** tensors kept float32 because the low type cannot hold some of their values (without clamp) */
  skippedOutOfRange: { name: string; values: number; maxAbs: number }[];
  warnings: string[];
}

export function applyWeightsOnly(model: Model, opts: ConvertOptions): WeightsOnlyResult {
  const low = LOW_TYPE[opts.dtype];
  const minElements = opts.weightsMinElements ?? 16;
  const types = inferElemTypes(model);
  const res: WeightsOnlyResult = { tensors: [], castsInserted: 0, retyped: 0, skippedShapeLike: [], skippedOutOfRange: [], warnings: [] };
  const opset = model.opset('');
  if (opset !== undefined && opset < 6) {
    // Cast-1 has no kernel in onnxruntime: it runs one behind its own Casts, which are Cast-6 (an int `to`), invalid here
    res.warnings.push(
      `opset ${opset}: onnxruntime cannot run a Cast from ${dtypeName(low)} in an opset-${opset} model (its Cast kernels start at Cast-6); convert the model to opset 6 or newer first`,
    );
    return res;
  }
  if (!castAllows(opset, low)) {
    res.warnings.push(`opset ${model.opset('')} cannot Cast from ${dtypeName(low)} (bfloat16 arrives with opset 13): convert the model to a newer opset first`);
    return res;
  }
  for (const g of model.graph.allGraphs()) {
    const sources: { v: Value; tensor: Tensor; constant?: Node }[] = [];
    for (const v of g.initializers.values()) if (!g.inputs.includes(v)) sources.push({ v, tensor: v.initializer! });
    for (const n of g.nodes) {
      if (n.opType !== 'Constant' || n.domain || !n.outputs[0]) continue;
      const a = n.attributes.get('value');
      if (a?.type === AttrType.TENSOR) sources.push({ v: n.outputs[0], tensor: a.value as Tensor, constant: n });
    }
    for (const { v, tensor, constant } of sources) {
      if (tensor.dataType !== DataType.FLOAT || types.get(v) !== DataType.FLOAT || tensor.size < minElements) continue;
      // a main-graph output keeps its name and type: it is the model's interface
      if ((v.uses.length === 0 && !v.isGraphOutput) || v.outputOf.includes(model.graph)) continue;
      if (readAsShape(model, v)) {
        res.skippedShapeLike.push(v.name);
        continue;
      }
      if (!opts.clamp) {
        const r = rangeCheck(tensor, low);
        if (r.values) {
          res.skippedOutOfRange.push({ name: v.name, values: r.values, maxAbs: r.maxAbs });
          continue;
        }
      }
      res.tensors.push(convertTensorInPlace(tensor, low, constant ? 'constant' : 'initializer', v.name));
      // declared: Cast-1 (opsets 1-5) has no type inference in onnxruntime
      const out = new Value(g.freshName(`${v.name}_${typeSuffix(DataType.FLOAT)}`), v.type ?? tensorType(DataType.FLOAT, tensor.dims));
      if (v.type) {
        v.type = withElemType(v.type, low);
        res.retyped++;
      }
      v.replaceAllUsesWith(out, { includeOutputs: true });
      const cast = new Node('Cast', [v], [out], { name: g.freshName(`Cast_${out.name}`), attributes: [castTo(opset, DataType.FLOAT)] });
      if (constant) g.insertAfter(cast, constant);
      else if (g.nodes.length) g.insertBefore(cast, g.nodes[0]);
      else g.appendNode(cast);
      res.castsInserted++;
    }
  }
  return res;
}

/** Whether any reader takes the value as a shape, size, scale or index (by the operator's definition). */
function readAsShape(model: Model, v: Value): boolean {
  return v.uses.some((u) => {
    const s = getOpSchema(u.node.opType, u.node.domain, model.opset(u.node.domain));
    return !!s && !!inputSlot(s, u.index)?.shapeLike;
  });
}
