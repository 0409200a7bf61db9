/**
 * ONNX operator type constraints: for each operator of the common set (ai.onnx opsets 7-21, the onnxruntime
 * com.microsoft ops the fusion passes emit), each input's and output's type-constraint variable or fixed type, and
 * the element types each variable allows, per operator version.
 *
 * This is how "which inputs must stay float32" is derived rather than block-listed: Resize's `scales` is
 * `tensor(float)` by definition, Range's T has no float16, LayerNormalization's statistics U have no float16,
 * Conv gains bfloat16 only in opset 22. Transcribed by hand from the ONNX operator documentation; the float16 /
 * bfloat16 membership of each set is what the conversion depends on, integer subsets are kept as documented.
 *
 * The table is a compact text form, one string per version (the first version lists the slots, later ones may only
 * change constraints):
 *
 *     '13 X:T1 roi:T2? scales:float?# sizes:int64?# -> Y:T1 | T1=ALLB, T2=F'
 *
 *   - `name:Type` with Type a variable (starts upper case) or a fixed element type (`float`, `int64`, ...);
 *     `seq(T)` / `opt(T)` for sequences and optionals (element type T);
 *   - suffix `?` optional, `*` variadic (last slot), `#` shape-like (the value is a shape, size, axis, index, count or
 *     scale: integer-valued or precision-critical, never worth rounding);
 *   - constraints `T=SET[@attr[:default]][~FALLBACK]`, SET a `+`-joined union of set names and type tokens. `@to`
 *     says an output-only variable is chosen by an attribute (an INT dtype, or a TENSOR whose type counts); `:1` its
 *     default; `~T1` falls back to another variable's binding (EyeLike without dtype). `V=*` allows any type.
 *
 * API: getOpSchema(opType, domain, opset), inputTypeVar(...), outputTypeVar(...), inputSlot/outputSlot (variadic
 * aware), allowedTypes, slotAllows, fixedFloatInputs.
 */
import { DataType } from '../ir/dtype.js';

// ------------------------------------------------------------------------------------------------ type sets

const TOKENS: Record<string, DataType> = {
  f16: DataType.FLOAT16,
  f32: DataType.FLOAT,
  f64: DataType.DOUBLE,
  bf16: DataType.BFLOAT16,
  i8: DataType.INT8,
  i16: DataType.INT16,
  i32: DataType.INT32,
  i64: DataType.INT64,
  u8: DataType.UINT8,
  u16: DataType.UINT16,
  u32: DataType.UINT32,
  u64: DataType.UINT64,
  bool: DataType.BOOL,
  str: DataType.STRING,
  c64: DataType.COMPLEX64,
  c128: DataType.COMPLEX128,
  e4m3fn: DataType.FLOAT8E4M3FN,
  e4m3fnuz: DataType.FLOAT8E4M3FNUZ,
  e5m2: DataType.FLOAT8E5M2,
  e5m2fnuz: DataType.FLOAT8E5M2FNUZ,
  i4: DataType.INT4,
  u4: DataType.UINT4,
};

/** Named unions, after the ONNX helpers (all_numeric_types, all_tensor_types, ..._ir4, ..._ir9, ..._ir10). */
const SETS: Record<string, string> = {
  F: 'f16+f32+f64',
  FB: 'F+bf16',
  F8: 'e4m3fn+e4m3fnuz+e5m2+e5m2fnuz',
  INT: 'i8+i16+i32+i64+u8+u16+u32+u64',
  /** math ops of opsets 7-12 (Add-7, MatMul-9, Reduce*-1) */
  NUM7: 'u32+u64+i32+i64+F',
  NUM: 'INT+F',
  NUMB: 'NUM+bf16',
  ALL: 'NUM+bool+str+c64+c128',
  ALLB: 'ALL+bf16',
  ALL19: 'ALLB+F8',
  ALL21: 'ALL19+i4+u4',
  CAST6: 'F+INT+bool',
  CAST9: 'CAST6+str',
  CAST13: 'CAST9+bf16',
  CAST19: 'CAST13+F8',
  CAST21: 'CAST19+i4+u4',
};

const setCache = new Map<string, ReadonlySet<number>>();
function resolveSet(expr: string, depth = 0): ReadonlySet<number> {
  const hit = setCache.get(expr);
  if (hit) return hit;
  if (depth > 8) throw new Error(`opschema: type set '${expr}' nests too deeply`);
  const out = new Set<number>();
  for (const part of expr.split('+')) {
    const p = part.trim();
    if (TOKENS[p] !== undefined) out.add(TOKENS[p]);
    else if (SETS[p]) for (const t of resolveSet(SETS[p], depth + 1)) out.add(t);
    else throw new Error(`opschema: unknown type '${p}' in '${expr}'`);
  }
  setCache.set(expr, out);
  return out;
}

