/**
 * Byte-level mutation fuzz of the loader: thousands of mutated copies of small models (bit flips, truncation, byte
 * insertions and deletions, varint corruption, length-prefix corruption, wire-type swaps) go through
 * decodeModelBytes / loadModel and the CLI's `inspect`. Each must either be refused with a ModelFormatError or
 * UsageError (exit code 2, one line on stderr) or load, save (encode) and load again: never another exception type,
 * never an "internal error" (exit 1), never a slow decode.
 *
 * Seeded: a failure names the fixture, the mutation and its seed, so `mutate(fixture, kind, seed)` reproduces it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { ModelFormatError, UsageError } from '../../src/errors.js';
import { createModel, floatTensor, int64Tensor, boolTensor, subgraph, ints } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { Graph } from '../../src/ir/graph.js';
import { ModelFunction } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeMessage, encodeMessageToBytes, type Msg } from '../../src/onnx/schema.js';
import { decodeModelBytes, loadModel, saveModel } from '../../src/onnx/io.js';
import { Rng } from '../../src/util/rng.js';
import { generateModel } from './gen.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-mutation-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Mutations per fixture through decodeModelBytes, and through `autoglm inspect` (each writes a file). */
const DECODE_MUTATIONS = 1200;
const CLI_MUTATIONS = 150;
/** A decode of a few-kB model takes well under a millisecond; anything near this is a hang in the making. */
const SLOW_MS = 1000;

// ------------------------------------------------------------------------------------------------ fixtures

/** Metadata, doc strings, value_info, an If with captures, a function, a Constant node, typed fields, int64. */
function richModel(): Uint8Array {
  const { model, b, graph } = createModel({ opset: 17, domains: { 'custom.fn': 1 } });
  model.docString = 'model doc';
  model.metadataProps = [{ key: 'author', value: 'mutation' }];
  graph.docString = 'graph doc';
  const x = b.input('x', DataType.FLOAT, ['batch', 4]);
  const w = b.init(
    'w',
    floatTensor(
      [4, 4],
      Array.from({ length: 16 }, (_, i) => (i % 5) - 2),
    ),
  );
  const bias = b.init('bias', Tensor.fromField(DataType.FLOAT, [4], 'float_data', new Float32Array([0.5, -0.5, 1, 2])));
  const mm = b.op('MatMul', [x, w], {}, { name: 'mm' });
  const add = b.op('Add', [mm, bias], {}, { name: 'add' });
  const cond = b.init('cond', boolTensor([], [true]));
  const thenB = subgraph('then');
  thenB.output(thenB.op('Relu', [add], {}, { outputs: ['t_out'] }), undefined, DataType.FLOAT, ['batch', 4]);
  const elseB = subgraph('else');
  elseB.output(elseB.op('Neg', [add], {}, { outputs: ['e_out'] }), undefined, DataType.FLOAT, ['batch', 4]);
  const y = b.op('If', [cond], { then_branch: thenB.graph, else_branch: elseB.graph }, { name: 'if' });
  const fnGraph = new Graph('Double');
  const fin = fnGraph.addInput('t');
  fnGraph.addOutput(fnGraph.addNode('Add', [fin, fin], {}, { outputs: ['u'] }).output(0));
  const fn = new ModelFunction('Double', 'custom.fn', fnGraph);
  fn.opsetImports = [{ domain: '', version: 17 }];
  model.functions.push(fn);
  const z = b.op('Double', [y], {}, { domain: 'custom.fn', name: 'double' });
  const c = b.constantNode(floatTensor([4], [1, 2, 3, 4]), 'cst');
  const s = b.op('Slice', [
    b.op('Mul', [z, c]),
    b.init('starts', int64Tensor([1], [0])),
    b.init('ends', int64Tensor([1], [9223372036854775807n])),
    b.init('axes', ints([1])),
  ]);
  b.output(b.op('Reshape', [s, b.const('shape', ints([-1]))]), 'out', DataType.FLOAT, [null]);
  return encodeModel(model);
}

const fixtures: Record<string, () => Uint8Array> = {
  rich: richModel,
  generated: () => encodeModel(generateModel(3, { maxBlocks: 8 }).model),
};

// ------------------------------------------------------------------------------------------------ wire structure

interface Site {
  /** start of a varint */
  at: number;
  /** its encoded length */
  len: number;
  kind: 'tag' | 'value' | 'length';
}

