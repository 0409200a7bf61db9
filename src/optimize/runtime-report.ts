/**
 * The runtime-aware report of `autoglm fuse --runtime-report`: which of our rewrites onnxruntime would have done on its
 * own at a given graph-optimisation level, and which are additive.
 *
 * onnxruntime is asked for its own optimised graph (`optimizedModelFilePath`) at the level, once for the original
 * model and once for ours. For each fusion pass that rewrote something, the family of operators it produces (or the
 * operator it removes) is counted in four graphs: original, ours, runtime(original), runtime(ours). The runtime "does
 * it anyway" for as many rewrites as it added (or removed) in its optimised original, capped at ours; the rest is
 * additive. Families are wide on purpose: a LayerNormalization the runtime fuses further into SkipLayerNormalization
 * still counts as a fused LayerNorm. Op histograms of the four graphs are part of the report.
 *
 * Level 'all' adds layout transformations specific to this machine (NCHWc convolutions); the runtime writes such a
 * graph only for inspection, and so does this report.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Model } from '../ir/model.js';
import { isStandardDomain } from '../ir/model.js';
import { loadModel } from '../onnx/io.js';
import type { RunReport } from '../pass/manager.js';
import { createSession } from '../runtime/session.js';

export type RuntimeLevel = 'basic' | 'extended' | 'all';
export type Histogram = Record<string, number>;

export interface PassVerdict {
  pass: string;
  /** rewrites our pass made */
  rewrites: number;
  /** how many of them the runtime does on its own at this level */
  runtimeToo: number;
  additive: number;
  verdict: 'runtime does it' | 'additive' | 'partly additive';
  /** what was counted */
  measure: string;
}

export interface RuntimeReport {
  level: RuntimeLevel;
  verdicts: PassVerdict[];
  histograms: { original: Histogram; fused: Histogram; runtimeOriginal: Histogram; runtimeFused: Histogram };
  nodes: { original: number; fused: number; runtimeOriginal: number; runtimeFused: number };
}

const LN = ['LayerNormalization', 'SimplifiedLayerNormalization', 'RMSNormalization'];
const MS = (ops: string[]) => ops.map((o) => `com.microsoft:${o}`);

/** What each pass produces (a family of op types) or removes (one op type, or Conv-affine pairs). */
const MEASURES: Record<string, { family?: string[]; removes?: string }> = {
  'fuse-layer-norm': { family: [...LN, ...MS([...LN, 'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization', 'EmbedLayerNormalization'])] },
  'fuse-skip-layer-norm': { family: MS(['SkipLayerNormalization', 'SkipSimplifiedLayerNormalization', 'EmbedLayerNormalization']) },
  'fuse-gelu': { family: ['Gelu', ...MS(['Gelu', 'FastGelu', 'BiasGelu', 'GemmFastGelu', 'QuickGelu'])] },
  'fuse-bias-gelu': { family: MS(['BiasGelu', 'GemmFastGelu']) },
  'fuse-attention': { family: ['Attention', ...MS(['Attention', 'MultiHeadAttention', 'PackedAttention'])] },
  'fuse-matmul-add': { family: ['Gemm', ...MS(['FusedGemm'])] },
  'fuse-hard-swish': { family: ['HardSwish'] },
  'fuse-conv-bn': { removes: 'BatchNormalization' },
  'fuse-conv-add-mul': { removes: 'conv-affine' },
};

/** Op types with a domain prefix for non-standard domains (com.microsoft:Attention). */
export function opHistogram(model: Model): Histogram {
  const h: Histogram = {};
  for (const n of model.allNodes()) {
    const k = !isStandardDomain(n.domain) ? `${n.domain}:${n.opType}` : n.opType;
    h[k] = (h[k] ?? 0) + 1;
  }
  return h;
}

const AFFINE = new Set(['Add', 'Sub', 'Mul', 'Div']);
/** Conv / ConvTranspose outputs read only by an Add/Sub/Mul/Div with a constant operand. */
function convAffinePairs(model: Model): number {
  let n = 0;
  for (const node of model.allNodes()) {
    if (!/Conv(Transpose)?$/.test(node.opType)) continue;
    const y = node.outputs[0];
    const u = y && y.uses.length === 1 && !y.isGraphOutput ? y.uses[0].node : undefined;
    if (u && AFFINE.has(u.opType) && u.inputs.some((v) => v !== y && v?.constTensor())) n++;
  }
  return n;
}

function count(model: Model, h: Histogram, what: { family?: string[]; removes?: string }): number {
  if (what.removes === 'conv-affine') return convAffinePairs(model);
  if (what.removes) return h[what.removes] ?? 0;
  return (what.family ?? []).reduce((s, op) => s + (h[op] ?? 0), 0);
}

/** The runtime's optimised form of a model at `level`, read back into the IR. */
async function optimised(model: Model, level: RuntimeLevel, dir: string, label: string): Promise<Model> {
  const file = path.join(dir, `${label}.onnx`);
  const session = await createSession(model, { optimizationLevel: level, optimizedModelFilePath: file });
  await session.release();
  return loadModel(file);
}

/** Compares what we fused with what onnxruntime fuses on its own at `level`. */
export async function runtimeReport(original: Model, fused: Model, run: RunReport, level: RuntimeLevel = 'all'): Promise<RuntimeReport> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-rt-'));
  try {
    const rtOriginal = await optimised(original, level, dir, 'original');
    const rtFused = await optimised(fused, level, dir, 'fused');
    const hist = { original: opHistogram(original), fused: opHistogram(fused), runtimeOriginal: opHistogram(rtOriginal), runtimeFused: opHistogram(rtFused) };
    const verdicts: PassVerdict[] = [];
    for (const p of run.passes) {
      const m = MEASURES[p.name];
      const rewrites = Object.values(p.counts).reduce((a, b) => a + b, 0);
      if (!m || rewrites === 0) continue;
      const before = count(original, hist.original, m);
      const rt = count(rtOriginal, hist.runtimeOriginal, m);
      const runtimeToo = Math.max(0, Math.min(rewrites, m.removes ? before - rt : rt - before));
      const additive = rewrites - runtimeToo;
      verdicts.push({
        pass: p.name,
        rewrites,
        runtimeToo,
        additive,
        verdict: additive === 0 ? 'runtime does it' : runtimeToo === 0 ? 'additive' : 'partly additive',
        measure: m.removes === 'conv-affine' ? 'Conv + constant Add/Mul pairs removed' : m.removes ? `${m.removes} removed` : `${m.family!.join(' | ')} added`,
      });
    }
    const total = (h: Histogram) => Object.values(h).reduce((a, b) => a + b, 0);
    return {
      level,
      verdicts,
      histograms: hist,
      nodes: { original: total(hist.original), fused: total(hist.fused), runtimeOriginal: total(hist.runtimeOriginal), runtimeFused: total(hist.runtimeFused) },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
