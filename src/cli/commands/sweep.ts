/**
 * `autoglm sweep <sweep.json> -o <folder>`: every model x every recipe, each optimized (through the content-addressed
 * cache) and benchmarked against its original; one result file per job, a journal, resumable, shardable
 * (`--shard i/n`, or `--shards n` with $JOB_COMPLETION_INDEX inside a Kubernetes Indexed Job). `--init <models...>`
 * prints a starter config; `--emit k8s` prints the Kubernetes Job that runs the sweep as n shards.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { parseSize } from '../../sweep/cache.js';
import { loadSweepConfig } from '../../sweep/config.js';
import { initSweepConfig } from '../../sweep/init.js';
import { checkShard, parseShard, type Shard } from '../../sweep/jobs.js';
import { emitK8sJob } from '../../sweep/k8s.js';
import { buildReport, readResults } from '../../sweep/merge.js';
import { renderSweepTable } from '../../sweep/report.js';
import { runSweep, type JobResult } from '../../sweep/runner.js';
import { fmtRatio } from '../../util/format.js';
import type { ExitCode } from '../exit.js';
import type { CliIO } from '../ui/io.js';
import { helpEpilogue } from '../ui/usage.js';

interface Flags {
  output?: string;
  json?: boolean;
  jobs?: string;
  shard?: string;
  shards?: string;
  cacheDir?: string;
  cache?: boolean;
  cacheMax?: string;
  allowFailures?: boolean;
  init?: boolean;
  emit?: string;
  image: string;
  claim: string;
  mount: string;
  cpu: string;
  memory: string;
  parallelism?: string;
  name: string;
  jobsPerPod?: string;
}

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || x < min) throw new UsageError(`--${flag} must be an integer >= ${min}, got '${v}'`);
  return x;
}

/** `--shard i/n`, or `--shards n` with the index from $JOB_COMPLETION_INDEX (what a Kubernetes Indexed Job sets). */
export function shardFromFlags(flags: Pick<Flags, 'shard' | 'shards'>, env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  if (flags.shard && flags.shards) throw new UsageError('give --shard i/n or --shards n (with $JOB_COMPLETION_INDEX), not both');
  if (flags.shard) return parseShard(flags.shard);
  if (!flags.shards) return undefined;
  const n = int('shards', flags.shards, 1)!;
  const raw = env.JOB_COMPLETION_INDEX;
  if (raw === undefined || !/^\d+$/.test(raw.trim()))
    throw new UsageError(
      `--shards ${n} takes the shard index from $JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job), which is ${raw === undefined ? 'not set' : `'${raw}'`}`,
    );
  return checkShard(Number(raw), n, `$JOB_COMPLETION_INDEX with --shards ${n}`);
}

