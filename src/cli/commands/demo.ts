/**
 * `autoglm demo`: the whole flow on the bundled transformer (fixtures/bert-mini.onnx), no arguments, no network.
 * Fuses, converts to fp16, prunes half the FFN neurons, and does all three together; then benches every result
 * against the original in one interleaved run and prints the comparison.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { benchmark, type BenchPhase } from '../../bench/benchmark.js';
import { renderBenchJson } from '../../bench/report-json.js';
import { renderBenchTable } from '../../bench/report-table.js';
import { OperationError } from '../../errors.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import type { OptimizeConfig } from '../../optimize/config.js';
import { optimize } from '../../optimize/pipeline.js';
import type { ExitCode } from '../exit.js';
import type { CliIO } from '../ui/io.js';
import { startProgress, type Progress } from '../ui/progress.js';
import { renderTable } from '../../util/table.js';
import { helpEpilogue } from '../ui/usage.js';

/** The bundled model: fixtures/ at the package root (two levels above dist/cli/commands or src/cli/commands). */
export function bundledModelPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '../../../fixtures/bert-mini.onnx');
}

const DIMS = { batch: 1, sequence: 32 };

export const DEMO_STEPS: { label: string; file: string; config: OptimizeConfig }[] = [
  { label: 'fused', file: 'fused.onnx', config: { preset: 'transformer' } },
  { label: 'fp16', file: 'fp16.onnx', config: { passes: [], quantize: { dtype: 'fp16', keepIoTypes: true } } },
  { label: 'pruned-ffn-50%', file: 'pruned.onnx', config: { passes: [], prune: { method: 'structured', units: ['ffn'], sparsity: 0.5, measure: false } } },
  {
    label: 'all',
    file: 'all.onnx',
    config: {
      preset: 'transformer',
      prune: { method: 'structured', units: ['ffn'], sparsity: 0.5, measure: false },
      quantize: { dtype: 'fp16', keepIoTypes: true },
    },
  },
];

export function register(program: Command, io: CliIO, exit: ExitCode): void {
  program
    .command('demo')
    .description('the whole flow on a bundled BERT model: fuse, fp16, prune, then bench each against the original')
    .addHelpText('after', helpEpilogue(['autoglm demo', 'autoglm demo --out-dir demo-models --runs 20']))
    .option('--out-dir <dir>', 'keep the optimised models in this folder (default: a temporary folder, removed)')
    .option('--runs <n>', 'timed runs per model (default 100)', '100')
    .option('--json', 'print the bench result as JSON')
    .action(async (flags: { outDir?: string; runs: string; json?: boolean }) => {
      const src = bundledModelPath();
      if (!fs.existsSync(src)) throw new OperationError(`the bundled model is missing (${src}); reinstall autoglm`);
      const dir = flags.outDir ? path.resolve(io.cwd, flags.outDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-demo-'));
      fs.mkdirSync(dir, { recursive: true });
      try {
        const quiet = !!flags.json;
        const bar = startProgress(io, 'optimising', DEMO_STEPS.length, { quiet });
        const rows: (string | number)[][] = [];
        for (const step of DEMO_STEPS) {
          const { model, report } = await optimize(loadModel(src), step.config);
          const out = path.join(dir, step.file);
          const saved = saveModel(model, out);
          rows.push([
            step.label,
            report.steps.map((s) => s.step).join(' + ') || '—',
            `${report.steps.reduce((a, s) => a + s.ms, 0).toFixed(0)} ms`,
            report.after.nodes,
            report.after.params,
            `${(saved.bytes / 1024).toFixed(0)} KiB`,
          ]);
          bar.tick(1, step.label);
        }
        bar.stop();
        let phaseBar: Progress | null = null;
        let phase: BenchPhase | null = null;
        let done = 0;
        const result = await benchmark({
          baseline: { model: src, label: 'original' },
          candidates: DEMO_STEPS.map((s) => ({ model: path.join(dir, s.file), label: s.label })),
          dims: DIMS,
          runs: Number(flags.runs),
          warmup: 10,
          onProgress: (p) => {
            if (p.phase !== phase) {
              phaseBar?.stop();
              phase = p.phase;
              done = 0;
              phaseBar = startProgress(io, `bench: ${p.phase}`, p.total, { quiet });
            }
            if (p.done > done) {
              phaseBar!.tick(p.done - done, p.label ?? '');
              done = p.done;
            }
          },
        });
        (phaseBar as Progress | null)?.stop();
        if (flags.json) {
          io.out(renderBenchJson(result));
        } else {
          io.out(`autoglm demo on ${path.relative(io.cwd, src) || src} (BERT, 4 layers, hidden 128), batch ${DIMS.batch}, sequence ${DIMS.sequence}\n\n`);
          io.out(renderTable(['model', 'steps', 'time', 'nodes', 'params', 'file'], rows));
          io.out('\n' + renderBenchTable(result, io.color));
          io.out(flags.outDir ? `\nmodels kept in ${dir}\n` : '');
        }
        // no gates here: the demo shows the trade-offs; a model that could not run would still fail it
        if (!result.passed) exit.code = 1;
      } finally {
        if (!flags.outDir) fs.rmSync(dir, { recursive: true, force: true });
      }
    });
}