/** Walks protobuf bytes, recursing into length-delimited payloads that parse as messages; collects varint sites. */
function sites(buf: Uint8Array, start = 0, end = buf.length, out: Site[] = [], depth = 0): Site[] | undefined {
  const local: Site[] = [];
  let p = start;
  const varint = (): [number, number] | undefined => {
    const s = p;
    let v = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= end) return undefined;
      const b = buf[p++];
      v += (b & 0x7f) * 2 ** (7 * i);
      if (!(b & 0x80)) return [v, p - s];
    }
    return undefined;
  };
  const nested: [number, number][] = [];
  while (p < end) {
    const tagAt = p;
    const t = varint();
    if (!t || t[0] === 0) return undefined;
    local.push({ at: tagAt, len: t[1], kind: 'tag' });
    const wt = t[0] % 8;
    if (wt === 0) {
      const at = p;
      const v = varint();
      if (!v) return undefined;
      local.push({ at, len: v[1], kind: 'value' });
    } else if (wt === 1) p += 8;
    else if (wt === 5) p += 4;
    else if (wt === 2) {
      const at = p;
      const v = varint();
      if (!v || p + v[0] > end) return undefined;
      local.push({ at, len: v[1], kind: 'length' });
      nested.push([p, p + v[0]]);
      p += v[0];
    } else return undefined;
    if (p > end) return undefined;
  }
  out.push(...local);
  if (depth < 12) for (const [s, e] of nested) if (e > s) sites(buf, s, e, out, depth + 1);
  return out;
}

function encodeVarint(v: bigint): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}

// ------------------------------------------------------------------------------------------------ mutations

const KINDS = ['bitflip', 'truncate', 'insert', 'delete', 'varint', 'length', 'wiretype', 'splice'] as const;
type Kind = (typeof KINDS)[number];

/** A mutated copy of `bytes` (deterministic in kind and seed), with a description. */
export function mutate(bytes: Uint8Array, kind: Kind, seed: number, structure: Site[]): { bytes: Uint8Array; what: string } {
  const rng = new Rng(seed);
  const n = bytes.length;
  const copy = () => Uint8Array.from(bytes);
  switch (kind) {
    case 'bitflip': {
      const out = copy();
      const k = rng.int(1, 4);
      const at: number[] = [];
      for (let i = 0; i < k; i++) {
        const p = rng.int(0, n);
        out[p] ^= 1 << rng.int(0, 8);
        at.push(p);
      }
      return { bytes: out, what: `bit flips at ${at.join(', ')}` };
    }
    case 'truncate': {
      const len = rng.int(0, n);
      return { bytes: bytes.slice(0, len), what: `truncated to ${len} of ${n} bytes` };
    }
    case 'insert': {
      const p = rng.int(0, n + 1);
      const ins = Uint8Array.from({ length: rng.int(1, 9) }, () => rng.int(0, 256));
      return { bytes: Uint8Array.from([...bytes.subarray(0, p), ...ins, ...bytes.subarray(p)]), what: `${ins.length} bytes inserted at ${p}` };
    }
    case 'delete': {
      const p = rng.int(0, n);
      const len = rng.int(1, Math.min(16, n - p) + 1);
      return { bytes: Uint8Array.from([...bytes.subarray(0, p), ...bytes.subarray(p + len)]), what: `${len} bytes deleted at ${p}` };
    }
    case 'varint':
    case 'length': {
      const pool = structure.filter((s) => (kind === 'length' ? s.kind === 'length' : s.kind !== 'length'));
      const s = rng.pick(pool);
      const old = bytes.subarray(s.at, s.at + s.len);
      let oldVal = 0n;
      for (let i = old.length - 1; i >= 0; i--) oldVal = (oldVal << 7n) | BigInt(old[i] & 0x7f);
      const choices: [string, number[]][] = [
        ['overlong (11 bytes)', [...Array(10).fill(0xff), 0x01]],
        ['unterminated', Array(rng.int(1, 10)).fill(0x80)],
        ['2^63-1', encodeVarint(2n ** 63n - 1n)],
        ['-1', encodeVarint(-1n)],
        ['2^62', encodeVarint(2n ** 62n)],
        ['2^32+v', encodeVarint(2n ** 32n + oldVal)],
        ['2^31', encodeVarint(2n ** 31n)],
        ['0', [0]],
        ['v+1', encodeVarint(oldVal + 1n)],
        ['v-1', encodeVarint(oldVal > 0n ? oldVal - 1n : 0n)],
        ['v*2+7', encodeVarint(oldVal * 2n + 7n)],
        ['padded (non-minimal)', [...encodeVarint(oldVal).map((b) => b | 0x80), 0x00]],
      ];
      const [label, rep] = rng.pick(choices);
      return {
        bytes: Uint8Array.from([...bytes.subarray(0, s.at), ...rep, ...bytes.subarray(s.at + s.len)]),
        what: `${s.kind} varint at ${s.at} (${oldVal}) -> ${label}`,
      };
    }
    case 'wiretype': {
      const tags = structure.filter((s) => s.kind === 'tag' && s.len === 1);
      const s = rng.pick(tags);
      const out = copy();
      const wt = rng.pick([0, 1, 2, 3, 4, 5, 6, 7]);
      out[s.at] = (out[s.at] & ~7) | wt;
      return { bytes: out, what: `tag at ${s.at}: wire type ${bytes[s.at] & 7} -> ${wt}` };
    }
    case 'splice': {
      // a field's bytes copied elsewhere (a repeated or misplaced field)
      const a = rng.int(0, n);
      const len = rng.int(1, Math.min(64, n - a) + 1);
      const p = rng.int(0, n + 1);
      return {
        bytes: Uint8Array.from([...bytes.subarray(0, p), ...bytes.subarray(a, a + len), ...bytes.subarray(p)]),
        what: `${len} bytes from ${a} copied to ${p}`,
      };
    }
  }
}

