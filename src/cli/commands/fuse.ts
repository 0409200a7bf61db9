/**
 * `autoglm fuse <in.onnx> -o <out.onnx>`: operator fusion (src/passes/fuse-*.ts) on top of the clean-up passes.
 *
 *   --target onnx|ort         standard operators only (default), or onnxruntime contrib operators (com.microsoft) too
 *   --passes a,b              passes or presets to run (default: cleanup + every fusion pass); see --list
 *   --disable c,d             leave these passes (or a preset's passes) out
 *   --list                    list passes and presets, one line each, and exit
 *   --explain                 print near misses: where a fusion almost fired and why it did not
 *   --coverage                per block type found (attention, normalization, activation): found, fused, left, why not
 *   --runtime-report          ask onnxruntime which rewrites it would do itself (--level basic|extended|all, default all)
 *   --verify                  check the IR after every pass (the failing pass is named)
 *   --json                    print the result object instead of tables
 *   --force                   overwrite an existing output (or the input itself)
 *   --external-data           write tensor data to <out>.data
 *
 * Bad flags and combinations are usage errors (exit 2); a pass that fails is an operation error (exit 1).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { OpsetImport } from '../../ir/model.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import { DEFAULT_FUSE, expandNames, fusePassCatalog, fusionPresets, resolveFusePasses } from '../../passes/index.js';
import { blockCounts, fusionCoverage, type CoverageRow } from '../../optimize/coverage.js';
import { opHistogram, runtimeReport, type RuntimeLevel, type RuntimeReport } from '../../optimize/runtime-report.js';
import type { PassReport } from '../../pass/manager.js';
import { runPasses } from '../../optimize/registry.js';
import { presets } from '../../optimize/registry.js';
import type { NearMiss, Target } from '../../pass/pass.js';
import type { ExitCode } from '../exit.js';
import type { CliIO } from '../ui/io.js';
import { fmtBytes } from '../../util/format.js';
import { renderTable } from '../../util/table.js';
import { helpEpilogue } from '../ui/usage.js';

export interface FuseFlags {
  output?: string;
  target?: string;
  passes?: string;
  disable?: string;
  list?: boolean;
  explain?: boolean;
  coverage?: boolean;
  runtimeReport?: boolean;
  level?: string;
  verify?: boolean;
  json?: boolean;
  force?: boolean;
  externalData?: boolean;
}

export interface FuseResult {
  input: string;
  output: string;
  target: Target;
  /** the pass list after expanding presets and removing --disable */
  passList: string[];
  passes: PassReport[];
  /** rewrites made by fusion passes */
  fusions: number;
  iterations: number;
  converged: boolean;
  nodes: { before: number; after: number };
  /** op types whose count changed: [op, before, after] */
  opChanges: { op: string; before: number; after: number }[];
  opsets: { before: OpsetImport[]; after: OpsetImport[] };
  nearMisses?: NearMiss[];
  coverage?: CoverageRow[];
  runtime?: RuntimeReport;
  files: { input: number; output: number; outputExternal: number };
  timings: { loadMs: number; fuseMs: number; saveMs: number; runtimeReportMs?: number };
}

const LEVELS = ['basic', 'extended', 'all'];
const split = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

export function register(program: Command, io: CliIO, _exit?: ExitCode): void {
  program
    .command('fuse')
    .description('fuse operators (LayerNorm, GELU, attention, Conv+BN, ...) and write the rewritten model')
    .addHelpText(
      'after',
      helpEpilogue(['autoglm fuse model.onnx -o fused.onnx', 'autoglm fuse model.onnx -o fused.onnx --target ort --explain', 'autoglm fuse --list']),
    )
    .argument('[model]', 'ONNX model file')
    .option('-o, --output <file>', 'output ONNX file')
    .option('--target <target>', 'onnx (standard operators only) or ort (onnxruntime contrib operators too)', 'onnx')
    .option('--passes <list>', 'comma-separated passes or presets (default: cleanup + every fusion pass)')
    .option('--disable <list>', 'comma-separated passes or presets to leave out')
    .option('--list', 'list the passes and presets and exit')
    .option('--explain', 'print near misses: why a fusion did not fire')
    .option('--coverage', 'per block type found (attention, normalization, activation): how many fused, why not the rest')
    .option('--runtime-report', "compare with onnxruntime's own graph optimisations")
    .option('--level <level>', 'with --runtime-report: basic, extended or all (default all)')
    .option('--verify', 'check the IR after every pass')
    .option('--json', 'print the result as JSON')
    .option('--force', 'overwrite an existing output file (or the input)')
    .option('--external-data', 'write tensor data to <output>.data')
    .action(async (file: string | undefined, flags: FuseFlags) => {
      if (flags.list) {
        io.out(renderList(io));
        return;
      }
      const result = await fuseCommand(file, flags, io);
      if (flags.json) io.out(JSON.stringify(result, null, 2) + '\n');
      else io.out(renderFuse(result, io));
    });
}

