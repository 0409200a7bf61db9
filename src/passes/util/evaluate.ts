/**
 * Synchronous evaluation of a few nodes in onnxruntime-node, for constant folding.
 *
 * Passes are synchronous (Pass.run returns a PassResult), and onnxruntime-node's public API is promise-based, so this
 * uses the package's native binding directly (`onnxruntime-node/dist/binding.js`: loadModel and run are synchronous
 * there; the public API only wraps them in setImmediate). That file is internal to the pinned onnxruntime-node
 * version (1.30): `ortAvailable()` lets callers degrade gracefully if a future version moves it.
 *
 * The nodes are copied into a small model whose initializers are their constant inputs and whose outputs are the
 * values asked for; it runs with graph optimisations disabled, on the CPU, one thread.
 */
import { createRequire } from 'node:module';
import { Graph, Node, Value, AttrType } from '../../ir/graph.js';
import { Model, type OpsetImport } from '../../ir/model.js';
import type { Tensor } from '../../ir/tensor.js';
import { encodeModel } from '../../onnx/encode.js';
import { fromOrtTensor } from '../../runtime/session.js';

interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: object, fetches: Record<string, null>, options: object): Record<string, unknown>;
  dispose(): void;
}

let binding: { InferenceSession: new () => BindingSession } | null | undefined;

function getBinding(): { InferenceSession: new () => BindingSession } | null {
  if (binding !== undefined) return binding;
  try {
    const req = createRequire(import.meta.url);
    const mod = req('onnxruntime-node/dist/binding.js') as { binding: { InferenceSession: new () => BindingSession }; initOrt: () => void };
    mod.initOrt();
    binding = mod.binding;
  } catch {
    binding = null;
  }
  return binding;
}

/** True when synchronous evaluation is possible in this installation. */
export function ortAvailable(): boolean {
  return getBinding() !== null;
}

/** An onnxruntime result as an IR tensor (copied); undefined for sequences, maps and types the IR cannot hold. */
function toTensor(v: unknown): Tensor | undefined {
  const o = v as { type?: unknown; dims?: unknown };
  if (!o || typeof o !== 'object' || typeof o.type !== 'string' || !Array.isArray(o.dims)) return undefined;
  try {
    return fromOrtTensor(v as Parameters<typeof fromOrtTensor>[0]);
  } catch {
    return undefined;
  }
}

export interface EvalOptions {
  opsetImports: readonly OpsetImport[];
  irVersion: number;
}

/**
 * Runs `nodes` (in order; each input must be a key of `inputs` or an output of an earlier node) and returns the
 * tensors of `wanted`. Throws when onnxruntime refuses the model or a result is not a tensor it can hand back.
 */
export function evaluateNodes(nodes: readonly Node[], inputs: ReadonlyMap<Value, Tensor>, wanted: readonly Value[], opts: EvalOptions): Map<Value, Tensor> {
  const b = getBinding();
  if (!b) throw new Error('onnxruntime-node native binding is not available for synchronous evaluation');
  const g = new Graph('fold');
  const map = new Map<Value, Value>();
  for (const [v, t] of inputs) map.set(v, g.addInitializer(v.name, t.clone(v.name)));
  for (const n of nodes) {
    if ([...n.attributes.values()].some((a) => a.refAttrName || a.type === AttrType.GRAPH || a.type === AttrType.GRAPHS))
      throw new Error(`${n.label} cannot be evaluated alone`);
    const ins = n.inputs.map((v) => {
      if (!v) return null;
      const m = map.get(v);
      if (!m) throw new Error(`${n.label}: input ${v.name} is not available`);
      return m;
    });
    const outs = n.outputs.map((o) => (o ? new Value(o.name) : null));
    const copy = new Node(n.opType, ins, outs, { domain: n.domain, attributes: [...n.attributes.values()] });
    g.appendNode(copy);
    n.outputs.forEach((o, i) => o && map.set(o, outs[i]!));
  }
  for (const w of wanted) {
    const m = map.get(w);
    if (!m) throw new Error(`${w.name} is not computed by the nodes given`);
    g.addOutput(m);
  }
  const model = new Model(g, {
    irVersion: Math.max(opts.irVersion, 4),
    opsetImports: opts.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
  });
  const bytes = encodeModel(model);
  const session = new b.InferenceSession();
  try {
    session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
      graphOptimizationLevel: 'disabled',
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      logSeverityLevel: 4,
    });
    const fetches: Record<string, null> = {};
    for (const w of wanted) fetches[w.name] = null;
    const res = session.run({}, fetches, {});
    const out = new Map<Value, Tensor>();
    for (const w of wanted) {
      const t = toTensor(res[w.name]);
      if (!t) throw new Error(`${w.name}: onnxruntime returned a value that is not a supported tensor`);
      out.set(w, t);
    }
    return out;
  } finally {
    session.dispose();
  }
}
