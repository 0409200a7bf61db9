/**
 * `autoglm quantize <in> -o <out> --dtype int8|int4`: integer quantization (src/quantize/int8), then a numeric
 * self-check of the result against the float model.
 *
 *   --dtype int8                 dynamic (default): MatMul/Gemm weights int8 per output channel, activations quantized
 *                                at run time (com.microsoft::DynamicQuantizeMatMul), embedding tables int8 per row.
 *                                A model with more Conv than MatMul/Gemm weights (a CNN) gets static QDQ instead.
 *   --per-tensor                 one weight scale per tensor (to compare)
 *   --static                     QDQ with activation ranges calibrated on --calibration (or synthesized inputs, with
 *                                a warning); --method minmax|percentile
 *   --dtype int4                 always weights-only (--weights-only is accepted and changes nothing): MatMulNBits,
 *                                --block-size 32|64|128 (default 32), --accuracy-level 0..4 (default 4: int8 compute)
 *   --exclude <nodes>            node names left float
 *   --mixed                      keep the most sensitive layers float until the outputs are within the tolerance
 *   --min-cosine <c>             smallest accepted output cosine (default 0.99 int8, 0.98 int4)
 *   --tolerance <x>              largest accepted range-relative error max|q - f| / max|f| (default: not checked)
 *   --no-check                   skip the self-check
 *   --explain                    the CPU decision and why, and every skipped node with its reason
 *
 * The self-check runs the float and the quantized model in onnxruntime on the calibration inputs (or 2 synthesized
 * input sets) and compares every output. When it fails, nothing is written: the command prints the report, names
 * the outputs beyond the tolerance and exits 1 (--no-check writes without checking). A model with nothing to
 * quantize is refused (exit 2) rather than copied.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import type { IntCheckReport } from '../../quantize/check.js';
import type { GuidedReport } from '../../quantize/int8/guided.js';
import type { IntQuantizeReport } from '../../quantize/int8/report.js';
import type { ActivationReport } from '../../quantize/int8/static.js';
import { recommendInt8, type Int8Recommendation } from '../../quantize/int8/cpu.js';
import type { Feeds } from '../../runtime/session.js';
import { fmtBytes, fmtMs } from '../../util/format.js';
import { renderTable } from '../../util/table.js';
import type { ExitCode } from '../exit.js';
import type { CliIO } from '../ui/io.js';
import { withDefaultDims } from '../../inputs/dims.js';
import { parseDims } from '../ui/options.js';
import { checkDims } from '../../inputs/dims.js';

export interface IntFlags {
  output?: string;
  dim: string[];
  calibration?: string;
  seed?: string;
  json?: boolean;
  externalData?: boolean;
  force?: boolean;
  weightsOnly?: boolean;
  mixed?: boolean;
  tolerance?: string;
  perTensor?: boolean;
  static?: boolean;
  method?: string;
  blockSize?: string;
  accuracyLevel?: string;
  exclude?: string;
  explain?: boolean;
  check?: boolean;
  minCosine?: string;
}

export type IntMode = 'dynamic' | 'static' | 'int4';

/** What `quantize --dtype int8|int4 --json` prints (schema 1). */
export interface IntQuantizeResult {
  schema: 1;
  dtype: 'int8' | 'int4';
  mode: IntMode;
  /** why the mode was chosen when the user did not ask for it */
  modeReason: string | null;
  input: string;
  output: string;
  /** false when the self-check failed (nothing was written) */
  written: boolean;
  cpu: Pick<Int8Recommendation, 'weightType' | 'reduceRange' | 'reason'> | null;
  report: IntQuantizeReport & { activations?: ActivationReport[] };
  check: IntCheckReport | null;
  guided: GuidedReport | null;
  /** sizes of the symbolic dimensions of synthesized inputs (null when every input came from --calibration) */
  dims: Record<string, number> | null;
  files: { input: number; inputExternal: number; output: number | null; outputExternal: number | null };
  timings: { loadMs: number; quantizeMs: number; checkMs: number; saveMs: number };
  warnings: string[];
}

const INT_ONLY: [keyof IntFlags, string][] = [
  ['perTensor', '--per-tensor'],
  ['static', '--static'],
  ['method', '--method'],
  ['blockSize', '--block-size'],
  ['accuracyLevel', '--accuracy-level'],
  ['exclude', '--exclude'],
  ['explain', '--explain'],
];

