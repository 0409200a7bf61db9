/**
 * `autoglm optimize <in.onnx> -o <out.onnx>`: prune, fuse and convert in one load/save, then (with gates) bench the
 * result against the input and fail the job when a gate fails. Flags override the config file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { benchmark } from '../../bench/benchmark.js';
import { renderBenchJson } from '../../bench/report-json.js';
import { renderBenchTable } from '../../bench/report-table.js';
import type { BenchResult } from '../../bench/types.js';
import { failureSummary } from '../../bench/report-format.js';
import { UsageError } from '../../errors.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import { checkConfig, isIntQuantize, loadConfig, type FloatQuantizeConfig, type OptimizeConfig, type QuantizeConfig } from '../../optimize/config.js';
import { optimize, type OptimizeReport } from '../../optimize/pipeline.js';
import { splitList } from '../../quantize/index.js';
import type { ExitCode } from '../exit.js';
import type { CliIO } from '../ui/io.js';
import { calibrationAlias, collect, inputsOption, inputsPath, parseDims } from '../ui/options.js';
import { fmtBytes } from '../../util/format.js';
import { renderTable } from '../../util/table.js';
import { helpEpilogue } from '../ui/usage.js';
import { checkReportTargets, reportOption, wantsReports, writeReports } from '../ui/reports.js';
import { checkDims } from '../../inputs/dims.js';

interface Flags {
  output?: string;
  config?: string;
  preset?: string;
  passes?: string;
  disable?: string;
  target?: string;
  dtype?: string;
  static?: boolean;
  perTensor?: boolean;
  blockSize?: string;
  exclude?: string;
  minCosine?: string;
  check?: boolean;
  clamp?: boolean;
  allowSkipped?: boolean;
  keepIoTypes?: boolean | string;
  weightsOnly?: boolean;
  opBlockList?: string;
  nodeBlockList?: string;
  mixed?: boolean;
  tolerance?: string;
  prune?: string;
  units?: string;
  sparsity?: string;
  nm?: string;
  roundTo?: string;
  criterion?: string;
  dim: string[];
  gate: string[];
  budget?: string;
  runs?: string;
  warmup?: string;
  bench?: boolean;
  markdown?: string;
  junit?: string;
  html?: string;
  inputs?: string;
  calibration?: string;
  dryRun?: boolean;
  json?: boolean;
  verify?: boolean;
  force?: boolean;
  externalData?: boolean;
}

function number(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${flag} must be a number, got '${v}'`);
  return x;
}

/** The config file (if any) with the command-line flags applied on top. */
export function configFromFlags(flags: Flags, cwd: string): { config: OptimizeConfig; configDir: string } {
  const configDir = flags.config ? path.dirname(path.resolve(cwd, flags.config)) : cwd;
  const config: OptimizeConfig = flags.config ? loadConfig(path.resolve(cwd, flags.config)) : {};
  if (flags.preset) config.preset = flags.preset as OptimizeConfig['preset'];
  if (flags.target) config.target = flags.target as OptimizeConfig['target'];
  if (flags.passes) config.passes = splitList(flags.passes);
  if (flags.disable) config.disable = splitList(flags.disable);
  if (flags.dim.length) config.dims = { ...config.dims, ...parseDims(flags.dim) };
  if (flags.externalData) config.externalData = true;
  const quantFlags =
    flags.keepIoTypes !== undefined || flags.weightsOnly || flags.opBlockList || flags.nodeBlockList || flags.mixed || flags.tolerance || flags.clamp;
  const intFlags = flags.static || flags.perTensor || flags.blockSize || flags.exclude;
  if (flags.check === false && (flags.minCosine || flags.tolerance))
    throw new UsageError('--min-cosine and --tolerance set the self-check, which --no-check turns off');
  if ((flags.minCosine || flags.check === false) && !flags.dtype && !config.quantize)
    throw new UsageError('--min-cosine and --no-check set the self-check after quantization: they need --dtype (or quantize in the config)');
  if (flags.dtype) {
    if (!['fp16', 'bf16', 'int8', 'int4'].includes(flags.dtype)) throw new UsageError(`--dtype must be fp16, bf16, int8 or int4, got '${flags.dtype}'`);
    const prev = config.quantize || undefined;
    // a config's settings carry over only to the same family of dtypes
    config.quantize = (
      prev && isIntQuantize(prev) === ['int8', 'int4'].includes(flags.dtype) ? { ...prev, dtype: flags.dtype } : { dtype: flags.dtype }
    ) as QuantizeConfig;
  }
  if (config.quantize) {
    if (flags.minCosine) config.quantize.minCosine = number('min-cosine', flags.minCosine);
    if (flags.check === false) config.quantize.check = false;
  }
  if (config.quantize && isIntQuantize(config.quantize)) {
    const q = config.quantize;
    if (flags.keepIoTypes !== undefined || flags.weightsOnly || flags.opBlockList || flags.nodeBlockList || flags.clamp)
      throw new UsageError('--keep-io-types, --weights-only, --op-block-list, --node-block-list and --clamp apply to fp16/bf16, not int8/int4');
    if (flags.static) q.static = true;
    if (flags.perTensor) q.perChannel = false;
    if (flags.blockSize) q.blockSize = number('block-size', flags.blockSize) as 32;
    if (flags.exclude)
      q.exclude = flags.exclude
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
    if (flags.mixed) q.mixed = true;
    if (flags.tolerance !== undefined) q.tolerance = number('tolerance', flags.tolerance);
    if (q.blockSize !== undefined && q.dtype !== 'int4') throw new UsageError('--block-size applies to --dtype int4');
    if (q.static && q.dtype === 'int4') throw new UsageError('--static applies to int8: int4 is weights-only');
    return { config: checkConfig(finish(config, flags, cwd)), configDir };
  }
  if (intFlags) throw new UsageError('--static, --per-tensor, --block-size and --exclude need --dtype int8 or int4');
  if (quantFlags) {
    if (!config.quantize)
      throw new UsageError(
        '--keep-io-types, --weights-only, --op-block-list, --node-block-list, --clamp, --mixed and --tolerance need --dtype (or quantize in the config)',
      );
    const q = config.quantize as FloatQuantizeConfig;
    if (flags.keepIoTypes !== undefined) q.keepIoTypes = flags.keepIoTypes === true ? true : splitList(flags.keepIoTypes as string);
    if (flags.weightsOnly) q.weightsOnly = true;
    if (flags.clamp) q.clamp = true;
    if (flags.opBlockList) q.opBlockList = splitList(flags.opBlockList);
    if (flags.nodeBlockList) q.nodeBlockList = splitList(flags.nodeBlockList);
    if (flags.mixed) q.mixed = true;
    if (flags.tolerance !== undefined) q.tolerance = number('tolerance', flags.tolerance);
  }
  const q = (config.quantize || undefined) as FloatQuantizeConfig | undefined;
  if (q?.mixed && q.weightsOnly) throw new UsageError('--mixed and --weights-only cannot be combined');
  return { config: checkConfig(finish(config, flags, cwd)), configDir };
}

