/**
 * convertFloat(model, options): float32 -> float16 / bfloat16, in place, returning a report.
 *
 *   full (default)   compute in the low type where the operator definitions allow it and no block list says
 *                    otherwise; Casts only at the boundaries of kept nodes, fixed-float inputs and kept model I/O
 *   weights-only     weights stored in the low type, a Cast to float32 after each, compute in float32
 *
 * Converting an already converted model changes nothing and says so (the plan finds no float32 value whose type
 * should change). The async --mixed search (src/quantize/mixed.ts) calls this with a keep-set.
 */
import { DataType, dtypeName } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import { elemTypeOf, innerElemType } from '../ir/types.js';
import { getOpSchema, varAllows } from '../onnx/opschema.js';
import { forEachTensor } from '../onnx/io.js';
import { LOW_NAME, LOW_TYPE, type ConvertOptions } from './options.js';
import { makePlan, type Plan } from './plan.js';
import type { KeptNode, QuantizeReport, TensorReport } from './report.js';
import { applyPlan } from './rewrite.js';
import { applyWeightsOnly } from './weights-only.js';

/** Converts the model in place. */
export function convertFloat(model: Model, opts: ConvertOptions): QuantizeReport {
  if (opts.dtype !== 'fp16' && opts.dtype !== 'bf16') throw new TypeError(`dtype must be 'fp16' or 'bf16', got ${String(opts.dtype)}`);
  const t0 = performance.now();
  if (opts.weightsOnly) {
    const res = applyWeightsOnly(model, opts);
    const report = baseReport(model, opts, 'weights-only', res.tensors);
    report.castsInserted = res.castsInserted;
    report.valuesRetyped = res.retyped;
    report.modified = res.tensors.length > 0;
    report.nodes.total = countNodes(model);
    report.warnings.push(...res.warnings);
    for (const o of res.skippedOutOfRange) report.outOfRange.push({ ...o, action: 'kept', readers: [] });
    for (const t of res.tensors) if (t.clamped > 0) report.outOfRange.push({ name: t.name, values: t.clamped, maxAbs: NaN, action: 'clamped', readers: [] });
    if (res.skippedOutOfRange.length)
      report.warnings.push(
        `kept float32 (values beyond ${LOW_NAME[opts.dtype]}'s range, which storing would clamp; --clamp saturates them instead): ${res.skippedOutOfRange
          .slice(0, 10)
          .map((o) => o.name)
          .join(', ')}${res.skippedOutOfRange.length > 10 ? ', ...' : ''}`,
      );
    if (res.skippedShapeLike.length)
      report.warnings.push(
        `kept float32 (read as shapes or scales): ${res.skippedShapeLike.slice(0, 10).join(', ')}${res.skippedShapeLike.length > 10 ? ', ...' : ''}`,
      );
    report.message = report.modified
      ? `stored ${res.tensors.length} weight tensors as ${LOW_NAME[opts.dtype]} (${res.castsInserted} Casts to float32); compute stays float32`
      : nothingMessage(model, opts, 'no float32 weight tensors to store');
    finish(model, opts, report, t0);
    return report;
  }
  const plan = makePlan(model, opts);
  const res = applyPlan(plan);
  const report = baseReport(model, opts, opts.keepNodeKeys?.size ? 'mixed' : 'full', res.tensors);
  report.valuesRetyped = res.retyped;
  report.attributesChanged = res.attributes;
  report.castsInserted = res.castsInserted;
  report.castsRemoved = res.castsRemoved;
  report.warnings.push(...res.warnings);
  report.nodes = { total: plan.order.length, converted: plan.order.filter((p) => p.mode === 'low').length, kept: keptNodes(plan) };
  reportOutOfRange(plan, report);
  report.modified = res.tensors.length + res.retyped + res.attributes + res.castsInserted + res.castsRemoved > 0 || report.nodes.converted > 0;
  const cast = getOpSchema('Cast', '', model.opset(''));
  if (cast && !varAllows(cast, 'T2', LOW_TYPE[opts.dtype]))
    report.warnings.push(
      `opset ${model.opset('')} has no ${LOW_NAME[opts.dtype]} operators (it arrives with opset 13): convert the model to a newer opset first`,
    );
  report.message = report.modified
    ? `converted ${report.nodes.converted} of ${report.nodes.total} nodes to ${LOW_NAME[opts.dtype]}, ${report.nodes.kept.length} kept float32, ${res.castsInserted} Casts inserted`
    : nothingMessage(model, opts, 'every float32 value is read by nodes that stay float32');
  if (report.modified) addRuntimeWarnings(model, opts, report);
  warnVanished(report);
  finish(model, opts, report, t0);
  return report;
}

