/**
 * quantize-static: QDQ (QuantizeLinear / DequantizeLinear pairs) around Conv, MatMul and Gemm, with activation ranges
 * calibrated on the caller's inputs. onnxruntime turns each `DQ(x), DQ(W), DQ(b) -> Conv -> Q` group into QLinearConv
 * (MatMul: QLinearMatMul) when it creates a session.
 *
 *   x ──Conv(W f32, b f32)──> c ──Relu──> y
 *     =>  x ─Q─DQ─┐
 *         Wq i8 ─DQ(s_w[M], axis 0)─┤
 *         bq i32 ─DQ(s_x * s_w[M], axis 0)─┴─Conv──> c ─Q─DQ──> y'     (Relu folded: c's range is y's, zp = qmin)
 *
 * Maths: weights symmetric int8 per output channel, s_w = max|W[m]| / 127 (per tensor when perChannel is false or the
 * opset is below 13, where DequantizeLinear has no axis); bias int32 with scale s_x * s_w (zero point 0), as the
 * runtime's integer kernels require; activations asymmetric uint8 (default) or int8 from the calibrated [lo, hi]
 * widened to include 0: s = (hi - lo) / 255, zp = qmin - rne(lo / s).
 *
 * Which tensors get a Q/DQ pair: input 0 of every rewritten node, and its output unless that is a graph output. A
 * tensor is quantized once; every reader of it then reads the dequantized value (as onnxruntime's own quantizer
 * does). A Relu that is the only reader of a rewritten node's output is folded away (its range starts at 0, so Q
 * clamps negatives to the zero point) unless its output is a graph output.
 * Fires on nodes of the main graph (not subgraphs, not functions) whose weight is a float32 constant (Conv: rank >= 3;
 * MatMul / Gemm: rank 2, Gemm with transA = 0). Needs opset >= 10.
 */
import { DataType } from '../../ir/dtype.js';
import type { Node, Value } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import type { Feeds } from '../../runtime/session.js';
import { calibrateRanges, type CalibrationOptions, type TensorRange } from './calibrate.js';
import { addWeight, dropIfUnused, nodeName } from './graph-util.js';
import { finishReport, type IntQuantizeReport, type QuantizedNode, type SkippedNode, type SkipReasonCode, type WeightReport } from './report.js';
import { activationParams, countNonFinite, finiteRange, floatValues, quantizeBias32, quantizeColumns8, quantizeRows8, tinyScaleWarning } from './weights.js';

export interface StaticQuantizeOptions extends CalibrationOptions {
  /** input sets to calibrate on (Record<input name, ort.Tensor>), typically 10-100 representative samples */
  calibration: readonly Feeds[];
  /** per output channel weight scales (default true; per tensor below opset 13) */
  perChannel?: boolean;
  /** activation type (default 'uint8', the fast U8S8 path on x86) */
  activationType?: 'uint8' | 'int8';
  /** symmetric activations (zero point 128 / 0); default false */
  symmetricActivations?: boolean;
  /** operators to quantize (default Conv, MatMul, Gemm) */
  ops?: ('Conv' | 'MatMul' | 'Gemm')[];
  /** fold a Relu that alone reads a quantized output (default true) */
  foldRelu?: boolean;
  exclude?: string[];
}

export interface ActivationReport {
  name: string;
  lo: number;
  hi: number;
  scale: number;
  zeroPoint: number;
}

export type StaticQuantizeReport = IntQuantizeReport & { activations: ActivationReport[] };

interface Target {
  node: Node;
  /** the activation input (before any Q/DQ is inserted) */
  x: Value;
  weight: Value;
  /** axis of DequantizeLinear for the weight (output channels) */
  axis: number;
  bias?: Value;
}