/** The prune and bench flags, and the default pass list. */
function finish(config: OptimizeConfig, flags: Flags, cwd: string): OptimizeConfig {
  const pruneFlags = flags.units || flags.sparsity || flags.nm || flags.roundTo || flags.criterion;
  if (flags.prune) config.prune = { ...(config.prune || {}), method: flags.prune as 'graph' };
  if (pruneFlags) {
    if (!config.prune) throw new UsageError('--units, --sparsity, --nm, --round-to and --criterion need --prune <method> (or prune in the config)');
    const p = config.prune;
    if (flags.units) p.units = splitList(flags.units) as never;
    if (flags.sparsity) p.sparsity = number('sparsity', flags.sparsity);
    if (flags.nm) p.nm = flags.nm;
    if (flags.roundTo) p.roundTo = number('round-to', flags.roundTo);
    if (flags.criterion) p.criterion = flags.criterion as never;
  }
  if (flags.gate.length || flags.budget || flags.runs || flags.warmup || flags.inputs || flags.calibration) {
    config.bench = { ...config.bench };
    if (flags.inputs) config.bench.inputs = path.resolve(cwd, flags.inputs);
    if (flags.calibration) config.bench.inputs = path.resolve(cwd, inputsPath(flags)!);
    if (flags.gate.length) config.bench.gates = [...(config.bench.gates ?? []), ...flags.gate];
    if (flags.budget) config.bench.budget = path.resolve(cwd, flags.budget);
    if (flags.runs) config.bench.runs = number('runs', flags.runs);
    if (flags.warmup) config.bench.warmup = number('warmup', flags.warmup);
  }
  // nothing chosen: the lossless clean-up passes
  if (!config.preset && !config.passes && !config.prune && !config.quantize) config.passes = ['cleanup'];
  return config;
}

