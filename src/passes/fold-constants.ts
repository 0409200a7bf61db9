/**
 * fold-constants: evaluates nodes whose inputs are all constant and replaces their outputs by constants.
 *
 *     c1 ──┐
 *          Add ──> t ──Mul(x)──> y           t' (initializer) ──Mul(x)──> y
 *     c2 ──┘
 *     x:[2,3,4] ──Shape──> s                  s' = [2,3,4] (int64 initializer)
 *
 * A node folds when its operator is in the default domain, deterministic (no Random*, Multinomial, Bernoulli,
 * Dropout), holds no subgraph, has at least one input and every present input is a constant (initializer that is
 * not a graph input, Constant node, or an output folded earlier in this run). Values are computed by onnxruntime-node
 * itself (the candidates of a graph run together in one small model; when it refuses that model, each node is tried
 * alone and the ones it refuses are skipped), so every operator and dtype it supports folds exactly as it would run.
 * Shape(x) folds without running anything when x's shape is fully static in its type (start/end of Shape-15
 * honoured); Shape of a dynamic value never folds, but shape arithmetic on it whose result util/infer.ts derives
 * as numbers does (torch's `sqrt(v.size(-1))` reads the head size, static, from heads whose sequence is dynamic:
 * Slice(Shape(v), -1, MAX) folds to [16], and the Cast/Pow after it then fold as ordinary constants). Only int64,
 * int32 and bool results of Shape, Gather, Slice, Squeeze, Unsqueeze, Concat and Cast fold this way, at most 64
 * elements: integers are exact, so the constant is what the graph would compute.
 * Size caps, so folding never bloats the file: each produced tensor at most `maxFoldBytes` (default 1 MiB), and all
 * of a node's outputs together at most `maxFoldRatio` (default 2) times the bytes of its constant inputs (exempt:
 * Shape from a static type, and results of 64 bytes or less, as torch's `torch.full([], x)` ConstantOfShape). A node
 * over a cap is left as it is, and so are the nodes that depend on it; --explain lists them, and later runs in a
 * fixed-point loop skip them without evaluating them again.
 * Folded outputs that are graph outputs become Constant nodes under the output's name; other folded outputs become
 * initializers (Constant nodes inside function bodies) that keep the value's name. Constants that only fed folded
 * nodes are removed. Recurses into subgraphs (outer constants are visible there) and function bodies.
 * Counts: folded, shapes.
 */
import { Attribute, type Graph, Node, Value } from '../ir/graph.js';
import type { Model, OpsetImport } from '../ir/model.js';
import { isStandardDomain } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { constantOf } from '../rewrite/constant.js';
import { removeDeadFrom } from '../rewrite/dead.js';
import { replaceValue, replacementProblem } from '../rewrite/replace.js';
import type { Pass, PassContext, PassResult } from '../pass/pass.js';
import { evaluateNodes, ortAvailable } from './util/evaluate.js';
import { passOption } from './util/options.js';
import { estimateBytes, tensorBytes } from './util/sizes.js';
import { foldInferred, foldShape } from './util/fold-shapes.js';
import { Inference } from './util/infer.js';

const NAME = 'fold-constants';
/** results of at most this many bytes in all are exempt from the ratio (a scalar ConstantOfShape reads 0 bytes) */
const SMALL = 64;
const NON_DETERMINISTIC = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli', 'Dropout']);

function foldable(n: Node): string | true {
  if (!isStandardDomain(n.domain)) return `operator of domain ${n.domain}`;
  if (n.opType === 'Constant') return 'already a constant';
  if (NON_DETERMINISTIC.has(n.opType)) return `${n.opType} is not deterministic`;
  if (n.subgraphs().length) return 'holds a subgraph';
  if (!n.inputs.some((v) => v)) return 'has no inputs';
  if ([...n.attributes.values()].some((a) => a.refAttrName)) return 'refers to function attributes';
  return true;
}

/**
 * Nodes refused in an earlier run (over a cap, or not evaluable), with the inputs and caps they were refused under:
 * later runs of the fixed-point loop skip them instead of evaluating them again.
 */
