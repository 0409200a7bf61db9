/**
 * `autoglm graph`: the relation graph graph F1 counts, made visible. The last attention layer's probabilities of one
 * input set, averaged over batch and heads ([T, S]), and its edges under the same edge rule graph F1 uses
 * (edgesByRule in measure/graph-f1.ts: an absolute threshold, a multiple of uniform attention, or per-row top-k). An
 * edge i -> j means query position i attends to key position j above the rule.
 *
 * With a baseline (`--against`), the edges are classified as graph F1 counts them: kept (in both: tp), lost (only in
 * the baseline: fn) and added (only in this model: fp); with a relative rule each row's threshold comes from the
 * baseline row, as in graph F1.
 *
 * Rendered as JSON, Graphviz DOT, or SVG (DOT through Graphviz's `dot`, which must be installed).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { OperationError, UsageError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { type EdgeRule, edgesByRule, formatEdgeRule } from '../measure/graph-f1.js';
import { probeModel } from '../measure/probe.js';
import type { Feeds, SessionOptions } from '../runtime/session.js';

export type EdgeStatus = 'edge' | 'kept' | 'lost' | 'added';

export interface GraphEdge {
  /** query position (row) */
  from: number;
  /** key position (column) */
  to: number;
  /** averaged attention probability in this model */
  weight: number;
  /** the baseline's, with --against */
  baselineWeight: number | null;
  status: EdgeStatus;
}

export interface RelationGraph {
  /** the Softmax of the last attention layer (node name or output name) */
  layer: string;
  layers: number;
  rows: number;
  cols: number;
  edgeRule: string;
  /** token ids of the first batch row, when the model takes token ids whose length is the key count */
  tokens: number[] | null;
  /** one label per key position: `i`, `i:id`, or `i:token` with a vocabulary */
  labels: string[];
  edges: GraphEdge[];
  /** graph F1's counts of this layer on this input set (with --against): kept = tp, lost = fn, added = fp */
  counts: { kept: number; lost: number; added: number } | null;
  /** graph F1 of this layer on this input set (with --against) */
  f1: number | null;
}

export interface RelationGraphOptions {
  rule: EdgeRule;
  /** which input set (default 0) */
  set?: number;
  vocab?: string[] | null;
  sessionOptions?: SessionOptions;
}

async function lastLayer(model: Model, feeds: Feeds, what: string, sessionOptions?: SessionOptions) {
  const probe = await probeModel(model, [feeds], { attention: true, sessionOptions });
  const cap = probe.capture;
  if (!cap?.layers.length || !cap.sets[0]?.length)
    throw new UsageError(`${what}: no attention to draw (graph needs a model with attention): ${probe.whyNoAttention ?? 'nothing captured'}`);
  const m = cap.sets[0][cap.sets[0].length - 1]!;
  return { matrix: m.data, rows: m.dims[0]!, cols: m.dims[1]!, layer: cap.layers[cap.layers.length - 1]!, layers: cap.layers.length };
}

/** Token ids of batch row 0: the integer input named like ids/tokens, else the only integer input of rank 2. */
export function tokenIds(feeds: Feeds): number[] | null {
  const ints = Object.entries(feeds).filter(([, t]) => (t.type === 'int64' || t.type === 'int32') && t.dims.length === 2);
  const pick = ints.find(([n]) => /ids|token/i.test(n) && !/type|position/i.test(n)) ?? (ints.length === 1 ? ints[0] : undefined);
  if (!pick) return null;
  const t = pick[1];
  const len = Number(t.dims[1]);
  const data = t.data as BigInt64Array | Int32Array;
  return Array.from({ length: len }, (_, i) => Number(data[i]));
}

/** A vocabulary file: a JSON array (index = id), a JSON object token -> id (vocab.json), or one token per line. */
export function loadVocab(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--vocab ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  if (/\.json$/i.test(file)) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`--vocab ${file}: not valid JSON (${(e as Error).message})`);
    }
    if (Array.isArray(doc) && doc.every((x) => typeof x === 'string')) return doc as string[];
    if (doc && typeof doc === 'object' && !Array.isArray(doc) && Object.values(doc).every((x) => Number.isInteger(x) && (x as number) >= 0)) {
      const out: string[] = [];
      for (const [tok, id] of Object.entries(doc as Record<string, number>)) out[id] = tok;
      return out;
    }
    throw new UsageError(`--vocab ${file}: expected a JSON array of tokens or an object of token -> id`);
  }
  return text.replace(/\r?\n$/, '').split(/\r?\n/);
}

