/**
 * Integer quantization: the library API behind `autoglm quantize --dtype int8|int4`.
 *
 *   quantizeDynamic  MatMul/Gemm -> com.microsoft::DynamicQuantizeMatMul (int8 weights, activations at run time),
 *                    and Gather embedding tables stored int8 per row (transformers on CPU)
 *   quantizeInt4     MatMul -> com.microsoft::MatMulNBits (4-bit blockwise weights)
 *   quantizeStatic   QDQ with calibrated activation ranges (CNNs; onnxruntime fuses QLinearConv)
 *   recommendInt8    weight type / reduce_range for this CPU, with the reason (VNNI or not)
 *   quantizeGuided   int8/int4 keeping the most sensitive layers float until the outputs are within a tolerance
 */
export { quantizeDynamic, type DynamicQuantizeOptions } from './dynamic.js';
export { quantizeEmbeddings, type EmbeddingOptions, type EmbeddingResult } from './embeddings.js';
export { quantizeInt4, type Int4Options } from './int4.js';
export { quantizeStatic, type StaticQuantizeOptions, type StaticQuantizeReport, type ActivationReport } from './static.js';
export { calibrateRanges, type CalibrationOptions, type TensorRange } from './calibrate.js';
export { recommendInt8, detectCpuFeatures, parseCpuFlags, type CpuFeatures, type Int8Recommendation } from './cpu.js';
export type { IntQuantizeReport, IntRewriteKind, QuantizedNode, SkippedNode, SkipReasonCode, WeightReport } from './report.js';
export { quantizeGuided, type GuidedOptions, type GuidedReport, type GuidedKept } from './guided.js';