/** Fixed slot types as written in the table (`float`, `int64`, ...). */
const FIXED: Record<string, DataType> = {
  float: DataType.FLOAT,
  double: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  int64: DataType.INT64,
  int32: DataType.INT32,
  bool: DataType.BOOL,
  string: DataType.STRING,
  uint8: DataType.UINT8,
};

// ------------------------------------------------------------------------------------------------ schema objects

export interface SlotSpec {
  name: string;
  /** the variable name ('T1') or the fixed type as ONNX writes it ('tensor(float)') */
  type: string;
  /** the type-constraint variable, when not fixed */
  typeVar?: string;
  /** the fixed element type, when fixed */
  fixed?: DataType;
  optional: boolean;
  variadic: boolean;
  /** a shape, size, axis, index, count or scale: integer-valued or precision-critical */
  shapeLike: boolean;
  container: 'tensor' | 'seq' | 'opt';
}

export interface TypeVar {
  name: string;
  /** element types allowed; 'any' for control-flow values */
  allowed: ReadonlySet<number> | 'any';
  /** attribute that chooses the type of an output-only variable (Cast `to`, RandomNormal `dtype`, ...) */
  attr?: string;
  /** type when the attribute is absent (and no input binds the variable) */
  default?: number;
  /** variable whose binding is used when the attribute is absent (EyeLike, RandomNormalLike) */
  fallback?: string;
}

export interface OpSchema {
  opType: string;
  /** '' for ai.onnx */
  domain: string;
  since: number;
  inputs: SlotSpec[];
  outputs: SlotSpec[];
  vars: ReadonlyMap<string, TypeVar>;
}

function parseSlot(tok: string): SlotSpec {
  let s = tok;
  const flags = { optional: false, variadic: false, shapeLike: false };
  while (/[?*#]$/.test(s)) {
    const c = s[s.length - 1];
    if (c === '?') flags.optional = true;
    else if (c === '*') flags.variadic = true;
    else flags.shapeLike = true;
    s = s.slice(0, -1);
  }
  const colon = s.indexOf(':');
  if (colon < 0) throw new Error(`opschema: slot '${tok}' has no type`);
  const name = s.slice(0, colon);
  let type = s.slice(colon + 1);
  let container: SlotSpec['container'] = 'tensor';
  const m = /^(seq|opt)\((\w+)\)$/.exec(type);
  if (m) {
    container = m[1] as 'seq' | 'opt';
    type = m[2];
  }
  if (/^[A-Z]/.test(type)) return { name, type, typeVar: type, optional: flags.optional, variadic: flags.variadic, shapeLike: flags.shapeLike, container };
  const fixed = FIXED[type];
  if (fixed === undefined) throw new Error(`opschema: unknown fixed type '${type}' in '${tok}'`);
  return { name, type: `tensor(${type})`, fixed, optional: flags.optional, variadic: flags.variadic, shapeLike: flags.shapeLike, container };
}

function parseVar(def: string): TypeVar {
  const eq = def.indexOf('=');
  const name = def.slice(0, eq).trim();
  let rest = def.slice(eq + 1).trim();
  let fallback: string | undefined;
  const tilde = rest.indexOf('~');
  if (tilde >= 0) {
    fallback = rest.slice(tilde + 1).trim();
    rest = rest.slice(0, tilde);
  }
  let attr: string | undefined;
  let dflt: number | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const spec = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const [a, d] = spec.split(':');
    attr = a || undefined;
    if (d !== undefined) dflt = Number(d);
  }
  const allowed = rest.trim() === '*' ? 'any' : resolveSet(rest.trim());
  return { name, allowed, attr, default: dflt, fallback };
}

interface Version {
  since: number;
  inputs: SlotSpec[];
  outputs: SlotSpec[];
  vars: Map<string, TypeVar>;
}