/** The relation graph of `model` on one input set, optionally against a baseline on the same inputs. */
export async function relationGraph(model: Model, feeds: readonly Feeds[], opts: RelationGraphOptions & { against?: Model }): Promise<RelationGraph> {
  const set = opts.set ?? 0;
  if (!Number.isInteger(set) || set < 0 || set >= feeds.length)
    throw new UsageError(`--set must be an input set index in 0..${feeds.length - 1}, got ${opts.set}`);
  const f = feeds[set]!;
  const c = await lastLayer(model, f, 'the model', opts.sessionOptions);
  let b: Awaited<ReturnType<typeof lastLayer>> | null = null;
  if (opts.against) {
    b = await lastLayer(opts.against, f, 'the baseline (--against)', opts.sessionOptions);
    if (b.rows !== c.rows || b.cols !== c.cols)
      throw new OperationError(
        `the last attention layer is [${c.rows}, ${c.cols}] in the model but [${b.rows}, ${b.cols}] in the baseline: no edges to compare`,
      );
  }
  const e = edgesByRule(c.matrix, b ? b.matrix : c.matrix, c.cols, opts.rule);
  const edges: GraphEdge[] = [];
  let kept = 0;
  let lost = 0;
  let added = 0;
  for (let k = 0; k < c.matrix.length; k++) {
    const inC = e.c[k] === 1;
    const inB = e.b[k] === 1;
    if (!inC && !inB) continue;
    const status: EdgeStatus = !b ? 'edge' : inC && inB ? 'kept' : inB ? 'lost' : 'added';
    if (status === 'kept') kept++;
    else if (status === 'lost') lost++;
    else if (status === 'added') added++;
    edges.push({ from: Math.floor(k / c.cols), to: k % c.cols, weight: c.matrix[k]!, baselineWeight: b ? b.matrix[k]! : null, status });
  }
  const ids = tokenIds(f);
  const tokens = ids && ids.length === c.cols ? ids : null;
  const labels = Array.from({ length: Math.max(c.rows, c.cols) }, (_, i) => {
    if (!tokens || i >= tokens.length) return String(i);
    const tok = opts.vocab?.[tokens[i]!];
    return `${i}:${tok ?? tokens[i]}`;
  });
  const counts = b ? { kept, lost, added } : null;
  const f1 = counts ? (kept + lost + added === 0 ? 1 : (2 * kept) / (2 * kept + lost + added)) : null;
  return { layer: c.layer, layers: c.layers, rows: c.rows, cols: c.cols, edgeRule: formatEdgeRule(opts.rule), tokens, labels, edges, counts, f1 };
}

const dotString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

const STYLE: Record<EdgeStatus, string> = {
  edge: 'color="#333333"',
  kept: 'color="#333333"',
  lost: 'color="#d62728", style=dashed',
  added: 'color="#2ca02c"',
};

/** Graphviz DOT: one node per position, an edge per relation, pen width by weight; lost red dashed, added green. */
export function renderGraphDot(g: RelationGraph, title = 'attention'): string {
  const lines = [
    `digraph ${dotString(title)} {`,
    `  label=${dotString(`last attention layer ${g.layer} (${g.layers} layer(s)), edges ${g.edgeRule}${g.counts ? `: kept ${g.counts.kept}, lost ${g.counts.lost}, added ${g.counts.added}, F1 ${g.f1!.toFixed(3)}` : `: ${g.edges.length}`}`)};`,
    '  labelloc=t;',
    '  rankdir=LR;',
    '  node [shape=box, fontname="monospace"];',
  ];
  const used = new Set<number>();
  for (const e of g.edges) used.add(e.from).add(e.to);
  for (const i of [...used].sort((a, b) => a - b)) lines.push(`  n${i} [label=${dotString(g.labels[i] ?? String(i))}];`);
  for (const e of g.edges) {
    const w = e.status === 'lost' ? e.baselineWeight! : e.weight;
    lines.push(`  n${e.from} -> n${e.to} [label=${dotString(w.toFixed(2))}, penwidth=${(0.5 + 4 * w).toFixed(2)}, ${STYLE[e.status]}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

export function renderGraphJson(g: RelationGraph): string {
  return `${JSON.stringify(g, null, 2)}\n`;
}

/** SVG through Graphviz's `dot -Tsvg`; UsageError when dot is not installed. */
export function renderGraphSvg(dot: string): string {
  const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new UsageError("--format svg needs Graphviz's dot on PATH (Debian: apt-get install graphviz); or write --format dot and render it elsewhere");
  if (r.error) throw new OperationError(`dot failed: ${r.error.message}`);
  if (r.status !== 0) throw new OperationError(`dot failed (exit ${r.status}): ${r.stderr.trim().split('\n')[0]}`);
  return r.stdout;
}
