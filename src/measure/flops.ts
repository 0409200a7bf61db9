/**
 * FLOPs estimate of one run, from the shapes the model actually sees on the first input set.
 *
 * Shapes come from a runtime pass: an instrumented copy (instrument.ts) exposes the operands each counted node needs
 * and runs once; weights give their shapes directly. That is exact for whatever the graph computes with these inputs
 * (symbolic dims, Reshape chains, broadcasting) without re-implementing shape inference. Counted (a multiply-add is
 * 2 FLOPs, bias adds 1 per output element), main graph only (control-flow bodies are not counted):
 *
 *   MatMul, FusedMatMul, MatMulInteger, QLinearMatMul, MatMulNBits   2 * |Y| * K          (K: reduced axis of A)
 *   Gemm                                                              2 * |Y| * K (+ |Y| with C)
 *   Conv, FusedConv, NhwcConv, ConvInteger, QLinearConv               2 * |Y| * Cin/g * prod(kernel) (+ |Y| with bias)
 *   ConvTranspose                                                     2 * |X| * Cout/g * prod(kernel) (+ |Y| with bias)
 *   com.microsoft Attention          projection 2*B*S*Hin*(q+k+v)  +  scores and context 2*B*S*S*(q + v)
 *   com.microsoft MultiHeadAttention 2*B*S*L*(Dq + Dv)
 *
 * Everything else (element-wise ops, normalisations, Softmax) is left out: it is memory-bound and small next to the
 * above in the models this tool targets, and an estimate should say what it counts.
 */
