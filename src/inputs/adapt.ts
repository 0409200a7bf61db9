/**
 * Input sets made for one model, given to another: each tensor converted to the other model's declared element type
 * when the same values can be given as it (float32 <-> float16 <-> float64, integer widths and bool), as a
 * float16-converted or re-typed candidate needs the baseline's inputs.
 */
import type * as ort from 'onnxruntime-node';
import { OperationError } from '../errors.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import { float32ToFloat16 } from '../ir/float-codecs.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { fromOrtTensor, toOrtTensor, type Feeds } from '../runtime/session.js';
import { describeInputs } from './describe.js';

const FLOAT_ORT = new Set(['float32', 'float16', 'float64']);
const INT_ORT = new Set(['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64']);

/** The same values as another element type; null when they cannot be (float <-> integer). */
export function convertFeed(t: ort.Tensor, target: number): ort.Tensor | null {
  const src = fromOrtTensor(t);
  const dims = src.dims;
  const to = dtypeName(target);
  if (FLOAT_ORT.has(t.type) && FLOAT_ORT.has(to)) {
    const f = src.toFloat32();
    if (target === DataType.FLOAT) return toOrtTensor(Tensor.fromArray(target, dims, f));
    if (target === DataType.FLOAT16) return toOrtTensor(Tensor.fromArray(target, dims, float32ToFloat16(f)));
    return toOrtTensor(Tensor.fromArray(target, dims, t.type === 'float64' ? (t.data as Float64Array) : Float64Array.from(f)));
  }
  if ((INT_ORT.has(t.type) || t.type === 'bool') && (INT_ORT.has(to) || to === 'bool')) return toOrtTensor(Tensor.fromArray(target, dims, src.toNumbers()));
  return null;
}

/**
 * The input sets as `model` takes them: its declared inputs only, each converted to its declared type. `converted`
 * names what was converted ("x (float32 -> float16)"). Throws OperationError when an input is missing or cannot be
 * converted.
 */
export function adaptFeeds(sets: readonly Feeds[], model: Model): { feeds: Feeds[]; converted: string[] } {
  const infos = describeInputs(model);
  const converted = new Set<string>();
  const feeds = sets.map((set) => {
    const f: Feeds = {};
    for (const info of infos) {
      const t = set[info.name];
      if (!t) throw new OperationError(`it takes input '${info.name}', which the reference does not (inputs given: ${Object.keys(set).join(', ')})`);
      const want = info.elemType;
      if (want === undefined || dtypeName(want) === t.type) {
        f[info.name] = t;
        continue;
      }
      const c = convertFeed(t, want);
      if (!c)
        throw new OperationError(`input '${info.name}' is ${t.type} for the reference but ${dtypeName(want)} here, which the same values cannot be given as`);
      converted.add(`${info.name} (${t.type} -> ${dtypeName(want)})`);
      f[info.name] = c;
    }
    return f;
  });
  return { feeds, converted: [...converted] };
}

/** One input set as `model` takes it (see adaptFeeds). */
export function adaptFeed(set: Feeds, model: Model): Feeds {
  return adaptFeeds([set], model).feeds[0]!;
}
