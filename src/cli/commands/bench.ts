/**
 * `autoglm bench <candidate.onnx...> --baseline <baseline.onnx>`: compare candidates with a baseline on the same
 * inputs and decide CI gates. A thin layer over benchmark() (src/bench/benchmark.ts); every report is rendered
 * from its one result object. Exit code 1 when a gate fails (or a candidate could not be measured for a reason
 * other than its execution provider), 0 otherwise; 2 for bad usage or a bad model file.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { benchmark, type BenchPhase, type BenchProgress } from '../../bench/benchmark.js';
import { renderBenchJson } from '../../bench/report-json.js';
import { renderBenchTable } from '../../bench/report-table.js';
import { failureSummary } from '../../bench/report-format.js';
import type { BenchResult, ExecutionProvider, OptLevel } from '../../bench/types.js';
import { UsageError } from '../../errors.js';
import type { CliIO } from '../ui/io.js';
import { calibrationAlias, collect, inputsOption, inputsPath, parseDims } from '../ui/options.js';
import { startProgress, type Progress } from '../ui/progress.js';
import type { ExitCode } from '../exit.js';
import { helpEpilogue } from '../ui/usage.js';
import { checkReportTargets, reportOption, writeReports } from '../ui/reports.js';

interface BenchFlags {
  baseline?: string;
  dim: string[];
  inputs?: string;
  calibration?: string;
  inputSets?: string;
  warmup?: string;
  runs?: string;
  minTime?: string;
  threads?: string;
  optLevel?: string;
  ep?: string;
  concurrency?: string;
  graphThreshold?: string;
  graphEdges?: string;
  allowSkipped?: boolean;
  sessionRepeats?: string;
  cvThreshold?: string;
  gate: string[];
  budget?: string;
  profile?: boolean;
  json?: boolean;
  markdown?: string;
  junit?: string;
  html?: string;
  force?: boolean;
  prometheus?: string;
  seed?: string;
  scenario?: string;
  qps?: string;
  findMaxQps?: boolean;
  slo?: string;
  batching?: string;
  maxBatch?: string;
  maxWait?: string;
  duration?: string;
  workers?: string;
  searchSteps?: string;
  decode?: boolean;
  prompt?: string;
  tokens?: string;
  decodeRepeats?: string;
}

function int(flag: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min) throw new UsageError(`--${flag} must be an integer >= ${min}, got '${v}'`);
  return Number(v);
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${flag} must be a number, got '${v}'`);
  return x;
}

const TITLES: Record<BenchPhase, string> = {
  prepare: 'loading models',
  sessions: 'creating sessions',
  timing: 'timing',
  analysis: 'fidelity and FLOPs',
  load: 'load test',
  server: 'server scenario',
  decode: 'decoding',
  profile: 'profiling',
};

/** Progress bars per phase (stderr; bars on a TTY, plain lines otherwise). */
function progressReporter(io: CliIO, quiet: boolean): { onProgress: (p: BenchProgress) => void; stop: () => void } {
  let phase: BenchPhase | null = null;
  let bar: Progress | null = null;
  let done = 0;
  return {
    onProgress(p) {
      if (p.phase !== phase) {
        bar?.stop();
        phase = p.phase;
        done = 0;
        bar = startProgress(io, TITLES[p.phase], p.total, { quiet });
      }
      if (p.done > done) {
        bar!.tick(p.done - done, p.label ?? '');
        done = p.done;
      }
    },
    stop() {
      bar?.stop();
    },
  };
}