/** Flags that only integer quantization takes: a usage error with fp16/bf16. */
export function rejectIntFlags(flags: IntFlags): void {
  for (const [k, name] of INT_ONLY) if (flags[k] !== undefined && flags[k] !== false) throw new UsageError(`${name} applies to --dtype int8 or int4`);
}

function num(flag: string, v: string, ok: (x: number) => boolean, what: string): number {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new UsageError(`${flag} must be ${what}, got '${v}'`);
  return x;
}

/** Checks the integer flags against each other before any work. */
function validate(flags: IntFlags, dtype: 'int8' | 'int4'): void {
  if (!flags.output) throw new UsageError('quantize needs an output file: -o <out.onnx>');
  if (dtype === 'int4') {
    if (flags.static) throw new UsageError('--static applies to int8: int4 is weights-only (MatMulNBits), activations stay float');
    if (flags.perTensor) throw new UsageError('--per-tensor applies to int8: int4 scales are per block (--block-size)');
    if (flags.method) throw new UsageError('--method applies to --static int8 calibration');
  } else {
    if (flags.weightsOnly)
      throw new UsageError(
        '--weights-only applies to fp16, bf16 and int4: int8 quantizes activations too (use --dtype int4 --weights-only for weight-only integers)',
      );
    if (flags.blockSize !== undefined) throw new UsageError('--block-size applies to --dtype int4');
    if (flags.accuracyLevel !== undefined) throw new UsageError('--accuracy-level applies to --dtype int4');
    if (flags.method !== undefined && !flags.static) throw new UsageError('--method applies to --static (calibration of activation ranges)');
    if (flags.static && flags.mixed) throw new UsageError('--mixed applies to dynamic int8 and int4, not --static');
  }
  if (flags.check === false && flags.mixed) throw new UsageError('--mixed measures the outputs; it cannot be combined with --no-check');
  if (flags.check === false && (flags.minCosine !== undefined || (flags.tolerance !== undefined && !flags.mixed)))
    throw new UsageError('--min-cosine and --tolerance set the self-check; they cannot be combined with --no-check');
  if (flags.method !== undefined && flags.method !== 'minmax' && flags.method !== 'percentile')
    throw new UsageError(`--method must be minmax or percentile, got '${flags.method}'`);
  if (flags.blockSize !== undefined && !['32', '64', '128'].includes(flags.blockSize.trim()))
    throw new UsageError(`--block-size must be 32, 64 or 128, got '${flags.blockSize}'`);
  if (flags.accuracyLevel !== undefined) num('--accuracy-level', flags.accuracyLevel, (x) => Number.isInteger(x) && x >= 0 && x <= 4, 'an integer from 0 to 4');
  if (flags.minCosine !== undefined) num('--min-cosine', flags.minCosine, (x) => x > -1 && x <= 1, 'a number in (-1, 1]');
  if (flags.tolerance !== undefined) num('--tolerance', flags.tolerance, (x) => x > 0, 'a positive number');
  const runs = flags.check !== false || flags.static || flags.mixed;
  if (!runs && (flags.calibration !== undefined || flags.dim.length || flags.seed !== undefined))
    throw new UsageError('--inputs, --dim and --seed feed the self-check or --static; with --no-check they are unused');
}

/** MatMul/Gemm with a constant 2-D float weight anywhere, and Conv with a constant weight. */
function weightOps(model: Model): { matmul: number; conv: number } {
  let matmul = 0;
  let conv = 0;
  for (const n of model.allNodes()) {
    if (n.domain !== '') continue;
    const t = n.input(1)?.constTensor();
    if (!t) continue;
    if ((n.opType === 'MatMul' || n.opType === 'Gemm') && t.rank === 2) matmul++;
    if (n.opType === 'Conv') conv++;
  }
  return { matmul, conv };
}

/** onnxruntime and the quantizers are loaded only when this command runs (they add to every start-up otherwise). */
async function loadRuntimeParts() {
  const [load, synth, describe, int8, check] = await Promise.all([
    import('../../inputs/load.js'),
    import('../../inputs/synthesize.js'),
    import('../../inputs/describe.js'),
    import('../../quantize/int8/index.js'),
    import('../../quantize/check.js'),
  ]);
  return {
    loadInputs: load.loadInputs,
    synthesizeInputs: synth.synthesizeInputs,
    symbolicDims: describe.symbolicDims,
    checkQuantized: check.checkQuantized,
    ...int8,
  };
}