// ------------------------------------------------------------------------------------------------ checks

interface Outcome {
  refused: number;
  loaded: number;
  problems: string[];
  slowest: number;
}

const ALLOWED = (e: unknown) => e instanceof ModelFormatError || e instanceof UsageError;

function describeError(e: unknown): string {
  const err = e as Error;
  return `${err?.constructor?.name ?? typeof e}: ${String(err?.message ?? e)
    .split('\n')[0]
    .slice(0, 200)}`;
}

/** decode -> (refused | encode -> decode again) for one mutated buffer. */
function checkDecode(bytes: Uint8Array, label: string, o: Outcome, saveDir?: string): void {
  const t0 = performance.now();
  let model: ReturnType<typeof decodeModelBytes>;
  try {
    model = decodeModelBytes(bytes, tmp, label);
  } catch (e) {
    const ms = performance.now() - t0;
    o.slowest = Math.max(o.slowest, ms);
    if (ms > SLOW_MS) o.problems.push(`${label}: refusal took ${ms.toFixed(0)} ms`);
    if (!ALLOWED(e)) o.problems.push(`${label}: ${describeError(e)}`);
    else if (String((e as Error).message).includes('\n'))
      o.problems.push(`${label}: error message has several lines: ${JSON.stringify(String((e as Error).message).slice(0, 160))}`);
    o.refused++;
    return;
  }
  const ms = performance.now() - t0;
  o.slowest = Math.max(o.slowest, ms);
  if (ms > SLOW_MS) o.problems.push(`${label}: decode took ${ms.toFixed(0)} ms`);
  o.loaded++;
  try {
    const again = encodeModel(model);
    decodeModelBytes(again, tmp, `${label} (re-encoded)`);
    if (saveDir) {
      const out = path.join(saveDir, 'out.onnx');
      saveModel(model, out);
      loadModel(out);
    }
  } catch (e) {
    // a model we accepted must save and load again; refusing it there is a late refusal at best
    o.problems.push(`${label}: loaded, but saving/reloading failed: ${describeError(e)}`);
  }
}

