/**
 * JSON report: the BenchResult itself, schema 1, with keys in a fixed order (the order the result is built in) and
 * two normalisations so it is valid, stable JSON: non-finite numbers become null and typed arrays become arrays.
 * Consumers should check `schema` and ignore keys they do not know (new keys may be added within schema 1; a
 * removal or a change of meaning bumps it).
 */
import type { BenchResult } from './types.js';

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
}

export function renderBenchJson(r: BenchResult, opts: { samples?: boolean } = {}): string {
  const doc = opts.samples === false ? stripSamples(r) : r;
  return JSON.stringify(doc, replacer, 2) + '\n';
}

function stripSamples(r: BenchResult): BenchResult {
  const strip = <T extends { latency: { samples: number[] } | null }>(m: T): T => (m.latency ? { ...m, latency: { ...m.latency, samples: [] } } : m);
  return { ...r, baseline: strip(r.baseline), candidates: r.candidates.map(strip) };
}