/**
 * Sizes of the symbolic dimensions for synthesized inputs: --dim first, then 1 for a dimension named like a batch
 * and 32 for any other (a sequence, an image side), so the self-check runs without flags.
 */

export async function intQuantizeCommand(file: string, flags: IntFlags, dtype: 'int8' | 'int4', io: CliIO, exit?: ExitCode): Promise<IntQuantizeResult> {
  validate(flags, dtype);
  const inPath = path.resolve(io.cwd, file);
  const outPath = path.resolve(io.cwd, flags.output!);
  if (fs.existsSync(outPath) && !flags.force) throw new UsageError(`${flags.output} exists; pass --force to overwrite it`);
  const given = parseDims(flags.dim);
  const seed = flags.seed === undefined ? 0 : Number(flags.seed);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got '${flags.seed}'`);
  const exclude = flags.exclude
    ? flags.exclude
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [];
  const warnings: string[] = [];
  const t0 = performance.now();
  const model = loadModel(inPath);
  checkDims(model, given);
  const tLoad = performance.now();

  let mode: IntMode = dtype === 'int4' ? 'int4' : flags.static ? 'static' : 'dynamic';
  let modeReason: string | null = null;
  if (mode === 'dynamic') {
    const w = weightOps(model);
    if (w.conv > w.matmul) {
      mode = 'static';
      modeReason = `${w.conv} Conv and ${w.matmul} MatMul/Gemm weight(s): a CNN, so static QDQ (dynamic int8 rewrites MatMul/Gemm only; --static to ask for it explicitly)`;
    }
  }
  const check = flags.check !== false;
  const rt = await loadRuntimeParts();
  const dims = withDefaultDims(rt.symbolicDims(model), given);
  let calibrated: Feeds[] | undefined;
  const inputs = flags.calibration ? 'calibration' : 'synthesized';
  if (flags.calibration) calibrated = rt.loadInputs(path.resolve(io.cwd, flags.calibration), model);
  else if (mode === 'static') {
    calibrated = rt.synthesizeInputs(model, { dims, seed, count: 8 });
    warnings.push(
      'static int8 calibrated on 8 synthesized input sets (random values): activation ranges measured on real data matter; pass --inputs <file|folder> with representative inputs',
    );
  }
  const checkFeeds = (): Feeds[] => (calibrated && flags.calibration ? calibrated : rt.synthesizeInputs(model, { dims, seed: seed + 1000, count: 2 }));
  const reference = check && !flags.mixed ? loadModel(inPath) : undefined;
  const tolerance = {
    minCosine: flags.minCosine === undefined ? undefined : Number(flags.minCosine),
    maxError: flags.tolerance === undefined ? undefined : Number(flags.tolerance),
  };

  const cpu = dtype === 'int8' ? recommendInt8() : null;
  let report: IntQuantizeResult['report'];
  let guided: GuidedReport | null = null;
  const int4Opts = {
    blockSize: (flags.blockSize ? Number(flags.blockSize) : 32) as 32,
    accuracyLevel: (flags.accuracyLevel ? Number(flags.accuracyLevel) : 4) as 4,
    exclude,
  };
  const dynOpts = { perChannel: !flags.perTensor, exclude };
  if (flags.mixed) {
    const feeds = checkFeeds();
    const r = await rt.quantizeGuided(model, {
      dtype,
      options: dtype === 'int4' ? int4Opts : dynOpts,
      feeds,
      minCosine: tolerance.minCosine ?? (tolerance.maxError === undefined ? (dtype === 'int4' ? 0.98 : 0.99) : undefined),
      maxError: tolerance.maxError,
      log: flags.json ? undefined : (m) => io.info(`${m}\n`),
    });
    report = r.report;
    guided = r.guided;
    calibrated = feeds;
  } else if (mode === 'int4') report = rt.quantizeInt4(model, int4Opts);
  else if (mode === 'static')
    report = await rt.quantizeStatic(model, {
      calibration: calibrated!,
      method: (flags.method ?? 'minmax') as 'minmax',
      perChannel: !flags.perTensor,
      exclude,
    });
  else report = rt.quantizeDynamic(model, dynOpts);
  const tQuant = performance.now();
  warnings.push(...report.warnings);
  for (const e of exclude) {
    const hit = [...model.allNodes()].some((n) => n.name === e || n.label === e) || report.skipped.some((s) => s.name === e);
    if (!hit) warnings.push(`--exclude: no node named ${e}`);
  }
  if (!report.modified) throw new UsageError(`${file}: ${report.message}; nothing written`);

  let checked: IntCheckReport | null = null;
  if (check) {
    const ref = reference ?? loadModel(inPath);
    checked = await rt.checkQuantized(ref, model, flags.mixed || flags.calibration ? calibrated! : checkFeeds(), {
      kind: report.kind,
      ...tolerance,
      inputs,
    });
  }
  const tCheck = performance.now();
  const st = fs.statSync(inPath);
  const result: IntQuantizeResult = {
    schema: 1,
    dtype,
    mode,
    modeReason,
    input: file,
    output: flags.output!,
    written: false,
    cpu: cpu ? { weightType: cpu.weightType, reduceRange: cpu.reduceRange, reason: cpu.reason } : null,
    report,
    check: checked,
    guided,
    dims: flags.calibration ? null : dims,
    files: { input: st.size, inputExternal: model.source?.externalBytes ?? 0, output: null, outputExternal: null },
    timings: { loadMs: tLoad - t0, quantizeMs: tQuant - tLoad, checkMs: tCheck - tQuant, saveMs: 0 },
    warnings,
  };
  if (checked && !checked.passed) {
    if (exit) exit.code = 1;
    io.err(
      `autoglm: self-check failed (${checked.message ?? checked.failures.join('; ')}); nothing written to ${flags.output}. ` +
        `${flags.mixed ? 'Loosen the tolerance or add --exclude' : 'Try --mixed to keep the most sensitive layers float'}, or pass --no-check to write it unchecked\n`,
    );
    return result;
  }
  const saved = saveModel(model, outPath, { externalData: flags.externalData ? true : 'auto', overwriteInput: !!flags.force });
  result.written = true;
  result.files.output = saved.bytes;
  result.files.outputExternal = saved.externalBytes;
  result.timings.saveMs = performance.now() - tCheck;
  return result;
}

const sci = (x: number | null | undefined): string =>
  x === null || x === undefined ? '—' : Number.isFinite(x) ? (x === 0 ? '0' : x.toExponential(2)) : String(x);

/** The human report: what was quantized, sizes, the CPU decision, the self-check, and (with --explain) every skip. */
export function renderIntQuantize(r: IntQuantizeResult, io: CliIO, explain: boolean): string {
  const c = io.color;
  const rep = r.report;
  const lines: string[] = [];
  const how =
    r.mode === 'int4'
      ? `int4 weights-only, block ${rep.settings.blockSize}, accuracy level ${rep.settings.accuracyLevel}`
      : `int8 ${r.mode}, ${rep.settings.perChannel ? 'per-channel' : 'per-tensor'}${r.mode === 'static' ? `, ${rep.settings.method}` : ''}`;
  lines.push(`${c.bold('quantize')}   ${r.input} -> ${r.output}  (${how})`);
  if (r.modeReason) lines.push(`${c.bold('mode')}       ${r.modeReason}`);
  if (r.cpu && r.mode === 'dynamic')
    lines.push(
      `${c.bold('cpu')}        ${r.cpu.weightType} weights${r.cpu.reduceRange ? ', reduce_range (7-bit)' : ', full range'}${explain ? `: ${r.cpu.reason}` : ''}`,
    );
  lines.push(`${c.bold('result')}     ${rep.message}`);
  const t = rep.totals;
  const ratio = (a: number, b: number) => (a ? `${((100 * b) / a).toFixed(1)}%` : '—');
  lines.push(`${c.bold('weights')}    ${t.weights} tensor(s), ${fmtBytes(t.bytesBefore)} -> ${fmtBytes(t.bytesAfter)} (${ratio(t.bytesBefore, t.bytesAfter)})`);
  const f = r.files;
  if (f.output !== null) {
    const before = f.input + f.inputExternal;
    const after = f.output + (f.outputExternal ?? 0);
    lines.push(`${c.bold('file')}       ${fmtBytes(before)} -> ${fmtBytes(after)} (${ratio(before, after)})`);
  }
  lines.push(
    `${c.bold('time')}       load ${fmtMs(r.timings.loadMs)}, quantize ${fmtMs(r.timings.quantizeMs)}${r.check ? `, check ${fmtMs(r.timings.checkMs)}` : ''}${r.written ? `, save ${fmtMs(r.timings.saveMs)}` : ''}`,
  );
  lines.push('');
  const byAs = new Map<string, { n: number; ops: Set<string> }>();
  for (const q of rep.quantized) {
    const e = byAs.get(q.as) ?? byAs.set(q.as, { n: 0, ops: new Set() }).get(q.as)!;
    e.n++;
    e.ops.add(q.opType);
  }
  lines.push(
    renderTable(
      ['quantized as', 'from', 'nodes'],
      [...byAs].map(([as, e]) => [as, [...e.ops].join(', '), e.n]),
      { align: ['left', 'left', 'right'] },
    ),
  );
  if (rep.skipped.length) {
    if (explain)
      lines.push(
        renderTable(
          ['skipped', 'op', 'graph', 'reason', 'why'],
          rep.skipped.map((s) => [s.name, s.opType, s.graph, s.reason, s.detail]),
          { align: ['left', 'left', 'left', 'left', 'left'] },
        ),
      );
    else {
      const counts = new Map<string, number>();
      for (const s of rep.skipped) counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1);
      lines.push(`${c.bold('skipped')}    ${rep.skipped.length} node(s): ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')} (--explain lists them)`);
    }
  }
  if (explain) lines.push(`${c.bold('settings')}   ${JSON.stringify(rep.settings)}`);
  const g = r.guided;
  if (g) {
    const goal = [g.minCosine !== null && `cosine >= ${g.minCosine}`, g.maxError !== null && `range error <= ${g.maxError}`].filter(Boolean).join(', ');
    lines.push(
      `${c.bold('mixed')}      ${goal}: ${g.kept.reduce((a, k) => a + k.nodes.length, 0)} of ${g.candidates} node(s) kept float after ${g.evaluations} evaluations (of at most ${g.maxEvaluations}${g.groupSize > 1 ? `; measured in groups of ${g.groupSize}` : ''}, ${fmtMs(g.ms)}); all quantized: cosine ${g.cosineAllQuantized.toFixed(6)}, range error ${sci(g.errorAllQuantized)} -> cosine ${g.cosine.toFixed(6)}, range error ${sci(g.error)}${g.within ? '' : ' (NOT within the tolerance)'}`,
    );
    if (g.kept.length)
      lines.push(
        renderTable(
          ['kept float', 'op', 'cosine if only it stays float', 'range error then', 'float bytes kept'],
          g.kept.map((k) => [k.nodes.join(', '), k.opType, k.cosineWithoutIt.toFixed(6), sci(k.errorWithoutIt), fmtBytes(k.bytesCost)]),
          { align: ['left', 'left', 'right', 'right', 'right'] },
        ),
      );
  }
  lines.push(...renderCheck(r.check, r.dims, r.output, io));
  for (const w of r.warnings) lines.push(`${c.yellow('warning')}: ${w}`);
  return lines.join('\n').replace(/\n*$/, '\n');
}

