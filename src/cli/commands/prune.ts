/**
 * `autoglm prune <in.onnx> -o <out.onnx>`: graph pruning (lossless) and weight pruning (src/prune).
 *
 *   --method graph|magnitude|nm|structured   default graph: only lossless graph pruning
 *   --units ffn,heads,channels               structured: which units (default all)
 *   --sparsity 0.5                           fraction removed (of each layer's weights, or of each group's units)
 *   --global                                 magnitude: one threshold over all layers
 *   --nm 2:4                                 nm: keep N of every M weights along the reduction axis
 *   --round-to N                             structured: kept channels per group a multiple of N
 *   --criterion l1|l2|activation             importance (default l2); activation runs the calibration inputs
 *   --outputs a,b                            keep only these outputs (extracts the sub-model computing them)
 *   --target-f1 X | --max-error X            search the largest sparsity per layer group meeting the target
 *   --target-latency R                       ... that also measures at most R x the original latency
 *   --min-top1 X, --min-cosine X             output co-limits of a search (default 0.9 / 0.99 with --target-f1; 0 = off);
 *                                            with a fixed sparsity, thresholds of the self-check
 *   --no-check                               skip the self-check of a fixed-sparsity prune (non-finite outputs fail it)
 *   --graph-threshold T, --graph-edges R     graph F1's edge rule (as bench: 0.2, 4/T, topk:K)
 *   --calibration file|dir                   calibration inputs (.npy/.pb/.json, or a folder of sets)
 *   --dim k=v                                symbolic dimension sizes for synthesized inputs (repeatable)
 *   --checkpoint file                        resumable search state (JSON)
 *   --json                                   print the report object
 *   --force                                  overwrite an existing output (or the input)
 *
 * A search that cannot meet its targets writes nothing and exits 1 (the report says what it reached).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { loadInputs } from '../../inputs/load.js';
import { UsageError } from '../../errors.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import { parseNM } from '../../prune/nm.js';
import { checkOptions, prune, type PruneOptions, type PruneReport } from '../../prune/prune.js';
import { UNIT_KINDS, type Criterion, type PruneMethod, type UnitKind } from '../../prune/types.js';
import type { ExitCode } from '../exit.js';
import { printable, type CliIO } from '../ui/io.js';
import { calibrationAlias, collect, inputsOption, inputsPath, parseDims } from '../ui/options.js';
import { startProgress, type Progress } from '../ui/progress.js';
import { fmtBytes, fmtCount } from '../../util/format.js';
import { renderTable } from '../../util/table.js';
import { helpEpilogue } from '../ui/usage.js';
import { symbolicDims } from '../../inputs/describe.js';
import { checkDims, withDefaultDims } from '../../inputs/dims.js';

interface PruneFlags {
  output?: string;
  method?: string;
  units?: string;
  sparsity?: string;
  global?: boolean;
  nm?: string;
  roundTo?: string;
  criterion?: string;
  outputs?: string;
  targetF1?: string;
  maxError?: string;
  targetLatency?: string;
  minTop1?: string;
  minCosine?: string;
  check?: boolean;
  graphThreshold?: string;
  graphEdges?: string;
  calibration?: string;
  inputs?: string;
  dim: string[];
  checkpoint?: string;
  json?: boolean;
  force?: boolean;
}

export interface PruneCommandResult {
  report: PruneReport;
  input: string;
  output: string;
  /** false when nothing was written (a search missed its targets) */
  written: boolean;
}

