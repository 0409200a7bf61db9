/**
 * The differential fuzzer with more seeds than the CI runs:
 *
 *   npm run fuzz -- --seeds 2000 [--seed-start 1000] [--pass fold-constants] [--pass cleanup] [--no-save]
 *
 * Generates models (test/fuzz/gen.ts), runs every registered pass and preset over each (or the named ones, passes or
 * presets, repeatable or comma-separated), and checks the results as test/fuzz/differential.test.ts does. Each failure
 * prints its seed and pass, and the input model is saved as test/fuzz/failures/<pass>-<seed>.onnx (replayed by
 * test/fuzz/regressions.test.ts). Progress goes to stderr; the last line on stdout is the summary. Exit code 0 when
 * everything held, 1 on any failure, 2 on bad arguments.
 */
import { performance } from 'node:perf_hooks';
import { addStats, checkCase, emptyStats, FAILURES_DIR, fuzzTargets, generateModel, summaryLine } from '../test/fuzz/gen.js';

interface Args {
  seeds: number;
  seedStart: number;
  passes: string[];
  save: boolean;
}

const USAGE = 'usage: npm run fuzz -- --seeds N [--seed-start S] [--pass NAME]... [--no-save]';

function parseArgs(argv: string[]): Args {
  const a: Args = { seeds: 200, seedStart: 1, passes: [], save: true };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isSafeInteger(n) || n < min) throw new Error(`${flag} needs an integer >= ${min}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--seeds') a.seeds = int(flag, value(), 1);
    else if (flag === '--seed-start') a.seedStart = int(flag, value(), -(2 ** 31));
    else if (flag === '--pass') a.passes.push(...(value() ?? '').split(',').filter(Boolean));
    else if (flag === '--no-save') a.save = false;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument '${argv[i]}'`);
  }
  return a;
}

async function main(): Promise<number> {
  let args: Args;
  let targets: ReturnType<typeof fuzzTargets>;
  try {
    args = parseArgs(process.argv.slice(2));
    targets = fuzzTargets(args.passes);
  } catch (e) {
    process.stderr.write(`fuzz: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const tty = !!process.stderr.isTTY;
  const total = emptyStats();
  const t0 = performance.now();
  process.stderr.write(
    `fuzz: seeds ${args.seedStart}..${args.seedStart + args.seeds - 1}, ${targets.length} targets: ${targets.map((t) => t.name).join(', ')}\n`,
  );
  for (let k = 0; k < args.seeds; k++) {
    const seed = args.seedStart + k;
    let stats: Awaited<ReturnType<typeof checkCase>>;
    try {
      stats = await checkCase(generateModel(seed), targets, {
        saveTo: args.save ? FAILURES_DIR : false,
        onFailure: (f) => {
          if (tty) process.stderr.write('\r\x1b[K');
          process.stderr.write(`FAIL seed=${f.seed} pass=${f.target} stage=${f.stage}: ${f.message}${f.file ? `\n     saved ${f.file}` : ''}\n`);
        },
      });
    } catch (e) {
      // the harness itself must not die on one model: report and go on
      stats = emptyStats();
      stats.models = 1;
      stats.failures.push({ seed, target: 'harness', stage: 'generate', message: (e as Error).stack ?? String(e) });
      process.stderr.write(`FAIL seed=${seed} harness error: ${(e as Error).message}\n`);
    }
    addStats(total, stats);
    const done = k + 1;
    if (tty || done % 25 === 0 || done === args.seeds) {
      const s = (performance.now() - t0) / 1000;
      const line = `fuzz: ${done}/${args.seeds} models, ${total.applications} applications, ${total.failures.length} failure(s), ${s.toFixed(0)} s, ~${((s / done) * (args.seeds - done)).toFixed(0)} s left`;
      process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
    }
  }
  if (tty) process.stderr.write('\n');
  if (total.failures.length) {
    const byTarget = new Map<string, number[]>();
    for (const f of total.failures) byTarget.set(f.target, [...(byTarget.get(f.target) ?? []), f.seed]);
    for (const [t, seeds] of byTarget)
      process.stderr.write(`  ${t}: seeds ${seeds.slice(0, 20).join(', ')}${seeds.length > 20 ? `, ... (${seeds.length})` : ''}\n`);
  }
  process.stdout.write(`${summaryLine(total, targets.length)}\n`);
  return total.failures.length ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`fuzz: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