export function renderOptimize(r: OptimizeReport, io: CliIO, files?: { input: number; output?: number }): string {
  const rows = r.steps.map((s) => [s.step, `${s.ms.toFixed(0)} ms`, s.summary]);
  let out = renderTable(['step', 'time', 'what changed'], rows, { align: ['left', 'right', 'left'] });
  const b = r.before;
  const a = r.after;
  const ratio = (x: number, y: number) => (x ? `${(y / x).toFixed(3)}x` : '—');
  const sizeRows: (string | number)[][] = [
    ['nodes', b.nodes, a.nodes, ratio(b.nodes, a.nodes)],
    ['parameters', b.params, a.params, ratio(b.params, a.params)],
    ['weight bytes', fmtBytes(b.weightBytes), fmtBytes(a.weightBytes), ratio(b.weightBytes, a.weightBytes)],
  ];
  if (files?.output !== undefined) sizeRows.push(['file size', fmtBytes(files.input), fmtBytes(files.output), ratio(files.input, files.output)]);
  out += '\n' + renderTable(['', 'before', 'after', 'ratio'], sizeRows);
  const ch = r.check;
  if (ch) {
    out +=
      '\n' +
      renderTable(
        ['output vs input', 'cosine', 'range err', 'top-1', 'check'],
        ch.outputs.map((o) => [
          o.name,
          o.cosine?.toFixed(6) ?? '—',
          o.rangeError === null ? '—' : o.rangeError.toExponential(2),
          o.top1 === null ? '—' : `${(100 * o.top1).toFixed(1)}%`,
          o.passed ? 'ok' : 'FAIL',
        ]),
      );
    out += `check: ${ch.passed ? 'passed' : 'FAILED'} (cosine >= ${ch.tolerance.minCosine}${ch.tolerance.maxError !== null ? `, range error <= ${ch.tolerance.maxError}` : ''}) on ${ch.inputSets} synthesized input set(s)\n`;
  }
  for (const w of r.warnings) out += io.color.yellow(`warning: ${w}`) + '\n';
  return out;
}

