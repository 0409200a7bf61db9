/**
 * The content-addressed cache of optimized models (the design's cache-aware management). An entry is a folder named
 * by its key (jobs.ts: hash of the input model and its external data, the canonical recipe, autoglm's version):
 *
 *   <dir>/<key>/model.onnx        the optimized model (+ model.onnx.data when it has external data)
 *   <dir>/<key>/entry.json        what made it: model, recipe, the optimize report, its size; written last
 *
 * An entry is made in a temporary folder and renamed into place, so a reader sees a whole entry or none, and two
 * processes that race for the same key both end with one whole entry. Least recently used first: a hit touches
 * entry.json, and after each insertion the oldest entries go until the cache fits its cap (the entry just made
 * stays even when it alone is larger). Only optimized models are cached: benchmarks measure the machine they run
 * on and are never reused.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { saveModel } from '../onnx/io.js';

export interface CacheEntry<M = unknown> {
  key: string;
  dir: string;
  model: string;
  bytes: number;
  meta: M;
}

export interface CacheStats {
  dir: string;
  hits: number;
  misses: number;
  /** entries removed to stay under the cap */
  evicted: number;
  capBytes: number;
}

const ENTRY = 'entry.json';
const MODEL = 'model.onnx';

/** `2GiB`, `500MB`, `1e9` -> bytes */
export function parseSize(spec: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|K|M|G|T)?\s*$/i.exec(spec);
  if (!m) throw new UsageError(`size '${spec}': write a number of bytes with an optional unit, e.g. 2GiB or 500MB`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const scale: Record<string, number> = {
    b: 1,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
    k: 1024,
    m: 1024 ** 2,
    g: 1024 ** 3,
    t: 1024 ** 4,
    kib: 1024,
    mib: 1024 ** 2,
    gib: 1024 ** 3,
    tib: 1024 ** 4,
  };
  return Math.round(Number(m[1]) * scale[unit]!);
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isFile()) total += fs.statSync(path.join(dir, e.name)).size;
  return total;
}

export class ModelCache<M = unknown> {
  readonly stats: CacheStats;
  constructor(
    readonly dir: string,
    capBytes = 10 * 1024 ** 3,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.stats = { dir, hits: 0, misses: 0, evicted: 0, capBytes };
  }

  private entryDir(key: string): string {
    if (!/^[0-9a-f]{16,128}$/.test(key)) throw new Error(`internal: cache key '${key}' is not a hex digest`);
    return path.join(this.dir, key);
  }

  /** The entry of `key`, or undefined (a miss); a hit marks it most recently used. Counts hits and misses. */
  get(key: string): CacheEntry<M> | undefined {
    const dir = this.entryDir(key);
    let meta: { bytes: number; meta: M };
    try {
      meta = JSON.parse(fs.readFileSync(path.join(dir, ENTRY), 'utf8'));
      if (!fs.existsSync(path.join(dir, MODEL))) throw new Error('no model');
    } catch {
      this.stats.misses++;
      return undefined;
    }
    const now = new Date();
    try {
      fs.utimesSync(path.join(dir, ENTRY), now, now);
    } catch {
      // evicted by another process between the read and now: the files already open are still readable
    }
    this.stats.hits++;
    return { key, dir, model: path.join(dir, MODEL), bytes: meta.bytes, meta: meta.meta };
  }

  /** Saves `model` as the entry of `key` (atomically), then evicts down to the cap. */
  put(key: string, model: Model, meta: M): CacheEntry<M> {
    const dir = this.entryDir(key);
    const tmp = path.join(this.dir, `.tmp-${key}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    fs.mkdirSync(tmp, { recursive: true });
    let bytes: number;
    try {
      const saved = saveModel(model, path.join(tmp, MODEL), { externalData: 'auto', location: `${MODEL}.data` });
      bytes = saved.bytes + saved.externalBytes;
      fs.writeFileSync(path.join(tmp, ENTRY), JSON.stringify({ key, bytes, createdAt: new Date().toISOString(), meta }, null, 1));
      try {
        fs.renameSync(tmp, dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        // another process made the same entry first: keep theirs (same key, same content)
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    this.evict(key);
    return { key, dir, model: path.join(dir, MODEL), bytes, meta };
  }

  /** Every whole entry with its size and last use, oldest first. */
  entries(): { key: string; bytes: number; used: number }[] {
    const out: { key: string; bytes: number; used: number }[] = [];
    for (const e of fs.readdirSync(this.dir, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const dir = path.join(this.dir, e.name);
      try {
        const used = fs.statSync(path.join(dir, ENTRY)).mtimeMs;
        out.push({ key: e.name, bytes: folderBytes(dir), used });
      } catch {
        // not a whole entry (being removed by another process)
      }
    }
    return out.sort((a, b) => a.used - b.used);
  }

  totalBytes(): number {
    return this.entries().reduce((s, e) => s + e.bytes, 0);
  }

  private evict(keep: string): void {
    const all = this.entries();
    let total = all.reduce((s, e) => s + e.bytes, 0);
    for (const e of all) {
      if (total <= this.stats.capBytes) break;
      if (e.key === keep) continue;
      // rename first so that a reader never sees half an entry, then remove
      const gone = path.join(this.dir, `.evict-${e.key}-${process.pid}`);
      try {
        fs.renameSync(path.join(this.dir, e.key), gone);
        fs.rmSync(gone, { recursive: true, force: true });
        this.stats.evicted++;
      } catch {
        // another process evicted it already
      }
      total -= e.bytes;
    }
  }
}