const refused = new WeakMap<Node, { key: string; reason: string }>();
const refusalKey = (n: Node, c: Ctx) => `${c.maxBytes}|${c.ratio}|${n.inputs.map((v) => v?.name ?? '').join(',')}`;
function refuse(n: Node, c: Ctx, reason: string): void {
  refused.set(n, { key: refusalKey(n, c), reason });
  c.ctx.explain?.({ pass: NAME, rule: 'fold', node: n.label, reason });
}

interface Ctx {
  model: Model;
  ctx: PassContext;
  maxBytes: number;
  ratio: number;
  stats: { folded: number; shapes: number };
}

function foldGraph(g: Graph, opsets: readonly OpsetImport[], inFunction: boolean, c: Ctx): void {
  // 1. candidates, in order: every present input constant or computed by an earlier candidate
  const computed = new Set<Value>();
  const candidates: Node[] = [];
  const shapes = new Map<Node, Tensor>();
  const known = new Map<Value, Tensor>(); // outputs of Shape nodes folded from static types
  const constant = (v: Value) => known.get(v) ?? constantOf(v);
  const inf = new Inference();
  for (const n of g.nodes) {
    if (n.opType === 'Shape' && isStandardDomain(n.domain) && n.input(0) && !constant(n.input(0)!) && !computed.has(n.input(0)!)) {
      const t = foldShape(n, inf);
      if (t && n.outputs[0]) {
        shapes.set(n, t);
        known.set(n.outputs[0], t);
      }
      continue;
    }
    if (foldable(n) !== true) continue;
    if (!n.inputs.every((v) => !v || computed.has(v) || constant(v))) {
      const t = foldInferred(n, inf);
      if (t) {
        shapes.set(n, t);
        known.set(n.outputs[0]!, t);
      }
      continue;
    }
    const before = refused.get(n);
    if (before && before.key === refusalKey(n, c)) {
      c.ctx.explain?.({ pass: NAME, rule: 'fold', node: n.label, reason: before.reason });
      continue;
    }
    const big = n.outputs.find((o) => o && (estimateBytes(n, o) ?? 0) > c.maxBytes);
    if (big) {
      refuse(n, c, `output ${big} would be over maxFoldBytes (${c.maxBytes} bytes)`);
      continue;
    }
    candidates.push(n);
    for (const o of n.outputs) if (o) computed.add(o);
  }
  // 2. evaluate: all together, else one by one
  const results = new Map<Value, Tensor>();
  const constInputs = (nodes: Node[]) => {
    const m = new Map<Value, Tensor>();
    for (const n of nodes) for (const v of n.inputs) if (v && !computed.has(v)) m.set(v, constant(v)!);
    return m;
  };
  const opts = { opsetImports: opsets, irVersion: c.model.irVersion };
  if (candidates.length && ortAvailable()) {
    try {
      const wanted = candidates.flatMap((n) => n.outputs.filter((o): o is Value => !!o));
      for (const [v, t] of evaluateNodes(candidates, constInputs(candidates), wanted, opts)) results.set(v, t);
    } catch {
      for (const n of candidates) {
        const ins = new Map<Value, Tensor>();
        let ok = true;
        for (const v of n.inputs) {
          if (!v) continue;
          const t = computed.has(v) ? results.get(v) : constant(v);
          if (!t) ok = false;
          else ins.set(v, t);
        }
        if (!ok) continue;
        try {
          const wanted = n.outputs.filter((o): o is Value => !!o);
          for (const [v, t] of evaluateNodes([n], ins, wanted, opts)) results.set(v, t);
        } catch (e) {
          refuse(n, c, `onnxruntime cannot evaluate it: ${(e as Error).message.split('\n')[0]}`);
        }
      }
    }
  }
  // 3. fold in order, node by node, where the caps allow
  const isCandidate = new Set(candidates);
  for (const n of g.nodes.slice()) {
    const shapeT = shapes.get(n);
    if (shapeT) {
      if (replaceOutputs(g, n, [shapeT], inFunction, c)) c.stats.shapes++;
      continue;
    }
    if (!isCandidate.has(n) || n.graph !== g) continue;
    if (!n.inputs.every((v) => !v || constantOf(v))) continue; // an input was not folded (over a cap, or failed)
    const outs = n.outputs.map((o) => (o ? results.get(o) : undefined));
    if (outs.some((t, i) => n.outputs[i] && !t)) continue;
    const inBytes = [...new Set(n.inputs.filter((v): v is Value => !!v))].reduce((s, v) => s + tensorBytes(constantOf(v)!), 0);
    const outBytes = outs.reduce((s, t) => s + (t ? tensorBytes(t) : 0), 0);
    const over = outs.find((t) => t && tensorBytes(t) > c.maxBytes);
    if (over || (outBytes > c.ratio * inBytes && outBytes > SMALL)) {
      refuse(
        n,
        c,
        over
          ? `a result of ${tensorBytes(over)} bytes is over maxFoldBytes (${c.maxBytes})`
          : `results (${outBytes} bytes) are over ${c.ratio}x its constant inputs (${inBytes} bytes)`,
      );
      continue;
    }
    if (replaceOutputs(g, n, outs, inFunction, c)) c.stats.folded++;
  }
  // 4. subgraphs see this graph's constants
  for (const n of g.nodes) for (const sg of n.subgraphs()) foldGraph(sg, opsets, inFunction, c);
}