/**
 * Out-of-range constants: without clamp, the ones whose readers were kept float32; with clamp (or where nothing could
 * keep them, such as a constant that is itself a model output), the tensors the conversion saturated.
 */
function reportOutOfRange(plan: Plan, report: QuantizeReport): void {
  const lowName = LOW_NAME[report.dtype];
  for (const o of plan.outOfRange)
    report.outOfRange.push({ name: o.value.name, values: o.values, maxAbs: o.maxAbs, action: 'kept', readers: o.readers.map((n) => n.name || n.label) });
  for (const t of report.tensors) if (t.clamped > 0) report.outOfRange.push({ name: t.name, values: t.clamped, maxAbs: NaN, action: 'clamped', readers: [] });
  const kept = report.outOfRange.filter((o) => o.action === 'kept');
  const clamped = report.outOfRange.filter((o) => o.action === 'clamped');
  const list = (xs: typeof kept) =>
    `${xs
      .slice(0, 5)
      .map((o) => `'${o.name}'`)
      .join(', ')}${xs.length > 5 ? ', ...' : ''}`;
  if (kept.length) {
    const readers = kept.reduce((a, o) => a + o.readers.length, 0);
    report.warnings.push(
      `${kept.length} constant(s) hold values beyond ${lowName}'s range (${list(kept)}): the ${readers} node(s) reading them stay float32 instead of clamping them (reason 'out-of-range'); --clamp saturates them instead`,
    );
  }
  if (clamped.length) {
    const n = clamped.reduce((a, o) => a + o.values, 0);
    report.warnings.push(
      plan.opts.clamp
        ? `clamped ${n} value(s) beyond ${lowName}'s range in ${clamped.length} tensor(s) (${list(clamped)}) to its largest finite value, as --clamp asked: the model may compute something else`
        : `clamped ${n} value(s) beyond ${lowName}'s range in ${clamped.length} tensor(s) (${list(clamped)}) that no float32 reader could keep (model inputs and outputs): the model may compute something else`,
    );
  }
}

/** Constants entirely below the smallest subnormal were kept non-zero: say so, with the value that changed. */
function warnVanished(report: QuantizeReport): void {
  const raised = report.tensors.filter((t) => t.raised);
  if (!raised.length) return;
  const eg = raised[0];
  const min = report.dtype === 'fp16' ? '2^-24 (5.96e-8)' : '2^-133';
  report.warnings.push(
    `${raised.length} constant(s) lie entirely below ${LOW_NAME[report.dtype]}'s smallest subnormal (e.g. '${eg.name}'${eg.scalar !== undefined ? ` = ${eg.scalar}` : ''}): ` +
      `stored as +-${min} instead of 0, so epsilon guards such as sqrt(variance + epsilon) still keep constant rows from dividing by zero`,
  );
}

function finish(model: Model, opts: ConvertOptions, report: QuantizeReport, t0: number): void {
  if (report.modified) model.setMetadata('autoglm.quantize', `${opts.dtype}${opts.weightsOnly ? ' weights-only' : ''}`);
  report.inputs = model.graph.inputs.filter((v) => !v.initializer).map((v) => ({ name: v.name, dtype: dtypeOrQ(innerElemType(v.type)) }));
  report.outputs = model.graph.outputs.map((v) => ({ name: v.name, dtype: dtypeOrQ(innerElemType(v.type)) }));
  report.timings = { convertMs: performance.now() - t0 };
}

