/**
 * Hostile inputs for EVERY command the CLI registers at run time (discovered from buildProgram, so fuse, quantize,
 * prune, bench ... are covered as they land): broken files, inconsistent models, unsafe external-data locations,
 * models built to exhaust the decoder, and bad output paths. Each run must end with the documented exit code
 * (0 ok, 1 an operation failed, 2 bad input or usage) and, when it fails, exactly one line on stderr, no "internal
 * error", no stack trace and no raw control characters; input files are never modified, an existing output file is
 * left as it was, and no temporary file is left behind.
 *
 * How a command is called is derived from its commander definition: its first positional argument and any mandatory
 * option naming a model (--baseline) are model slots, `--output` takes the output path (with `--force` when the
 * command has it, so that the failure under test is the input's, not the existing file's), and OPTION_VALUES gives
 * values for options some commands need. A command whose valid-model run does not succeed fails the first test here,
 * naming the option to add to OPTION_VALUES.
 *
 * The table of cases is docs/hostile-inputs.md.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command, Option } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram, main } from '../../src/cli/main.js';
import { ExitCode } from '../../src/cli/exit.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { loadModel, saveModel } from '../../src/onnx/io.js';
import { decodeMessage, encodeMessageToBytes, type Msg } from '../../src/onnx/schema.js';
import { Rng } from '../../src/util/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-hostile-'));
afterAll(() => {
  // read-only folders made by the output cases must be writable again to be removed
  for (const d of readOnly) fs.chmodSync(d, 0o755);
  fs.rmSync(tmp, { recursive: true, force: true });
});
const readOnly: string[] = [];

// ================================================================================================ commands

/** Values for options some commands need (added only when the command has the option). */
const OPTION_VALUES: Record<string, string[]> = {
  '--dtype': ['fp16'],
  '--runs': ['1'],
  '--warmup': ['0'],
  '--method': ['graph'],
};
/** options that mean different things per command: given only to these commands */
const OPTION_COMMANDS: Record<string, string[]> = { '--method': ['prune'] };

type CommandKind = 'read' | 'transform' | 'run';

interface Cli {
  name: string;
  kind: CommandKind;
  /** where models go: 'arg' (first positional) and/or option flags such as --baseline */
  slots: string[];
  output?: string;
  force?: string;
  extras: string[];
  /** mandatory options this harness cannot fill */
  unknownMandatory: string[];
}

const MODEL_OPTION = /baseline|model|reference|teacher/;
/**
 * commands this harness does not drive: sweep's argument is a sweep config (test/cli/sweep.test.ts feeds it hostile
 * files); graph needs a model with attention and writes a drawing, not a model (test/cli/graph.test.ts feeds it
 * hostile models)
 */
const NOT_MODEL_ARGUMENT = ['sweep', 'graph'];

function describeCommand(c: Command): Cli {
  const opts = c.options as Option[];
  const has = (flag: string) => opts.some((o) => o.long === flag);
  const slots: string[] = [];
  if (c.registeredArguments.length && !NOT_MODEL_ARGUMENT.includes(c.name())) slots.push('arg');
  const unknownMandatory: string[] = [];
  for (const o of opts) {
    if (!o.mandatory || !o.long) continue;
    if (MODEL_OPTION.test(o.long)) slots.push(o.long);
    else if (!OPTION_VALUES[o.long]) unknownMandatory.push(o.long);
  }
  const extras = Object.entries(OPTION_VALUES)
    .filter(([flag]) => has(flag) && (!OPTION_COMMANDS[flag] || OPTION_COMMANDS[flag].includes(c.name())))
    .flatMap(([flag, v]) => [flag, ...v]);
  const output = has('--output') ? '--output' : undefined;
  const kind: CommandKind = output ? 'transform' : slots.length > 1 ? 'run' : 'read';
  return { name: c.name(), kind, slots, output, force: has('--force') ? '--force' : undefined, extras, unknownMandatory };
}

const commands: Cli[] = (await buildProgram(captureIO(tmp), new ExitCode())).commands.map(describeCommand);
const withModels = commands.filter((c) => c.slots.length > 0);
/** graph writes a drawing, not a model: test/cli/graph.test.ts checks its output paths */
const withOutput = commands.filter((c) => c.output && c.name !== 'graph');