export function register(program: Command, io: CliIO, exit: ExitCode): void {
  program
    .command('prune')
    .description('graph pruning (lossless) and weight pruning: magnitude, N:M, structured (FFN neurons, heads, channels)')
    .addHelpText(
      'after',
      helpEpilogue([
        'autoglm prune model.onnx -o sub.onnx --outputs logits',
        'autoglm prune model.onnx -o small.onnx --method structured --units ffn --sparsity 0.5',
        'autoglm prune model.onnx -o small.onnx --method structured --units ffn,heads --target-f1 0.95 --dim batch=1 --dim sequence=32',
      ]),
    )
    .argument('<model>', 'ONNX model file')
    .option('-o, --output <file>', 'output ONNX file')
    .option('--method <method>', 'graph (lossless only, default), magnitude, nm or structured')
    .option('--units <list>', `structured: units to prune, comma-separated (${UNIT_KINDS.join(',')}; default all)`)
    .option('--sparsity <x>', "fraction removed: of each layer (magnitude) or of each group's units (structured); default 0.5")
    .option('--global', 'magnitude: one threshold over all layers instead of the same fraction per layer')
    .option('--nm <N:M>', 'nm: keep N of every M weights along the reduction axis (default 2:4)')
    .option('--round-to <n>', 'structured: kept channels per group rounded to a multiple of n (e.g. 8)')
    .option('--criterion <c>', 'importance: l1, l2 (default) or activation (weight x input activation norm on the calibration inputs)')
    .option('--outputs <names>', 'keep only these graph outputs (any value names, comma-separated): extracts the sub-model')
    .option(
      '--target-f1 <x>',
      "search the largest sparsity per layer group keeping graph F1 >= x on the calibration inputs (bench's graphF1: min of last layer and all layers)",
    )
    .option('--min-top1 <x>', 'search co-limit: worst top-1 agreement over the outputs (default 0.9 with --target-f1; 0 = off)')
    .option('--min-cosine <x>', 'search co-limit: worst output cosine similarity (default 0.99 with --target-f1; 0 = off)')
    .option('--no-check', 'fixed sparsity: write without the self-check (outputs non-finite or below --min-cosine / --min-top1 fail it)')
    .option('--graph-threshold <t>', 'graph F1 edge threshold: absolute (default 0.2) or relative to uniform attention (4/T)')
    .option('--graph-edges <rule>', 'graph F1 edges: threshold (default) or topk:K')
    .option('--max-error <x>', 'search the largest sparsity per layer group keeping max|pruned - original| <= x * max|original| per output')
    .option('--target-latency <ratio>', 'search: keep only configurations measuring at most ratio x the original latency')
    .addOption(inputsOption('calibration inputs: .npy, .pb or .json file, or a folder of input sets (default: 4 synthesized sets)'))
    .addOption(calibrationAlias())
    .option('--dim <name=value>', 'size of a symbolic input dimension for synthesized inputs (repeatable)', collect, [])
    .option('--checkpoint <file>', 'search state file: written as the search goes, resumed from when it exists')
    .option('--json', 'print the report as JSON')
    .option('--force', 'overwrite an existing output file')
    .action(async (file: string, flags: PruneFlags) => {
      flags.calibration = inputsPath(flags);
      const r = await pruneCommand(file, flags, io);
      if (flags.json) io.out(JSON.stringify({ input: r.input, output: r.written ? r.output : null, ...r.report }, jsonReplacer, 2) + '\n');
      else io.out(renderPrune(r, io));
      if (!r.written) {
        const chk = r.report.check;
        io.err(
          chk && !chk.passed
            ? `autoglm: self-check failed (${printable(chk.failures.join('; '))}; worst output: ${printable(chk.worstOutput ?? '-')}); nothing was written. Prune less (--sparsity), or pass --no-check to write it unchecked\n`
            : flags.targetF1 !== undefined || flags.maxError !== undefined || flags.targetLatency !== undefined
              ? `autoglm: the search did not meet its target${r.report.notes.length ? `: ${printable(r.report.notes[r.report.notes.length - 1])}` : ''}; nothing was written\n`
              : `autoglm: ${printable(r.report.notes.at(-1) ?? 'the prune failed')}; nothing was written\n`,
        );
        exit.code = 1;
      }
    });
}

function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf') : v;
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`${flag} must be a number, got '${v}'`);
  return x;
}

const list = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x);

/** The library options from the flags, checked against each other before any work. */
export function optionsFromFlags(flags: PruneFlags): PruneOptions {
  if (!flags.output) throw new UsageError('prune needs an output file: -o <out.onnx>');
  const method = (flags.method ?? 'graph') as PruneMethod;
  const o: PruneOptions = {
    method,
    units: flags.units !== undefined ? (list(flags.units) as UnitKind[]) : undefined,
    sparsity: num('--sparsity', flags.sparsity),
    global: flags.global,
    nm: flags.nm,
    roundTo: num('--round-to', flags.roundTo),
    criterion: flags.criterion as Criterion | undefined,
    outputs: flags.outputs !== undefined ? list(flags.outputs) : undefined,
    targetF1: num('--target-f1', flags.targetF1),
    maxError: num('--max-error', flags.maxError),
    targetLatency: num('--target-latency', flags.targetLatency),
    minTop1: num('--min-top1', flags.minTop1),
    minCosine: num('--min-cosine', flags.minCosine),
    check: flags.check,
    graphThreshold: flags.graphThreshold,
    graphEdges: flags.graphEdges,
    checkpoint: flags.checkpoint,
    dims: parseDims(flags.dim),
  };
  if (o.units && !o.units.length) throw new UsageError('--units needs at least one of ffn, heads, channels');
  if (flags.nm !== undefined && !parseNM(flags.nm)) throw new UsageError(`--nm must be N:M with 1 <= N < M (e.g. 2:4), got '${flags.nm}'`);
  checkOptions(o);
  return o;
}

