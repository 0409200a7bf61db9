/**
 * quantize-dynamic: MatMul / Gemm by a constant float32 matrix -> int8 weights, activations quantized at run time.
 *
 *   A ──MatMul(W:[K,N] f32)──> t ──Add(c:[N])──> y
 *       =>  A ──com.microsoft::DynamicQuantizeMatMul(Wq:[K,N] i8, s:[N] (or scalar), [zp], bias = c)──> y
 *
 *   A ──Gemm(W, C; transA = 0, transB, alpha, beta)──> y
 *       =>  A ──DynamicQuantizeMatMul(Wq:[K,N], s * alpha, bias = beta * C)──> y        (W transposed while quantizing)
 *
 * format 'integer' writes the standard-op chain instead (onnxruntime fuses it back at session creation):
 *   DynamicQuantizeLinear(A) -> (a_q u8, a_s, a_zp); MatMulInteger(a_q, Wq, a_zp[, w_zp]); Cast(float);
 *   Mul(Cast, Mul(a_s, s)); Add(bias)
 *
 * Maths: y = A·W ≈ A·(Wq * s) per column; symmetric int8 (s = max|W[:,n]| / 127, 63 with reduce_range) needs no
 * zero point; uint8 weights are asymmetric with one zero point per column. The runtime quantizes A per tensor to
 * uint8 on every call.
 *
 * Fires when:
 *   - B is a constant (initializer that is not a graph input, or a Constant node) of float32 and rank 2;
 *   - every reader of B is a MatMul/Gemm that fires (one weight read by several MatMuls is quantized once; a weight
 *     also read by anything else, or that is a graph output, is left float: quantizing it would store it twice);
 *   - Gemm: transA = 0, and C absent or a constant that broadcasts along rows ([N], [1, N], one element);
 *   - format 'integer': opset >= 11 (DynamicQuantizeLinear).
 * A following Add is folded into the bias when it is the MatMul output's only reader, that output is not a graph
 * output, and the other operand is a float32 constant of N elements shaped [..1, N] (or one element) whose rank does
 * not exceed A's (so broadcasting cannot add dimensions).
 * Recurses into subgraphs (If/Loop/Scan bodies; new initializers go in the scope of the weight); function bodies are
 * not rewritten (reported as skipped).
 */
import { DataType } from '../../ir/dtype.js';
import type { Graph, Node, Value } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { floatValues, quantizeMatrix8, tinyScaleWarning, WeightReader, type Int8Weights } from './weights.js';
import { recommendInt8, type CpuFeatures } from './cpu.js';
import { addWeight, dropIfUnused, ensureOpset, foldableBias, graphsWithPaths, MS_DOMAIN, nodeName, replaceKeepingOutput } from './graph-util.js';
import { finishReport, type IntQuantizeReport, type QuantizedNode, type SkippedNode, type SkipReasonCode, type WeightReport } from './report.js';
import { addEmbeddings, type EmbeddingOptions } from './embeddings.js';

export interface DynamicQuantizeOptions {
  /** one scale per output column (default true); false: one per weight */
  perChannel?: boolean;
  /** default: recommendInt8() for this CPU (int8) */
  weightType?: 'int8' | 'uint8';
  /** 7-bit weights; default: recommendInt8() (false on CPUs with VNNI) */
  reduceRange?: boolean;
  /** 'dqmm' (default): com.microsoft::DynamicQuantizeMatMul; 'integer': DynamicQuantizeLinear + MatMulInteger + Mul */
  format?: 'dqmm' | 'integer';
  /** fold a following bias Add into the new node (default true) */
  foldBias?: boolean;
  /** operators to rewrite (default MatMul and Gemm) */
  ops?: ('MatMul' | 'Gemm')[];
  /** weights with fewer elements stay float32 (default 0: all) */
  minElements?: number;
  /** node names to leave alone */
  exclude?: string[];
  /** also rewrite MatMuls inside If/Loop/Scan bodies (default true) */
  subgraphs?: boolean;
  /** embedding tables read by Gather: stored int8 per row (default true; false to leave them) */
  embeddings?: boolean | EmbeddingOptions;
  /** CPU features to decide weightType / reduceRange for (default: this machine's) */
  cpu?: CpuFeatures;
}