// ================================================================================================ models

let counter = 0;
function freshDir(label: string): string {
  return fs.mkdtempSync(path.join(tmp, `${label.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}-${counter++}-`));
}

/** A small valid model with static shapes (so every command, bench included, can run it without --dim). */
function validModel() {
  const { model, b } = createModel({ opset: 17 });
  model.setMetadata('purpose', 'hostile-input tests');
  const rng = new Rng(7);
  const x = b.input('x', DataType.FLOAT, [1, 8]);
  const w = b.init('w', floatTensor([8, 8], rng.fillNormal(new Float32Array(64), 0.3)));
  const bias = b.init('b', floatTensor([8], rng.fillNormal(new Float32Array(8), 0.1)));
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, w], {}, { name: 'fc/MatMul' }), bias], {}, { name: 'fc/Add' })], {}, { name: 'act' });
  b.output(b.op('Identity', [h], {}, { name: 'id' }), 'y', DataType.FLOAT, [1, 8]);
  return model;
}
const validBytes = () => encodeModel(validModel());
const asMsg = () => decodeMessage('ModelProto', validBytes());
const toBytes = (m: Msg) => encodeMessageToBytes('ModelProto', m);
const graphOf = (m: Msg) => m.graph as Msg;

/** ModelProto bytes with `depth` If nodes nested through then_branch, written without recursion. */
function deeplyNested(depth: number): Uint8Array {
  const vlen = (n: number) => {
    let k = 1;
    while (n >= 128) {
      n = Math.floor(n / 128);
      k++;
    }
    return k;
  };
  const enc = new TextEncoder();
  const out = (i: number) => enc.encode(`o${i}`);
  const attrSize = (g: number) => 13 + 3 + 1 + vlen(g) + g;
  const nodeSize = (i: number, g: number) => 3 + 2 + out(i).length + 4 + 1 + vlen(attrSize(g)) + attrSize(g);
  const sizes = [0];
  for (let i = 1; i <= depth; i++) sizes.push(1 + vlen(nodeSize(i, sizes[i - 1])) + nodeSize(i, sizes[i - 1]));
  const buf = new Uint8Array(2 + 1 + vlen(sizes[depth]) + sizes[depth]);
  let p = 0;
  const byte = (b: number) => (buf[p++] = b);
  const varint = (n: number) => {
    while (n >= 128) {
      byte((n % 128) | 128);
      n = Math.floor(n / 128);
    }
    byte(n);
  };
  const raw = (b: Uint8Array) => {
    buf.set(b, p);
    p += b.length;
  };
  byte(0x08), byte(8); // ir_version 8
  byte(0x3a), varint(sizes[depth]); // graph
  for (let i = depth; i >= 1; i--) {
    const g = sizes[i - 1];
    byte(0x0a), varint(nodeSize(i, g)); // GraphProto.node
    byte(0x0a), byte(1), byte(0x63); // input "c"
    byte(0x12), byte(out(i).length), raw(out(i)); // output
    byte(0x22), byte(2), raw(enc.encode('If')); // op_type
    byte(0x2a), varint(attrSize(g)); // attribute
    byte(0x0a), byte(11), raw(enc.encode('then_branch'));
    byte(0xa0), byte(0x01), byte(5); // type GRAPH
    byte(0x32), varint(g); // g
  }
  return buf;
}

interface Case {
  name: string;
  /** writes the hostile model into `dir` and returns its path */
  make: (dir: string) => string;
  /** allowed exit codes by command kind */
  expect: Record<CommandKind, number[]>;
  /** what autoglm should do, for docs/hostile-inputs.md */
  what: string;
}

const REJECT = { read: [2], transform: [2], run: [2] };
const write = (dir: string, name: string, bytes: Uint8Array | string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
};
function withExternal(dir: string, location: string, createData: boolean): string {
  const m = asMsg();
  const init = (graphOf(m).initializer as Msg[])[0];
  delete init.raw_data;
  init.data_location = 1;
  init.external_data = [
    { key: 'location', value: location },
    { key: 'offset', value: '0' },
    { key: 'length', value: '256' },
  ];
  if (createData) fs.writeFileSync(path.join(tmp, 'outside.bin'), new Uint8Array(4096));
  return write(dir, 'model.onnx', toBytes(m));
}

