/**
 * Fields of an ONNX message that the IR does not model: kept opaque (field name -> value, as the codec read them,
 * including fields newer than the bundled schema as their exact bytes) so that load -> save writes them back
 * untouched. Only src/onnx/serde.ts fills and reads them; the IR and the passes carry them along.
 */
export interface OpaqueFields {
  [field: string]: unknown;
}

/** A whole message the IR keeps without modelling it (sparse initializers, training info, quantization annotations). */
export type OpaqueMessage = OpaqueFields;
