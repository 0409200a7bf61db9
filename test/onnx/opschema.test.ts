/**
 * The generated operator table (src/onnx/opschema-table.ts, from ONNX's docs/Changelog.md by scripts/gen-opschema.ts):
 * (a) facts of the ONNX specification, (b) onnxruntime refusing at load what the table says a slot does not allow and
 * loading what it allows, (c) the committed table is what the generator makes of the committed extract and overlay.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXTRACT_PATH, MAX_OPSET, TABLE_PATH, generateTable, type Extract } from '../../scripts/gen-opschema.js';
import { createModel, type GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { elemTypeOf } from '../../src/ir/types.js';
import {
  allowedTypes,
  fixedFloatInputs,
  getOpSchema,
  inputSlot,
  inputTypeVar,
  knownOps,
  opSchemaVersions,
  outputSlot,
  outputTypeVar,
  slotAllows,
  slotsOfVar,
  varAllows,
  type OpSchema,
} from '../../src/onnx/opschema.js';
import { createSession } from '../../src/runtime/session.js';

const { FLOAT: F32, FLOAT16: F16, BFLOAT16: BF16, INT32: I32, INT64: I64, DOUBLE: F64 } = DataType;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const schema = (op: string, opset: number, domain = ''): OpSchema => {
  const s = getOpSchema(op, domain, opset);
  if (!s) throw new Error(`no schema for ${op} at opset ${opset}`);
  return s;
};

describe('opschema (a): the generated table states the ONNX specification', () => {
  it('Resize: scales is tensor(float) by definition, in every version', () => {
    for (const opset of [10, 11, 13, 18, 19, 21, 26]) {
      const s = schema('Resize', opset);
      const i = opset === 10 ? 1 : 2;
      expect(inputTypeVar('Resize', '', opset, i), `Resize@${opset}`).toBe('tensor(float)');
      expect(allowedTypes(s, inputSlot(s, i)!)).toEqual(new Set([F32]));
      expect(fixedFloatInputs('Resize', '', opset)).toEqual([i]);
      expect(inputSlot(s, i)!.shapeLike).toBe(true);
    }
    expect(schema('Resize', 19).since).toBe(19);
    // roi: float16 / float / double, never bfloat16
    expect(varAllows(schema('Resize', 19), 'T2', F16)).toBe(true);
    expect(varAllows(schema('Resize', 19), 'T2', BF16)).toBe(false);
  });

  it('Range has no float16 or bfloat16 (up to the opsets onnxruntime loads)', () => {
    const versions = opSchemaVersions('Range');
    expect(versions.map((v) => v.since)).toEqual([11]);
    for (const v of versions) {
      for (const t of [F16, BF16]) expect(varAllows(v, 'T', t)).toBe(false);
      for (const t of [F32, F64, I32, I64]) expect(varAllows(v, 'T', t)).toBe(true);
    }
    expect(MAX_OPSET).toBeLessThan(27); // Range-27 takes float16: raising MAX_OPSET changes this fact
  });

  it('Conv, pooling and activations take bfloat16 only from opset 22', () => {
    for (const op of ['Conv', 'ConvTranspose', 'AveragePool', 'MaxPool', 'Elu', 'Softplus', 'InstanceNormalization', 'LSTM']) {
      expect(varAllows(schema(op, 21), 'T', BF16), `${op}@21`).toBe(false);
      expect(varAllows(schema(op, 21), 'T', F16), `${op}@21`).toBe(true);
      expect(varAllows(schema(op, 22), 'T', BF16), `${op}@22`).toBe(true);
    }
    expect(schema('Conv', 22).since).toBe(22);
  });

  it('LayerNormalization: statistics U are float32 or bfloat16, chosen by stash_type', () => {
    const ln = schema('LayerNormalization', 17);
    expect(outputTypeVar('LayerNormalization', '', 17, 1)).toBe('U');
    expect(outputTypeVar('LayerNormalization', '', 17, 2)).toBe('U');
    expect(ln.vars.get('U')).toMatchObject({ attr: 'stash_type', default: F32 });
    expect(ln.vars.get('U')!.allowed).toEqual(new Set([F32, BF16]));
    expect(varAllows(ln, 'T', F16)).toBe(true);
    // below opset 17: onnxruntime's contrib schema, kept in the overlay
    expect(schema('LayerNormalization', 16).since).toBe(1);
  });

  it('fixes the hand-typed table where it disagreed with the specification', () => {
    // Erf-13 is float-only (Erf-9 took integers)
    expect(varAllows(schema('Erf', 9), 'T', I32)).toBe(true);
    expect(varAllows(schema('Erf', 13), 'T', I32)).toBe(false);
    // Dropout-13: ratio did not gain bfloat16 (T did)
    expect(varAllows(schema('Dropout', 13), 'T', BF16)).toBe(true);
    expect(varAllows(schema('Dropout', 13), 'T1', BF16)).toBe(false);
    // QuantizeLinear-21: y_scale has x's type; a separate scale type arrives in opset 23
    expect(slotsOfVar(schema('QuantizeLinear', 21), 'T1')).toEqual({ inputs: [0, 1], outputs: [] });
    expect(inputTypeVar('QuantizeLinear', '', 23, 1)).toBe('T2');
    expect(schema('QuantizeLinear', 21).vars.get('T2')).toMatchObject({ attr: 'output_dtype', default: DataType.UINT8 });
    // operators that did not exist yet, or no longer exist
    expect(getOpSchema('GatherElements', '', 10)).toBeUndefined();
    expect(getOpSchema('ScatterElements', '', 10)).toBeUndefined();
    expect(getOpSchema('MeanVarianceNormalization', '', 8)).toBeUndefined();
    expect(getOpSchema('Upsample', '', 9)!.since).toBe(9);
    expect(getOpSchema('Upsample', '', 10)).toBeUndefined(); // deprecated
    expect(getOpSchema('Scatter', '', 11)).toBeUndefined(); // deprecated
    expect(opSchemaVersions('Upsample').map((v) => v.since)).toEqual([7, 9]);
    // sequences of opset 11 hold no bfloat16; the sequence and its tensors share one variable
    const at = schema('SequenceAt', 11);
    expect(varAllows(at, 'T', BF16)).toBe(false);
    expect(inputSlot(at, 0)).toMatchObject({ typeVar: 'T', container: 'seq' });
    expect(outputSlot(at, 0)).toMatchObject({ typeVar: 'T', container: 'tensor' });
    expect(varAllows(schema('SplitToSequence', 24), 'T', BF16)).toBe(true);
  });

  it('covers the opsets after 21: Attention, RMSNormalization, RotaryEmbedding, new element types', () => {
    expect(schema('Attention', 23).inputs.map((s) => s.name)).toEqual(['Q', 'K', 'V', 'attn_mask', 'past_key', 'past_value']);
    expect(schema('Attention', 24).inputs[6]).toMatchObject({ name: 'nonpad_kv_seqlen', fixed: I64, shapeLike: true, optional: true });
    expect(varAllows(schema('RMSNormalization', 23), 'T', BF16)).toBe(true);
    expect(getOpSchema('RMSNormalization', '', 22)).toBeUndefined();
    const rope = schema('RotaryEmbedding', 23);
    expect(inputSlot(rope, 3)).toMatchObject({ name: 'position_ids', optional: true, shapeLike: true });
    expect(varAllows(schema('Cast', 23), 'T2', DataType.FLOAT4E2M1)).toBe(true);
    expect(varAllows(schema('Cast', 21), 'T2', DataType.FLOAT4E2M1)).toBe(false);
    expect(varAllows(schema('Reshape', 25), 'T', DataType.INT2)).toBe(true);
    expect(schema('DequantizeLinear', 23).vars.get('T3')).toMatchObject({ attr: 'output_dtype', fallback: 'T2' });
    expect(schema('TopK', 24).since).toBe(24);
    expect(varAllows(schema('TopK', 24), 'T', BF16)).toBe(true);
  });

  it('keeps the com.microsoft contrib operators of the overlay, and adds the quantized ones', () => {
    const ms = knownOps('com.microsoft');
    for (const op of [
      'Attention',
      'MultiHeadAttention',
      'SkipLayerNormalization',
      'BiasGelu',
      'FastGelu',
      'EmbedLayerNormalization',
      'DynamicQuantizeMatMul',
      'MatMulNBits',
      'QAttention',
    ])
      expect(ms, op).toContain(op);
    const dq = schema('DynamicQuantizeMatMul', 1, 'com.microsoft');
    expect(slotsOfVar(dq, 'T1')).toEqual({ inputs: [0, 2, 4], outputs: [0] });
    expect(dq.vars.get('T1')!.allowed).toEqual(new Set([F32]));
    expect(inputSlot(schema('MatMulNBits', 1, 'com.microsoft'), 2)).toMatchObject({ name: 'scales', typeVar: 'T1', shapeLike: true });
    expect(varAllows(schema('QAttention', 1, 'com.microsoft'), 'T3', F16)).toBe(true);
    // MatMulInteger, QuantizeLinear and DequantizeLinear are standard operators
    for (const op of ['MatMulInteger', 'QuantizeLinear', 'DequantizeLinear']) expect(knownOps()).toContain(op);
  });

  it('every version parses, constrains its variables, and is ordered', () => {
    for (const domain of ['', 'com.microsoft']) {
      for (const op of knownOps(domain)) {
        const versions = opSchemaVersions(op, domain);
        expect(versions.length, op).toBeGreaterThan(0);
        for (const v of versions) {
          expect(v.since, op).toBeLessThanOrEqual(MAX_OPSET);
          for (const s of [...v.inputs, ...v.outputs]) {
            if (s.typeVar) expect(v.vars.has(s.typeVar), `${op}-${v.since} ${s.name}`).toBe(true);
            else expect(s.fixed, `${op}-${v.since} ${s.name}`).toBeDefined();
          }
          v.inputs.slice(0, -1).forEach((s) => expect(s.variadic, `${op} ${s.name}`).toBe(false));
        }
        const since = versions.map((v) => v.since);
        expect([...since].sort((a, b) => a - b)).toEqual(since);
      }
    }
  });
});

// ------------------------------------------------------------------------------------------------ (b) onnxruntime

interface RuntimeCase {
  label: string;
  op: string;
  opset: number;
  /** the input whose type is varied */
  input: number;
  bad: number;
  good: number;
  /** a model with that input of element type `t` */
  build: (b: GraphBuilder, t: number) => void;
}