describe('mutation fuzz: decodeModelBytes / loadModel', () => {
  for (const [name, make] of Object.entries(fixtures)) {
    it(`${name}: ${DECODE_MUTATIONS} mutated copies are refused cleanly or load and save`, () => {
      const bytes = make();
      const structure = sites(bytes);
      expect(structure, 'fixture parses').toBeDefined();
      const o: Outcome = { refused: 0, loaded: 0, problems: [], slowest: 0 };
      const saveDir = fs.mkdtempSync(path.join(tmp, `${name}-`));
      for (let i = 0; i < DECODE_MUTATIONS; i++) {
        const kind = KINDS[i % KINDS.length];
        const m = mutate(bytes, kind, i, structure!);
        // a real save (atomic write, fsync) for one success in 25; the others encode in memory
        checkDecode(m.bytes, `${name} ${kind} seed ${i} (${m.what})`, o, i % 25 === 0 ? saveDir : undefined);
      }
      console.log(
        `mutation ${name}: ${DECODE_MUTATIONS} copies, ${o.refused} refused, ${o.loaded} loaded and re-saved, slowest decode ${o.slowest.toFixed(1)} ms`,
      );
      expect(o.problems.slice(0, 15)).toEqual([]);
      expect(o.refused).toBeGreaterThan(DECODE_MUTATIONS / 4);
      expect(fs.readdirSync(saveDir).filter((f) => f.includes('.tmp'))).toEqual([]);
    });
  }

  it('a model with external data: mutated copies never read outside the model folder', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'ext-'));
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['n', 16]);
    b.output(
      b.op('MatMul', [
        x,
        b.init(
          'w',
          floatTensor(
            [16, 8],
            Array.from({ length: 128 }, (_, i) => Math.sin(i)),
          ),
        ),
      ]),
      'y',
      DataType.FLOAT,
      ['n', 8],
    );
    const file = path.join(dir, 'm.onnx');
    saveModel(model, file, { externalData: true, sizeThreshold: 0, location: 'weights.bin' });
    // a file outside the folder that a mutated location could try to reach
    fs.writeFileSync(path.join(tmp, 'weights.bin'), new Uint8Array(4096));
    const bytes = fs.readFileSync(file);
    const structure = sites(bytes)!;
    const o: Outcome = { refused: 0, loaded: 0, problems: [], slowest: 0 };
    const opened: string[] = [];
    for (let i = 0; i < 400; i++) {
      const m = mutate(bytes, KINDS[i % KINDS.length], 50_000 + i, structure);
      const target = path.join(dir, 'mut.onnx');
      fs.writeFileSync(target, m.bytes);
      const label = `external ${KINDS[i % KINDS.length]} seed ${50_000 + i} (${m.what})`;
      try {
        const loaded = loadModel(target);
        o.loaded++;
        for (const f of loaded.source?.externalFiles ?? []) {
          const abs = path.resolve(dir, f);
          if (path.relative(dir, abs).startsWith('..') || path.isAbsolute(path.relative(dir, abs))) opened.push(`${label}: ${f}`);
        }
        encodeModel(loaded);
      } catch (e) {
        o.refused++;
        if (!ALLOWED(e)) o.problems.push(`${label}: ${describeError(e)}`);
      }
    }
    expect(opened).toEqual([]);
    expect(o.problems.slice(0, 15)).toEqual([]);
  });
});

