/**
 * verifyConverted(model): does onnxruntime accept the converted model? A session is created (the runtime parses the
 * model, checks every node's types against its operator definitions and finds a kernel for each), nothing is run.
 * The CLI calls it before reporting success, so a model the runtime refuses is never written with exit 0.
 *
 * The result says why a load failed, because one failure is expected: bfloat16 compute nodes have no kernels in
 * onnxruntime's CPU execution provider (documented, and warned about by convertFloat), so a full bf16 conversion
 * refused for a missing kernel is `fatal: false`. Everything else is fatal: an invalid model (a type mismatch, an
 * attribute of the wrong kind, such as an int `to` on a Cast-1), or a float16 node without a kernel.
 */
import type { Model } from '../ir/model.js';
import { ortMessage, createSession } from '../runtime/session.js';
import type { ConvertOptions } from './options.js';

export interface LoadCheck {
  /** onnxruntime created a session */
  loads: boolean;
  /** why not: no kernel for a node's types, an invalid model (types, attributes, graph), or something else */
  kind?: 'no-kernel' | 'invalid-model' | 'other';
  /** the runtime's message, on one line */
  message?: string;
  /** whether the failure means the conversion is broken (false: an expected, documented limitation of the provider) */
  fatal: boolean;
  /** the execution providers tried */
  executionProviders: string[];
  ms: number;
}

export interface VerifyOptions {
  /** the options the model was converted with (to tell the expected bf16-on-CPU failure from a broken model) */
  convert?: Pick<ConvertOptions, 'dtype' | 'weightsOnly'>;
  /** default ['cpu'] */
  executionProviders?: string[];
}

/** Creates (and releases) an onnxruntime session for the model; never throws for a load failure. */
export async function verifyConverted(model: Model | Uint8Array | string, opts: VerifyOptions = {}): Promise<LoadCheck> {
  const executionProviders = opts.executionProviders ?? ['cpu'];
  const t0 = performance.now();
  try {
    const s = await createSession(model, { executionProviders, logLevel: 'fatal' });
    await s.release();
    return { loads: true, fatal: false, executionProviders, ms: performance.now() - t0 };
  } catch (e) {
    const message = ortMessage(e);
    const kind = classifyLoadFailure(message);
    const cpuOnly = executionProviders.every((p) => p === 'cpu');
    const bf16Compute = opts.convert?.dtype === 'bf16' && !opts.convert.weightsOnly;
    const expected = kind === 'no-kernel' && cpuOnly && bf16Compute;
    return { loads: false, kind, message, fatal: !expected, executionProviders, ms: performance.now() - t0 };
  }
}

/** onnxruntime's messages: NOT_IMPLEMENTED "Could not find an implementation for X(n) node with name ...". */
export function classifyLoadFailure(message: string): NonNullable<LoadCheck['kind']> {
  if (/NOT_IMPLEMENTED|Could not find an implementation/i.test(message)) return 'no-kernel';
  if (
    /INVALID_GRAPH|INVALID_ARGUMENT|Type Error|type mismatch|Type \(.*\) of|ValidateGraph|Load model|attribute|Node \(.*\) Op \(.*\)|Unrecognized|InvalidProtobuf/i.test(
      message,
    )
  )
    return 'invalid-model';
  return 'other';
}