/** A MatMul or Gemm whose weight can be quantized (int8 here, int4 in int4.ts). */
export interface Candidate {
  node: Node;
  graph: Graph;
  path: string;
  weight: Value;
  /** weight stored [N, K] (Gemm transB = 1) */
  transposed: boolean;
  K: number;
  N: number;
  alpha: number;
  /** bias: a value to reuse as is ([N] float32 constant), or values to write */
  bias?: { value?: Value; data?: Float32Array; from: string; add?: Node };
}

/** Rewrites MatMul/Gemm with constant weights to int8 (and embedding tables, see embeddings.ts). Mutates `model`. */
export function quantizeDynamic(model: Model, opts: DynamicQuantizeOptions = {}): IntQuantizeReport {
  const rec = recommendInt8(opts.cpu);
  const perChannel = opts.perChannel ?? true;
  const weightType = opts.weightType ?? rec.weightType;
  const reduceRange = opts.reduceRange ?? rec.reduceRange;
  const format = opts.format ?? 'dqmm';
  const foldBias = opts.foldBias ?? true;
  const ops = new Set(opts.ops ?? ['MatMul', 'Gemm']);
  const minElements = opts.minElements ?? 0;
  const exclude = new Set(opts.exclude ?? []);
  const opset = model.opset('') ?? 1;

  const quantized: QuantizedNode[] = [];
  const skipped: SkippedNode[] = [];
  const weights: WeightReport[] = [];
  const warnings: string[] = [];
  const opsetsAdded: Record<string, number> = {};
  const skip = (n: Node, path: string, reason: SkipReasonCode, detail: string) =>
    skipped.push({ name: nodeName(n), opType: n.opType, graph: path, reason, detail });

  for (const fn of model.functions)
    for (const n of fn.graph.allNodes())
      if (n.domain === '' && ops.has(n.opType as 'MatMul')) skip(n, `function ${fn.name}`, 'function-body', 'function bodies are not rewritten');

  // 1. analysis: nothing changes until every candidate is known (shared weights need all their readers)
  const scopes = graphsWithPaths(model).filter((s) => opts.subgraphs !== false || s.path === 'main');
  const cands: Candidate[] = [];
  for (const { graph, path } of scopes)
    for (const n of graph.nodes) {
      if (n.domain !== '' || !ops.has(n.opType as 'MatMul')) continue;
      const r = examine(n, graph, path, { exclude, minElements, format, opset, foldBias });
      if (typeof r === 'string') continue;
      if ('reason' in r) skip(n, path, r.reason, r.detail);
      else cands.push(r);
    }
  const byWeight = new Map<Value, Candidate[]>();
  for (const c of cands) (byWeight.get(c.weight) ?? byWeight.set(c.weight, []).get(c.weight)!).push(c);
  const accepted: Candidate[] = [];
  for (const [w, cs] of byWeight) {
    const mine = new Set(cs.map((c) => c.node));
    const other = w.uses.find((u) => !mine.has(u.node) || u.index !== 1);
    if (other || w.isGraphOutput) {
      const detail = other
        ? `weight ${w.name} is also read by ${nodeName(other.node)} (${other.node.opType}), which is not rewritten`
        : `weight ${w.name} is a graph output`;
      for (const c of cs) skip(c.node, c.path, 'weight-shared', detail);
    } else accepted.push(...cs);
  }

  // 2. rewrite
  const cache = new Map<string, { q: Value; scale: Value; zp?: Value; scaleData: Float32Array; report: WeightReport }>();
  const touched = new Set<Value>();
  const nonFinite = new Map<Value, string>();
  const reader = new WeightReader();
  for (const c of accepted) {
    const key = `${c.transposed ? 'T' : 'N'}`;
    let qw = cache.get(c.weight.name + '\0' + key);
    const scope = c.weight.graph ?? c.graph;
    const bad = nonFinite.get(c.weight);
    if (bad) {
      skip(c.node, c.path, 'weight-non-finite', bad);
      continue;
    }
    if (!qw) {
      const t = c.weight.constTensor()!;
      const w8: Int8Weights = quantizeMatrix8(reader.floats(t), c.K, c.N, c.transposed, { perChannel, weightType, reduceRange });
      const base = c.weight.name;
      if (w8.nonFinite) {
        const detail = `weight ${base} holds ${w8.nonFinite} NaN or infinite value(s), which no int8 scale represents: kept float32`;
        nonFinite.set(c.weight, detail);
        skip(c.node, c.path, 'weight-non-finite', detail);
        continue;
      }
      const tiny = tinyScaleWarning(`weight ${base}`, w8.tinyScales, w8.scale.length);
      if (tiny) warnings.push(tiny);
      const q = addWeight(scope, `${base}_quantized`, weightType === 'int8' ? DataType.INT8 : DataType.UINT8, [c.K, c.N], w8.q);
      const sdims = perChannel ? [c.N] : [];
      const scale = addWeight(scope, `${base}_scale`, DataType.FLOAT, sdims, w8.scale);
      const zp = w8.zeroPoint ? addWeight(scope, `${base}_zero_point`, DataType.UINT8, sdims, w8.zeroPoint) : undefined;
      const first = !touched.has(c.weight);
      touched.add(c.weight);
      const report: WeightReport = {
        name: base,
        elements: c.K * c.N,
        // a weight read both as [K, N] and transposed is stored twice; its float bytes count once
        bytesBefore: first ? 4 * c.K * c.N : 0,
        bytesAfter: c.K * c.N + 4 * w8.scale.length + (w8.zeroPoint?.length ?? 0),
        users: 0,
        floatKept: false,
      };
      weights.push(report);
      qw = { q, scale, zp, scaleData: w8.scale, report };
      cache.set(c.weight.name + '\0' + key, qw);
    }
    qw.report.users++;
    let scale = qw.scale;
    if (c.alpha !== 1)
      scale = addWeight(
        scope,
        `${c.weight.name}_scale_alpha`,
        DataType.FLOAT,
        perChannel ? [c.N] : [],
        qw.scaleData.map((s) => s * c.alpha),
      );
    let bias: Value | null = null;
    if (c.bias) bias = c.bias.value ?? addWeight(c.graph, `${c.weight.name}_bias`, DataType.FLOAT, [c.N], c.bias.data!);
    const target = c.bias?.add ?? c.node;
    const also = c.bias?.add ? [c.node] : [];
    const oldBias = c.bias?.add ? c.bias.add.inputs.find((v) => v && v !== c.node.output(0)) : c.node.opType === 'Gemm' ? c.node.input(2) : undefined;
    const name = c.node.name || undefined;
    if (format === 'dqmm') {
      const fresh = replaceKeepingOutput(
        c.graph,
        target,
        'DynamicQuantizeMatMul',
        [c.node.input(0)!, qw.q, scale, qw.zp ?? null, bias],
        {},
        { domain: MS_DOMAIN, name: 'DynamicQuantizeMatMul', also },
      );
      if (name) fresh.name = name;
      ensureOpset(model, MS_DOMAIN, 1, opsetsAdded);
    } else {
      integerChain(c.graph, target, c.node.input(0)!, qw.q, scale, qw.zp, bias, name ?? 'MatMulInteger', also);
    }
    quantized.push({
      name: nodeName(c.node),
      opType: c.node.opType,
      graph: c.path,
      as: format === 'dqmm' ? 'DynamicQuantizeMatMul' : 'DynamicQuantizeLinear+MatMulInteger',
      weight: c.weight.name,
      shape: [c.K, c.N],
      ...(c.bias ? { biasFolded: c.bias.from } : {}),
    });
    if (oldBias) dropIfUnused(oldBias);
  }
  for (const w of touched) if (!dropIfUnused(w)) warnings.push(`float weight ${w.name} is still read and was kept`);

  const embeddingSettings = addEmbeddings(model, opts.embeddings, exclude, opts.subgraphs, { quantized, skipped, weights, warnings, opsetsAdded });

  return finishReport('dynamic-int8', {
    quantized,
    skipped,
    weights,
    warnings,
    opsetsAdded,
    settings: { perChannel, weightType, reduceRange, format, foldBias, ops: [...ops], minElements, cpu: rec.reason, embeddings: embeddingSettings },
  });
}