function validate(file: string | undefined, flags: FuseFlags): { target: Target; level: RuntimeLevel } {
  if (!file) throw new UsageError('fuse needs a model: autoglm fuse <in.onnx> -o <out.onnx> (or --list)');
  if (!flags.output) throw new UsageError('fuse needs an output file: -o <out.onnx>');
  const target = (flags.target ?? 'onnx').toLowerCase();
  if (target !== 'onnx' && target !== 'ort') throw new UsageError(`--target must be onnx or ort, got '${flags.target}'`);
  if (flags.level !== undefined && !flags.runtimeReport) throw new UsageError('--level is only used with --runtime-report');
  const level = (flags.level ?? 'all').toLowerCase();
  if (!LEVELS.includes(level)) throw new UsageError(`--level must be basic, extended or all, got '${flags.level}'`);
  return { target, level: level as RuntimeLevel };
}

/** The passes to run: --passes (or the default), presets expanded, --disable removed. */
export function passListFor(flags: FuseFlags): string[] {
  const list = flags.passes !== undefined ? split(flags.passes) : [...DEFAULT_FUSE];
  if (!list.length) throw new UsageError('--passes is empty');
  const names = expandNames(list);
  const off = new Set(flags.disable ? expandNames(split(flags.disable)) : []);
  const kept = names.filter((n, i) => !off.has(n) && names.indexOf(n) === i);
  if (!kept.length) throw new UsageError('--disable leaves no pass to run');
  return kept;
}

export async function fuseCommand(file: string | undefined, flags: FuseFlags, io: CliIO): Promise<FuseResult> {
  const { target, level } = validate(file, flags);
  const passList = passListFor(flags);
  const inPath = path.resolve(io.cwd, file!);
  const outPath = path.resolve(io.cwd, flags.output!);
  if (fs.existsSync(outPath) && !flags.force) throw new UsageError(`${flags.output} exists; pass --force to overwrite it`);
  const t0 = performance.now();
  const model = loadModel(inPath);
  const original = flags.runtimeReport ? loadModel(inPath) : undefined;
  const opsBefore = opHistogram(model);
  const blocksBefore = flags.coverage ? blockCounts(model) : undefined;
  const opsetsBefore = model.opsetImports.map((o) => ({ domain: o.domain, version: o.version }));
  const tLoad = performance.now();
  const run = runPasses(model, resolveFusePasses(passList), {
    target,
    explain: !!(flags.explain || flags.coverage),
    verify: !!flags.verify,
    log: (m) => io.info(`${m}\n`),
  });
  const tFuse = performance.now();
  const saved = saveModel(model, outPath, { externalData: flags.externalData ? true : 'auto', overwriteInput: !!flags.force });
  const tSave = performance.now();
  const opsAfter = opHistogram(model);
  const ops = [...new Set([...Object.keys(opsBefore), ...Object.keys(opsAfter)])].sort();
  const result: FuseResult = {
    input: file!,
    output: flags.output!,
    target,
    passList,
    passes: run.passes,
    fusions: run.passes.filter((p) => p.kind === 'fusion').reduce((s, p) => s + Object.values(p.counts).reduce((a, b) => a + b, 0), 0),
    iterations: run.iterations,
    converged: run.converged,
    nodes: { before: run.nodesBefore, after: run.nodesAfter },
    opChanges: ops.map((op) => ({ op, before: opsBefore[op] ?? 0, after: opsAfter[op] ?? 0 })).filter((c) => c.before !== c.after),
    opsets: { before: opsetsBefore, after: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })) },
    files: { input: fs.statSync(inPath).size + (model.source?.externalBytes ?? 0), output: saved.bytes, outputExternal: saved.externalBytes },
    timings: { loadMs: tLoad - t0, fuseMs: tFuse - tLoad, saveMs: tSave - tFuse },
  };
  if (flags.explain) result.nearMisses = run.nearMisses;
  if (blocksBefore) result.coverage = fusionCoverage(blocksBefore, model, run.nearMisses);
  if (original) {
    const tr = performance.now();
    result.runtime = await runtimeReport(original, model, run, level);
    result.timings.runtimeReportMs = performance.now() - tr;
  }
  return result;
}

const countsText = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

