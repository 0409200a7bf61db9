/**
 * `autoglm quantize <in.onnx> -o <out.onnx> --dtype fp16|bf16|int8|int4`: float16 / bfloat16 conversion
 * (src/quantize); integer quantization and its self-check live in quantize-int.ts (their flags are listed there).
 *
 *   --keep-io-types [names]     keep float32 model inputs/outputs (all, or a comma-separated list of names)
 *   --op-block-list <ops>       operator types kept float32: replaces the default; '+A,B' extends it; 'none'
 *   --node-block-list <names>   node names or /regex/ kept float32
 *   --weights-only              weights stored fp16/bf16 with a Cast to float32 after each; compute stays float32
 *   --mixed --tolerance <x>     search the smallest float32 keep-set within the tolerance on calibration inputs
 *   --dim name=value            symbolic dimension sizes for synthesized calibration inputs (repeatable)
 *   --calibration <path>        calibration inputs (.npy, .pb, .json file, or a folder of sets)
 *   --compare                   run both models on the calibration inputs: max abs / rel error, cosine (the real
 *                               run on onnxruntime CPU, and the conversion with low-precision storage emulated)
 *   --json                      print the report object instead of tables
 *   --external-data             write tensor data to <out>.data
 *   --force                     overwrite an existing output (or the input itself)
 *
 * Impossible combinations are usage errors (exit 2): --mixed with --weights-only, --tolerance without --mixed,
 * --calibration, --dim or --seed without --mixed or --compare. onnxruntime's CPU provider runs float16 regions in
 * float32 and has no bfloat16 compute kernels, so --mixed searches, and --compare also reports, an emulation that
 * rounds every converted value through the low type (src/quantize/emulate.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import type { Feeds } from '../../runtime/session.js';
import { convertFloat } from '../../quantize/convert.js';
import {
  DEFAULT_OP_BLOCK_NAMES,
  LOW_NAME,
  parseNodeBlockList,
  resolveOpBlockList,
  splitList,
  type ConvertOptions,
  type LowDType,
} from '../../quantize/options.js';
import type { QuantizeReport } from '../../quantize/report.js';
import type { CliIO } from '../ui/io.js';
import { withDefaultDims } from '../../inputs/dims.js';
import { calibrationAlias, collect, inputsOption, inputsPath, parseDims } from '../ui/options.js';
import type { ExitCode } from '../exit.js';
import { intQuantizeCommand, rejectIntFlags, renderCheck, renderIntQuantize, type IntFlags } from './quantize-int.js';
import { fmtBytes } from '../../util/format.js';
import { renderTable } from '../../util/table.js';
import { helpEpilogue } from '../ui/usage.js';
import { checkDims } from '../../inputs/dims.js';

interface QuantizeFlags extends IntFlags {
  output?: string;
  dtype?: string;
  keepIoTypes?: boolean | string;
  opBlockList?: string;
  nodeBlockList?: string;
  weightsOnly?: boolean;
  clamp?: boolean;
  mixed?: boolean;
  tolerance?: string;
  dim: string[];
  calibration?: string;
  inputs?: string;
  compare?: boolean;
  json?: boolean;
  externalData?: boolean;
  force?: boolean;
  seed?: string;
}

export function register(program: Command, io: CliIO, exit?: ExitCode): void {
  program
    .command('quantize')
    .description('convert a model to float16 / bfloat16, or quantize it to int8 / int4 with a numeric self-check')
    .addHelpText(
      'after',
      helpEpilogue([
        'autoglm quantize model.onnx -o model.fp16.onnx --dtype fp16 --keep-io-types',
        'autoglm quantize model.onnx -o model.int8.onnx --dtype int8 --inputs inputs/',
        'autoglm quantize decoder.onnx -o decoder.int4.onnx --dtype int4 --block-size 32',
      ]),
    )
    .argument('<model>', 'ONNX model file (float32)')
    .option('-o, --output <file>', 'output ONNX file')
    .option('--dtype <type>', 'fp16, bf16, int8 (dynamic; static with --static) or int4 (weights-only)')
    .option('--keep-io-types [names]', 'keep float32 model inputs/outputs: all, or a comma-separated list of names')
    .option('--op-block-list <ops>', `operator types kept float32 (default ${DEFAULT_OP_BLOCK_NAMES.join(',')}; '+A,B' extends, 'none' empties)`)
    .option('--node-block-list <names>', 'node names or /regex/ kept float32 (comma-separated)')
    .option('--clamp', "fp16/bf16: saturate constants beyond the type's range instead of keeping their readers float32")
    .option('--weights-only', 'store weights as fp16/bf16 with a Cast to float32 after each; compute stays float32 (int4 is always weights-only)')
    .option('--mixed', 'keep the fewest nodes float32 that hold outputs within --tolerance (fp16; int8/int4: also --min-cosine)')
    .option('--tolerance <x>', "largest max|q - fp32| / max|fp32| per output: the self-check (and --mixed's target)")
    .option('--per-tensor', 'int8: one weight scale per tensor instead of per output channel')
    .option('--static', 'int8: static QDQ with activation ranges calibrated on --inputs (CNNs)')
    .option('--method <m>', 'int8 --static calibration: minmax (default) or percentile')
    .option('--block-size <n>', 'int4: 32 (default), 64 or 128 weights per scale')
    .option('--accuracy-level <n>', 'int4: MatMulNBits accuracy_level 0..4 (default 4: int8 compute)')
    .option('--exclude <nodes>', 'int8/int4: node names left float (comma-separated)')
    .option('--min-cosine <c>', 'smallest accepted output cosine of the self-check (default 0.999 fp16, 0.99 bf16 and int8, 0.98 int4)')
    .option('--no-check', 'write without the self-check against the float model')
    .option('--explain', 'int8/int4: print the CPU decision and every skipped node with its reason')
    .option('--dim <name=value>', 'size of a symbolic input dimension for calibration inputs (repeatable)', collect, [])
    .addOption(inputsOption('calibration and self-check inputs: .npy, .pb or .json file, or a folder of input sets'))
    .addOption(calibrationAlias())
    .option('--seed <n>', 'seed of synthesized calibration inputs (default 0)')
    .option('--compare', 'run the original and the converted model on the calibration inputs and report the error')
    .option('--json', 'print the report as JSON')
    .option('--external-data', 'write tensor data to <output>.data')
    .option('--force', 'overwrite an existing output file')
    .action(async (file: string, flags: QuantizeFlags) => {
      flags.calibration = inputsPath(flags);
      const int = intDtype(flags.dtype);
      if (int) {
        const r = await intQuantizeCommand(file, flags, int, io, exit);
        io.out(flags.json ? JSON.stringify(r, jsonReplacer, 2) + '\n' : renderIntQuantize(r, io, !!flags.explain));
        return;
      }
      const report = await quantizeCommand(file, flags, io, exit);
      if (flags.json) io.out(JSON.stringify(report, jsonReplacer, 2) + '\n');
      else io.out(renderQuantize(report, io, file, flags.output!));
    });
}

/** Infinity is not JSON: written as the string "inf". */
function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf') : v;
}