export async function pruneCommand(file: string, flags: PruneFlags, io: CliIO): Promise<PruneCommandResult> {
  const opts = optionsFromFlags(flags);
  const inPath = path.resolve(io.cwd, file);
  const outPath = path.resolve(io.cwd, flags.output!);
  if (fs.existsSync(outPath) && !flags.force) throw new UsageError(`${flags.output} exists; pass --force to overwrite it`);
  if (opts.checkpoint) opts.checkpoint = path.resolve(io.cwd, opts.checkpoint);
  const model = loadModel(inPath);
  if (opts.dims) checkDims(model, opts.dims);
  // the sizes quantize and optimize use when none are given (1 for batch-like dimensions, 32 else, sums summed)
  opts.dims = withDefaultDims(symbolicDims(model), opts.dims ?? {});
  if (flags.calibration) opts.calibration = loadInputs(path.resolve(io.cwd, flags.calibration), model);
  let bar: Progress | undefined;
  opts.onProgress = (p) => {
    if (!p.search) return;
    bar ??= startProgress(io, 'search', p.search.total, { quiet: flags.json });
    bar.tick(1, p.search.label);
  };
  let report: PruneReport;
  try {
    report = (await prune(model, opts)).report;
  } finally {
    bar?.stop();
  }
  let written = false;
  if (report.ok) {
    const saved = saveModel(model, outPath, { overwriteInput: !!flags.force });
    report.after.fileSize = saved.bytes + saved.externalBytes;
    written = true;
  }
  return { report, input: file, output: flags.output!, written };
}

const pct = (a: number, b: number): string => (b ? `${a >= b ? '+' : ''}${((100 * (a - b)) / b).toFixed(1)}%` : '');
const f3 = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : Number.isFinite(x) ? x.toFixed(3) : String(x));

