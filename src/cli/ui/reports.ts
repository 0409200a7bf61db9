/**
 * The report files a bench writes (`--markdown`, `--junit`, `--html`, `--prometheus`), for every command that benches: one rule with
 * model outputs (an existing file is not overwritten without `--force`), checked before anything runs, and written
 * atomically after. `$GITHUB_STEP_SUMMARY` is the exception: GitHub creates it for each step and expects reports to
 * be appended to it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Option } from 'commander';
import { renderBenchHtml } from '../../bench/report-html.js';
import { renderBenchJunit } from '../../bench/report-junit.js';
import { renderBenchMarkdown } from '../../bench/report-markdown.js';
import { renderBenchPrometheus } from '../../bench/prometheus.js';
import type { BenchResult } from '../../bench/types.js';
import { UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../onnx/io.js';
import type { CliIO } from './io.js';

export interface ReportFlags {
  markdown?: string;
  junit?: string;
  html?: string;
  prometheus?: string;
  force?: boolean;
}

const KINDS = [
  ['markdown', 'Markdown', renderBenchMarkdown],
  ['junit', 'JUnit', renderBenchJunit],
  ['html', 'HTML', renderBenchHtml],
  ['prometheus', 'Prometheus', renderBenchPrometheus],
] as const;

const HELP = {
  markdown: 'write the bench report as Markdown (e.g. "$GITHUB_STEP_SUMMARY", which is appended to)',
  junit: 'write the bench gates as JUnit XML, one test case per gate',
  html: 'write a self-contained HTML bench report',
  prometheus: 'write every metric in the Prometheus text format (node exporter textfile collector, Pushgateway)',
} as const;

/** A report option, in the same words in every command that benches (`cmd.addOption(reportOption('junit'))`). */
export function reportOption(kind: keyof typeof HELP): Option {
  return new Option(`--${kind} <file>`, HELP[kind]);
}

/** Whether any report was asked for. */
export const wantsReports = (flags: ReportFlags): boolean => KINDS.some(([k]) => flags[k] !== undefined);

const isStepSummary = (p: string): boolean => !!process.env.GITHUB_STEP_SUMMARY && path.resolve(process.env.GITHUB_STEP_SUMMARY) === p;

/** Checks every report target before anything runs: its folder exists, and it does not exist unless --force. */
export function checkReportTargets(io: CliIO, flags: ReportFlags): void {
  const seen = new Map<string, string>();
  for (const [flag] of KINDS) {
    const file = flags[flag];
    if (file === undefined) continue;
    const p = path.resolve(io.cwd, file);
    const dir = path.dirname(p);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`--${flag} ${file}: folder ${dir} does not exist`);
    if (seen.has(p)) throw new UsageError(`--${seen.get(p)} and --${flag} both write ${file}`);
    seen.set(p, flag);
    if (fs.existsSync(p) && !flags.force && !isStepSummary(p)) throw new UsageError(`--${flag} ${file}: the file exists; pass --force to overwrite it`);
  }
}

/** Writes the reports asked for (atomically; appended to $GITHUB_STEP_SUMMARY). */
export function writeReports(io: CliIO, flags: ReportFlags, result: BenchResult): void {
  for (const [flag, what, render] of KINDS) {
    const file = flags[flag];
    if (file === undefined) continue;
    const p = path.resolve(io.cwd, file);
    const text = render(result);
    try {
      if (isStepSummary(p)) fs.appendFileSync(p, text);
      else writeFileAtomic(p, [Buffer.from(text, 'utf8')]);
    } catch (e) {
      throw new UsageError(`cannot write the ${what} report to ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    io.info(`wrote ${what} report: ${file}\n`);
  }
}