function intDtype(v: string | undefined): 'int8' | 'int4' | undefined {
  const s = v?.toLowerCase();
  return s === 'int8' || s === 'int4' ? s : undefined;
}

function parseDtype(v: string | undefined): LowDType {
  if (v === undefined) throw new UsageError('quantize needs --dtype fp16, bf16, int8 or int4');
  const s = v.toLowerCase();
  if (s === 'fp16' || s === 'float16' || s === 'half') return 'fp16';
  if (s === 'bf16' || s === 'bfloat16') return 'bf16';
  throw new UsageError(`--dtype must be fp16, bf16, int8 or int4, got '${v}'`);
}

/** Checks the flags against each other before any work. */
function validate(flags: QuantizeFlags, dtype: LowDType): void {
  if (!flags.output) throw new UsageError('quantize needs an output file: -o <out.onnx>');
  if (flags.mixed && flags.weightsOnly) throw new UsageError('--mixed and --weights-only cannot be combined: weights-only computes in float32 already');
  if (flags.mixed && flags.tolerance === undefined) throw new UsageError("--mixed needs --tolerance <x> (e.g. --tolerance 0.01: 1% of each output's range)");
  const runs = flags.mixed || flags.compare || flags.check !== false;
  const users = '--mixed, --compare or the self-check (it is off with --no-check)';
  if (flags.calibration !== undefined && !runs) throw new UsageError(`--inputs is only used by ${users}`);
  if (flags.dim.length && !runs) throw new UsageError(`--dim is only used by ${users} (to size synthesized inputs)`);
  if (flags.seed !== undefined && !runs) throw new UsageError(`--seed is only used by ${users}`);
  if (flags.check === false && (flags.minCosine !== undefined || (flags.tolerance !== undefined && !flags.mixed)))
    throw new UsageError('--min-cosine and --tolerance set the self-check, which --no-check turns off');
}