export function register(program: Command, io: CliIO, exit: ExitCode): void {
  program
    .command('bench')
    .description('compare candidate models with a baseline on the same inputs: size, params, FLOPs, latency, memory, fidelity, graph F1; CI gates')
    .addHelpText(
      'after',
      helpEpilogue([
        'autoglm bench fused.onnx --baseline model.onnx --dim batch=1 --dim sequence=32',
        "autoglm bench fp16.onnx -b model.onnx --gate 'latency.p50 <= 1.05x' --gate 'graphF1 >= 0.95' --junit bench.xml",
      ]),
    )
    .argument('<candidates...>', 'candidate ONNX model(s)')
    .requiredOption('-b, --baseline <model>', 'baseline ONNX model')
    .option('--dim <name=size>', 'size of a symbolic input dimension (repeatable)', collect, [])
    .addOption(inputsOption('input file (.npy, .pb, .json) or folder of input sets, instead of synthesized inputs'))
    .addOption(calibrationAlias())
    .option('--input-sets <n>', 'number of synthesized input sets (default 1)')
    .option('--seed <n>', 'seed of synthesized inputs and of the bootstrap (default 0)')
    .option('--warmup <n>', 'warm-up runs per model (default 5)')
    .option('--runs <n>', 'timed runs per model (default 50; 10 with --min-time)')
    .option('--min-time <seconds>', 'keep timing until this much time has passed')
    .option('--threads <n>', 'intra-op threads (default: onnxruntime decides)')
    .option('--opt-level <level>', 'onnxruntime graph optimisation: disabled|basic|extended|all (default all)')
    .option('--ep <provider>', 'execution provider: cpu|cuda (default cpu)')
    .option('--concurrency <n>', 'also measure throughput and latency under load with N worker threads')
    .option('--graph-threshold <t>', 'edge threshold of graph F1: absolute (default 0.2) or relative to uniform attention (4/T = 4 times 1/T)')
    .option('--graph-edges <rule>', 'graph F1 edges: threshold (default) or topk:K (the K largest entries of every attention row)')
    .option('--session-repeats <n>', 'interleaved session creations per model, for creation time and memory (default 3; 5 with a session or memory gate)')
    .option('--allow-skipped', 'gates that could not be decided (not runnable here, not measured, inconclusive) do not fail the run')
    .option('--cv-threshold <cv>', 'a latency coefficient of variation above this marks a measurement noisy (default 0.1)')
    .option('--scenario <name>', 'single (default) or server: Poisson arrivals served by a pool of sessions, queueing included')
    .option('--qps <n>', 'server scenario: request rate (seeded Poisson arrivals)')
    .option('--find-max-qps', 'server scenario: search the highest request rate that holds --slo')
    .option('--slo <expr>', "server scenario: latency objective, e.g. 'p99 <= 50ms' (late requests; the --find-max-qps target)")
    .option('--batching <policy>', 'server scenario: none (default), fixed:N or adaptive (models with a batch axis)')
    .option('--max-batch <n>', 'server scenario: largest adaptive batch (default 16)')
    .option('--max-wait <ms>', 'server scenario: longest a request waits for its batch to fill (default 5)')
    .option('--duration <seconds>', 'server scenario: seconds of arrivals per load point (default 2)')
    .option('--workers <n>', 'server scenario: worker threads, each with a session of every model (default: cores)')
    .option('--search-steps <n>', 'server scenario: load points per model of --find-max-qps (default 8)')
    .option('--decode', 'decoder models with past/present: prefill then token-by-token decoding with the KV cache')
    .option('--prompt <n>', '--decode: prompt length (default 32)')
    .option('--tokens <n>', '--decode: tokens generated (default 64)')
    .option('--decode-repeats <n>', '--decode: generations per model, interleaved (default 3)')
    .option('--gate <expr>', "CI gate, e.g. 'latency.p50 <= 1.05x', 'graphF1 >= 0.95', 'size <= 0.5x' (repeatable)", collect, [])
    .option('--budget <file>', 'JSON file of gates')
    .option('--profile', "per-operator time from onnxruntime's profiler")
    .option('--json', 'print the result as JSON (schema 1) instead of tables')
    .addOption(reportOption('markdown'))
    .addOption(reportOption('junit'))
    .addOption(reportOption('html'))
    .option('--force', 'overwrite existing report files')
    .addOption(reportOption('prometheus'))
    .action(async (candidates: string[], flags: BenchFlags) => {
      const at = (p: string): string => path.resolve(io.cwd, p);
      const optLevel = flags.optLevel as OptLevel | undefined;
      if (optLevel !== undefined && !['disabled', 'basic', 'extended', 'all'].includes(optLevel))
        throw new UsageError(`--opt-level must be disabled, basic, extended or all, got '${optLevel}'`);
      const ep = flags.ep as ExecutionProvider | undefined;
      if (ep !== undefined && ep !== 'cpu' && ep !== 'cuda') throw new UsageError(`--ep must be cpu or cuda, got '${ep}'`);
      checkReportTargets(io, flags);
      const scenario = flags.scenario ?? 'single';
      if (scenario !== 'single' && scenario !== 'server') throw new UsageError(`--scenario must be single or server, got '${scenario}'`);
      const serverOnly = (['qps', 'findMaxQps', 'slo', 'batching', 'maxBatch', 'maxWait', 'duration', 'workers', 'searchSteps'] as const).filter(
        (k) => flags[k] !== undefined,
      );
      if (scenario !== 'server' && serverOnly.length)
        throw new UsageError(`--${serverOnly[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --scenario server`);
      if (!flags.decode && (flags.prompt !== undefined || flags.tokens !== undefined || flags.decodeRepeats !== undefined))
        throw new UsageError('--prompt, --tokens and --decode-repeats need --decode');
      const server =
        scenario === 'server'
          ? {
              qps: num('qps', flags.qps),
              findMaxQps: !!flags.findMaxQps,
              slo: flags.slo,
              batching: flags.batching,
              maxBatch: int('max-batch', flags.maxBatch, 1),
              maxWaitMs: num('max-wait', flags.maxWait),
              duration: num('duration', flags.duration),
              workers: int('workers', flags.workers, 1),
              maxSteps: int('search-steps', flags.searchSteps, 1),
            }
          : undefined;
      const decode = flags.decode
        ? { prompt: int('prompt', flags.prompt, 1) ?? 32, tokens: int('tokens', flags.tokens, 1) ?? 64, repeats: int('decode-repeats', flags.decodeRepeats, 1) }
        : undefined;
      const progress = progressReporter(io, !!flags.json);
      let result: BenchResult;
      try {
        result = await benchmark({
          baseline: at(flags.baseline!),
          candidates: candidates.map(at),
          dims: parseDims(flags.dim),
          inputs: inputsPath(flags) !== undefined ? at(inputsPath(flags)!) : undefined,
          inputSets: int('input-sets', flags.inputSets, 1),
          seed: num('seed', flags.seed),
          warmup: int('warmup', flags.warmup),
          runs: int('runs', flags.runs, 1),
          minTime: num('min-time', flags.minTime),
          threads: int('threads', flags.threads),
          optLevel,
          ep,
          concurrency: int('concurrency', flags.concurrency, 1),
          graphThreshold: flags.graphThreshold,
          graphEdges: flags.graphEdges,
          allowSkipped: !!flags.allowSkipped,
          sessionRepeats: int('session-repeats', flags.sessionRepeats, 1),
          cvThreshold: num('cv-threshold', flags.cvThreshold),
          gates: flags.gate,
          budget: flags.budget !== undefined ? at(flags.budget) : undefined,
          profile: !!flags.profile,
          server,
          decode,
          onProgress: progress.onProgress,
        });
      } finally {
        progress.stop();
      }
      writeReports(io, flags, result);
      io.out(flags.json ? renderBenchJson(result) : renderBenchTable(result, io.color));
      if (!result.passed) {
        exit.code = 1;
        io.err(`autoglm: ${failureSummary(result)}\n`);
      }
    });
}