/** Replaces every output of n by its constant; removes n and what fed only it. */
function replaceOutputs(g: Graph, n: Node, tensors: (Tensor | undefined)[], inFunction: boolean, c: Ctx): boolean {
  const news: Value[] = [];
  const pending: Node[] = [];
  n.outputs.forEach((o, i) => {
    const t = tensors[i];
    if (!o || !t) return;
    if (inFunction || o.outputOf.includes(g)) {
      const v = new Value(g.freshName(`${o.name}_folded`));
      pending.push(new Node('Constant', [], [v], { name: g.freshName(`${n.name || n.opType}_folded`), attributes: [Attribute.tensor('value', t)] }));
      news[i] = v;
    } else {
      news[i] = g.addConstant(`${o.name}_folded`, t);
    }
  });
  const problem = n.outputs.map((o, i) => (o && news[i] ? replacementProblem(o, news[i], true) : undefined)).find((p) => p);
  if (problem) {
    c.ctx.explain?.({ pass: NAME, rule: 'fold', node: n.label, reason: problem });
    for (const v of news) if (v?.initializer) g.removeInitializer(v);
    return false;
  }
  for (const k of pending) g.insertBefore(k, n);
  n.outputs.forEach((o, i) => o && news[i] && replaceValue(o, news[i], { takeName: true }));
  removeDeadFrom([n], g, c.model, { forceNodes: new Set([n]) });
  return true;
}

const pass: Pass = {
  name: NAME,
  description: 'evaluate nodes with constant inputs (and Shape of static shapes) in onnxruntime; size-capped',
  kind: 'cleanup',
  lossless: true,
  recursesIntoSubgraphs: true,
  run(model: Model, ctx: PassContext): PassResult {
    const maxBytes = passOption(ctx, NAME, 'maxFoldBytes', 1 << 20, (v) => typeof v === 'number' && v >= 0);
    const ratio = passOption(ctx, NAME, 'maxFoldRatio', 2, (v) => typeof v === 'number' && v >= 0);
    const c: Ctx = { model, ctx, maxBytes, ratio, stats: { folded: 0, shapes: 0 } };
    foldGraph(model.graph, model.opsetImports, false, c);
    for (const fn of model.functions) foldGraph(fn.graph, fn.opsetImports.length ? fn.opsetImports : model.opsetImports, true, c);
    const counts: Record<string, number> = {};
    if (c.stats.folded) counts.folded = c.stats.folded;
    if (c.stats.shapes) counts.shapes = c.stats.shapes;
    const notes = ortAvailable() ? undefined : ['onnxruntime-node binding unavailable: only Shape nodes were folded'];
    return { modified: c.stats.folded + c.stats.shapes > 0, counts, notes };
  },
};

export default pass;
