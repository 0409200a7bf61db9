/**
 * float16 / bfloat16 conversion: the library API behind `autoglm quantize` and the convert-float16 /
 * convert-bfloat16 passes; integer quantization (int8 dynamic / static, int4) from ./int8.
 */
export { quantize, type QuantizeOptions } from './quantize.js';
export { convertFloat } from './convert.js';
export {
  checkQuantized,
  checkFloatConversion,
  judgeFidelity,
  judgeMeasured,
  resolveTolerance,
  DEFAULT_MIN_COSINE,
  DEFAULT_MAX_ERROR,
  type CheckKind,
  type IntCheckReport,
  type IntTolerance,
} from './check.js';
export { verifyConverted, classifyLoadFailure, type LoadCheck, type VerifyOptions } from './verify.js';
export { convertMixed, type MixedOptions } from './mixed.js';
export { emulateConversion, measureEmulated } from './emulate.js';
export {
  DEFAULT_OP_BLOCK_LIST,
  DEFAULT_OP_BLOCK_NAMES,
  resolveOpBlockList,
  parseNodeBlockList,
  splitList,
  LOW_TYPE,
  LOW_NAME,
  type ConvertOptions,
  type LowDType,
  type BlockEntry,
} from './options.js';
export { checkTypes, inferElemTypes, type ElemTypes } from './type-check.js';
export { nodeKeys, FOLLOWERS } from './plan.js';
export type { QuantizeReport, TensorReport, KeptNode, KeepReasonCode, MixedReport, MixedKept, OutOfRangeConstant } from './report.js';
export * from './int8/index.js';
