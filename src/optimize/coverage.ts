/**
 * Fusion coverage (`autoglm fuse --coverage`): per block type found in the model (attention, normalization,
 * activation), how many were fused and why the rest were not.
 *
 * A block is counted by the node every instance of it has, before and after fusion (all graphs, subgraphs and
 * functions included):
 *   attention      a Softmax (unfused) or an Attention / MultiHeadAttention / GroupQueryAttention (fused)
 *   normalization  the variance ReduceMean of a decomposed LayerNorm or RMSNorm (a ReduceMean of Pow(x, 2) or
 *                  Mul(x, x)) (unfused), or a (Skip)(Simplified)LayerNormalization / RMSNormalization (fused;
 *                  a SkipLayerNormalization counts one norm)
 *   activation     Erf or Tanh of a decomposed GELU, HardSigmoid of a HardSwish, Sigmoid of a SiLU (x·sigmoid(x))
 *                  (unfused), or Gelu, FastGelu, BiasGelu, HardSwish (fused)
 * found = the block's instances in the original, left = its unfused markers after the passes, fused = found − left
 * (in fused form after the passes, including what the exporter already wrote fused, e.g. LayerNormalization at
 * opset 17). The reasons, given only for a block type with some left, are the near misses (`--explain`) of the passes
 * that make that block fused (fuse-attention; fuse-layer-norm; fuse-gelu, fuse-hard-swish), from the last round; a
 * block left with no near miss is reported as such (no pattern came close).
 */
import type { Model } from '../ir/model.js';
import { isStandardDomain } from '../ir/model.js';
import type { Node } from '../ir/graph.js';
import type { NearMiss } from '../pass/pass.js';

export type BlockType = 'attention' | 'normalization' | 'activation';

export interface CoverageRow {
  block: BlockType;
  found: number;
  fused: number;
  left: number;
  /** distinct near-miss reasons of this block's passes, with how often and where each came */
  reasons: { pass: string; reason: string; count: number; nodes: string[] }[];
}

const PASSES: Record<BlockType, string[]> = {
  attention: ['fuse-attention'],
  normalization: ['fuse-layer-norm'],
  activation: ['fuse-gelu', 'fuse-hard-swish'],
};
const FUSED: Record<BlockType, Set<string>> = {
  attention: new Set(['Attention', 'MultiHeadAttention', 'GroupQueryAttention']),
  normalization: new Set([
    'LayerNormalization',
    'SkipLayerNormalization',
    'SimplifiedLayerNormalization',
    'SkipSimplifiedLayerNormalization',
    'RMSNormalization',
  ]),
  activation: new Set(['Gelu', 'FastGelu', 'BiasGelu', 'HardSwish']),
};
export const BLOCKS: readonly BlockType[] = ['attention', 'normalization', 'activation'];

const producer = (n: Node, i: number) => n.input(i)?.producer ?? undefined;
const squares = (p: Node | undefined) =>
  !!p && ((p.opType === 'Pow' && p.input(1) !== undefined) || (p.opType === 'Mul' && p.input(0) === p.input(1) && !!p.input(0)));

/** The unfused block type a node marks, if any. */
export function unfusedMarker(n: Node): BlockType | undefined {
  if (!isStandardDomain(n.domain)) return undefined;
  switch (n.opType) {
    case 'Softmax':
      return 'attention';
    case 'ReduceMean':
      return squares(producer(n, 0)) ? 'normalization' : undefined;
    case 'Erf':
    case 'Tanh':
    case 'HardSigmoid':
      return 'activation';
    case 'Sigmoid':
      // SiLU: x · sigmoid(x)
      return n.output(0)?.uses.some((u) => u.node.opType === 'Mul' && u.node.inputs.includes(n.input(0) ?? null)) ? 'activation' : undefined;
    default:
      return undefined;
  }
}

/** True when a rotary embedding (rotate_half: Concat(Neg(x2), x1)) feeds the Softmax's scores within a few ops. */
function rotaryBefore(softmax: Node): boolean {
  const seen = new Set<Node>();
  let frontier = [softmax];
  for (let depth = 0; depth < 12 && frontier.length; depth++) {
    const next: Node[] = [];
    for (const n of frontier)
      for (const v of n.inputs) {
        const p = v?.producer;
        if (!p || seen.has(p)) continue;
        seen.add(p);
        if (p.opType === 'Concat' && p.inputs.some((x) => x?.producer?.opType === 'Neg')) return true;
        next.push(p);
      }
    frontier = next;
  }
  return false;
}

/** Counts of unfused markers and fused ops per block type. */
type Counts = Record<BlockType, { unfused: number; fused: number; silu?: number; rotary?: number }>;

export function blockCounts(model: Model): Counts {
  const out = Object.fromEntries(BLOCKS.map((b) => [b, { unfused: 0, fused: 0 }])) as Counts;
  for (const n of model.allNodes()) {
    const u = unfusedMarker(n);
    if (u) out[u].unfused++;
    if (u && n.opType === 'Sigmoid') out[u].silu = (out[u].silu ?? 0) + 1;
    if (u && n.opType === 'Softmax' && rotaryBefore(n)) out[u].rotary = (out[u].rotary ?? 0) + 1;
    for (const b of BLOCKS) if (FUSED[b].has(n.opType) && (n.domain === 'com.microsoft' || isStandardDomain(n.domain))) out[b].fused++;
  }
  return out;
}

/** Coverage rows for the block types found in `before` (its counts taken before the passes ran). */
export function fusionCoverage(before: Counts, after: Model, nearMisses: readonly NearMiss[]): CoverageRow[] {
  const now = blockCounts(after);
  const rows: CoverageRow[] = [];
  for (const block of BLOCKS) {
    const found = before[block].unfused + before[block].fused;
    if (!found) continue;
    const left = Math.min(now[block].unfused, found);
    const byReason = new Map<string, CoverageRow['reasons'][number]>();
    for (const m of nearMisses) {
      if (!PASSES[block].includes(m.pass)) continue;
      const key = `${m.pass}\u0000${m.reason}`;
      const r = byReason.get(key) ?? { pass: m.pass, reason: m.reason, count: 0, nodes: [] };
      r.count++;
      if (!r.nodes.includes(m.node)) r.nodes.push(m.node);
      byReason.set(key, r);
    }
    const silu = now[block].silu;
    const first: CoverageRow['reasons'] = [];
    const rotary = now[block].rotary;
    if (rotary)
      first.push({
        pass: '-',
        reason: 'attention after rotary embeddings (rotate_half) on q and k: see --explain for the rotary and attention-sdpa rules of fuse-attention',
        count: rotary,
        nodes: [],
      });
    if (silu)
      first.push({
        pass: '-',
        reason: 'x·sigmoid(x) (SiLU, e.g. of a gated MLP): onnxruntime has no CPU fusion of the gated MLP; left as is',
        count: silu,
        nodes: [],
      });
    rows.push({ block, found, fused: found - left, left, reasons: left ? [...first, ...byReason.values()] : [] });
  }
  return rows;
}
