/** In-memory encoding of a model (tests, onnxruntime sessions from bytes). Files go through io.ts's saveModel. */
import type { Model } from '../ir/model.js';
import { encodeMessageToBytes } from './schema.js';
import { modelToMsg } from './serde.js';

/** The model as ONNX protobuf bytes, with every tensor inline. */
export function encodeModel(model: Model): Uint8Array {
  return encodeMessageToBytes('ModelProto', modelToMsg(model));
}