const irFor = (opset: number): number => (opset >= 23 ? 11 : opset >= 21 ? 10 : opset >= 19 ? 9 : 8);

const CASES: RuntimeCase[] = [
  {
    label: 'Range-11: float16 refused, float32 loads',
    op: 'Range',
    opset: 21,
    input: 0,
    bad: F16,
    good: F32,
    build: (b, t) => {
      const [s, l, d] = ['start', 'limit', 'delta'].map((n) => b.input(n, t, []));
      b.output(b.op('Range', [s, l, d]), 'y', t);
    },
  },
  {
    label: 'Resize-19: float16 scales refused, float32 scales load',
    op: 'Resize',
    opset: 19,
    input: 2,
    bad: F16,
    good: F32,
    build: (b, t) => {
      const x = b.input('x', F32, [1, 1, 2, 2]);
      const scales = b.input('scales', t, [4]);
      b.output(b.op('Resize', [x, null, scales], { mode: 'nearest' }), 'y', F32);
    },
  },
  {
    label: 'Erf-13: int32 refused (the hand-typed table allowed it), float32 loads',
    op: 'Erf',
    opset: 13,
    input: 0,
    bad: I32,
    good: F32,
    build: (b, t) => b.output(b.op('Erf', [b.input('x', t, [2])]), 'y', t),
  },
  {
    label: 'Celu-12: float16 refused, float32 loads',
    op: 'Celu',
    opset: 17,
    input: 0,
    bad: F16,
    good: F32,
    build: (b, t) => b.output(b.op('Celu', [b.input('x', t, [2])]), 'y', t),
  },
  {
    label: 'QuantizeLinear-21: a scale of another type than x refused (one variable), the same type loads',
    op: 'QuantizeLinear',
    opset: 21,
    input: 1,
    bad: F16,
    good: F32,
    build: (b, t) => {
      const x = b.input('x', F32, [2]);
      const scale = b.input('scale', t, []);
      b.output(b.op('QuantizeLinear', [x, scale]), 'y', DataType.UINT8);
    },
  },
  {
    label: 'RMSNormalization-23: int32 refused, float32 loads',
    op: 'RMSNormalization',
    opset: 23,
    input: 0,
    bad: I32,
    good: F32,
    build: (b, t) => {
      const x = b.input('x', t, [2, 4]);
      const scale = b.input('scale', F32, [4]);
      b.output(b.op('RMSNormalization', [x, scale]), 'y', F32);
    },
  },
];