const dtypeOrQ = (t: number | undefined) => (t === undefined ? '?' : dtypeName(t));

function countNodes(model: Model): number {
  let n = 0;
  for (const _ of model.graph.allNodes()) n++;
  return n;
}

/** Why nothing changed: already converted, or nothing to convert. */
function nothingMessage(model: Model, opts: ConvertOptions, otherwise: string): string {
  const low = LOW_TYPE[opts.dtype];
  let lowTensors = 0;
  let floatTensors = 0;
  forEachTensor(model, (t) => {
    if (t.dataType === low) lowTensors++;
    else if (t.dataType === DataType.FLOAT) floatTensors++;
  });
  const lowIo = [...model.graph.inputs, ...model.graph.outputs].some((v) => elemTypeOf(v.type) === low);
  if (lowTensors > 0 || lowIo || model.getMetadata('autoglm.quantize')) {
    return `nothing to convert: the model is already ${LOW_NAME[opts.dtype]} (${lowTensors} ${LOW_NAME[opts.dtype]} tensors${floatTensors ? `, ${floatTensors} float32 tensors kept for float32 readers` : ''}); it was left unchanged`;
  }
  return `nothing to convert: ${otherwise}; the model was left unchanged`;
}

function baseReport(model: Model, opts: ConvertOptions, mode: QuantizeReport['mode'], tensors: TensorReport[]): QuantizeReport {
  const totals = { tensors: tensors.length, elements: 0, bytesBefore: 0, bytesAfter: 0, clamped: 0, flushed: 0, nan: 0, duplicated: 0, raised: 0 };
  for (const t of tensors) {
    totals.elements += t.elements;
    totals.bytesBefore += t.bytesBefore;
    totals.bytesAfter += t.bytesAfter;
    totals.clamped += t.clamped;
    totals.flushed += t.flushed;
    totals.nan += t.nan;
    if (t.duplicated) totals.duplicated++;
    totals.raised += t.raised ?? 0;
  }
  return {
    dtype: opts.dtype,
    mode,
    modified: false,
    message: '',
    tensors,
    totals,
    nodes: { total: 0, converted: 0, kept: [] },
    outOfRange: [],
    valuesRetyped: 0,
    attributesChanged: 0,
    castsInserted: 0,
    castsRemoved: 0,
    inputs: [],
    outputs: [],
    warnings: [],
  };
}

function keptNodes(plan: Plan): KeptNode[] {
  const out: KeptNode[] = [];
  for (const p of plan.order) {
    if (p.mode === 'low' || !p.reason) continue;
    // data movement and Casts inside a shape computation are part of it, not news
    if (p.kind === 'follower' && p.reason.code === 'shape-computation') continue;
    out.push({
      name: p.node.name || p.node.label,
      opType: p.node.opType,
      domain: p.node.domain,
      graph: p.graphPath,
      reason: p.reason.code,
      detail: p.reason.detail,
    });
  }
  return out;
}

/** What the CPU execution provider of onnxruntime does with the result. */
function addRuntimeWarnings(model: Model, opts: ConvertOptions, report: QuantizeReport): void {
  if (opts.dtype === 'fp16') {
    report.warnings.push(
      "onnxruntime's CPU execution provider has float16 kernels for few operators and runs float16 regions in float32 behind Casts: expect about float32 speed (sometimes slower) and half the file size; float16 compute, and its overflow risk, is real on GPUs and NPUs (--compare and --mixed emulate it)",
    );
    return;
  }
  report.warnings.push(
    "onnxruntime's CPU execution provider has no bfloat16 kernels for compute nodes (Add, MatMul, Softmax, ...): this model will not load on CPU. Use --weights-only for bfloat16 storage that runs on CPU, or an execution provider with bfloat16 support",
  );
  if (model.graph.inputs.some((v) => !v.initializer && elemTypeOf(v.type) === DataType.BFLOAT16))
    report.warnings.push('onnxruntime-node cannot create bfloat16 input tensors from JavaScript; --keep-io-types keeps the inputs float32');
}
