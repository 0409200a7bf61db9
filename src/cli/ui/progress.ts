/**
 * Progress reporting: a cli-progress bar on stderr when it is a terminal, plain lines otherwise (CI logs), nothing
 * with --json unless asked.
 */
import cliProgress from 'cli-progress';
import type { CliIO } from './io.js';

export interface Progress {
  tick(n?: number, label?: string): void;
  stop(): void;
}

export function startProgress(io: CliIO, title: string, total: number, opts: { quiet?: boolean } = {}): Progress {
  if (opts.quiet) return { tick() {}, stop() {} };
  if (io.errIsTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${title} [{bar}] {value}/{total} {label}`, stream: process.stderr, clearOnComplete: true, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { label: '' });
    return {
      tick: (n = 1, label = '') => bar.increment(n, { label }),
      stop: () => bar.stop(),
    };
  }
  let done = 0;
  let lastPct = -1;
  return {
    tick(n = 1, label = '') {
      done += n;
      const pct = total ? Math.floor((done / total) * 10) * 10 : 100;
      if (pct !== lastPct) {
        lastPct = pct;
        io.info(`${title}: ${done}/${total}${label ? ' ' + label : ''}\n`);
      }
    },
    stop() {},
  };
}