function caseModel(c: RuntimeCase, t: number): Model {
  const { model, b } = createModel({ opset: c.opset, irVersion: irFor(c.opset) });
  c.build(b, t);
  return model;
}

/** What the table says of the varied input, given the other inputs' types (one variable binds one type). */
function tableAllows(c: RuntimeCase, t: number): boolean {
  const s = schema(c.op, c.opset);
  const slot = inputSlot(s, c.input)!;
  if (!slotAllows(s, slot, t)) return false;
  const model = caseModel(c, t);
  const node = model.graph.nodes[0];
  for (const [i, v] of node.inputs.entries()) {
    const other = v && inputSlot(s, i);
    if (!other || i === c.input || !slot.typeVar || other.typeVar !== slot.typeVar) continue;
    const ot = elemTypeOf(v.type);
    if (ot !== undefined && ot !== t) return false;
  }
  return true;
}

describe('opschema (b): onnxruntime agrees with the table', () => {
  for (const c of CASES) {
    it(c.label, async () => {
      expect(tableAllows(c, c.bad), 'the table refuses the bad type').toBe(false);
      expect(tableAllows(c, c.good), 'the table allows the good type').toBe(true);
      const refused = await createSession(caseModel(c, c.bad)).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(refused, 'onnxruntime refuses the model at load').toBeInstanceOf(Error);
      expect(refused!.message).toMatch(/Type Error: Type (parameter|'tensor)/);
      await expect(createSession(caseModel(c, c.good))).resolves.toBeDefined();
    });
  }

  it('Upsample: loads at opset 9, refused at 10 where the table has it deprecated', async () => {
    const build = (opset: number) => {
      const { model, b } = createModel({ opset, irVersion: irFor(opset) });
      b.output(b.op('Upsample', [b.input('x', F32, [1, 2]), b.input('scales', F32, [2])]), 'y', F32);
      return model;
    };
    expect(getOpSchema('Upsample', '', 9)).toBeDefined();
    expect(getOpSchema('Upsample', '', 10)).toBeUndefined();
    await expect(createSession(build(9))).resolves.toBeDefined();
    await expect(createSession(build(10))).rejects.toThrow(/deprecated/);
  });
});

// ------------------------------------------------------------------------------------------------ (c) up to date

describe('opschema (c): the committed table is the generator output', () => {
  it('regenerating from scripts/data/onnx-opschemas.json and the overlay gives the committed file', () => {
    const extract = JSON.parse(fs.readFileSync(EXTRACT_PATH, 'utf8')) as Extract;
    expect(extract.source.commit).toMatch(/^f75469120/);
    const committed = fs.readFileSync(TABLE_PATH, 'utf8');
    expect(path.relative(ROOT, TABLE_PATH)).toBe(path.join('src', 'onnx', 'opschema-table.ts'));
    // a mismatch means: run `npx tsx scripts/gen-opschema.ts` (the overlay or the extract changed, or the table was edited)
    expect(generateTable(extract) === committed, 'src/onnx/opschema-table.ts is stale: run npx tsx scripts/gen-opschema.ts').toBe(true);
    const m = /sha256 of the body: ([0-9a-f]{64})\n\/\* eslint-disable \*\/\n\n/.exec(committed)!;
    expect(
      createHash('sha256')
        .update(committed.slice(m.index + m[0].length))
        .digest('hex'),
    ).toBe(m[1]);
  });
});
