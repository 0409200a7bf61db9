import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import {
  allowedTypes,
  fixedFloatInputs,
  getOpSchema,
  inputSlot,
  inputTypeVar,
  knownOps,
  opSchemaVersions,
  outputTypeVar,
  slotsOfVar,
  varAllows,
} from '../../src/onnx/opschema.js';

const F16 = DataType.FLOAT16;
const BF16 = DataType.BFLOAT16;
const F32 = DataType.FLOAT;

describe('opschema: per-input type constraints', () => {
  it('knows the common operator set and the onnxruntime contrib ops', () => {
    const ops = knownOps();
    expect(ops.length).toBeGreaterThan(150);
    for (const op of [
      'MatMul',
      'Gemm',
      'Conv',
      'Resize',
      'Cast',
      'CastLike',
      'ConstantOfShape',
      'If',
      'Loop',
      'Scan',
      'LayerNormalization',
      'Softmax',
      'Range',
    ])
      expect(ops, op).toContain(op);
    expect(knownOps('com.microsoft')).toEqual(expect.arrayContaining(['Attention', 'SkipLayerNormalization', 'EmbedLayerNormalization', 'FastGelu']));
    expect(getOpSchema('Add', 'ai.onnx', 14)).toBe(getOpSchema('Add', '', 14));
  });

  it('Resize: X is T1, roi is T2 (floats), scales is tensor(float) by definition, sizes tensor(int64)', () => {
    expect(inputTypeVar('Resize', '', 10, 1)).toBe('tensor(float)');
    for (const opset of [11, 13, 18, 19, 21]) {
      expect(inputTypeVar('Resize', '', opset, 0)).toBe('T1');
      expect(inputTypeVar('Resize', '', opset, 1)).toBe('T2');
      expect(inputTypeVar('Resize', '', opset, 2)).toBe('tensor(float)');
      expect(inputTypeVar('Resize', '', opset, 3)).toBe('tensor(int64)');
      expect(fixedFloatInputs('Resize', '', opset)).toEqual([2]);
    }
    const s = getOpSchema('Resize', '', 13)!;
    expect(varAllows(s, 'T2', F16)).toBe(true);
    expect(varAllows(s, 'T2', BF16)).toBe(false);
    expect(inputSlot(s, 2)!.shapeLike).toBe(true);
    expect(inputSlot(s, 1)!.optional).toBe(true);
    expect(fixedFloatInputs('NonMaxSuppression', '', 11)).toEqual([0, 1, 3, 4]);
    expect(fixedFloatInputs('Upsample', '', 9)).toEqual([1]);
  });

  it('derives what may not become float16 or bfloat16 from the definitions', () => {
    // Range never had float16
    for (const v of opSchemaVersions('Range')) expect(varAllows(v, 'T', F16)).toBe(false);
    // CumSum gained float16 and bfloat16 in opset 14
    expect(varAllows(getOpSchema('CumSum', '', 13)!, 'T', F16)).toBe(false);
    expect(varAllows(getOpSchema('CumSum', '', 14)!, 'T', F16)).toBe(true);
    // bfloat16 arrives with opset 13 for arithmetic, not before
    expect(varAllows(getOpSchema('Add', '', 12)!, 'T', BF16)).toBe(false);
    expect(varAllows(getOpSchema('Add', '', 13)!, 'T', BF16)).toBe(true);
    expect(varAllows(getOpSchema('Cast', '', 12)!, 'T2', BF16)).toBe(false);
    expect(varAllows(getOpSchema('Cast', '', 13)!, 'T2', BF16)).toBe(true);
    // Conv has no bfloat16 up to opset 21
    expect(varAllows(getOpSchema('Conv', '', 21)!, 'T', BF16)).toBe(false);
    expect(varAllows(getOpSchema('Conv', '', 21)!, 'T', F16)).toBe(true);
    // LayerNormalization's statistics are float32 or bfloat16 only
    const ln = getOpSchema('LayerNormalization', '', 17)!;
    expect(varAllows(ln, 'T', F16)).toBe(true);
    expect(varAllows(ln, 'U', F16)).toBe(false);
    expect(outputTypeVar('LayerNormalization', '', 17, 1)).toBe('U');
    // Celu is float32 only; IsInf took float16 in opset 20
    expect(allowedTypes(getOpSchema('Celu', '', 12)!, inputSlot(getOpSchema('Celu', '', 12)!, 0)!)).toEqual(new Set([F32]));
    expect(varAllows(getOpSchema('IsInf', '', 19)!, 'T1', F16)).toBe(false);
    expect(varAllows(getOpSchema('IsInf', '', 20)!, 'T1', F16)).toBe(true);
  });

  it('picks the version current at the opset, and nothing before the first one', () => {
    expect(getOpSchema('Add', '', 12)!.since).toBe(7);
    expect(getOpSchema('Add', '', 13)!.since).toBe(13);
    expect(getOpSchema('Add', '', 21)!.since).toBe(14);
    expect(getOpSchema('Add', '', 6)).toBeUndefined();
    expect(getOpSchema('Gelu', '', 19)).toBeUndefined();
    expect(getOpSchema('NoSuchOp', '', 17)).toBeUndefined();
    expect(getOpSchema('Attention', 'com.microsoft', 1)!.domain).toBe('com.microsoft');
    expect(getOpSchema('LinearClassifier', 'ai.onnx.ml', 1)).toBeUndefined();
    // inputs that changed between versions
    expect(inputTypeVar('Pow', '', 11, 1)).toBe('T');
    expect(inputTypeVar('Pow', '', 12, 1)).toBe('T1');
    expect(inputTypeVar('Squeeze', '', 11, 1)).toBeUndefined();
    expect(inputTypeVar('Squeeze', '', 13, 1)).toBe('tensor(int64)');
  });

  it('maps variadic inputs and outputs to their slot, and type-carrying attributes to output variables', () => {
    expect(inputTypeVar('Concat', '', 13, 7)).toBe('T');
    expect(outputTypeVar('Split', '', 13, 3)).toBe('T');
    expect(inputTypeVar('Sum', '', 13, 4)).toBe('T');
    expect(inputTypeVar('MatMul', '', 13, 2)).toBeUndefined();
    const cast = getOpSchema('Cast', '', 19)!;
    expect(cast.vars.get('T2')!.attr).toBe('to');
    const cos = getOpSchema('ConstantOfShape', '', 9)!;
    expect(cos.vars.get('T2')).toMatchObject({ attr: 'value', default: F32 });
    const eye = getOpSchema('EyeLike', '', 9)!;
    expect(eye.vars.get('T2')).toMatchObject({ attr: 'dtype', fallback: 'T1' });
    expect(getOpSchema('RandomNormal', '', 1)!.vars.get('T')).toMatchObject({ attr: 'dtype', default: F32 });
    expect(slotsOfVar(getOpSchema('Gemm', '', 13)!, 'T')).toEqual({ inputs: [0, 1, 2], outputs: [0] });
    expect(getOpSchema('If', '', 16)!.vars.get('V')!.allowed).toBe('any');
  });

  it('marks shape-like inputs (shapes, axes, sizes, scales, indices)', () => {
    const shapeLike = (op: string, opset: number, i: number) => inputSlot(getOpSchema(op, '', opset)!, i)!.shapeLike;
    expect(shapeLike('Reshape', 14, 1)).toBe(true);
    expect(shapeLike('Reshape', 14, 0)).toBe(false);
    expect(shapeLike('Expand', 13, 1)).toBe(true);
    expect(shapeLike('Slice', 13, 1)).toBe(true);
    expect(shapeLike('ConstantOfShape', 9, 0)).toBe(true);
    expect(shapeLike('OneHot', 11, 1)).toBe(true);
    expect(shapeLike('MatMul', 13, 1)).toBe(false);
  });

  it('every version parses with every type variable constrained', () => {
    for (const domain of ['', 'com.microsoft']) {
      for (const op of knownOps(domain)) {
        const versions = opSchemaVersions(op, domain);
        expect(versions.length, op).toBeGreaterThan(0);
        for (const v of versions) {
          for (const s of [...v.inputs, ...v.outputs]) {
            if (s.typeVar) expect(v.vars.has(s.typeVar), `${op}-${v.since} ${s.name}`).toBe(true);
            else expect(s.fixed, `${op}-${v.since} ${s.name}`).toBeDefined();
          }
          // only the last slot may be variadic
          v.inputs.slice(0, -1).forEach((s) => expect(s.variadic, `${op} ${s.name}`).toBe(false));
        }
        // versions are in increasing order
        const since = versions.map((v) => v.since);
        expect([...since].sort((a, b) => a - b)).toEqual(since);
      }
    }
  });
});
