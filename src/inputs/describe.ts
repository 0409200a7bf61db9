import { dtypeName } from '../ir/dtype.js';
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { elemTypeOf, isTensorType, shapeOf, type Dim } from '../ir/types.js';
import type { Feeds } from '../runtime/session.js';

// ================================================================================================ description

export interface InputInfo {
  name: string;
  /** ONNX element type, undefined when not declared */
  elemType: number | undefined;
  /** dtype name ('float32', 'int64', ...; '?' when not declared) */
  dtype: string;
  /** declared shape (numbers, symbols, null for unknown); undefined when the rank is unknown */
  shape: Dim[] | undefined;
  /** the symbolic dimensions of this input, in order of first appearance */
  symbols: string[];
}

/** Graph inputs a caller must feed (inputs that are also initializers have defaults and are left out). */
export function modelInputs(model: Model): Value[] {
  return model.graph.inputs.filter((v) => !v.initializer);
}

/** Name, dtype and shape (with symbols) of each input the model needs. */
export function describeInputs(model: Model): InputInfo[] {
  return modelInputs(model).map((v) => {
    const shape = isTensorType(v.type) ? shapeOf(v.type) : undefined;
    const elemType = isTensorType(v.type) ? elemTypeOf(v.type) : undefined;
    const symbols: string[] = [];
    for (const d of shape ?? []) if (typeof d === 'string' && !symbols.includes(d)) symbols.push(d);
    return { name: v.name, elemType, dtype: elemType === undefined ? '?' : dtypeName(elemType), shape, symbols };
  });
}

/** Every symbolic dimension of the model's inputs, in order of first appearance. */
export function symbolicDims(model: Model): string[] {
  const out: string[] = [];
  for (const i of describeInputs(model)) for (const s of i.symbols) if (!out.includes(s)) out.push(s);
  return out;
}

/** One line per input: `input_ids: int64[batch, sequence]`. */
export function formatInputs(model: Model): string {
  return describeInputs(model)
    .map((i) => `${i.name}: ${i.dtype}${i.shape ? `[${i.shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '[?]'}`)
    .join('\n');
}

/** For callers holding an ort tensor map: the dims of each feed (for reports). */
export function feedShapes(feeds: Feeds): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(feeds)) out[k] = v.dims.map(Number);
  return out;
}