function parseVersions(op: string, lines: string[]): Version[] {
  const out: Version[] = [];
  for (const line of lines) {
    const [head, cons] = line.split('|').map((x) => x.trim());
    const sp = head.indexOf(' ');
    const since = Number(sp < 0 ? head : head.slice(0, sp));
    const slots = sp < 0 ? '' : head.slice(sp + 1).trim();
    const prev = out[out.length - 1];
    let inputs: SlotSpec[];
    let outputs: SlotSpec[];
    if (slots) {
      const [ins, outs] = slots.split('->').map((x) => x.trim());
      if (outs === undefined) throw new Error(`opschema: ${op}-${since} has no '->'`);
      inputs = ins ? ins.split(/\s+/).map(parseSlot) : [];
      outputs = outs ? outs.split(/\s+/).map(parseSlot) : [];
    } else {
      if (!prev) throw new Error(`opschema: first version of ${op} lists no slots`);
      inputs = prev.inputs;
      outputs = prev.outputs;
    }
    const vars = new Map(prev?.vars ?? []);
    if (cons) for (const d of cons.split(/,\s*/)) if (d.trim()) vars.set(d.split('=')[0].trim(), parseVar(d));
    for (const s of [...inputs, ...outputs]) if (s.typeVar && !vars.has(s.typeVar)) throw new Error(`opschema: ${op}-${since} does not constrain ${s.typeVar}`);
    out.push({ since, inputs, outputs, vars });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ the table

type Table = Record<string, string[]>;

const ONNX: Table = {};
const def = (ops: string | string[], ...versions: string[]) => {
  for (const op of Array.isArray(ops) ? ops : [ops]) ONNX[op] = versions;
};

// unary math
def('Abs', '6 X:T -> Y:T | T=NUM', '13 | T=NUMB');
def('Neg', '6 X:T -> Y:T | T=F+i8+i16+i32+i64', '13 | T=FB+i8+i16+i32+i64');
def('Relu', '6 X:T -> Y:T | T=F', '13 | T=FB', '14 | T=FB+i8+i16+i32+i64');
def(['Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Sigmoid'], '6 X:T -> Y:T | T=F', '13 | T=FB');
def(['Exp', 'Log', 'Tanh'], '6 input:T -> output:T | T=F', '13 | T=FB');
def(['Erf', 'Sign'], '9 input:T -> output:T | T=NUM', '13 | T=NUMB');
def('Softplus', '1 X:T -> Y:T | T=F');
def('Softsign', '1 input:T -> output:T | T=F');
def(['Elu', 'Selu', 'HardSigmoid'], '6 X:T -> Y:T | T=F');
def('HardSwish', '14 X:T -> Y:T | T=F');
def('LeakyRelu', '6 X:T -> Y:T | T=F', '16 | T=FB');
def('ThresholdedRelu', '10 X:T -> Y:T | T=F');
def('Celu', '12 X:T -> Y:T | T=f32');
def('Mish', '18 X:T -> Y:T | T=F');
def('Gelu', '20 X:T -> Y:T | T=FB');
def(['Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan'], '7 input:T -> output:T | T=F');
def(['Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh'], '9 input:T -> output:T | T=F');
def('Round', '11 X:T -> Y:T | T=F');
def('IsNaN', '9 X:T1 -> Y:T2 | T1=F, T2=bool', '13 | T1=FB', '20 | T1=FB+F8');
def('IsInf', '10 X:T1 -> Y:T2 | T1=f32+f64, T2=bool', '20 | T1=FB+F8');
def('Not', '1 X:T -> Y:T | T=bool');
def('Shrink', '9 input:T -> output:T | T=NUM');
def('PRelu', '7 X:T slope:T -> Y:T | T=F', '9 | T=F+u32+u64+i32+i64', '16 | T=FB+u32+u64+i32+i64');

// binary / variadic math
def(['Add', 'Sub', 'Mul', 'Div'], '7 A:T B:T -> C:T | T=NUM7', '13 | T=NUM7+bf16', '14 | T=NUMB');
def('Pow', '7 X:T Y:T -> Z:T | T=F', '12 X:T Y:T1 -> Z:T | T=i32+i64+F, T1=NUM', '13 | T=i32+i64+FB', '15 | T1=NUMB');
def('Mod', '10 A:T B:T -> C:T | T=NUM', '13 | T=NUMB');
def('BitShift', '11 X:T Y:T -> Z:T | T=u8+u16+u32+u64');
def(['Max', 'Min'], '8 data_0:T* -> result:T | T=F', '12 | T=NUM', '13 | T=NUMB');
def(['Sum', 'Mean'], '8 data_0:T* -> result:T | T=F', '13 | T=FB');
def('Equal', '7 A:T B:T -> C:T1 | T=bool+i32+i64, T1=bool', '11 | T=bool+NUM', '13 | T=bool+NUMB', '19 | T=bool+NUMB+str');
def(['Less', 'Greater'], '7 A:T B:T -> C:T1 | T=F, T1=bool', '9 | T=NUM', '13 | T=NUMB');
def(['LessOrEqual', 'GreaterOrEqual'], '12 A:T B:T -> C:T1 | T=NUM, T1=bool', '16 | T=NUMB');
def(['And', 'Or', 'Xor'], '7 A:T B:T -> C:T1 | T=bool, T1=bool');
def(['BitwiseAnd', 'BitwiseOr', 'BitwiseXor'], '18 A:T B:T -> C:T | T=INT');
def('BitwiseNot', '18 X:T -> Y:T | T=INT');
def('Where', '9 condition:B X:T Y:T -> output:T | B=bool, T=ALL', '16 | T=ALLB');
def('Clip', '6 input:T -> output:T | T=F', '11 input:T min:T? max:T? -> output:T | T=F', '12 | T=NUM', '13 | T=NUMB');
def('Einsum', '12 Inputs:T* -> Output:T | T=NUM');
def('Det', '11 X:T -> Y:T | T=F');
def('MatMul', '1 A:T B:T -> Y:T | T=F', '9 | T=F+u32+u64+i32+i64', '13 | T=FB+u32+u64+i32+i64');
def('Gemm', '7 A:T B:T C:T -> Y:T | T=F', '9 | T=F+u32+u64+i32+i64', '11 A:T B:T C:T? -> Y:T', '13 | T=FB+u32+u64+i32+i64');
def('CumSum', '11 x:T axis:T2# -> y:T | T=u32+u64+i32+i64+f32+f64, T2=i32+i64', '14 | T=u32+u64+i32+i64+FB');

// reductions
const REDUCE = ['ReduceMean', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];
def(REDUCE, '1 data:T -> reduced:T | T=NUM7', '13 | T=NUM7+bf16', '18 data:T axes:int64?# -> reduced:T');
def(['ReduceMax', 'ReduceMin'], '1 data:T -> reduced:T | T=NUM7', '12 | T=NUM7+i8+u8', '13 | T=NUM7+i8+u8+bf16', '18 data:T axes:int64?# -> reduced:T', '20 | T=NUM7+i8+u8+bf16+bool');
def('ReduceSum', '1 data:T -> reduced:T | T=NUM7', '13 data:T axes:int64?# -> reduced:T | T=NUM7+bf16');
def(['ArgMax', 'ArgMin'], '1 data:T -> reduced:int64 | T=NUM', '13 | T=NUMB');
def('TopK', '1 X:T -> Values:T Indices:I | T=F, I=i64', '10 X:T K:int64# -> Values:T Indices:I', '11 | T=NUM');

// neural network
def(['Conv', 'ConvTranspose'], '1 X:T W:T B:T? -> Y:T | T=F');
def('DeformConv', '19 X:T W:T offset:T B:T? mask:T? -> Y:T | T=F');
def(
  'BatchNormalization',
  '7 X:T scale:T B:T mean:T var:T -> Y:T mean_out:T? var_out:T? saved_mean:T? saved_var:T? | T=F',
  '14 X:T scale:T B:T input_mean:U input_var:U -> Y:T running_mean:U? running_var:U? | T=FB, U=FB',
  '15 X:T scale:T1 B:T1 input_mean:T2 input_var:T2 -> Y:T running_mean:T2? running_var:T2? | T=FB, T1=FB, T2=FB',
);
def('InstanceNormalization', '6 input:T scale:T B:T -> output:T | T=F');
// version 1: onnxruntime's contrib schema in the default domain (used below opset 17); 17: ONNX
def(
  'LayerNormalization',
  '1 X:T Scale:V B:V? -> Y:V Mean:U? InvStdDev:U? | T=FB, V=FB, U=f32+bf16@stash_type:1',
  '17 X:T Scale:T B:T? -> Y:T Mean:U? InvStdDev:U? | T=FB, U=f32+bf16@stash_type:1',
);
def('SimplifiedLayerNormalization', '1 X:T scale:V -> Y:V inv_std_var:U? | T=FB, V=FB, U=f32+f64@stash_type:1');
def('GroupNormalization', '18 X:T scale:T bias:T -> Y:T | T=FB');
def('LpNormalization', '1 input:T -> output:T | T=F');
def(['LRN', 'MeanVarianceNormalization'], '1 X:T -> Y:T | T=F', '13 | T=FB');
def(['Softmax', 'LogSoftmax', 'Hardmax'], '1 input:T -> output:T | T=F', '13 | T=FB');
def(
  'Dropout',
  '7 data:T -> output:T mask:T? | T=F',
  '10 data:T -> output:T mask:T1? | T1=bool',
  '12 data:T ratio:T1? training_mode:T2? -> output:T mask:T2? | T=F, T1=F, T2=bool',
  '13 | T=FB, T1=FB',
);
def('MaxPool', '8 X:T -> Y:T Indices:I? | T=F, I=i64', '12 | T=F+i8+u8');
def(['AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'GlobalLpPool'], '1 X:T -> Y:T | T=F');
def('MaxRoiPool', '1 X:T rois:T# -> Y:T | T=F');
def('MaxUnpool', '9 X:T1 I:T2 output_shape:T2?# -> output:T1 | T1=F, T2=i64');
def(['RNN', 'GRU'], '7 X:T W:T R:T B:T? sequence_lens:T1? initial_h:T? -> Y:T? Y_h:T? | T=F, T1=i32');
def('LSTM', '7 X:T W:T R:T B:T? sequence_lens:T1? initial_h:T? initial_c:T? P:T? -> Y:T? Y_h:T? Y_c:T? | T=F, T1=i32');
def('NegativeLogLikelihoodLoss', '12 input:T target:Tind weight:T? -> loss:T | T=F, Tind=i32+i64', '13 | T=FB');
def('SoftmaxCrossEntropyLoss', '12 scores:T labels:Tind weights:T? -> output:T log_prob:T? | T=F, Tind=i32+i64', '13 | T=FB');

// image, detection, signal
def('Upsample', '7 X:T -> Y:T | T=ALL', '9 X:T scales:float# -> Y:T');
def(
  'Resize',
  '10 X:T scales:float# -> Y:T | T=ALL',
  '11 X:T1 roi:T2# scales:float# sizes:int64?# -> Y:T1 | T1=ALL, T2=F',
  '13 X:T1 roi:T2?# scales:float?# sizes:int64?# -> Y:T1 | T1=ALLB, T2=F',
);
def('GridSample', '16 X:T1 grid:T2# -> Y:T1 | T1=ALLB, T2=F');
def('AffineGrid', '20 theta:T1 size:T2# -> grid:T1 | T1=FB, T2=i64');
def('RoiAlign', '10 X:T1 rois:T1# batch_indices:T2 -> Y:T1 | T1=F, T2=i64');
def('NonMaxSuppression', '10 boxes:float# scores:float max_output_boxes_per_class:int64?# iou_threshold:float?# score_threshold:float?# -> selected_indices:int64');
def('DFT', '17 input:T1 dft_length:T2?# -> output:T1 | T1=FB, T2=i32+i64', '20 input:T1 dft_length:T2?# axis:int64?# -> output:T1');
def('STFT', '17 signal:T1 frame_step:T2# window:T1? frame_length:T2?# -> output:T1 | T1=FB, T2=i32+i64');
def(['HannWindow', 'HammingWindow', 'BlackmanWindow'], '17 size:T1# -> output:T2 | T1=i32+i64, T2=NUMB@output_datatype:1');
def(
  'MelWeightMatrix',
  '17 num_mel_bins:T1# dft_length:T1# sample_rate:T1# lower_edge_hertz:T2# upper_edge_hertz:T2# -> output:T3 | T1=i32+i64, T2=FB, T3=NUMB@output_datatype:1',
);
def('Col2Im', '18 input:T image_shape:int64# block_shape:int64# -> output:T | T=ALLB');
def('CenterCropPad', '18 input_data:T shape:Tind# -> output_data:T | T=ALLB, Tind=i32+i64');
def('TfIdfVectorizer', '9 X:T -> Y:T1 | T=str+i32+i64, T1=f32');

// tensor manipulation
def('Identity', '1 input:T -> output:T | T=ALL', '13 | T=ALLB', '19 | T=ALL19', '21 | T=ALL21');
def('Reshape', '5 data:T shape:int64# -> reshaped:T | T=ALL', '13 | T=ALLB', '19 | T=ALL19', '21 | T=ALL21');
def('Flatten', '1 input:T -> output:T | T=F', '9 | T=ALL', '13 | T=ALLB', '21 | T=ALL21');
def('Squeeze', '1 data:T -> squeezed:T | T=ALL', '13 data:T axes:int64?# -> squeezed:T | T=ALLB', '21 | T=ALL21');
def('Unsqueeze', '1 data:T -> expanded:T | T=ALL', '13 data:T axes:int64# -> expanded:T | T=ALLB', '21 | T=ALL21');
def('Transpose', '1 data:T -> transposed:T | T=ALL', '13 | T=ALLB', '21 | T=ALL21');
def('Concat', '4 inputs:T* -> concat_result:T | T=ALL', '13 | T=ALLB');
def('Split', '2 input:T -> outputs:T* | T=ALL', '13 input:T split:int64?# -> outputs:T* | T=ALLB');
def('Slice', '1 data:T -> output:T | T=ALL', '10 data:T starts:Tind# ends:Tind# axes:Tind?# steps:Tind?# -> output:T | Tind=i32+i64', '13 | T=ALLB');
def(['Gather', 'GatherElements'], '1 data:T indices:Tind# -> output:T | T=ALL, Tind=i32+i64', '13 | T=ALLB');
def('GatherND', '11 data:T indices:int64# -> output:T | T=ALL', '13 | T=ALLB');
def(['ScatterElements', 'Scatter'], '9 data:T indices:Tind# updates:T -> output:T | T=ALL, Tind=i32+i64', '13 | T=ALLB');
def('ScatterND', '11 data:T indices:int64# updates:T -> output:T | T=ALL', '13 | T=ALLB');
def('Expand', '8 input:T shape:int64# -> output:T | T=ALL', '13 | T=ALLB');
def('Tile', '6 input:T repeats:T1# -> output:T | T=ALL, T1=i64', '13 | T=ALLB');
def(
  'Pad',
  '2 data:T -> output:T | T=F',
  '11 data:T pads:int64# constant_value:T? -> output:T | T=NUM',
  '13 | T=ALLB',
  '18 data:T pads:int64# constant_value:T? axes:Tind?# -> output:T | Tind=i32+i64',
);
def(['DepthToSpace', 'SpaceToDepth'], '1 input:T -> output:T | T=ALL', '13 | T=ALLB');
def('Compress', '9 input:T condition:T1 -> output:T | T=ALL, T1=bool');
def('ReverseSequence', '10 input:T sequence_lens:int64# -> Y:T | T=ALL');
def('Trilu', '14 input:T k:int64?# -> output:T | T=ALLB');
def('OneHot', '9 indices:T1# depth:T2# values:T3 -> output:T3 | T1=NUM, T2=NUM, T3=ALL');
def('NonZero', '9 X:T -> Y:int64 | T=ALL', '13 | T=ALLB');
def('Shape', '1 data:T -> shape:int64 | T=ALL', '13 | T=ALLB', '19 | T=ALL19', '21 | T=ALL21');
def('Size', '1 data:T -> size:int64 | T=ALL', '13 | T=ALLB', '19 | T=ALL19', '21 | T=ALL21');
def('Unique', '11 X:T -> Y:T indices:int64? inverse_indices:int64? counts:int64? | T=ALL');

// types and generators
def('Cast', '6 input:T1 -> output:T2 | T1=CAST6, T2=CAST6@to', '9 | T1=CAST9, T2=CAST9@to', '13 | T1=CAST13, T2=CAST13@to', '19 | T1=CAST19, T2=CAST19@to', '21 | T1=CAST21, T2=CAST21@to');
def('CastLike', '15 input:T1 target_type:T2 -> output:T2 | T1=CAST13, T2=CAST13', '19 | T1=CAST19, T2=CAST19', '21 | T1=CAST21, T2=CAST21');
def('Constant', '1 -> output:T | T=ALL@value', '13 | T=ALLB@value', '19 | T=ALL19@value', '21 | T=ALL21@value');
def('ConstantOfShape', '9 input:int64# -> output:T2 | T2=F+INT+bool@value:1', '20 | T2=FB+INT+bool+F8@value:1', '21 | T2=FB+INT+bool+F8+i4+u4@value:1');
def('EyeLike', '9 input:T1 -> output:T2 | T1=F+INT+bool, T2=F+INT+bool@dtype~T1');
def('Range', '11 start:T limit:T delta:T -> output:T | T=f32+f64+i16+i32+i64');
def(['RandomNormal', 'RandomUniform'], '1 -> output:T | T=F@dtype:1');
def(['RandomNormalLike', 'RandomUniformLike'], '1 input:T1 -> output:T2 | T1=ALL, T2=F@dtype~T1');
def('Multinomial', '7 input:T1 -> output:T2 | T1=F, T2=i32+i64@dtype:6');
def('Bernoulli', '15 input:T1 -> output:T2 | T1=F, T2=F+INT+bool@dtype~T1');

// control flow, sequences, optionals
def('If', '1 cond:B -> outputs:V* | B=bool, V=*');
def('Loop', '1 M:I?# cond:B? v_initial:V* -> v_final_and_scan_outputs:V* | I=i64, B=bool, V=*');
def('Scan', '8 sequence_lens:I? initial_state_and_scan_inputs:V* -> final_state_and_scan_outputs:V* | I=i64, V=*', '9 initial_state_and_scan_inputs:V* -> final_state_and_scan_outputs:V*');
def('SequenceEmpty', '11 -> output:seq(T) | T=ALLB@dtype:1');
def('SequenceConstruct', '11 inputs:T* -> output_sequence:seq(T) | T=ALLB');
def('SequenceInsert', '11 input_sequence:seq(T) tensor:T position:I?# -> output_sequence:seq(T) | T=ALLB, I=i32+i64');
def('SequenceAt', '11 input_sequence:seq(T) position:I# -> tensor:T | T=ALLB, I=i32+i64');
def('SequenceErase', '11 input_sequence:seq(T) position:I?# -> output_sequence:seq(T) | T=ALLB, I=i32+i64');
def('SequenceLength', '11 input_sequence:seq(T) -> length:int64 | T=ALLB');
def('SplitToSequence', '11 input:T split:I?# -> output_sequence:seq(T) | T=ALLB, I=i32+i64');
def('ConcatFromSequence', '11 input_sequence:seq(T) -> concat_result:T | T=ALLB');
def('Optional', '15 input:V? -> output:opt(V) | V=*');
def('OptionalHasElement', '15 input:opt(V)? -> output:bool | V=*');
def('OptionalGetElement', '15 input:opt(V) -> output:V | V=*');

// quantization: scales are calibrated float32 values
def(
  'QuantizeLinear',
  '10 x:T1 y_scale:float# y_zero_point:T2? -> y:T2 | T1=f32+i32, T2=i8+u8@:2',
  '19 x:T1 y_scale:T1# y_zero_point:T2? -> y:T2 | T1=f32+f16+bf16+i32, T2=i8+u8+F8@:2',
  '21 x:T1 y_scale:T2# y_zero_point:T3? -> y:T3 | T1=f32+f16+bf16+i32, T2=f32+f16+bf16+i32, T3=i8+u8+i16+u16+F8+i4+u4@output_dtype:2',
);
def(
  'DequantizeLinear',
  '10 x:T x_scale:float# x_zero_point:T? -> y:float | T=i8+u8+i32',
  '19 x:T1 x_scale:T2# x_zero_point:T1? -> y:T2 | T1=i8+u8+i32+F8, T2=f32+f16+bf16',
  '21 | T1=i8+u8+i16+u16+i32+F8+i4+u4',
);
def('DynamicQuantizeLinear', '11 x:T1 -> y:T2 y_scale:float y_zero_point:T2 | T1=f32, T2=u8');
def(['MatMulInteger', 'ConvInteger'], '10 A:T1 B:T2 a_zero_point:T1? b_zero_point:T2? -> Y:T3 | T1=i8+u8, T2=i8+u8, T3=i32');
def(
  'QLinearMatMul',
  '10 a:T1 a_scale:float# a_zero_point:T1 b:T2 b_scale:float# b_zero_point:T2 y_scale:float# y_zero_point:T3 -> y:T3 | T1=i8+u8, T2=i8+u8, T3=i8+u8',
  '21 a:T1 a_scale:TS# a_zero_point:T1 b:T2 b_scale:TS# b_zero_point:T2 y_scale:TS# y_zero_point:T3 -> y:T3 | TS=f32+f16+bf16',
);
def(
  'QLinearConv',
  '10 x:T1 x_scale:float# x_zero_point:T1 w:T2 w_scale:float# w_zero_point:T2 y_scale:float# y_zero_point:T3 B:T4? -> y:T3 | T1=i8+u8, T2=i8+u8, T3=i8+u8, T4=i32',
);

/** onnxruntime contrib ops (com.microsoft, version 1) that fusion passes emit; bfloat16 only where kernels exist. */
const MS: Table = {
  Attention: ['1 input:T weights:T bias:T? mask_index:M? past:T? attention_bias:T? past_sequence_length:M? -> output:T present:T? | T=f32+f16, M=i32'],
  MultiHeadAttention: [
    '1 query:T key:T? value:T? bias:T? key_padding_mask:M? attention_bias:T? past_key:T? past_value:T? -> output:T present_key:T? present_value:T? | T=f32+f16, M=i32',
  ],
  SkipLayerNormalization: ['1 input:T skip:T gamma:T beta:T? bias:T? -> output:T mean:U? inv_std_var:U? input_skip_bias_sum:T? | T=f32+f16, U=f32'],
  SkipSimplifiedLayerNormalization: ['1 input:T skip:T gamma:T bias:T? -> output:T mean:U? inv_std_var:U? input_skip_bias_sum:T? | T=f32+f16, U=f32'],
  EmbedLayerNormalization: [
    '1 input_ids:T1# segment_ids:T1?# word_embedding:T position_embedding:T segment_embedding:T? gamma:T beta:T mask:T1? position_ids:T1?# -> output:T mask_index:T1 embedding_sum:T? | T1=i32, T=f32+f16',
  ],
  BiasGelu: ['1 A:T B:T -> C:T | T=f32+f16'],
  FastGelu: ['1 X:T bias:T? -> Y:T | T=f32+f16+bf16'],
  Gelu: ['1 X:T -> Y:T | T=f32+f16+bf16'],
  QuickGelu: ['1 X:T -> Y:T | T=f32+f16+bf16'],
  BiasAdd: ['1 X:T bias:T skip:T -> Y:T | T=f32+f16'],
  FusedMatMul: ['1 A:T B:T -> Y:T | T=f32+f16+f64+bf16'],
  FusedConv: ['1 X:T W:T B:T? Z:T? -> Y:T | T=f32+f16'],
  RotaryEmbedding: ['1 input:T position_ids:M# cos_cache:T sin_cache:T -> output:T | T=f32+f16+bf16, M=i64'],
};

// ------------------------------------------------------------------------------------------------ lookup

const REGISTRY = new Map<string, OpSchema[]>();
function register(domain: string, table: Table): void {
  for (const [op, lines] of Object.entries(table)) {
    REGISTRY.set(`${domain}::${op}`, parseVersions(op, lines).map((v) => ({ opType: op, domain, ...v })));
  }
}
register('', ONNX);
register('com.microsoft', MS);

const normDomain = (d: string | undefined): string => (!d || d === 'ai.onnx' ? '' : d);

/**
 * The schema of `opType` in `domain` that is current at `opset` (the latest version whose since-version is <= opset),
 * or undefined when the operator is not in the table or not yet defined at that opset.
 */
export function getOpSchema(opType: string, domain: string | undefined, opset: number | undefined): OpSchema | undefined {
  const versions = REGISTRY.get(`${normDomain(domain)}::${opType}`);
  if (!versions) return undefined;
  const v = opset ?? Infinity;
  let best: OpSchema | undefined;
  for (const s of versions) if (s.since <= v) best = s;
  return best;
}

/** Every version of an operator (oldest first), for documentation and tests. */
export function opSchemaVersions(opType: string, domain = ''): readonly OpSchema[] {
  return REGISTRY.get(`${normDomain(domain)}::${opType}`) ?? [];
}

/** Operators the table knows, by domain ('' for ai.onnx). */
export function knownOps(domain = ''): string[] {
  const d = normDomain(domain);
  return [...REGISTRY.keys()].filter((k) => k.startsWith(`${d}::`)).map((k) => k.slice(d.length + 2));
}

/** The slot describing input `index` (the variadic last slot covers every index from its position on). */
export function inputSlot(schema: OpSchema, index: number): SlotSpec | undefined {
  return slotAt(schema.inputs, index);
}
export function outputSlot(schema: OpSchema, index: number): SlotSpec | undefined {
  return slotAt(schema.outputs, index);
}
function slotAt(slots: SlotSpec[], index: number): SlotSpec | undefined {
  if (index < slots.length) return slots[index];
  const last = slots[slots.length - 1];
  return last?.variadic ? last : undefined;
}

/**
 * The type-constraint variable of an input ('T1'), or its fixed type ('tensor(float)'), or undefined when the
 * operator or the input is unknown. Example: inputTypeVar('Resize', '', 13, 2) === 'tensor(float)'.
 */
export function inputTypeVar(opType: string, domain: string, opset: number, index: number): string | undefined {
  const s = getOpSchema(opType, domain, opset);
  return s ? inputSlot(s, index)?.type : undefined;
}
export function outputTypeVar(opType: string, domain: string, opset: number, index: number): string | undefined {
  const s = getOpSchema(opType, domain, opset);
  return s ? outputSlot(s, index)?.type : undefined;
}

/** Element types a slot accepts ('any' for control-flow values). */
export function allowedTypes(schema: OpSchema, slot: SlotSpec): ReadonlySet<number> | 'any' {
  if (slot.fixed !== undefined) return new Set([slot.fixed]);
  return schema.vars.get(slot.typeVar!)!.allowed;
}

/** Whether a slot accepts an element type. */
export function slotAllows(schema: OpSchema, slot: SlotSpec, elemType: number): boolean {
  const a = allowedTypes(schema, slot);
  return a === 'any' || a.has(elemType);
}

/** Whether a type variable allows an element type. */
export function varAllows(schema: OpSchema, typeVar: string, elemType: number): boolean {
  const v = schema.vars.get(typeVar);
  return !!v && (v.allowed === 'any' || v.allowed.has(elemType));
}

/** Indices of inputs whose type is fixed to tensor(float) by the operator's definition (Resize scales, ...). */
export function fixedFloatInputs(opType: string, domain: string, opset: number): number[] {
  const s = getOpSchema(opType, domain, opset);
  if (!s) return [];
  return s.inputs.flatMap((slot, i) => (slot.fixed === DataType.FLOAT ? [i] : []));
}

/** Slots (inputs and outputs) bound to a variable. */
export function slotsOfVar(schema: OpSchema, typeVar: string): { inputs: number[]; outputs: number[] } {
  const pick = (slots: SlotSpec[]) => slots.flatMap((s, i) => (s.typeVar === typeVar ? [i] : []));
  return { inputs: pick(schema.inputs), outputs: pick(schema.outputs) };
}