export type Examined = Candidate | { reason: SkipReasonCode; detail: string } | 'ignore';

/** Whether a MatMul/Gemm can be rewritten, and how: its weight layout, K, N, alpha and the bias to fold. */
export function examine(
  n: Node,
  graph: Graph,
  path: string,
  o: { exclude: Set<string>; minElements: number; format: string; opset: number; foldBias: boolean },
): Examined {
  const w = n.input(1);
  if (!w) return 'ignore';
  const t = w.constTensor();
  if (o.exclude.has(n.name) || o.exclude.has(nodeName(n))) return { reason: 'excluded', detail: `${nodeName(n)} is on the exclude list` };
  if (!t) {
    const p = w.producer;
    // a weight that is already quantized (DequantizeLinear of a constant) or an activation: not a candidate
    return {
      reason: 'weight-not-constant',
      detail: `input B (${w.name}) is ${p ? `computed by ${p.opType}` : w.isGraphInput ? 'a graph input' : 'not a constant'}`,
    };
  }
  if (t.dataType !== DataType.FLOAT)
    return { reason: 'weight-not-float32', detail: `weight ${w.name} is ${DataType[t.dataType]?.toLowerCase() ?? t.dataType}` };
  if (t.rank !== 2) return { reason: 'weight-rank', detail: `weight ${w.name} has shape [${t.dims}]; only 2-D weights are quantized` };
  if (t.size < o.minElements) return { reason: 'weight-too-small', detail: `weight ${w.name} has ${t.size} elements (< ${o.minElements})` };
  if (o.format === 'integer' && o.opset < 11) return { reason: 'opset', detail: `DynamicQuantizeLinear needs opset 11 (model has ${o.opset})` };
  let transposed = false;
  let alpha = 1;
  let bias: Candidate['bias'];
  const [d0, d1] = t.dims;
  if (n.opType === 'Gemm') {
    if (n.getInt('transA', 0) !== 0) return { reason: 'gemm-trans-a', detail: 'Gemm with transA = 1 (A would need a transpose)' };
    transposed = n.getInt('transB', 0) !== 0;
    alpha = n.getFloat('alpha', 1);
    const beta = n.getFloat('beta', 1);
    const N = transposed ? d0 : d1;
    const c = n.input(2);
    if (c && beta !== 0) {
      const ct = c.constTensor();
      if (!ct) return { reason: 'gemm-bias', detail: `Gemm C (${c.name}) is not a constant` };
      if (ct.dataType !== DataType.FLOAT) return { reason: 'gemm-bias', detail: `Gemm C (${c.name}) is not float32` };
      const rows = ct.rank === 2 ? ct.dims[0] : 1;
      if (!(ct.size === 1 || (ct.size === N && rows === 1 && ct.dims[ct.rank - 1] === N)))
        return { reason: 'gemm-bias', detail: `Gemm C of shape [${ct.dims}] is not a row vector of ${N}` };
      if (beta === 1 && ct.rank === 1 && ct.size === N) bias = { value: c, from: c.name };
      else {
        const v = floatValues(ct);
        bias = { data: Float32Array.from({ length: N }, (_, i) => beta * v[ct.size === 1 ? 0 : i]), from: c.name };
      }
    }
  }
  const K = transposed ? d1 : d0;
  const N = transposed ? d0 : d1;
  if (n.opType === 'MatMul' && o.foldBias) bias = foldableBias(n, N);
  return { node: n, graph, path, weight: w, transposed, K, N, alpha, bias };
}