describe('mutation fuzz: autoglm inspect', () => {
  it(`${CLI_MUTATIONS} mutated files per fixture: exit 0, or exit 2 with one line on stderr`, async () => {
    const problems: string[] = [];
    let ok = 0;
    let refused = 0;
    for (const [name, make] of Object.entries(fixtures)) {
      const bytes = make();
      const structure = sites(bytes)!;
      for (let i = 0; i < CLI_MUTATIONS; i++) {
        const kind = KINDS[i % KINDS.length];
        const seed = 100_000 + i;
        const m = mutate(bytes, kind, seed, structure);
        const file = path.join(tmp, `inspect-${name}.onnx`);
        fs.writeFileSync(file, m.bytes);
        const io = captureIO(tmp);
        const label = `${name} ${kind} seed ${seed} (${m.what})`;
        let code: number;
        const t0 = performance.now();
        try {
          code = await main(['inspect', file, i % 2 ? '--json' : ''].filter(Boolean), io);
        } catch (e) {
          problems.push(`${label}: main() threw ${describeError(e)}`);
          continue;
        }
        const ms = performance.now() - t0;
        if (ms > SLOW_MS * 2) problems.push(`${label}: inspect took ${ms.toFixed(0)} ms`);
        const err = io.stderr();
        if (code === 0) {
          ok++;
          if (err) problems.push(`${label}: exit 0 but stderr: ${err.trim().slice(0, 150)}`);
        } else if (code === 2) {
          refused++;
          if (err.trim().split('\n').length !== 1) problems.push(`${label}: exit 2 with ${err.trim().split('\n').length} lines on stderr`);
        } else problems.push(`${label}: exit ${code}: ${err.trim().slice(0, 200)}`);
        if (/internal error|at .*\.ts:\d+/.test(err)) problems.push(`${label}: ${err.trim().slice(0, 200)}`);
      }
    }
    console.log(`mutation inspect: ${2 * CLI_MUTATIONS} files, ${ok} inspected, ${refused} refused`);
    expect(problems.slice(0, 15)).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------ found by mutation

describe('regressions found by the mutation fuzzer (minimal forms)', () => {
  function smallModel() {
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    b.output(b.op('Add', [x, b.init('w', floatTensor([4], [1, 2, 3, 4]))]), 'y', DataType.FLOAT, [2, 4]);
    return model;
  }
  function refusedWith(bytes: Uint8Array): unknown {
    try {
      const m = decodeModelBytes(bytes, tmp, 'model');
      encodeModel(m);
      const file = path.join(tmp, 'regression-out.onnx');
      saveModel(m, file);
      return undefined;
    } catch (e) {
      return e;
    }
  }

  /**
   * BUG (src/onnx/serde.ts tensorFromMsg): a TensorProto without a data_type, with 0 (UNDEFINED) or with a number this
   * tool does not know loads, then saving it throws RangeError('unknown ONNX data type 0') and `autoglm inspect` exits 1
   * with "internal error". Found by the wire-type mutations (the data_type varint read as another wire type).
   */
  for (const dt of [undefined, 0, 99]) {
    it(`a tensor with data_type ${dt ?? '(absent)'} is refused as a ModelFormatError, or loads and saves`, async () => {
      const msg = decodeMessage('ModelProto', encodeModel(smallModel()));
      const init = ((msg.graph as Msg).initializer as Msg[])[0];
      if (dt === undefined) delete init.data_type;
      else init.data_type = dt;
      const bytes = encodeMessageToBytes('ModelProto', msg);
      const e = refusedWith(bytes);
      if (e !== undefined) expect(e, String(e)).toBeInstanceOf(ModelFormatError);
      const file = path.join(tmp, `dtype-${dt}.onnx`);
      fs.writeFileSync(file, bytes);
      const io = captureIO(tmp);
      const code = await main(['inspect', file], io);
      expect([0, 2], io.stderr()).toContain(code);
      expect(io.stderr()).not.toMatch(/internal error/);
    });
  }

  /**
   * BUG (src/onnx/serde.ts tensorFromMsg, external branch): an external_data `length` that does not match the
   * tensor's shape loads (only offset + length is checked against the file), then encoding or saving the model throws
   * TensorError('external data length 512 does not match its shape'). raw_data gets this check at load; external
   * data should too (ModelFormatError). Found by varint and bit-flip mutations of the dims.
   */
  it('an external-data length that does not match the shape is refused at load', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'extlen-'));
    const file = path.join(dir, 'm.onnx');
    saveModel(smallModel(), file, { externalData: true, sizeThreshold: 0, location: 'w.bin' });
    const msg = decodeMessage('ModelProto', fs.readFileSync(file));
    const init = ((msg.graph as Msg).initializer as Msg[])[0];
    init.dims = [3]; // 12 bytes, but the external entry says 16
    fs.writeFileSync(file, encodeMessageToBytes('ModelProto', msg));
    let err: unknown;
    try {
      encodeModel(loadModel(file));
    } catch (e) {
      err = e;
    }
    expect(err, String(err)).toBeInstanceOf(ModelFormatError);
  });

  /**
   * BUG (src/onnx/serde.ts messages, src/cli/main.ts printing): names are put into error messages raw, so a name with a
   * newline breaks the one-line rule and a name with ESC/BEL sends terminal control sequences (e.g. OSC 0 sets the
   * window title) to the user's terminal. Found by length-prefix mutations (a name swallowing the next field's bytes).
   */
  it('an error naming a value with control characters is one line with no raw control characters', () => {
    const msg = decodeMessage('ModelProto', encodeModel(smallModel()));
    ((msg.graph as Msg).node as Msg[])[0].input = ['ghost\n\x1b]0;pwned\x07', 'w'];
    let err: Error | undefined;
    try {
      decodeModelBytes(encodeMessageToBytes('ModelProto', msg), tmp, 'model');
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(ModelFormatError);
    // eslint-disable-next-line no-control-regex
    expect(err!.message, JSON.stringify(err!.message)).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });
});