export function register(program: Command, io: CliIO, exit: ExitCode): void {
  program
    .command('optimize')
    .description('prune, fuse and convert in one pass over the model, then bench the result against the input with CI gates')
    .addHelpText(
      'after',
      helpEpilogue([
        "autoglm optimize model.onnx -o out.onnx --preset transformer --dtype fp16 --gate 'graphF1 >= 0.95'",
        'autoglm optimize model.onnx -o out.onnx --config autoglm.config.json --junit bench.xml',
        'autoglm optimize model.onnx --preset cnn --dry-run',
      ]),
    )
    .argument('<model>', 'input ONNX model')
    .option('-o, --output <file>', 'output model (required unless --dry-run)')
    .option('-c, --config <file>', 'autoglm.config.json: pipeline and gates (flags override it)')
    .option('--preset <name>', 'transformer | cnn | web')
    .option('--passes <list>', "passes or pass presets to run, comma-separated (replaces the preset's)")
    .option('--disable <list>', 'passes not to run')
    .option('--target <target>', 'onnx (standard ops only, default) | ort (may emit onnxruntime contrib ops)')
    .option('--dtype <dtype>', 'fp16 or bf16 conversion, or int8 / int4 quantization (checked against the input), after fusion')
    .option('--static', 'int8: static QDQ calibrated on synthesized inputs (CNNs)')
    .option('--per-tensor', 'int8: one weight scale per tensor')
    .option('--block-size <n>', 'int4: 32 (default), 64 or 128')
    .option('--exclude <nodes>', 'int8/int4: node names left float')
    .option('--min-cosine <c>', 'smallest accepted output cosine of the self-check (default 0.999 fp16, 0.99 bf16 and int8, 0.98 int4)')
    .option('--no-check', 'write the result without the self-check against the input')
    .option('--clamp', "fp16/bf16: saturate constants beyond the type's range instead of keeping their readers float32")
    .option('--keep-io-types [names]', 'keep float32 inputs/outputs (all, or the listed names)')
    .option('--weights-only', 'store weights in the low type, compute in float32')
    .option('--op-block-list <ops>', 'operator types kept in float32')
    .option('--node-block-list <names>', 'node names or /regex/ kept in float32')
    .option('--mixed', 'accuracy-guided mixed precision (with --tolerance)')
    .option('--tolerance <x>', "largest accepted range-relative output error: the self-check (and --mixed's target)")
    .option('--prune <method>', 'graph | magnitude | nm | structured (runs first)')
    .option('--units <list>', 'structured pruning units: ffn,heads,channels')
    .option('--sparsity <x>', 'fraction pruned')
    .option('--nm <n:m>', 'N:M pattern for --prune nm')
    .option('--round-to <n>', 'structured: kept units rounded to a multiple of n')
    .option('--criterion <c>', 'l1 | l2 | activation')
    .option('--dim <name=size>', 'size of a symbolic input dimension (repeatable)', collect, [])
    .option('--gate <expr>', 'bench gate on the result vs the input (repeatable); implies --bench', collect, [])
    .option('--budget <file>', 'JSON file of gates; implies --bench')
    .option('--runs <n>', 'timed runs per model in the bench')
    .option('--warmup <n>', 'warm-up runs per model in the bench')
    .option('--bench', 'bench the result against the input even without gates')
    .option('--allow-skipped', 'a gate that could not be evaluated does not fail the run (it does by default)')
    .addOption(inputsOption('bench input file (.npy, .pb, .json) or folder of input sets, instead of synthesized inputs'))
    .addOption(calibrationAlias())
    .addOption(reportOption('markdown'))
    .addOption(reportOption('junit'))
    .addOption(reportOption('html'))
    .option('--dry-run', 'show what would change: write nothing, run no bench')
    .option('--json', 'print a JSON object instead of tables')
    .option('--verify', 'check the IR after every pass')
    .option('--force', 'overwrite an existing output file (or the input) and report files')
    .option('--external-data', 'write weights to <output>.data')
    .action(async (input: string, flags: Flags) => {
      const at = (p: string) => path.resolve(io.cwd, p);
      if (!flags.output && !flags.dryRun) throw new UsageError('optimize needs -o <output.onnx> (or --dry-run)');
      const { config, configDir } = configFromFlags(flags, io.cwd);
      if (config.bench?.budget && !path.isAbsolute(config.bench.budget)) config.bench.budget = path.resolve(configDir, config.bench.budget);
      const inputPath = at(input);
      const model = loadModel(inputPath);
      checkDims(model, { ...config.dims, ...config.bench?.dims });
      const outPath = flags.output ? at(flags.output) : undefined;
      if (outPath && outPath === inputPath && !flags.force) throw new UsageError(`refusing to overwrite the input model ${input}; pass --force to allow it`);
      if (outPath && !flags.dryRun && fs.existsSync(outPath) && !flags.force) throw new UsageError(`${flags.output} exists; pass --force to overwrite it`);
      if (!flags.dryRun) checkReportTargets(io, flags);
      const onStep = flags.json ? undefined : (_: string, msg: string) => io.info(`${msg}...\n`);
      const { model: result, report } = await optimize(model, config, { verify: flags.verify, onStep, log: (m) => io.info(`${m}\n`) });
      let outSize: number | undefined;
      const failedCheck = report.check && !report.check.passed;
      if (failedCheck) {
        exit.code = 1;
        io.err(
          `autoglm: ${config.quantize ? config.quantize.dtype : ''} self-check failed (${report.check!.message ?? report.check!.failures.join('; ')}); nothing written\n`,
        );
      }
      if (!flags.dryRun && outPath && !failedCheck) {
        const saved = saveModel(result, outPath, { overwriteInput: !!flags.force, externalData: config.externalData ? true : 'auto' });
        outSize = saved.bytes + saved.externalBytes;
      }
      const inputSize = (model.source?.fileSize ?? 0) + (model.source?.externalBytes ?? 0);
      // a dry run writes nothing and runs nothing expensive: no bench, no reports
      const wantBench = !failedCheck && !flags.dryRun && !!(config.bench?.gates?.length || config.bench?.budget || flags.bench || wantsReports(flags));
      let bench: BenchResult | undefined;
      if (wantBench) {
        bench = await benchmark({
          baseline: { model: inputPath, label: 'input' },
          candidates: [{ model: outPath ?? result, label: 'optimized' }],
          dims: config.bench?.dims ?? config.dims,
          runs: config.bench?.runs,
          warmup: config.bench?.warmup,
          threads: config.bench?.threads,
          inputs: config.bench?.inputs ? path.resolve(configDir, config.bench.inputs) : undefined,
          gates: config.bench?.gates,
          budget: config.bench?.budget,
          allowSkipped: !!flags.allowSkipped,
        });
        writeReports(io, flags, bench);
        if (!bench.passed) {
          exit.code = 1;
          io.err(`autoglm: ${failureSummary(bench)}\n`);
        }
      }
      if (flags.json) {
        const obj = {
          schema: 1,
          input: inputPath,
          output: flags.dryRun || failedCheck ? null : (outPath ?? null),
          dryRun: !!flags.dryRun,
          config,
          report,
          files: { input: inputSize, output: outSize ?? null },
          bench: bench ? JSON.parse(renderBenchJson(bench)) : null,
        };
        io.out(JSON.stringify(obj, null, 2) + '\n');
        return;
      }
      io.out(renderOptimize(report, io, { input: inputSize, output: outSize }));
      if (flags.dryRun) io.out('dry run: nothing written, no bench run\n');
      else if (!failedCheck) io.out(`wrote ${flags.output}\n`);
      if (bench) io.out('\n' + renderBenchTable(bench, io.color));
    });
}