/** The human summary: before/after table, groups, what was left alone and why, per-layer sparsity, search, notes. */
export function renderPrune(r: PruneCommandResult, io: CliIO): string {
  const c = io.color;
  const rep = r.report;
  const s = rep.settings;
  const lines: string[] = [];
  const what =
    rep.method === 'graph'
      ? 'graph (lossless)'
      : rep.method === 'structured'
        ? `structured ${s.units!.join(',')}${s.sparsity !== null ? ` ${s.sparsity}` : ''}${s.roundTo > 1 ? `, round to ${s.roundTo}` : ''}, ${s.criterion}`
        : rep.method === 'nm'
          ? `N:M ${s.nm}, ${s.criterion}`
          : `magnitude ${s.sparsity ?? ''}${s.global ? ' global' : ' per layer'}, ${s.criterion}`;
  lines.push(`${c.bold('prune')}      ${printable(r.input)} -> ${r.written ? printable(r.output) : '(not written)'}  (${what})`);
  const g = rep.graph;
  lines.push(
    `${c.bold('graph')}      ${g.removedNodes} node(s), ${g.removedInitializers} initializer(s) removed${g.removedInputs.length ? `, inputs removed: ${printable(g.removedInputs.join(', '))}` : ''}${g.inlinedIfs ? `, ${g.inlinedIfs} If inlined` : ''}${s.outputs ? `; outputs: ${printable(g.outputs.join(', '))}` : ''}`,
  );
  const b = rep.before;
  const a = rep.after;
  const p = rep.parameters;
  const rows: (string | number)[][] = [
    ['parameters', fmtCount(b.parameters), fmtCount(a.parameters), pct(a.parameters, b.parameters)],
    ['  removed', '', fmtCount(p.removed), ''],
    ['  zeroed', '', fmtCount(p.zeroed), ''],
    ['non-zero', fmtCount(b.nonZero), fmtCount(a.nonZero), pct(a.nonZero, b.nonZero)],
    [
      'FLOPs (est.)',
      b.flops === null ? '-' : fmtCount(b.flops),
      a.flops === null ? '-' : fmtCount(a.flops),
      b.flops !== null && a.flops !== null ? pct(a.flops, b.flops) : '',
    ],
    ['file size', fmtBytes(b.fileSize), fmtBytes(a.fileSize), pct(a.fileSize, b.fileSize)],
    ['nodes', b.nodes, a.nodes, pct(a.nodes, b.nodes)],
  ];
  lines.push('', renderTable(['', 'before', 'after', 'change'], rows));
  if (rep.groups.length) {
    lines.push(
      renderTable(
        ['unit group', 'kind', 'units', 'kept', 'removed'],
        rep.groups.map((x) => [printable(x.label), x.kind, x.units, x.kept, `${(100 * (1 - x.kept / x.units)).toFixed(0)}%`]),
        { align: ['left', 'left', 'right', 'right', 'right'] },
      ),
    );
  }
  if (rep.skipped.length) {
    lines.push(`${c.bold('left alone')} ${rep.skipped.length} unit group(s) that cannot be pruned safely:`);
    for (const x of rep.skipped.slice(0, 20)) lines.push(`  ${x.kind} ${printable(x.id.replace(/^[a-z]+:/, ''))}: ${printable(x.reason)}`);
    if (rep.skipped.length > 20) lines.push(`  ... and ${rep.skipped.length - 20} more (see --json)`);
    lines.push('');
  }
  if (rep.skippedWeights.length) {
    lines.push(`${c.bold('left alone')} ${rep.skippedWeights.length} weight(s):`);
    for (const x of rep.skippedWeights.slice(0, 20)) lines.push(`  ${printable(x.name)}: ${printable(x.reason)}`);
    lines.push('');
  }
  const changed = rep.layers.filter((l) => l.paramsAfter !== l.paramsBefore || l.sparsity > 0);
  if (changed.length) {
    const shown = changed.slice(0, 40);
    lines.push(
      renderTable(
        ['layer weight', 'shape', 'params', 'non-zero', 'sparsity'],
        shown.map((l) => [
          printable(l.name),
          `[${l.shapeBefore.join(',')}]${l.paramsAfter !== l.paramsBefore ? ` -> [${l.shapeAfter.join(',')}]` : ''}`,
          l.paramsAfter,
          l.nonZeroAfter,
          `${(100 * l.sparsity).toFixed(1)}%`,
        ]),
        { align: ['left', 'left', 'right', 'right', 'right'] },
      ),
    );
    if (changed.length > shown.length) lines.push(`... and ${changed.length - shown.length} more layers (see --json)\n`);
  }
  if (rep.search) {
    const sr = rep.search;
    const t = sr.target;
    const target = [
      t.f1 !== null ? `graph F1 >= ${t.f1}` : '',
      t.maxError !== null ? `max error <= ${t.maxError}` : '',
      t.latency !== null ? `latency <= ${t.latency}x` : '',
      t.minTop1 ? `top-1 >= ${t.minTop1}` : '',
      t.minCosine ? `cosine >= ${t.minCosine}` : '',
    ]
      .filter((x) => x)
      .join(', ');
    lines.push(
      `${c.bold('search')}     ${target}: ${sr.met ? c.green('met') : c.red('not met')}; reached graph F1 ${f3(sr.reached.f1)} (min of last layer ${f3(sr.reached.lastLayerF1)} and all layers ${f3(sr.reached.allLayersF1)}), top-1 ${f3(sr.reached.top1)}, cosine ${f3(sr.reached.cosine)}, max error ${f3(sr.reached.maxError)}${sr.reached.latencyRatio !== null ? `, latency ${f3(sr.reached.latencyRatio)}x` : ''}; ${sr.evaluations} evaluation(s)${sr.fromCheckpoint ? ` + ${sr.fromCheckpoint} from the checkpoint` : ''} in ${(sr.ms / 1000).toFixed(1)} s`,
    );
    lines.push(
      renderTable(
        ['layer group', 'alone', 'chosen'],
        sr.perGroup.map((x) => [printable(x.label), x.sensitivity, x.chosen]),
        { align: ['left', 'right', 'right'] },
      ),
    );
  }
  if (rep.fidelity) {
    const f = rep.fidelity.graphF1;
    const e = f.edges;
    lines.push(
      `${c.bold('fidelity')}   graph F1 ${f.score === null ? c.yellow('INCONCLUSIVE') : f3(f.score)} (min of all layers ${f3(f.allLayers)}, last layer ${f3(f.lastLayer)}; edges ${f.edgeRule} baseline/pruned: all ${e.all.baseline}/${e.all.candidate}, last ${e.last.baseline}/${e.last.candidate}), source ${f.source}; max error ${f3(rep.fidelity.maxError)} of the output scale`,
    );
    if (f.inconclusive) lines.push(`${c.yellow('note')}       ${printable(f.inconclusive)}`);
  }
  if (rep.check) {
    const t = [rep.check.minCosine ? `cosine >= ${rep.check.minCosine}` : '', rep.check.minTop1 ? `top-1 >= ${rep.check.minTop1}` : '', 'finite outputs']
      .filter(Boolean)
      .join(', ');
    lines.push(
      `${c.bold('check')}      ${rep.check.passed ? c.green('passed') : c.red('FAILED')} (${t})${rep.check.passed ? '' : `: ${printable(rep.check.failures.join('; '))}`}`,
    );
  }
  for (const n of rep.notes) lines.push(`${c.yellow('note')}       ${printable(n)}`);
  lines.push(
    `${c.bold('time')}       ${(rep.ms.total / 1000).toFixed(2)} s${rep.ms.search !== null ? ` (search ${(rep.ms.search / 1000).toFixed(2)} s)` : ''}`,
  );
  return lines.join('\n') + '\n';
}