/** DynamicQuantizeLinear + MatMulInteger + Cast + Mul (+ Add), writing `target`'s output. */
function integerChain(g: Graph, target: Node, a: Value, q: Value, scale: Value, zp: Value | undefined, bias: Value | null, name: string, also: Node[]): void {
  const base = g.freshName(name);
  const dql = g.addNode('DynamicQuantizeLinear', [a], {}, { outputs: 3, before: target, name: `${base}_quant` });
  const [aq, as, azp] = dql.outputs as Value[];
  const mmi = g.addNode('MatMulInteger', zp ? [aq, q, azp, zp] : [aq, q, azp], {}, { before: target, name: base });
  const cast = g.addNode('Cast', [mmi.output(0)], { to: DataType.FLOAT }, { before: target, name: `${base}_cast` });
  const s = g.addNode('Mul', [as, scale], {}, { before: target, name: `${base}_scale` });
  const last = bias ? g.addNode('Mul', [cast.output(0), s.output(0)], {}, { before: target, name: `${base}_mul` }) : undefined;
  const out = target.output(0);
  target.setOutput(0, null);
  if (last) g.addNode('Add', [last.output(0), bias], {}, { before: target, name: `${base}_bias`, outputs: [''] }).setOutput(0, out);
  else g.addNode('Mul', [cast.output(0), s.output(0)], {}, { before: target, name: `${base}_mul`, outputs: [''] }).setOutput(0, out);
  g.removeNodes([target, ...also]);
}
