/**
 * The resumable state of a sparsity search: every evaluation made so far, keyed by what was evaluated, written
 * atomically after each one. A checkpoint belongs to one model, one set of calibration inputs and one set of search
 * options (its fingerprint); resuming with anything else is refused rather than silently mixing results.
 *
 *   { "format": "autoglm-prune-checkpoint", "version": 1, "fingerprint": "sha256:...",
 *     "evaluations": { "g:ffn:/encoder/layer.0/intermediate/dense/MatMul@0.5": { "f1": 0.97, "maxError": 0.02 } },
 *     "latency": { "<config key>": 0.81 } }
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../onnx/io.js';
import type { Feeds } from '../runtime/session.js';

export const CHECKPOINT_FORMAT = 'autoglm-prune-checkpoint';

export interface Evaluation {
  /** graphF1Score: min(last layer, all layers); 0 when inconclusive */
  f1: number;
  lastLayerF1: number;
  allLayersF1?: number;
  maxError: number;
  /** worst top-1 agreement / cosine over the outputs (null when no output has one) */
  top1?: number | null;
  cosine?: number | null;
  source: string;
}

export interface CheckpointData {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  fingerprint: string;
  evaluations: Record<string, Evaluation>;
  latency: Record<string, number>;
}

export class Checkpoint {
  private constructor(
    readonly file: string | undefined,
    readonly data: CheckpointData,
    /** evaluations found in the file when it was opened */
    readonly resumed: number,
  ) {}

  /** Opens (or starts) the checkpoint at `file`; without a file, state is kept in memory only. */
  static open(file: string | undefined, fingerprint: string): Checkpoint {
    const empty: CheckpointData = { format: CHECKPOINT_FORMAT, version: 1, fingerprint, evaluations: {}, latency: {} };
    if (!file || !fs.existsSync(file)) return new Checkpoint(file, empty, 0);
    let doc: CheckpointData;
    try {
      doc = JSON.parse(fs.readFileSync(file, 'utf8')) as CheckpointData;
    } catch (e) {
      throw new UsageError(`checkpoint ${file} is not readable JSON (${(e as Error).message}); delete it or choose another file`);
    }
    if (doc?.format !== CHECKPOINT_FORMAT || doc.version !== 1 || typeof doc.evaluations !== 'object')
      throw new UsageError(`${file} is not an autoglm prune checkpoint; delete it or choose another file`);
    if (doc.fingerprint !== fingerprint)
      throw new UsageError(
        `checkpoint ${file} was written for another model, other calibration inputs or other search options; delete it or choose another file`,
      );
    doc.latency ??= {};
    return new Checkpoint(file, doc, Object.keys(doc.evaluations).length + Object.keys(doc.latency).length);
  }

  get(key: string): Evaluation | undefined {
    const e = this.data.evaluations[key];
    const opt = (x: unknown): number | null => (x === null || x === undefined ? null : Number(x));
    return (
      e && {
        f1: Number(e.f1),
        lastLayerF1: Number(e.lastLayerF1),
        allLayersF1: Number(e.allLayersF1 ?? e.f1),
        maxError: Number(e.maxError),
        top1: opt(e.top1),
        cosine: opt(e.cosine),
        source: String(e.source),
      }
    );
  }
  set(key: string, e: Evaluation): void {
    this.data.evaluations[key] = e;
    this.save();
  }
  latency(key: string): number | undefined {
    const r = this.data.latency[key];
    return r === undefined ? undefined : Number(r);
  }
  setLatency(key: string, ratio: number): void {
    this.data.latency[key] = ratio;
    this.save();
  }
  private save(): void {
    if (!this.file) return;
    const json = JSON.stringify(this.data, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n';
    writeFileAtomic(this.file, [Buffer.from(json)]);
  }
}

/** sha256 over the model bytes, the input sets and the options that change results. */
export function fingerprint(modelBytes: Uint8Array, feeds: readonly Feeds[], options: unknown): string {
  const h = createHash('sha256');
  h.update(modelBytes);
  for (const set of feeds)
    for (const name of Object.keys(set).sort()) {
      const t = set[name];
      h.update(`${name}:${t.type}:[${t.dims.join(',')}]`);
      const d = t.data as unknown as ArrayBufferView | string[];
      if (Array.isArray(d)) h.update(d.join('\u0000'));
      else h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  h.update(JSON.stringify(options));
  return `sha256:${h.digest('hex')}`;
}

/** A canonical key for a per-group sparsity configuration. */
export function configKey(config: Record<string, number>): string {
  return JSON.stringify(
    Object.keys(config)
      .sort()
      .filter((k) => config[k] > 0)
      .map((k) => [k, config[k]]),
  );
}