export function renderFuse(r: FuseResult, io: CliIO): string {
  const c = io.color;
  const lines: string[] = [];
  const opsets = (os: OpsetImport[]) => os.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  lines.push(
    `${c.bold('fuse')}       ${r.input} -> ${r.output}  (target ${r.target}, ${r.passList.length} passes, ${r.iterations} round${r.iterations === 1 ? '' : 's'})`,
  );
  lines.push(`${c.bold('nodes')}      ${r.nodes.before} -> ${r.nodes.after}  (${r.fusions} fusion${r.fusions === 1 ? '' : 's'})`);
  if (opsets(r.opsets.before) !== opsets(r.opsets.after)) lines.push(`${c.bold('opsets')}     ${opsets(r.opsets.before)} -> ${opsets(r.opsets.after)}`);
  lines.push(`${c.bold('size')}       ${fmtBytes(r.files.input)} -> ${fmtBytes(r.files.output + r.files.outputExternal)}`);
  lines.push(`${c.bold('time')}       fuse ${r.timings.fuseMs.toFixed(0)} ms (load ${r.timings.loadMs.toFixed(0)} ms, save ${r.timings.saveMs.toFixed(0)} ms)`);
  lines.push('');
  const rows = r.passes.map((p) => [p.name, p.runs, p.ms.toFixed(1), countsText(p.counts) || '-']);
  lines.push(renderTable(['pass', 'runs', 'ms', 'rewrites'], rows, { align: ['left', 'right', 'right', 'left'] }));
  for (const p of r.passes) for (const n of p.notes) lines.push(`${p.name}: ${n}`);
  if (r.opChanges.length)
    lines.push(
      renderTable(
        ['op', 'before', 'after'],
        r.opChanges.map((o) => [o.op, o.before, o.after]),
      ),
    );
  if (r.nearMisses) {
    if (r.nearMisses.length)
      lines.push(
        renderTable(
          ['near miss', 'rule', 'node', 'why not'],
          r.nearMisses.map((m) => [m.pass, m.rule, m.node, m.reason]),
          { align: ['left', 'left', 'left', 'left'] },
        ),
      );
    else lines.push('no near misses\n');
  }
  if (r.coverage) lines.push(renderCoverage(r.coverage));
  if (r.runtime) lines.push(renderRuntime(r.runtime));
  if (!r.converged) lines.push(`${c.yellow('warning')}: the passes did not reach a fixed point`);
  return lines.join('\n').replace(/\n*$/, '\n');
}

function renderCoverage(rows: CoverageRow[]): string {
  if (!rows.length) return 'coverage: no attention, normalization or activation block found\n';
  const why = (r: CoverageRow) =>
    !r.left ? '-' : r.reasons.length ? r.reasons.map((x) => `${x.reason} (${x.count}x, ${x.pass})`).join('; ') : 'no near miss: no pattern came close';
  return renderTable(
    ['block', 'found', 'fused', 'left', 'why not'],
    rows.map((r) => [r.block, r.found, r.fused, r.left, why(r)]),
    { align: ['left', 'right', 'right', 'right', 'left'] },
  );
}

function renderRuntime(rt: RuntimeReport): string {
  const out = [
    `onnxruntime at level '${rt.level}': nodes original ${rt.nodes.original} -> ${rt.nodes.runtimeOriginal} by the runtime; fused ${rt.nodes.fused} -> ${rt.nodes.runtimeFused}\n`,
  ];
  if (rt.verdicts.length)
    out.push(
      renderTable(
        ['fusion', 'ours', 'runtime too', 'additive', 'verdict'],
        rt.verdicts.map((v) => [v.pass, v.rewrites, v.runtimeToo, v.additive, v.verdict]),
        { align: ['left', 'right', 'right', 'right', 'left'] },
      ),
    );
  const h = rt.histograms;
  const ops = [...new Set([...Object.keys(h.original), ...Object.keys(h.fused), ...Object.keys(h.runtimeOriginal), ...Object.keys(h.runtimeFused)])].sort();
  out.push(
    renderTable(
      ['op', 'original', 'runtime(original)', 'fused', 'runtime(fused)'],
      ops.map((o) => [o, h.original[o] ?? 0, h.runtimeOriginal[o] ?? 0, h.fused[o] ?? 0, h.runtimeFused[o] ?? 0]),
    ),
  );
  return out.join('\n');
}

function renderList(io: CliIO): string {
  const c = io.color;
  const passes = fusePassCatalog();
  const lines = [
    renderTable(
      ['pass', 'kind', 'description'],
      passes.map((p) => [p.name, p.kind, p.description]),
      { align: ['left', 'left', 'left'] },
    ),
  ];
  const all: Record<string, readonly string[]> = { cleanup: presets.cleanup, ...fusionPresets };
  // presets built on clean-up are shown as 'cleanup, <the rest>'
  const cleanup = presets.cleanup;
  const shown = (k: string, v: readonly string[]) => (k !== 'cleanup' && cleanup.every((n, i) => v[i] === n) ? ['cleanup', ...v.slice(cleanup.length)] : v);
  lines.push(
    renderTable(
      ['preset', 'passes'],
      Object.entries(all).map(([k, v]) => [k, shown(k, v).join(', ')]),
      { align: ['left', 'left'] },
    ),
  );
  lines.push(`${c.bold('default')}: ${DEFAULT_FUSE.join(', ')}`);
  return lines.join('\n') + '\n';
}
