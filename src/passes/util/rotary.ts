/**
 * fuse-attention's rule for rotary position embeddings in the rotate_half form (rule rotary: HF LLaMA's
 * apply_rotary_pos_emb as torch.onnx.export writes it):
 *
 *   x [B,N,S,D] ─Mul(cos)────────────────────────────────────────────────────────────┐
 *   x ─Slice[D/2:]─Neg─┐                                                             Add ─> y
 *   x ─Slice[:D/2]─────Concat(last axis)─Mul(sin)────────────────────────────────────┘
 *   cos = Unsqueeze(Gather(cos_table, position_ids), 1)     (sin likewise)
 *   ──>  y = RotaryEmbedding(x, Expand(position_ids, [B, S]), cos_cache, sin_cache, interleaved = 0)   (com.microsoft)
 *
 * RotaryEmbedding (non-interleaved) computes y[j] = x[j]·cos[p, j] − x[j + D/2]·sin[p, j] and y[j + D/2] = x[j + D/2]·
 * cos[p, j] + x[j]·sin[p, j] for j < D/2 at position p, which is x·cos + rotate_half(x)·sin when the tables repeat
 * their first half (torch's emb = cat(freqs, freqs)): that is checked on the values, and cos_cache / sin_cache
 * [M, D/2] are their first halves. The tables are the exporter's cos_cached / sin_cached buffers: a constant
 * [1, .., M, .., D] sliced [0:len] along its M axis (start 0, step 1) and squeezed to [len, D], through Squeeze,
 * Unsqueeze, Identity and If nodes whose condition util/infer.ts knows (torch's squeeze of a dim that may be 1).
 * Gathering from the whole constant is the same as from its prefix: an index past len fails in the original. The
 * position ids are broadcast to [B, S] as the op needs them (torch's are [1, S]). x's heads and head size must be
 * known; float and float16 only; --target ort.
 */
import { DataType } from '../../ir/dtype.js';
import { Graph, type Node, type Value } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { constantOf } from '../../rewrite/constant.js';
import type { Match, Rule } from '../../rewrite/driver.js';
import { add, attrIs, mul, op } from '../../rewrite/pattern.js';
import type { Rewriter } from '../../rewrite/rewriter.js';
import { fusedName, tensorOf } from './fusion.js';
import { Inference } from './infer.js';

const half = (i: number) => op('Slice', ['x'], { rest: true, as: `half${i}` as 'half0' | 'half1' });
const rotated = op('Concat', [op('Neg', [half(1)]), half(0)], { attrs: { axis: attrIs(-1, -1) }, as: 'cat' });
const pattern = add(mul('x', 'cos'), mul(rotated, 'sin'));

const INT_MAX = 2 ** 31 - 1;

/** Gather(table, pos) under an Unsqueeze to axis 1: the table value and the position ids, or why not. */
function gathered(inf: Inference, v: Value): { table: Value; pos: Value } | string {
  const u = v.producer;
  const axes = u?.opType === 'Unsqueeze' ? (u.input(1) ? inf.numbers(u.input(1)) : u.getInts('axes')) : undefined;
  if (!u || String(axes) !== '1') return `${v} is not Unsqueeze(Gather(table, position_ids), 1)`;
  const g = u.input(0)?.producer;
  if (g?.opType !== 'Gather' || g.getInt('axis', 0) !== 0) return `${v} is not Unsqueeze(Gather(table, position_ids), 1)`;
  return { table: g.input(0)!, pos: g.input(1)! };
}

/**
 * The constant behind a table [len, D]: followed back through Squeeze, Unsqueeze, Identity and If (a known branch)
 * to a Slice [0:len] with step 1 of a constant whose other dims are 1, except the last. Returns it as [M, D].
 */
function tableConstant(inf: Inference, v: Value, d: number): { t: Tensor; m: number } | string {
  const why = `the rotary table ${v} is not a prefix of a constant cache`;
  const s = inf.shape(v);
  if (s?.length !== 2 || s[1] !== d) return `the rotary table ${v} has shape [${s?.map((x) => x ?? '?')}], not [positions, ${d}]`;
  let cur: Value | null | undefined = v;
  for (let steps = 0; cur && steps < 16; steps++) {
    const p: Node | null | undefined = cur.producer;
    if (!p) return why;
    if (['Squeeze', 'Unsqueeze', 'Identity'].includes(p.opType)) {
      cur = p.input(0);
      continue;
    }
    if (p.opType === 'If') {
      const cond = inf.scalar(p.input(0));
      const g: unknown = cond === undefined ? undefined : p.attr(cond ? 'then_branch' : 'else_branch')?.value;
      cur = g instanceof Graph ? g.outputs[cur.producerIndex] : undefined;
      continue;
    }
    if (p.opType !== 'Slice') return why;
    const t = constantOf(p.input(0));
    if (!t || t.dims[t.rank - 1] !== d) return why;
    const [starts, axes, stepsV] = [inf.numbers(p.input(1)), p.input(3) ? inf.numbers(p.input(3)) : [0], p.input(4) ? inf.numbers(p.input(4)) : [1]];
    if (!starts || !axes || !stepsV || starts.length !== 1 || axes.length !== 1 || starts[0] !== 0 || stepsV[0] !== 1) return why;
    const axis = axes[0] < 0 ? axes[0] + t.rank : axes[0];
    if (axis === t.rank - 1 || t.dims.some((x, i) => i !== axis && i !== t.rank - 1 && x !== 1)) return why;
    return { t, m: t.dims[axis] };
  }
  return why;
}