import type { Node, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { isStandardDomain } from '../ir/model.js';
import type { FlopsEstimate } from './types.js';

const MATMUL = new Set(['MatMul', 'FusedMatMul', 'MatMulInteger', 'QLinearMatMul', 'MatMulNBits', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul']);
const CONV = new Set(['Conv', 'FusedConv', 'NhwcConv', 'ConvInteger', 'QLinearConv']);

const numel = (d: readonly number[]): number => d.reduce((a, b) => a * b, 1);

/** Index of the weight operand of a conv-like node. */
function convWeightIndex(n: Node): number {
  return n.opType === 'QLinearConv' ? 3 : 1;
}

/** The operands whose shapes the estimate needs, node by node. */
function operands(n: Node): (Value | undefined)[] {
  const op = n.opType;
  if (MATMUL.has(op) || op === 'Gemm') return [n.input(0), n.outputs[0] ?? undefined];
  if (CONV.has(op)) return [n.input(convWeightIndex(n)), n.outputs[0] ?? undefined];
  if (op === 'ConvTranspose') return [n.input(0), n.input(1), n.outputs[0] ?? undefined];
  if (op === 'Attention' && isStandardDomain(n.domain)) return [n.input(0), n.input(1), n.input(2)];
  if (op === 'Attention') return [n.input(0), n.input(1)];
  if (op === 'MultiHeadAttention') return [n.input(0), n.input(1), n.input(2)];
  return [];
}

function counted(n: Node): boolean {
  const op = n.opType;
  if (n.domain === 'com.microsoft') return MATMUL.has(op) || CONV.has(op) || op === 'Attention' || op === 'MultiHeadAttention';
  if (!isStandardDomain(n.domain)) return false;
  return MATMUL.has(op) || CONV.has(op) || op === 'Gemm' || op === 'ConvTranspose' || op === 'Attention';
}

/** Values whose shapes must come from a run (not weights, not graph inputs). */
export function flopsTargets(model: Model): Value[] {
  const out = new Set<Value>();
  for (const n of model.graph.nodes) {
    if (!counted(n)) continue;
    for (const v of operands(n)) if (v && !v.constTensor() && !v.isGraphInput) out.add(v);
  }
  return [...out];
}

/**
 * The standard Attention (opset 23): Q·Kᵀ and P·V per query head, 2·B·Hq·S·T·(D + Dv), on 4-D [B, H, S, D] operands
 * or 3-D [B, S, H·D] ones with q_num_heads / kv_num_heads (the projections are separate MatMuls, counted as such).
 */
function standardAttentionFlops(n: Node, shape: (v: Value | undefined) => number[] | undefined): number | null {
  const [q, k, v] = [shape(n.input(0)), shape(n.input(1)), shape(n.input(2))];
  if (!q || !k || !v || q.length !== k.length || q.length !== v.length) return null;
  if (q.length === 4) return 2 * q[0]! * q[1]! * q[2]! * k[2]! * (q[3]! + v[3]!);
  const hq = n.getInt('q_num_heads', 0);
  const hkv = n.getInt('kv_num_heads', 0);
  if (q.length !== 3 || !(hq > 0) || !(hkv > 0)) return null;
  // per query head: D = q[2] / hq, Dv = v[2] / hkv
  return 2 * q[0]! * q[1]! * k[1]! * (q[2]! + (v[2]! / hkv) * hq);
}

/** FLOPs of one node, or null when a shape is missing. */
export function nodeFlops(n: Node, shape: (v: Value | undefined) => number[] | undefined): number | null {
  const op = n.opType;
  const y = shape(n.outputs[0] ?? undefined);
  if (MATMUL.has(op)) {
    const a = shape(n.input(0));
    if (!a || !y || !a.length) return null;
    const transA = n.getInt('transA', 0) === 1 && op === 'FusedMatMul';
    const k = a.length === 1 ? a[0]! : transA ? a[a.length - 2]! : a[a.length - 1]!;
    return 2 * numel(y) * k;
  }
  if (op === 'Gemm') {
    const a = shape(n.input(0));
    if (!a || !y || a.length !== 2) return null;
    const k = n.getInt('transA', 0) ? a[0]! : a[1]!;
    return 2 * numel(y) * k + (n.input(2) ? numel(y) : 0);
  }
  if (CONV.has(op)) {
    const w = shape(n.input(convWeightIndex(n)));
    if (!w || !y || w.length < 2) return null;
    const bias = op === 'QLinearConv' ? n.input(8) : op === 'ConvInteger' ? undefined : n.input(2);
    return 2 * numel(y) * numel(w.slice(1)) + (bias ? numel(y) : 0);
  }
  if (op === 'ConvTranspose') {
    const x = shape(n.input(0));
    const w = shape(n.input(1));
    if (!x || !w || w.length < 2) return null;
    const bias = n.input(2) && y ? numel(y) : 0;
    return 2 * numel(x) * numel(w.slice(1)) + bias;
  }
  if (op === 'Attention' && isStandardDomain(n.domain)) return standardAttentionFlops(n, shape);
  if (op === 'Attention') {
    const x = shape(n.input(0));
    const w = shape(n.input(1));
    if (!x || !w || x.length !== 3 || w.length !== 2) return null;
    const [b, s, hin] = x as [number, number, number];
    const sizes = n.getInts('qkv_hidden_sizes');
    const total = w[1]!;
    const [q, , v] = sizes && sizes.length === 3 ? sizes : [total / 3, total / 3, total / 3];
    return 2 * b * s * hin * total + 2 * b * s * s * (q! + v!);
  }
  if (op === 'MultiHeadAttention') {
    const q = shape(n.input(0));
    const k = shape(n.input(1));
    const v = shape(n.input(2));
    if (q?.length !== 3) return null;
    const [b, s, dq] = q as [number, number, number];
    const l = k ? (k.length === 4 ? k[2]! : k[1]!) : s;
    const dv = v && v.length === 3 ? v[2]! : v && v.length === 4 ? v[1]! * v[3]! : dq;
    return 2 * b * s * l * (dq + dv);
  }
  return null;
}

/**
 * Estimates FLOPs from runtime shapes (`shapes`: value name -> dims, including the feeds of the first set); weights
 * give their own dims.
 */
export function estimateFlops(model: Model, shapes: ReadonlyMap<string, number[]>): FlopsEstimate {
  const shape = (v: Value | undefined): number[] | undefined => {
    if (!v) return undefined;
    const t = v.constTensor();
    if (t) return t.dims;
    return shapes.get(v.name);
  };
  const by = new Map<string, { op: string; flops: number; nodes: number }>();
  let total = 0;
  let unknown = 0;
  for (const n of model.graph.nodes) {
    if (!counted(n)) continue;
    const f = nodeFlops(n, shape);
    if (f === null) {
      unknown++;
      continue;
    }
    const key = !isStandardDomain(n.domain) ? `${n.domain}::${n.opType}` : n.opType;
    const e = by.get(key) ?? by.set(key, { op: key, flops: 0, nodes: 0 }).get(key)!;
    e.flops += f;
    e.nodes++;
    total += f;
  }
  return { total, byOp: [...by.values()].sort((a, b) => b.flops - a.flops), unknownNodes: unknown, method: 'runtime-shapes' };
}
