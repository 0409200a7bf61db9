/**
 * convert-float16: float32 computation and weights become IEEE float16.
 *
 *     x:f32 ─MatMul(W:f32)─ Add(b:f32) ─ Resize(scales:f32) ─> y:f32
 *     x:f16 ─MatMul(W:f16)─ Add(b:f16) ─ Resize(scales:f32) ─> y:f16      (scales is tensor(float) by definition)
 *
 * Fires on every node whose ONNX definition lets its float32 type variables take float16 (src/onnx/opschema.ts),
 * except the op block list (default DEFAULT_OP_BLOCK_LIST: CumSum, RoiAlign, DFT, STFT, QuantizeLinear,
 * DequantizeLinear, RandomNormal, RandomUniform), the node block list, operators outside the table, and float arithmetic that only computes
 * shapes. Casts go exactly where a kept node meets a converted one; Cast pairs are folded. Weights round to nearest
 * even; values beyond +-65504 saturate and are counted per tensor. Recurses into If/Loop/Scan bodies, converting
 * their boundary values with the control node; function bodies are not converted (calls keep float32).
 *
 * Options (ctx.options['convert-float16'] or flat keys): keepIoTypes (true | names), opBlockList, nodeBlockList
 * (names or RegExps), weightsOnly. Lossy: outputs stay within about 1e-2 relative of float32 on well-scaled models.
 * A second run changes nothing.
 */
import { convertFloat } from '../../quantize/convert.js';
import type { ConvertOptions, LowDType } from '../../quantize/options.js';
import type { Pass, PassContext, PassResult } from '../../pass/pass.js';
import type { Model } from '../../ir/model.js';

const KEYS = ['keepIoTypes', 'opBlockList', 'nodeBlockList', 'weightsOnly', 'weightsMinElements'] as const;

/** Conversion options from a pass context: flat keys, overridden by an object under the pass's own name. */
export function conversionOptions(ctx: PassContext, passName: string, dtype: LowDType): ConvertOptions {
  const flat: Record<string, unknown> = {};
  for (const k of KEYS) if (ctx.options[k] !== undefined) flat[k] = ctx.options[k];
  const own = ctx.options[passName];
  return { ...(flat as Partial<ConvertOptions>), ...(own && typeof own === 'object' ? (own as Partial<ConvertOptions>) : {}), dtype };
}

/** Runs the conversion as a pass: counts for the pass report, the summary and warnings as notes. */
export function runConversion(model: Model, ctx: PassContext, passName: string, dtype: LowDType): PassResult {
  const report = convertFloat(model, conversionOptions(ctx, passName, dtype));
  if (!report.modified) return { modified: false, counts: {} };
  ctx.log(`${passName}: ${report.message}`);
  for (const w of report.warnings) ctx.log(`${passName}: ${w}`);
  return {
    modified: true,
    counts: {
      converted: report.nodes.converted,
      kept: report.nodes.kept.length,
      tensors: report.totals.tensors,
      clamped: report.totals.clamped,
      flushed: report.totals.flushed,
      raised: report.totals.raised,
      castsInserted: report.castsInserted,
      castsRemoved: report.castsRemoved,
    },
    notes: [report.message, ...report.warnings],
  };
}

const convertFloat16: Pass = {
  name: 'convert-float16',
  description: 'convert float32 weights and computation to float16 (Casts only where definitions or block lists require float32)',
  kind: 'conversion',
  lossless: false,
  tolerance: { rtol: 1e-2, atol: 1e-3 },
  recursesIntoSubgraphs: true,
  run: (model, ctx) => runConversion(model, ctx, 'convert-float16', 'fp16'),
};

export default convertFloat16;