interface Rotary {
  d: number;
  pos: Value;
  cos: Float32Array;
  sin: Float32Array;
  m: number;
  dataType: number;
}

/** [M, D] halves-equal table -> its first halves [M, D/2], or undefined when the halves differ */
function firstHalves(t: Tensor, m: number, d: number): Float32Array | undefined {
  const all = Float32Array.from(t.toNumbers());
  const h = d / 2;
  const out = new Float32Array(m * h);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < h; j++) {
      const a = all[i * d + j];
      if (a !== all[i * d + j + h]) return undefined;
      out[i * h + j] = a;
    }
  return out;
}

const cache = new WeakMap<Match, Rotary | string>();

function analyse(m: Match): Rotary | string {
  const known = cache.get(m);
  if (known) return known;
  const r = analyseUncached(m);
  cache.set(m, r);
  return r;
}

function analyseUncached(m: Match): Rotary | string {
  const inf = new Inference();
  const x = m.value('x');
  const s = inf.shape(x);
  const d = s?.[3];
  if (s?.length !== 4 || typeof s[1] !== 'number' || typeof d !== 'number' || d % 2 !== 0)
    return `x has shape [${s?.map((v) => v ?? '?')}], not [batch, heads, sequence, even head size]`;
  const dataType = inf.elemType(x);
  if (dataType !== DataType.FLOAT && dataType !== DataType.FLOAT16) return 'RotaryEmbedding takes float or float16';
  for (const [i, lo, hi] of [
    [0, 0, d / 2],
    [1, d / 2, d],
  ] as const) {
    const n = m.node(`half${i}`);
    const [st, en, ax, stp] = [1, 2, 3, 4].map((k) => (n.input(k) ? inf.numbers(n.input(k)) : k === 3 ? [-1] : [1]));
    const end = en?.[0] !== undefined && en[0] >= INT_MAX ? d : en?.[0];
    if (st?.[0] !== lo || end !== hi || !['-1', '3'].includes(String(ax)) || String(stp) !== '1')
      return `rotate_half does not take x[..., ${lo}:${hi}] where expected`;
  }
  const [gc, gs] = [gathered(inf, m.value('cos')), gathered(inf, m.value('sin'))];
  if (typeof gc === 'string') return gc;
  if (typeof gs === 'string') return gs;
  if (gc.pos !== gs.pos) return 'cos and sin are gathered at different positions';
  const pt = inf.elemType(gc.pos);
  const ps = inf.shape(gc.pos);
  if (pt !== DataType.INT64 || ps?.length !== 2) return `the position ids ${gc.pos} are not int64 [batch, sequence]`;
  const [tc, ts] = [tableConstant(inf, gc.table, d), tableConstant(inf, gs.table, d)];
  if (typeof tc === 'string') return tc;
  if (typeof ts === 'string') return ts;
  if (tc.m !== ts.m) return 'the cos and sin caches hold different numbers of positions';
  const [cos, sin] = [firstHalves(tc.t, tc.m, d), firstHalves(ts.t, ts.m, d)];
  if (!cos || !sin) return 'the cos/sin caches do not repeat their first half (not the rotate_half layout)';
  return { d, pos: gc.pos, cos, sin, m: tc.m, dataType };
}

function check(m: Match): true | string {
  if (m.ctx.target !== 'ort') return 'RotaryEmbedding is an onnxruntime contrib operator: use --target ort';
  const a = analyse(m);
  return typeof a === 'string' ? a : true;
}

function fuse(m: Match, r: Rewriter): Value {
  const a = analyse(m) as Rotary;
  const name = fusedName(m.root, 'RotaryEmbedding');
  const x = m.value('x');
  // position_ids [B, S]: torch's [1, S] broadcast over the batch of x
  const shape = r.op('Shape', [x], {}, { name: `${name}_shape` });
  const b = r.op('Slice', [shape, r.ints([0]), r.ints([1])], {}, { name: `${name}_batch` });
  const sl = r.op('Slice', [shape, r.ints([2]), r.ints([3])], {}, { name: `${name}_len` });
  const pos = r.op('Expand', [a.pos, r.op('Concat', [b, sl], { axis: 0 }, { name: `${name}_pos_shape` })], {}, { name: `${name}_pos` });
  const cos = r.constant(`${name}.cos_cache`, tensorOf(a.dataType, [a.m, a.d / 2], a.cos));
  const sin = r.constant(`${name}.sin_cache`, tensorOf(a.dataType, [a.m, a.d / 2], a.sin));
  return r.op('RotaryEmbedding', [x, pos, cos, sin], { interleaved: 0 }, { domain: 'com.microsoft', name });
}

export const rotaryRule: Rule = { name: 'rotary', pattern, explainMinDepth: 4, condition: check, rewrite: fuse };
