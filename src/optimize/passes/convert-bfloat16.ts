/**
 * convert-bfloat16: float32 computation and weights become bfloat16 (8-bit exponent: float32's range, 8 bits of
 * precision).
 *
 *     x:f32 ─MatMul(W:f32)─ Conv(K:f32) ─> y:f32
 *     x:bf16 ─MatMul(W:bf16)─ Cast(f32) ─ Conv(K:f32) ─ Cast(bf16) ─> y:bf16      (Conv has bfloat16 from opset 22)
 *
 * Same machinery as convert-float16 (src/quantize): which nodes convert follows the ONNX definitions, which give
 * bfloat16 to most operators from opset 13 (none before: such models are left unchanged, with a warning). Weights
 * round to nearest even; nothing saturates short of float32's own range. Lossy: 8 significant bits, outputs within
 * about 5% of their range (emulated on BERT-tiny: 3.8%). onnxruntime's CPU provider has no bfloat16
 * compute kernels: the result is for other providers, or use the weightsOnly option (bfloat16 storage, float32
 * compute) to run on CPU. Recurses into If/Loop/Scan bodies; function bodies are not converted. A second run changes
 * nothing.
 */
import type { Pass } from '../../pass/pass.js';
import { runConversion } from './convert-float16.js';

const convertBfloat16: Pass = {
  name: 'convert-bfloat16',
  description: 'convert float32 weights and computation to bfloat16 (onnxruntime CPU runs only the weights-only form)',
  kind: 'conversion',
  lossless: false,
  tolerance: { rtol: 5e-2, atol: 5e-2 },
  recursesIntoSubgraphs: true,
  run: (model, ctx) => runConversion(model, ctx, 'convert-bfloat16', 'bf16'),
};

export default convertBfloat16;
