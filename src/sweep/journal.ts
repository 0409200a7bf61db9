/**
 * The journal of a sweep's output folder: an append-only log, one JSON line per event, synced to disk before the
 * sweep goes on. `start` is written before a job runs, `done` after its result file has been renamed into place:
 *
 *   {"event":"start","job":"bert__int8","key":"9f2c...","at":"2026-12-07T16:20:01.120Z","pid":4242}
 *   {"event":"done","job":"bert__int8","key":"9f2c...","verdict":"pass","at":"...","pid":4242}
 *
 * A rerun trusts a job as finished when its result file exists with the current key (the result file is written
 * atomically, so it is whole or absent); a `start` without a `done` names a job that was interrupted, which runs
 * again from the beginning (optimizing it again is a cache hit if the optimized model was stored before the crash).
 * Each shard appends to its own file (journal.jsonl, or journal.shard-<i>-of-<n>.jsonl), so shards that share a
 * folder on a network volume never interleave appends. A line torn by a crash is ignored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Shard } from './jobs.js';

export interface JournalEvent {
  event: 'start' | 'done';
  job: string;
  key: string;
  verdict?: string;
  at: string;
  pid: number;
}

export function journalFile(outDir: string, shard?: Shard): string {
  return path.join(outDir, shard && shard.count > 1 ? `journal.shard-${shard.index}-of-${shard.count}.jsonl` : 'journal.jsonl');
}

/** Every event of every journal in the folder, in file order. */
export function readJournals(outDir: string): JournalEvent[] {
  let names: string[];
  try {
    names = fs.readdirSync(outDir).filter((n) => /^journal(\..+)?\.jsonl$/.test(n));
  } catch {
    return [];
  }
  const events: JournalEvent[] = [];
  for (const n of names.sort())
    for (const line of fs.readFileSync(path.join(outDir, n), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as JournalEvent;
        if ((e.event === 'start' || e.event === 'done') && typeof e.job === 'string') events.push(e);
      } catch {
        // a line torn by a crash mid-append
      }
    }
  return events;
}

export class Journal {
  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // a crash mid-append can leave a line without its newline: start ours on a fresh line
    try {
      const st = fs.statSync(file);
      if (st.size > 0) {
        const fd = fs.openSync(file, 'r');
        const b = Buffer.alloc(1);
        fs.readSync(fd, b, 0, 1, st.size - 1);
        fs.closeSync(fd);
        if (b[0] !== 0x0a) this.append('\n');
      }
    } catch {
      // no journal yet
    }
  }

  private append(text: string): void {
    const fd = fs.openSync(this.file, 'a');
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  record(e: Omit<JournalEvent, 'at' | 'pid'>): void {
    this.append(`${JSON.stringify({ ...e, at: new Date().toISOString(), pid: process.pid })}\n`);
  }
}