const cases: Case[] = [
  { name: 'missing file', what: 'no such file', expect: REJECT, make: (d) => path.join(d, 'does-not-exist.onnx') },
  {
    name: 'a directory',
    what: 'is a directory',
    expect: REJECT,
    make: (d) => fs.mkdirSync(path.join(d, 'model.onnx'), { recursive: true }) ?? path.join(d, 'model.onnx'),
  },
  { name: 'empty file', what: 'is empty', expect: REJECT, make: (d) => write(d, 'model.onnx', new Uint8Array(0)) },
  {
    name: 'random bytes',
    what: 'not a valid ONNX model',
    expect: REJECT,
    make: (d) => {
      const r = new Rng(99);
      return write(
        d,
        'model.onnx',
        Uint8Array.from({ length: 4096 }, () => r.int(0, 256)),
      );
    },
  },
  { name: 'truncated model', what: 'not a valid ONNX model (truncated)', expect: REJECT, make: (d) => write(d, 'model.onnx', validBytes().subarray(0, 120)) },
  { name: 'JSON text', what: 'looks like JSON', expect: REJECT, make: (d) => write(d, 'model.onnx', '{"graph": {"node": []}}') },
  {
    name: 'a TensorProto, not a model',
    what: 'not an ONNX model',
    expect: REJECT,
    make: (d) => write(d, 'model.onnx', encodeMessageToBytes('TensorProto', { dims: [2], data_type: 1, float_data: new Float32Array([1, 2]), name: 't' })),
  },
  {
    name: 'a cycle between nodes',
    what: 'refuses the model: its nodes form a cycle',
    expect: REJECT,
    make: (d) => {
      const m = asMsg();
      const nodes = graphOf(m).node as Msg[];
      // MatMul reads the Relu's output: MatMul -> Add -> Relu -> MatMul
      nodes[0].input = ['x', (nodes[2].output as string[])[0]];
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'a node input that is never defined',
    what: "input 'ghost' ... is not defined",
    expect: REJECT,
    make: (d) => {
      const m = asMsg();
      (graphOf(m).node as Msg[])[1].input = ['ghost', 'b'];
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'duplicate value names',
    what: 'value name defined more than once',
    expect: REJECT,
    make: (d) => {
      const m = asMsg();
      const nodes = graphOf(m).node as Msg[];
      nodes[2].output = nodes[1].output;
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'huge dims in a tensor (2^62)',
    what: 'dimension out of range',
    expect: REJECT,
    make: (d) => {
      const m = asMsg();
      (graphOf(m).initializer as Msg[])[0].dims = [2n ** 62n, 2];
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'huge dims in a tensor whose product overflows (2^31 x 2^31)',
    what: 'dimension/size out of range',
    expect: REJECT,
    make: (d) => {
      const m = asMsg();
      (graphOf(m).initializer as Msg[])[0].dims = [2 ** 31, 2 ** 31, 2 ** 31];
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'huge dim declared in an input shape (2^62)',
    what: 'inspect shows it; transforms keep it; bench refuses to synthesize such an input (exit 2 as the baseline; as a candidate it is reported as not measurable, exit 1)',
    expect: { read: [0], transform: [0, 2], run: [1, 2] },
    make: (d) => {
      const m = asMsg();
      ((((graphOf(m).input as Msg[])[0].type as Msg).tensor_type as Msg).shape as Msg).dim = [{ dim_value: 2n ** 62n }, { dim_value: 8 }];
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'raw_data length that does not match the shape',
    what: 'raw_data has N bytes but shape needs M',
    expect: REJECT,
    make: (d) => {
      const m = asMsg();
      const init = (graphOf(m).initializer as Msg[])[0];
      init.raw_data = (init.raw_data as Uint8Array).subarray(0, 10);
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'a tensor without a data type',
    what: 'refuses the tensor (no data type)',
    expect: REJECT,
    make: (d) => {
      const m = asMsg();
      delete (graphOf(m).initializer as Msg[])[0].data_type;
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'an operator of an unknown opset domain',
    what: 'kept as it is; quantize/optimize: the self-check cannot run it (exit 1, --no-check converts); bench: onnxruntime cannot run it (exit 1)',
    expect: { read: [0], transform: [0, 1, 2], run: [1, 2] },
    make: (d) => {
      const m = asMsg();
      (m.opset_import as Msg[]).push({ domain: 'com.example.unknown', version: 1 });
      const n = (graphOf(m).node as Msg[])[2];
      n.op_type = 'Mystery';
      n.domain = 'com.example.unknown';
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'a node domain with no opset import',
    what: 'kept or refused; quantize/optimize: the self-check cannot run it (exit 1); bench: onnxruntime cannot run it (exit 1)',
    expect: { read: [0, 2], transform: [0, 1, 2], run: [1, 2] },
    make: (d) => {
      const m = asMsg();
      const n = (graphOf(m).node as Msg[])[2];
      n.domain = 'com.example.unimported';
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'a missing external-data file',
    what: "external data file 'weights.bin' is missing",
    expect: REJECT,
    make: (d) => withExternal(d, 'weights.bin', false),
  },
  {
    name: 'external data escaping the model folder (../)',
    what: "points outside the model's folder; refusing to read it",
    expect: REJECT,
    make: (d) => withExternal(d, '../outside.bin', true),
  },
  {
    name: 'external data at an absolute path',
    what: "points outside the model's folder; refusing to read it",
    expect: REJECT,
    make: (d) => withExternal(d, path.join(tmp, 'outside.bin'), true),
  },
  {
    name: 'external data through a symlink out of the folder',
    what: "refused: the file's real path must stay inside the model's folder",
    expect: REJECT,
    make: (d) => symlinked(d),
  },
  {
    name: 'control characters in a value name (undefined input)',
    what: 'one line on stderr, control characters escaped',
    expect: REJECT,
    make: (d) => {
      const m = asMsg();
      (graphOf(m).node as Msg[])[1].input = ['ghost\n\x1b]0;pwned\x07\x1b[2J', 'b'];
      return write(d, 'model.onnx', toBytes(m));
    },
  },
  {
    name: 'control characters in names of a valid model',
    what: 'printed with control characters escaped',
    expect: { read: [0], transform: [0], run: [0] },
    make: (d) => {
      // same inputs and outputs as the valid model (bench compares the two), control characters everywhere else
      const model = validModel();
      model.setMetadata('k\x1b[31m', 'v\x1b]0;title\x07');
      model.producerName = 'evil\x1b[2J\r';
      model.docString = 'doc\x1b]52;c;cHduZWQ=\x07';
      model.graph.name = 'graph\x1b[1m';
      for (const n of model.graph.nodes) n.name = `${n.name}\x1b[41m\n`;
      model.graph.nodes[0].output(0).name = 'mm\x1b[5m\r';
      return write(d, 'model.onnx', encodeModel(model));
    },
  },
  {
    name: '1000 nested subgraphs (40 kB)',
    what: 'refused (nesting too deep), no stack overflow',
    expect: REJECT,
    make: (d) => write(d, 'model.onnx', deeplyNested(1000)),
  },
];

function symlinked(dir: string): string {
  fs.writeFileSync(path.join(tmp, 'secret.bin'), new Uint8Array(4096).fill(7));
  fs.symlinkSync(path.join(tmp, 'secret.bin'), path.join(dir, 'weights.bin'));
  return withExternal(dir, 'weights.bin', false);
}

// ================================================================================================ running

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], cwd: string): Promise<Run> {
  const io = captureIO(cwd);
  let code: number;
  try {
    code = await main(args, io);
  } catch (e) {
    return { code: -1, out: io.stdout(), err: `main() threw: ${(e as Error)?.stack ?? e}` };
  }
  return { code, out: io.stdout(), err: io.stderr() };
}

const hash = (p: string) =>
  fs.existsSync(p) && fs.statSync(p).isFile() ? crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') : fs.existsSync(p) ? 'dir' : 'absent';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f\x9b]/;
const tempFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.autoglm-|\.tmp$/.test(f)) : []);

/** Checks common to every run; returns the problems found. */
function problemsOf(r: Run, allowed: number[]): string[] {
  const p: string[] = [];
  if (!allowed.includes(r.code)) p.push(`exit ${r.code}, expected ${allowed.join(' or ')}`);
  if (r.code !== 0) {
    const lines = r.err.replace(/\n$/, '').split('\n');
    if (lines.length !== 1 || !lines[0]) p.push(`stderr has ${lines.length} lines`);
    if (!r.err.startsWith('autoglm:') && r.code > 0) p.push('stderr does not start with "autoglm:"');
  }
  if (/internal error|main\(\) threw/.test(r.err)) p.push('internal error');
  if (/\n\s+at .*[\w/]+\.[jt]s:\d+/.test(r.err)) p.push('stack trace on stderr');
  if (CONTROL.test(r.err.replace(/\n$/, ''))) p.push(`raw control characters on stderr: ${JSON.stringify(r.err.slice(0, 200))}`);
  if (CONTROL.test(r.out.replace(/\t/g, ''))) p.push(`raw control characters on stdout: ${JSON.stringify(r.out.slice(0, 200))}`);
  return p;
}

/** The argv for `cmd` with `hostile` in `slot`, valid models in the other slots, and an output under `outDir`. */
function argvFor(cmd: Cli, slot: string, hostile: string, validPath: string, outPath: string | undefined): string[] {
  const args = [cmd.name];
  for (const s of cmd.slots) {
    const p = s === slot ? hostile : validPath;
    if (s === 'arg') args.push(p);
    else args.push(s, p);
  }
  if (cmd.output && outPath) args.push(cmd.output, outPath);
  if (cmd.force && outPath) args.push(cmd.force);
  return [...args, ...cmd.extras];
}

// ================================================================================================ tests

describe('hostile inputs: commands registered in the CLI', () => {
  it(`discovers the commands (${commands.map((c) => c.name).join(', ')}) and can call each on a valid model`, async () => {
    expect(commands.map((c) => c.name)).toContain('inspect');
    for (const cmd of commands) {
      expect(cmd.unknownMandatory, `${cmd.name}: add values for these options to OPTION_VALUES in test/hostile/cli.test.ts`).toEqual([]);
      if (!cmd.slots.length) continue;
      const dir = freshDir(`valid-${cmd.name}`);
      const model = write(dir, 'model.onnx', validBytes());
      const out = cmd.output ? path.join(dir, 'out.onnx') : undefined;
      const r = await cli(argvFor(cmd, cmd.slots[0], model, model, out), dir);
      expect(r.code, `${cmd.name} on a valid model: ${r.err}`).toBe(0);
      if (out) expect(() => loadModel(out)).not.toThrow();
    }
  });
});

for (const c of cases) {
  describe(`hostile input: ${c.name}`, () => {
    for (const cmd of withModels) {
      for (const slot of cmd.slots) {
        it(`${cmd.name}${slot === 'arg' ? '' : ` ${slot}`}: exit ${c.expect[cmd.kind].join('|')}, one clean line, nothing written`, async () => {
          const dir = freshDir(`${c.name}-${cmd.name}`);
          const hostile = c.make(dir);
          const validDir = freshDir('valid');
          const valid = write(validDir, 'valid.onnx', validBytes());
          const outDir = freshDir('out');
          const out = cmd.output ? path.join(outDir, 'out.onnx') : undefined;
          if (out) fs.writeFileSync(out, 'previous output');
          const before = fs.readdirSync(dir).map((f) => [f, hash(path.join(dir, f))]);
          const r = await cli(argvFor(cmd, slot, hostile, valid, out), dir);
          const problems = problemsOf(r, c.expect[cmd.kind]);
          expect(
            fs.readdirSync(dir).map((f) => [f, hash(path.join(dir, f))]),
            'input folder unchanged',
          ).toEqual(before);
          for (const d of [dir, outDir, validDir]) expect(tempFiles(d), `temporary files left in ${d}`).toEqual([]);
          if (out && r.code !== 0) expect(fs.readFileSync(out, 'utf8'), 'previous output unchanged').toBe('previous output');
          if (out && r.code === 0) expect(() => loadModel(out), 'the output written is a valid model').not.toThrow();
          expect(problems, `${cmd.name} ${c.name}: stderr ${JSON.stringify(r.err.slice(0, 300))}`).toEqual([]);
        });
      }
    }
  });
}

describe('hostile output paths', () => {
  interface OutCase {
    name: string;
    /** prepares the case and returns the output path */
    setup: (dir: string, input: string) => string;
    flags?: 'force' | 'no-force';
    expect: number[];
  }
  /** root writes into read-only folders anyway: probe it (the "under a regular file" case covers root) */
  const writable = (dir: string) => {
    try {
      fs.writeFileSync(path.join(dir, '.probe'), '');
      fs.rmSync(path.join(dir, '.probe'));
      return true;
    } catch {
      return false;
    }
  };
  const outCases: OutCase[] = [
    { name: 'the output is a directory', setup: (d) => (fs.mkdirSync(path.join(d, 'out.onnx')), path.join(d, 'out.onnx')), expect: [2] },
    { name: 'the output folder does not exist', setup: (d) => path.join(d, 'no', 'such', 'out.onnx'), expect: [2] },
    {
      name: 'the output is under a regular file',
      setup: (d) => (fs.writeFileSync(path.join(d, 'somefile.txt'), 'x'), path.join(d, 'somefile.txt', 'out.onnx')),
      expect: [2],
    },
    {
      name: 'the output folder is read-only',
      setup: (d) => {
        const ro = path.join(d, 'ro');
        fs.mkdirSync(ro);
        fs.chmodSync(ro, 0o555);
        readOnly.push(ro);
        return path.join(ro, 'out.onnx');
      },
      expect: [2],
    },
    { name: 'the output is the input', setup: (_d, input) => input, flags: 'no-force', expect: [2] },
    { name: 'the output is the input, with --force', setup: (_d, input) => input, flags: 'force', expect: [0, 2] },
    {
      name: 'the output is the input through another spelling',
      setup: (d, input) => path.join(d, '.', '..', path.basename(d), path.basename(input)),
      flags: 'no-force',
      expect: [2],
    },
    // commands differ on whether an existing output needs --force; either way it is refused whole or replaced whole
    {
      name: 'the output exists',
      setup: (d) => (fs.writeFileSync(path.join(d, 'out.onnx'), 'previous output'), path.join(d, 'out.onnx')),
      flags: 'no-force',
      expect: [0, 2],
    },
  ];
  for (const oc of outCases) {
    for (const cmd of withOutput) {
      it(`${cmd.name}: ${oc.name} -> exit ${oc.expect.join('|')}`, async (ctx) => {
        const dir = freshDir(`out-${oc.name}`);
        const input = write(dir, 'model.onnx', validBytes());
        const out = oc.setup(dir, input);
        if (oc.name.includes('read-only') && writable(path.dirname(out))) {
          ctx.skip(); // running as root: the folder is writable anyway
          return;
        }
        const inputHash = hash(input);
        const outHash = hash(out);
        const args = [cmd.name];
        for (const s of cmd.slots) args.push(...(s === 'arg' ? [input] : [s, input]));
        args.push(cmd.output!, out, ...cmd.extras);
        if (oc.flags === 'force' && cmd.force) args.push(cmd.force);
        const r = await cli(args, dir);
        const problems = problemsOf(r, oc.expect);
        if (r.code !== 0) {
          expect(hash(out), 'the existing output is unchanged').toBe(outHash);
          expect(hash(input), 'the input is unchanged').toBe(inputHash);
        } else expect(() => loadModel(out), 'the output is a valid model').not.toThrow();
        expect(tempFiles(dir)).toEqual([]);
        expect(problems, JSON.stringify(r.err.slice(0, 300))).toEqual([]);
      });
    }
  }
  it.skipIf(withOutput.length > 0)('(no command writes an output yet)', () => {});
});

describe('hostile inputs: the library entry points', () => {
  it('saveModel refuses a directory, a missing folder, a path under a file and the input itself, writing nothing', () => {
    const dir = freshDir('lib');
    const input = path.join(dir, 'm.onnx');
    saveModel(validModel(), input);
    const m = loadModel(input);
    fs.writeFileSync(path.join(dir, 'file.txt'), 'x');
    for (const bad of [dir, path.join(dir, 'nope', 'o.onnx'), path.join(dir, 'file.txt', 'o.onnx'), input]) {
      let err: unknown;
      try {
        saveModel(m, bad);
      } catch (e) {
        err = e;
      }
      expect((err as { exitCode?: number })?.exitCode, `${bad}: ${String(err)}`).toBe(2);
    }
    expect(tempFiles(dir)).toEqual([]);
  });
});