export async function quantizeStatic(model: Model, opts: StaticQuantizeOptions): Promise<StaticQuantizeReport> {
  const opset = model.opset('') ?? 1;
  const ops = new Set(opts.ops ?? ['Conv', 'MatMul', 'Gemm']);
  const actType = opts.activationType ?? 'uint8';
  const symAct = opts.symmetricActivations ?? false;
  const foldRelu = opts.foldRelu ?? true;
  const exclude = new Set(opts.exclude ?? []);
  const warnings: string[] = [];
  let perChannel = opts.perChannel ?? true;
  if (perChannel && opset < 13) {
    perChannel = false;
    warnings.push(`opset ${opset} has no per-axis DequantizeLinear (opset 13): weights are quantized per tensor`);
  }
  const quantized: QuantizedNode[] = [];
  const skipped: SkippedNode[] = [];
  const weights: WeightReport[] = [];
  const g = model.graph;
  const skip = (n: Node, reason: SkipReasonCode, detail: string) => skipped.push({ name: nodeName(n), opType: n.opType, graph: 'main', reason, detail });
  const settings = {
    method: opts.method ?? 'minmax',
    percentile: opts.percentile,
    perChannel,
    activationType: actType,
    symmetricActivations: symAct,
    ops: [...ops],
    foldRelu,
    calibrationSets: opts.calibration.length,
  };

  // 1. targets
  const targets: Target[] = [];
  for (const n of g.nodes) {
    if (n.domain !== '' || !ops.has(n.opType as 'Conv')) continue;
    const w = n.input(1);
    const t = w?.constTensor();
    const x = n.input(0);
    if (!w || !x) continue;
    if (exclude.has(n.name) || exclude.has(nodeName(n))) skip(n, 'excluded', `${nodeName(n)} is on the exclude list`);
    else if (opset < 10) skip(n, 'opset', `QuantizeLinear needs opset 10 (model has ${opset})`);
    else if (!t) skip(n, 'weight-not-constant', `input ${w.name} is not a constant`);
    else if (t.dataType !== DataType.FLOAT) skip(n, 'weight-not-float32', `weight ${w.name} is not float32`);
    else if (x.constTensor()) skip(n, 'weight-not-constant', `input 0 (${x.name}) is a constant, not an activation`);
    else if (n.opType === 'Conv' && t.rank < 3) skip(n, 'weight-rank', `Conv weight of rank ${t.rank}`);
    else if (n.opType !== 'Conv' && t.rank !== 2) skip(n, 'weight-rank', `weight ${w.name} has shape [${t.dims}]; only 2-D weights are quantized`);
    else if (n.opType === 'Gemm' && n.getInt('transA', 0) !== 0) skip(n, 'gemm-trans-a', 'Gemm with transA = 1');
    else if (countNonFinite(floatValues(t)) > 0)
      skip(n, 'weight-non-finite', `weight ${w.name} holds NaN or infinite values, which no int8 scale represents: kept float32`);
    else {
      const axis = n.opType === 'Conv' ? 0 : n.opType === 'Gemm' && n.getInt('transB', 0) !== 0 ? 0 : 1;
      let bias = n.opType === 'MatMul' ? undefined : n.input(2);
      const bt = bias?.constTensor();
      const M = t.dims[axis];
      // an integer bias needs a constant [M] float32 and (Gemm) alpha = beta = 1; otherwise it stays float
      if (
        bias &&
        (!bt ||
          bt.dataType !== DataType.FLOAT ||
          bt.size !== M ||
          bt.rank !== 1 ||
          (n.opType === 'Gemm' && (n.getFloat('alpha', 1) !== 1 || n.getFloat('beta', 1) !== 1)))
      ) {
        warnings.push(`${nodeName(n)}: bias ${bias.name} stays float32 (not a constant [${M}] with alpha = beta = 1); onnxruntime will not fuse this node`);
        bias = undefined;
      }
      targets.push({ node: n, x, weight: w, axis, bias });
    }
  }

  // 2. activations to quantize, with Relu folding decided before calibration
  const relus = new Map<Value, Node>();
  const folded = new Map<Value, Value>(); // Relu output -> the rewritten node's output that replaces it
  for (const tg of targets) {
    const o = tg.node.output(0);
    const r = o.uses.length === 1 ? o.uses[0].node : undefined;
    if (foldRelu && !o.isGraphOutput && r && r.opType === 'Relu' && r.domain === '' && !r.output(0).isGraphOutput) {
      relus.set(o, r);
      folded.set(r.output(0), o);
    }
  }
  const acts = new Set<Value>();
  for (const tg of targets) {
    tg.x = folded.get(tg.x) ?? tg.x;
    acts.add(tg.x);
    if (!tg.node.output(0).isGraphOutput) acts.add(tg.node.output(0));
  }
  const measure = [...acts].map((v) => relus.get(v)?.output(0) ?? v);
  const ranges = targets.length ? await calibrateRanges(model, measure, opts.calibration, opts) : new Map<Value, TensorRange>();
  // an activation whose calibrated range is not finite (it overflows float32 on the calibration inputs) has no scale:
  // the nodes that read or write it stay float, with their Relu, and the activation gets no Q/DQ
  const rangeOf = (v: Value) => ranges.get(relus.get(v)?.output(0) ?? v);
  const badRange = (v: Value) => {
    const r = rangeOf(v);
    return !!r && (!!r.nonFinite || !finiteRange(r.lo, r.hi));
  };
  for (let i = targets.length - 1; i >= 0; i--) {
    const tg = targets[i]!;
    const o = tg.node.output(0);
    const bad = [tg.x, o].find((v) => acts.has(v) && badRange(v));
    if (!bad) continue;
    const r = rangeOf(bad)!;
    skip(
      tg.node,
      'activation-range',
      `activation ${bad.name} has ${r.nonFinite ?? 0} NaN or infinite value(s) on the calibration inputs (finite range [${r.lo}, ${r.hi}]), which no int8 scale represents: kept float32`,
    );
    targets.splice(i, 1);
    const relu = relus.get(o);
    if (relu) {
      relus.delete(o);
      folded.delete(relu.output(0));
      // readers of the Relu read it again (it is no longer folded into this node)
      for (const t2 of targets) if (t2.x === o) t2.x = relu.output(0);
    }
  }
  acts.clear();
  for (const tg of targets) {
    acts.add(tg.x);
    if (!tg.node.output(0).isGraphOutput) acts.add(tg.node.output(0));
  }
  for (const v of acts) if (badRange(v)) acts.delete(v);

  // 3. rewrite: fold Relus, Q/DQ on activations, DQ on weights and biases
  for (const [o, r] of relus) {
    ranges.set(o, ranges.get(r.output(0))!);
    r.output(0).replaceAllUsesWith(o);
    g.removeNode(r);
  }
  const activations: ActivationReport[] = [];
  const actScale = new Map<Value, number>();
  const qType = actType === 'uint8' ? DataType.UINT8 : DataType.INT8;
  for (const v of acts) {
    const range = ranges.get(v)!;
    const { scale, zeroPoint, tiny } = activationParams(range.lo, range.hi, actType, symAct);
    if (tiny) warnings.push(tinyScaleWarning(`activation ${v.name} (range [${range.lo}, ${range.hi}])`, 1, 1)!);
    activations.push({ name: v.name, lo: range.lo, hi: range.hi, scale, zeroPoint });
    actScale.set(v, scale);
    const sv = addWeight(g, `${v.name}_scale`, DataType.FLOAT, [], Float32Array.of(scale));
    const zv = addWeight(g, `${v.name}_zero_point`, qType, [], actType === 'uint8' ? Uint8Array.of(zeroPoint) : Int8Array.of(zeroPoint));
    const at = v.producer ? { after: v.producer } : g.nodes[0] ? { before: g.nodes[0] } : {};
    const readers = [...v.uses];
    const q = g.addNode('QuantizeLinear', [v, sv, zv], {}, { ...at, name: g.freshName(`${v.name}_QuantizeLinear`) });
    const dq = g.addNode('DequantizeLinear', [q.output(0), sv, zv], {}, { after: q, name: g.freshName(`${v.name}_DequantizeLinear`) });
    for (const u of readers) u.node.setInput(u.index, dq.output(0));
  }
  const qWeights = new Map<Value, { dq: Value; scale: Float32Array }>();
  for (const tg of targets) {
    const t = tg.weight.constTensor()!;
    let qw = qWeights.get(tg.weight);
    if (!qw) {
      const vals = floatValues(t);
      const M = t.dims[tg.axis];
      const { q, scale, tinyScales } = tg.axis === 0 ? quantizeRows8(vals, M, t.size / M, perChannel) : quantizeColumns8(vals, t.dims[0], M, perChannel);
      const base = tg.weight.name;
      const tiny = tinyScaleWarning(`weight ${base}`, tinyScales, scale.length);
      if (tiny) warnings.push(tiny);
      const qv = addWeight(g, `${base}_quantized`, DataType.INT8, t.dims, q);
      const sdims = perChannel ? [M] : [];
      const sv = addWeight(g, `${base}_scale`, DataType.FLOAT, sdims, scale);
      const zv = addWeight(g, `${base}_zero_point`, DataType.INT8, sdims, new Int8Array(scale.length));
      const dq = g.addNode('DequantizeLinear', [qv, sv, zv], perChannel ? { axis: tg.axis } : {}, {
        before: g.nodes[0],
        name: g.freshName(`${base}_DequantizeLinear`),
      });
      qw = { dq: dq.output(0), scale };
      qWeights.set(tg.weight, qw);
      weights.push({ name: base, elements: t.size, bytesBefore: 4 * t.size, bytesAfter: t.size + 5 * scale.length, users: 0, floatKept: false });
    }
    tg.node.setInput(1, qw.dq);
    weights.find((w) => w.name === tg.weight.name)!.users++;
    if (tg.bias) {
      const sx = actScale.get(tg.x)!;
      const b = floatValues(tg.bias.constTensor()!);
      const bs = Float32Array.from(b, (_, m) => sx * qw!.scale[perChannel ? m : 0]);
      const bq = quantizeBias32(b, bs);
      if (!bq) {
        warnings.push(
          `${nodeName(tg.node)}: bias ${tg.bias.name} does not fit int32 at scale input_scale x weight_scale (a value beyond 2^31 steps, or a scale below the smallest normal float32): kept float32; onnxruntime will not fuse this node`,
        );
      } else {
        const bv = addWeight(g, `${tg.bias.name}_quantized`, DataType.INT32, [b.length], bq);
        const bsv = addWeight(g, `${tg.bias.name}_scale`, DataType.FLOAT, [b.length], bs);
        const dq = g.addNode('DequantizeLinear', [bv, bsv], { axis: 0 }, { before: g.nodes[0], name: g.freshName(`${tg.bias.name}_DequantizeLinear`) });
        const old = tg.bias;
        tg.node.setInput(2, dq.output(0));
        dropIfUnused(old);
        weights.push({ name: old.name, elements: b.length, bytesBefore: 4 * b.length, bytesAfter: 8 * b.length, users: 1, floatKept: old.uses.length > 0 });
      }
    }
    quantized.push({ name: nodeName(tg.node), opType: tg.node.opType, graph: 'main', as: 'QDQ', weight: tg.weight.name, shape: [...t.dims] });
  }
  for (const w of qWeights.keys()) {
    if (!dropIfUnused(w)) {
      const r = weights.find((x) => x.name === w.name)!;
      r.floatKept = true;
      warnings.push(`float weight ${w.name} is also read by ${w.uses.map((u) => nodeName(u.node)).join(', ')} and was kept`);
    }
  }
  if (opts.calibration.length < 8 && targets.length)
    warnings.push(`calibrated on ${opts.calibration.length} input set(s); ranges from fewer than 8 samples may clip real inputs`);
  return { ...finishReport('static-int8', { quantized, skipped, weights, warnings, opsetsAdded: {}, settings }), activations };
}
