/**
 * Cast nodes: insertion (one Cast per value, target type and scope, placed right after the value is defined so
 * topological order holds) and folding (no-op Casts, lossless round trips such as float16 -> float32 -> float16,
 * duplicate Casts of one value), so that a conversion never leaves Cast pairs behind.
 *
 * Inserted Casts follow the model's opset: Cast-1 (opsets 1-5) names its target type with a STRING attribute
 * (`to = "FLOAT16"`, the TensorProto.DataType name) and allows no bfloat16; Cast-6 and later take the enum as an INT.
 * onnxruntime refuses an int `to` on a Cast-1 ("Mismatched attribute type").
 */
import { DataType, INTEGER_TYPES } from '../ir/dtype.js';
import { Attribute, Node, Value, type Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { isStandardDomain } from '../ir/model.js';
import { tensorType, withElemType } from '../ir/types.js';
import { getOpSchema, varAllows } from '../onnx/opschema.js';
import { attrElemType, inferElemTypes } from './type-check.js';

/** The `to` attribute of a Cast in a model whose default-domain opset is `opset`. */
export function castTo(opset: number | undefined, to: number): Attribute {
  if (opset !== undefined && opset < 6) return Attribute.string('to', DataType[to]);
  return Attribute.int('to', to);
}

/** Element types Cast-1 (opsets 1-5) converts from and to. */
const CAST1_TYPES: ReadonlySet<number> = new Set([...INTEGER_TYPES, DataType.FLOAT16, DataType.FLOAT, DataType.DOUBLE, DataType.BOOL]);

/** Whether the opset's Cast converts between `t` and float32 (bfloat16 needs opset 13). */
export function castAllows(opset: number | undefined, t: number): boolean {
  const v = opset ?? 21;
  if (v < 6) return CAST1_TYPES.has(t);
  const cast = getOpSchema('Cast', '', v);
  return !!cast && varAllows(cast, 'T1', t) && varAllows(cast, 'T2', t);
}

const SUFFIX: Record<number, string> = { [DataType.FLOAT16]: 'fp16', [DataType.BFLOAT16]: 'bf16', [DataType.FLOAT]: 'fp32' };
export const typeSuffix = (t: number): string => SUFFIX[t] ?? `t${t}`;

/** Creates Casts and reuses them per (value, type, graph). */
export class CastFactory {
  inserted = 0;
  private readonly cache = new Map<Value, Map<Graph, Map<string, Value>>>();
  /** the model's default-domain opset: which Cast version the inserted nodes are */
  constructor(readonly opset?: number) {}

  /** A value holding `src` as `to`, computed in `g` (src's own graph unless given). */
  castOf(src: Value, to: number, g: Graph = src.graph!, at: 'defined' | 'end' = 'defined'): Value {
    const key = `${to}|${at}`;
    let byGraph = this.cache.get(src);
    if (!byGraph) this.cache.set(src, (byGraph = new Map()));
    let m = byGraph.get(g);
    if (!m) byGraph.set(g, (m = new Map()));
    const hit = m.get(key);
    if (hit) return hit;
    const out = new Value(g.freshName(`${src.name}_${typeSuffix(to)}`), src.type ? withElemType(src.type, to) : tensorType(to));
    this.insert(g, src, out, to, at);
    m.set(key, out);
    return out;
  }

  /** Inserts `out = Cast(src, to)` into g: after src's producer, at the start (inputs, initializers), or at the end. */
  insert(g: Graph, src: Value, out: Value, to: number, at: 'defined' | 'end'): Node {
    const node = new Node('Cast', [src], [out], { name: g.freshName(`Cast_${out.name}`), attributes: [castTo(this.opset, to)] });
    const prod = src.producer;
    if (at === 'end') g.appendNode(node);
    else if (prod && prod.graph === g) g.insertAfter(node, prod);
    else if (g.nodes.length) g.insertBefore(node, g.nodes[0]);
    else g.appendNode(node);
    this.inserted++;
    return node;
  }
}

/** a -> b keeps every value exactly */
function widens(a: number, b: number): boolean {
  if (a === b) return true;
  if (a === DataType.FLOAT16 || a === DataType.BFLOAT16) return b === DataType.FLOAT || b === DataType.DOUBLE;
  if (a === DataType.FLOAT) return b === DataType.DOUBLE;
  return false;
}

/**
 * Removes no-op Casts, lossless round trips (y = Cast(Cast(x, B), A) with x: A and A -> B exact becomes x) and
 * duplicate Casts of a value in one graph. Casts whose output is a graph output stay (their name is the interface).
 * Returns the number of Cast nodes removed.
 */
export function foldCasts(model: Model): number {
  let removed = 0;
  for (let changed = true; changed; ) {
    changed = false;
    const types = inferElemTypes(model);
    for (const g of model.graph.allGraphs()) {
      const seen = new Map<Value, Map<number, Value>>();
      for (const n of [...g.nodes]) {
        if (n.opType !== 'Cast' || !isStandardDomain(n.domain) || n.graph !== g) continue;
        const x = n.inputs[0];
        const y = n.outputs[0];
        const to = attrElemType(n, 'to');
        if (!x || !y || to === undefined || y.isGraphOutput) continue;
        const tx = types.get(x);
        if (tx === to) {
          y.replaceAllUsesWith(x);
          g.removeNode(n);
          removed++;
          changed = true;
          continue;
        }
        const p = x.producer;
        if (p && p.opType === 'Cast' && isStandardDomain(p.domain) && p.inputs[0] && tx !== undefined) {
          const w = p.inputs[0];
          if (types.get(w) === to && widens(to, tx)) {
            y.replaceAllUsesWith(w);
            g.removeNode(n);
            removed++;
            changed = true;
            if (x.uses.length === 0 && !x.isGraphOutput && p.graph) {
              // p's output may be remembered as the Cast of w to tx: forget it with p
              if (seen.get(w)?.get(tx) === x) seen.get(w)!.delete(tx);
              p.graph.removeNode(p);
              removed++;
            }
            continue;
          }
        }
        let m = seen.get(x);
        if (!m) seen.set(x, (m = new Map()));
        const prev = m.get(to);
        if (prev) {
          y.replaceAllUsesWith(prev);
          g.removeNode(n);
          removed++;
          changed = true;
        } else m.set(to, y);
      }
    }
  }
  return removed;
}