export function register(program: Command, io: CliIO, exit: ExitCode): void {
  program
    .command('sweep')
    .description('run every model x every recipe of a sweep config (optimize, then bench against the original): resumable, cached, shardable')
    .addHelpText(
      'after',
      helpEpilogue([
        'autoglm sweep --init models/*.onnx > sweep.json',
        'autoglm sweep sweep.json -o results --jobs 2',
        'autoglm sweep sweep.json -o results --shards 4   # in a Kubernetes Indexed Job ($JOB_COMPLETION_INDEX)',
      ]),
    )
    .argument('[config-or-models...]', 'the sweep config (sweep.json); with --init, the models')
    .option('-o, --output <folder>', 'output folder: one result file per job, the journal, the cache by default')
    .option('--json', 'print the summary as JSON (every job with its verdict, cache hits and misses)')
    .option('--jobs <n>', 'jobs at once (worker threads; jobs that run together share the CPUs, which shows in their latencies)')
    .option('--shard <i/n>', 'run shard i of n (0-based): jobs i, i+n, i+2n, ...')
    .option('--shards <n>', 'run shard $JOB_COMPLETION_INDEX of n (inside a Kubernetes Indexed Job)')
    .option('--cache-dir <folder>', 'the optimized-model cache (default <output>/cache); share it between sweeps')
    .option('--cache-max <size>', 'evict least recently used optimized models beyond this size (default 10GiB)')
    .option('--no-cache', 'optimize every job again; optimized models go to <output>/models')
    .option('--allow-failures', 'exit 0 even when jobs fail their gates (the verdicts are in the results)')
    .option('--init', 'print a starter sweep config for the given models (e.g. > sweep.json)')
    .option('--emit <target>', 'print what runs the sweep elsewhere: k8s (a batch/v1 Indexed Job)')
    .option('--image <image>', '--emit k8s: the container image (see Dockerfile)', 'autoglm:latest')
    .option('--claim <pvc>', '--emit k8s: the PersistentVolumeClaim with the config, models, cache and results', 'autoglm-sweep')
    .option('--mount <path>', '--emit k8s: where the volume is mounted', '/work')
    .option('--cpu <quantity>', '--emit k8s: CPU request and limit per pod', '2')
    .option('--memory <quantity>', '--emit k8s: memory request and limit per pod', '4Gi')
    .option('--parallelism <n>', '--emit k8s: pods at once (default: --shards)')
    .option('--name <name>', '--emit k8s: the Job name', 'autoglm-sweep')
    .option('--jobs-per-pod <n>', '--emit k8s: --jobs inside each pod')
    .action(async (args: string[], flags: Flags) => {
      if (flags.init) {
        if (flags.emit || flags.output) throw new UsageError('--init prints a config: it takes models, not -o or --emit');
        io.out(`${JSON.stringify(initSweepConfig(args, io.cwd), null, 2)}\n`);
        return;
      }
      if (args.length !== 1)
        throw new UsageError(`sweep takes one config file (sweep.json), got ${args.length ? args.join(' ') : 'none'}; --init <models...> writes one`);
      const configPath = path.resolve(io.cwd, args[0]!);
      const config = loadSweepConfig(configPath);
      if (flags.emit) {
        if (flags.emit !== 'k8s') throw new UsageError(`--emit ${flags.emit}: the one target is k8s`);
        const shards = int('shards', flags.shards, 1);
        if (!shards) throw new UsageError('--emit k8s needs --shards n (the number of pods that share the jobs)');
        const rel = (p: string, flag: string) => {
          if (path.isAbsolute(p)) throw new UsageError(`${flag} '${p}': give a path relative to the volume's root, as it is laid out in the volume`);
          return p.split(path.sep).join('/');
        };
        const job = emitK8sJob({
          name: flags.name,
          image: flags.image,
          shards,
          parallelism: int('parallelism', flags.parallelism, 1),
          cpu: flags.cpu,
          memory: flags.memory,
          claim: flags.claim,
          mountPath: flags.mount,
          config: rel(args[0]!, 'the config'),
          output: rel(flags.output ?? 'results', '-o'),
          jobsPerPod: int('jobs-per-pod', flags.jobsPerPod, 1),
        });
        io.out(`${JSON.stringify(job, null, 2)}\n`);
        return;
      }
      if (!flags.output) throw new UsageError('sweep needs -o <folder> for the results');
      const outDir = path.resolve(io.cwd, flags.output);
      if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new UsageError(`-o ${flags.output}: exists and is not a folder`);
      const shard = shardFromFlags(flags);
      const jobs = int('jobs', flags.jobs, 1);
      const cacheCapBytes = flags.cacheMax ? parseSize(flags.cacheMax) : undefined;
      if (flags.cache === false && (flags.cacheDir || flags.cacheMax)) throw new UsageError('--no-cache cannot be combined with --cache-dir or --cache-max');
      const summary = await runSweep(config, {
        outDir,
        shard,
        jobs,
        cacheDir: flags.cache === false ? null : flags.cacheDir ? path.resolve(io.cwd, flags.cacheDir) : undefined,
        cacheCapBytes,
        onJob: flags.json
          ? undefined
          : (e) => {
              if (e.phase === 'start') return;
              const r = e.result!;
              const m = r.metrics;
              const how = e.phase === 'skipped' ? 'finished before' : `cache ${r.optimize.cache}`;
              io.info(
                `[${e.done}/${e.total}] ${r.id}: ${r.verdict}${m.latencyRatio !== null ? ` (latency ${fmtRatio(m.latencyRatio)}, size ${fmtRatio(m.sizeRatio)})` : ''}, ${how}\n`,
              );
            },
      });
      if (!summary.passed && !flags.allowFailures) exit.code = 1;
      if (flags.json) {
        io.out(`${JSON.stringify(summary, null, 2)}\n`);
        return;
      }
      const mine = new Set(summary.jobs.map((j) => j.id));
      const results = readResults(outDir).filter((x) => mine.has((x.result as JobResult).id));
      io.out(renderSweepTable(buildReport(results, [outDir])));
      const c = summary.counts;
      io.out(
        `${shard ? `shard ${shard.index}/${shard.count}: ` : ''}${c.ran} job(s) run, ${c.resumed} finished before${c.interrupted ? ` (${c.interrupted} interrupted job(s) run again)` : ''}; results in ${flags.output}\n`,
      );
      if (summary.cache)
        io.out(`cache ${summary.cache.dir}: ${summary.cache.hits} hit(s), ${summary.cache.misses} miss(es), ${summary.cache.evicted} evicted\n`);
    });
}