/** The self-check's table and verdict line (shared by every quantize dtype). */
export function renderCheck(ch: IntCheckReport | null | undefined, dims: Record<string, number> | null, output: string, io: CliIO): string[] {
  const c = io.color;
  const lines: string[] = [];
  if (ch) {
    lines.push(
      renderTable(
        ['output', 'cosine', 'range err', 'max abs err', 'top-1', 'check'],
        ch.outputs.map((o) => [
          o.name,
          o.cosine?.toFixed(6) ?? '—',
          sci(o.rangeError),
          sci(o.maxAbsError),
          o.top1 === null ? '—' : `${(100 * o.top1).toFixed(1)}%`,
          o.passed ? 'ok' : 'FAIL',
        ]),
      ),
    );
    const tol = `cosine >= ${ch.tolerance.minCosine}${ch.tolerance.maxError !== null ? `, range error <= ${ch.tolerance.maxError}` : ''}`;
    lines.push(
      `${c.bold('check')}      ${ch.passed ? c.green('passed') : c.red('FAILED')} (${tol}) on ${ch.inputSets} ${ch.inputs} input set(s)${
        dims && Object.keys(dims).length
          ? ` (${Object.entries(dims)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ')})`
          : ''
      }${ch.passed ? '' : `: nothing written to ${output}`}`,
    );
  } else lines.push(`${c.bold('check')}      skipped (--no-check): the outputs were not compared with the float model`);
  return lines;
}
