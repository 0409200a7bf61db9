/**
 * `autoglm report merge <folders...>`: the results of sweep shards (or of several runs) as one report: a table (or
 * --json), and --markdown / --html files with the Pareto front (latency vs size vs graph F1) and the best recipe per
 * model under the gates. Exits 1 when a job did not pass (unless --allow-failures), so CI can gate on the merge.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../onnx/io.js';
import { mergeResults } from '../../sweep/merge.js';
import { renderSweepHtml, renderSweepJson, renderSweepMarkdown, renderSweepTable } from '../../sweep/report.js';
import type { ExitCode } from '../exit.js';
import type { CliIO } from '../ui/io.js';
import { helpEpilogue } from '../ui/usage.js';

interface Flags {
  json?: boolean;
  markdown?: string;
  html?: string;
  output?: string;
  force?: boolean;
  allowFailures?: boolean;
}

export function register(program: Command, io: CliIO, exit: ExitCode): void {
  const report = program
    .command('report')
    .description('reports over sweep results')
    .addHelpText('after', helpEpilogue(['autoglm report merge results', 'autoglm report merge shard-0 shard-1 shard-2 --html report.html']));
  report
    .command('merge')
    .description('merge sweep result folders (shards) into one report with the Pareto front and the best recipe per model')
    .addHelpText(
      'after',
      helpEpilogue(['autoglm report merge results', 'autoglm report merge shard-0 shard-1 shard-2 --html report.html --markdown report.md']),
    )
    .argument('<folders...>', 'sweep output folders (or folders of job result files)')
    .option('--json', 'print the merged report as JSON')
    .option('-o, --output <file>', 'write the merged report as JSON')
    .option('--markdown <file>', 'write the report as Markdown')
    .option('--html <file>', 'write the report as HTML (with the Pareto chart)')
    .option('--force', 'overwrite existing report files')
    .option('--allow-failures', 'exit 0 even when jobs did not pass')
    .action(async (folders: string[], flags: Flags) => {
      const at = (p: string) => path.resolve(io.cwd, p);
      for (const f of folders) if (!fs.existsSync(at(f))) throw new UsageError(`${f}: no such folder`);
      const targets = [flags.output, flags.markdown, flags.html].filter((x): x is string => !!x);
      for (const t of targets) if (fs.existsSync(at(t)) && !flags.force) throw new UsageError(`${t} exists; pass --force to overwrite it`);
      const r = mergeResults(folders.map(at));
      if (!r.jobs.length) throw new UsageError(`no sweep job results in ${folders.join(', ')}`);
      const write = (file: string, text: string) => writeFileAtomic(at(file), [Buffer.from(text, 'utf8')]);
      if (flags.output) write(flags.output, renderSweepJson(r));
      if (flags.markdown) write(flags.markdown, renderSweepMarkdown(r));
      if (flags.html) write(flags.html, renderSweepHtml(r));
      if (!r.passed && !flags.allowFailures) exit.code = 1;
      io.out(flags.json ? renderSweepJson(r) : renderSweepTable(r));
    });
}