function tolerance(v: string): number {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || x <= 0) throw new UsageError(`--tolerance must be a positive number, got '${v}'`);
  return x;
}

function keepIo(flags: QuantizeFlags, model: Model): boolean | string[] {
  const k = flags.keepIoTypes;
  if (k === undefined || k === false) return false;
  if (k === true) return true;
  const names = splitList(k);
  const io = [...model.graph.inputs.filter((v) => !v.initializer), ...model.graph.outputs].map((v) => v.name);
  const unknown = names.filter((n) => !io.includes(n));
  if (unknown.length)
    throw new UsageError(`--keep-io-types: ${unknown.map((n) => `'${n}'`).join(', ')} is not an input or output of the model; they are: ${io.join(', ')}`);
  return names;
}

async function loadRuntimeParts() {
  const [load, synthesize, describe, compare, emulate, mixed, check] = await Promise.all([
    import('../../inputs/load.js'),
    import('../../inputs/synthesize.js'),
    import('../../inputs/describe.js'),
    import('../../measure/compare-models.js'),
    import('../../quantize/emulate.js'),
    import('../../quantize/mixed.js'),
    import('../../quantize/check.js'),
  ]);
  return {
    loadInputs: load.loadInputs,
    synthesizeInputs: synthesize.synthesizeInputs,
    symbolicDims: describe.symbolicDims,
    measureFidelity: compare.compareModels,
    measureEmulated: emulate.measureEmulated,
    convertMixed: mixed.convertMixed,
    checkFloatConversion: check.checkFloatConversion,
  };
}

export async function quantizeCommand(file: string, flags: QuantizeFlags, io: CliIO, exit?: ExitCode): Promise<QuantizeReport> {
  const dtype = parseDtype(flags.dtype);
  rejectIntFlags(flags);
  validate(flags, dtype);
  const inPath = path.resolve(io.cwd, file);
  const outPath = path.resolve(io.cwd, flags.output!);
  if (fs.existsSync(outPath) && !flags.force) throw new UsageError(`${flags.output} exists; pass --force to overwrite it`);
  const dims = parseDims(flags.dim);
  const seed = flags.seed === undefined ? 0 : Number(flags.seed);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got '${flags.seed}'`);
  const t0 = performance.now();
  const model = loadModel(inPath);
  checkDims(model, dims);
  const tLoad = performance.now();
  const opts: ConvertOptions = {
    dtype,
    keepIoTypes: keepIo(flags, model),
    opBlockList: flags.opBlockList === undefined ? undefined : resolveOpBlockList(splitList(flags.opBlockList)),
    nodeBlockList: flags.nodeBlockList === undefined ? undefined : parseNodeBlockList(flags.nodeBlockList),
    weightsOnly: !!flags.weightsOnly,
    clamp: !!flags.clamp,
  };
  const checking = flags.check !== false;
  // onnxruntime is loaded only when something runs a model (it adds to every start-up otherwise)
  const runtime = flags.mixed || flags.compare || checking ? await loadRuntimeParts() : undefined;
  const synthDims = runtime ? withDefaultDims(runtime.symbolicDims(model), dims) : dims;
  const feeds = (): Feeds[] =>
    flags.calibration
      ? runtime!.loadInputs(path.resolve(io.cwd, flags.calibration), model)
      : runtime!.synthesizeInputs(model, { dims: synthDims, seed, count: 2 });
  const checkRef = checking ? loadModel(inPath) : undefined;
  let report: QuantizeReport;
  let reference: Model | undefined;
  let calib: Feeds[] | undefined;
  if (flags.compare && !flags.mixed) {
    calib = feeds();
    reference = loadModel(inPath);
  }
  if (flags.mixed) {
    report = await runtime!.convertMixed(model, {
      ...opts,
      tolerance: tolerance(flags.tolerance!),
      feeds: feeds(),
      log: flags.json ? undefined : (m) => io.info(`${m}\n`),
    });
  } else report = convertFloat(model, opts);
  const tConvert = performance.now();
  warnUnmatched(model, opts, report);
  if (reference && calib) {
    // bfloat16 compute has no CPU kernels: only its emulation runs
    if (dtype === 'fp16' || opts.weightsOnly) report.fidelity = await runtime!.measureFidelity(reference, model, calib);
    if (!opts.weightsOnly) report.fidelityEmulated = await runtime!.measureEmulated(reference, opts, calib);
  }
  if (checkRef) {
    // the written model must load in onnxruntime and compute what the float32 one does, within the stated tolerance
    const tol = {
      minCosine: flags.minCosine === undefined ? undefined : Number(flags.minCosine),
      maxError: flags.tolerance === undefined ? undefined : tolerance(flags.tolerance),
      inputs: flags.calibration ? ('calibration' as const) : ('synthesized' as const),
    };
    if (tol.minCosine !== undefined && !(tol.minCosine > 0 && tol.minCosine <= 1))
      throw new UsageError(`--min-cosine must be in (0, 1], got '${flags.minCosine}'`);
    // inputs as the float32 model takes them (the converted model's may be float16 now)
    const checkFeeds =
      calib ??
      (flags.calibration
        ? runtime!.loadInputs(path.resolve(io.cwd, flags.calibration), checkRef)
        : runtime!.synthesizeInputs(checkRef, { dims: synthDims, seed, count: 2 }));
    const checked = await runtime!.checkFloatConversion(checkRef, model, checkFeeds, { ...tol, convert: opts });
    report.check = checked.check;
    report.warnings.push(...checked.warnings);
    if (!report.check.passed) {
      if (exit) exit.code = 1;
      io.err(
        `autoglm: self-check failed (${report.check.message ?? report.check.failures.join('; ')}); nothing written to ${flags.output}. ` +
          `Try --mixed --tolerance <x> to keep the nodes that cause it float32, or pass --no-check to write it unchecked\n`,
      );
      return report;
    }
  }
  const saved = saveModel(model, outPath, { externalData: flags.externalData ? true : 'auto', overwriteInput: !!flags.force });
  const tSave = performance.now();
  const st = fs.statSync(inPath);
  report.files = { input: st.size, inputExternal: model.source?.externalBytes ?? 0, output: saved.bytes, outputExternal: saved.externalBytes };
  if (!report.modified) report.message += `; wrote an unchanged copy to ${flags.output}`;
  report.timings = { ...report.timings, loadMs: tLoad - t0, convertMs: tConvert - tLoad, saveMs: tSave - tConvert };
  return report;
}

/** Block-list entries that match nothing are most likely typos. */
function warnUnmatched(model: Model, opts: ConvertOptions, report: QuantizeReport): void {
  const names = new Set<string>();
  const ops = new Set<string>();
  for (const n of model.allNodes()) {
    ops.add(n.opType);
    names.add(n.name || n.outputs.find((o) => o)?.name || '');
  }
  if (opts.opBlockList) {
    const miss = opts.opBlockList.filter((o) => !ops.has(o) && !DEFAULT_OP_BLOCK_NAMES.includes(o));
    if (miss.length) report.warnings.push(`--op-block-list: no ${miss.join(', ')} node in the model (operator names are case-sensitive, e.g. Softmax)`);
  }
  for (const e of opts.nodeBlockList ?? []) {
    const hit = [...names].some((n) => (typeof e === 'string' ? n === e : e.test(n)));
    if (!hit) report.warnings.push(`--node-block-list: ${String(e)} matches no node`);
  }
}

const sci = (x: number): string => (Number.isFinite(x) ? (x === 0 ? '0' : x.toExponential(2)) : String(x));

/** The human summary: what changed, sizes, clamped/flushed tensors, kept nodes, fidelity, warnings. */
export function renderQuantize(r: QuantizeReport, io: CliIO, input: string, output: string): string {
  const c = io.color;
  const lines: string[] = [];
  lines.push(`${c.bold('quantize')}   ${input} -> ${output}  (${LOW_NAME[r.dtype]}, ${r.mode})`);
  lines.push(`${c.bold('result')}     ${r.message}`);
  if (r.files) {
    const before = r.files.input + r.files.inputExternal;
    const after = r.files.output + r.files.outputExternal;
    lines.push(
      `${c.bold('size')}       ${fmtBytes(before)} -> ${fmtBytes(after)} (${before ? ((100 * after) / before).toFixed(1) : '0'}%)${r.files.outputExternal ? `, ${fmtBytes(r.files.outputExternal)} in external data` : ''}`,
    );
  }
  const t = r.totals;
  if (t.tensors) {
    lines.push(
      `${c.bold('tensors')}    ${t.tensors} converted, ${t.elements} values, ${fmtBytes(t.bytesBefore)} -> ${fmtBytes(t.bytesAfter)}; clamped ${t.clamped}, flushed to zero ${t.flushed}` +
        `${t.raised ? `, ${t.raised} kept at the smallest subnormal` : ''}${t.duplicated ? `, ${t.duplicated} kept a float32 copy for float32 readers` : ''}`,
    );
  }
  if (r.mode !== 'weights-only')
    lines.push(
      `${c.bold('nodes')}      ${r.nodes.converted} of ${r.nodes.total} converted, ${r.nodes.kept.length} kept float32; Casts ${r.castsInserted} inserted, ${r.castsRemoved} removed`,
    );
  lines.push('');
  // worst first: saturated values change results most, then NaN, then the largest share flushed to zero
  const flagged = r.tensors
    .filter((x) => x.clamped || x.flushed || x.nan || x.raised)
    .sort((a, b) => b.clamped - a.clamped || b.nan - a.nan || b.flushed / (b.elements || 1) - a.flushed / (a.elements || 1));
  if (flagged.length) {
    lines.push(
      renderTable(
        ['tensor', 'elements', 'clamped', 'flushed', 'raised', 'nan'],
        flagged.slice(0, 20).map((x) => [x.name, x.elements, x.clamped, x.flushed, x.raised ?? 0, x.nan]),
      ),
    );
    if (flagged.length > 20) lines.push(`... and ${flagged.length - 20} more tensors with clamped or flushed values, fewer than those above (see --json)\n`);
  }
  if (r.nodes.kept.length) {
    lines.push(
      renderTable(
        ['kept float32', 'op', 'reason', 'why'],
        r.nodes.kept.slice(0, 30).map((k) => [k.name, k.opType, k.reason, k.detail]),
        { align: ['left', 'left', 'left', 'left'] },
      ),
    );
    if (r.nodes.kept.length > 30) lines.push(`... and ${r.nodes.kept.length - 30} more (see --json)\n`);
  }
  if (r.mixed) {
    const m = r.mixed;
    lines.push(
      `${c.bold('mixed')}      tolerance ${m.tolerance}: ${m.kept.length} of ${m.candidates} compute nodes kept float32 after ${m.evaluations} evaluations on ${m.calibrationSets} input set(s); error ${sci(m.error)} (fully converted: ${sci(m.errorAllConverted)})`,
    );
    if (m.kept.length)
      lines.push(
        renderTable(
          ['kept by --mixed', 'op', 'graph', 'error if converted'],
          m.kept.map((k) => [k.name, k.opType, k.graph, sci(k.errorIfConverted)]),
          { align: ['left', 'left', 'left', 'right'] },
        ),
      );
  }
  const fid = (title: string, f: QuantizeReport['fidelity']) =>
    f?.length &&
    lines.push(
      renderTable(
        [title, 'max abs err', 'max rel err', 'cosine', 'overflows'],
        f.map((o) => [o.name, o.error ?? sci(o.maxAbsError ?? NaN), sci(o.rangeError ?? NaN), o.cosine?.toFixed(6) ?? '—', o.nonFinite]),
      ),
    );
  fid('output (onnxruntime CPU)', r.fidelity);
  fid(`output (${r.dtype} storage emulated)`, r.fidelityEmulated);
  lines.push(...renderCheck(r.check, null, output, io));
  for (const w of r.warnings) lines.push(`${c.yellow('warning')}: ${w}`);
  return lines.join('\n').replace(/\n*$/, '\n');
}
