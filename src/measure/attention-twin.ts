/**
 * Attention probabilities of a fused Attention (com.microsoft, or the standard operator of opset 23), for measurement
 * only.
 *
 * A fused Attention computes softmax(scale · Q·Kᵀ + mask) · V inside one kernel, so its probabilities are not a value
 * of the graph and graph F1 would have to fall back to the outputs. For each such node this adds, next to it, the
 * standard-op twin of its first half, reading the node's own inputs (the same x, the same packed weight and bias):
 *
 *   qkv = x·W + b;  q, k = Slice(qkv) (qkv_hidden_sizes or equal thirds);  Q = Transpose(Reshape(q, [0,0,H,D]), 0,2,1,3)
 *   K = Transpose(Reshape(k, [0,0,H,D]), 0,2,3,1);  P = Softmax(scale · Q·K + mask)        scale = attr or 1/√D
 *   mask = onnxruntime's for a raw [B, S] mask_index: 0 where mask > 0, mask_filter_value (default -10000) elsewhere,
 *          and float32 lowest at future keys when unidirectional = 1 (the causal mask replaces, as in the kernel)
 *
 * The twin is a side branch: the Attention node still computes the model's outputs, so the outputs measured are the
 * candidate's own. P is a function of the candidate's weights, so a candidate whose Q/K weights or biases changed
 * (pruned, quantized to float16 and back) gets changed probabilities and a lower graph F1; one whose weights are
 * unchanged gets the unfused model's probabilities. Non-float32 operands are cast to float32 first (the probabilities
 * of a float16 model are computed from its float16 weights in float32).
 *
 * Only what can be reproduced exactly is twinned: no past state, no attention_bias, no rotary embedding, a raw 2-D
 * mask_index [B, S] or none (a mask of unknown rank is reshaped to exactly [B, 1, 1, S], so a mask of another form
 * fails to run and the probe reports it), opset >= 11 (Range, negative Slice axes). Other nodes are reported as unsupported, with the
 * reason, and the caller falls back to the outputs.
 *
 * The standard Attention (opset 23) states its probabilities itself: its twin is a copy of the node, on the same
 * inputs, with qk_matmul_output_mode = 3, whose fourth output is softmax(...) [B, H, S, T] (onnxruntime 1.30 computes
 * it on CPU). Past state is not twinned either.
 */
import { DataType } from '../ir/dtype.js';
import { Attribute, type Graph, type Node, type Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { inferRank } from '../passes/util/fusion.js';
import { knownElemType, knownShape } from '../passes/util/types.js';

export interface AttentionTwins {
  /** the twinned Attention nodes' probability values [B, H, S, S], in graph order */
  sites: { node: Node; probs: Value }[];
  /** Attention nodes that could not be twinned, with why */
  unsupported: { node: Node; why: string }[];
  /** removes every node and constant added (call once the session exists) */
  remove(): void;
}

/** com.microsoft and standard Attention nodes of the main graph, in graph order. */
export function fusedAttentionNodes(graph: Graph): Node[] {
  return graph.nodes.filter((n) => n.opType === 'Attention' && (n.domain === 'com.microsoft' || n.domain === '' || n.domain === 'ai.onnx'));
}

const isStandard = (n: Node): boolean => n.domain !== 'com.microsoft';

const present = (v: Value | null | undefined): v is Value => !!v && v.name !== '';

/** Why an Attention node cannot be twinned exactly (null when it can). */
export function whyNoTwin(model: Model, n: Node): string | null {
  if (isStandard(n)) return present(n.input(4)) || present(n.input(5)) ? 'it has past state' : null;
  const opset = model.opset('') ?? 0;
  if (opset < 11) return `opset ${opset} < 11`;
  if (present(n.input(4))) return 'it has past state';
  if (n.inputs.slice(5).some(present)) return 'it has an attention_bias or past_sequence_length input';
  if (n.getInt('do_rotary', 0)) return 'it applies rotary embeddings';
  if (n.getInt('past_present_share_buffer', 0)) return 'it shares past and present buffers';
  const mask = n.input(3);
  if (present(mask)) {
    const r = inferRank(mask);
    if (r !== undefined && r !== 2) return `its mask_index has rank ${r} (only a raw [batch, sequence] mask is twinned)`;
  }
  const H = n.getInt('num_heads', 0) ?? 0;
  if (!(H > 0)) return 'num_heads is missing';
  const sizes = qkSizes(n);
  if (typeof sizes === 'string') return sizes;
  if (sizes.q !== sizes.k || sizes.q % H !== 0) return `q/k hidden sizes ${sizes.q}/${sizes.k} do not split into ${H} equal heads`;
  return null;
}

function qkSizes(n: Node): { q: number; k: number } | string {
  const hs = n.getInts('qkv_hidden_sizes');
  if (hs?.length === 3) return { q: Number(hs[0]), k: Number(hs[1]) };
  const w = n.input(1);
  const dims = w?.constTensor()?.dims ?? knownShape(w)?.map((d) => (typeof d === 'number' ? d : Number.NaN));
  const cols = dims?.length === 2 ? Number(dims[1]) : Number.NaN;
  if (!(cols > 0) || cols % 3 !== 0) return 'the width of its packed weight is unknown';
  return { q: cols / 3, k: cols / 3 };
}

/** Adds the probability twin of every supported fused Attention of the main graph (see the file comment). */
export function addAttentionTwins(model: Model): AttentionTwins {
  const g = model.graph;
  const nodes: Node[] = [];
  const consts: Value[] = [];
  const sites: AttentionTwins['sites'] = [];
  const unsupported: AttentionTwins['unsupported'] = [];
  const konst = (base: string, t: Tensor): Value => {
    const v = g.addConstant(base, t);
    consts.push(v);
    return v;
  };
  const i64 = (base: string, xs: number[]): Value => konst(base, Tensor.fromArray(DataType.INT64, [xs.length], BigInt64Array.from(xs, BigInt)));
  for (const att of fusedAttentionNodes(g)) {
    const why = whyNoTwin(model, att);
    if (why) {
      unsupported.push({ node: att, why });
      continue;
    }
    const base = `${att.name || att.output(0).name}_twin`;
    if (isStandard(att)) {
      const attrs = [...att.attributes.values()].filter((a) => a.name !== 'qk_matmul_output_mode');
      const outs = ['', '', '', ''].map((_, i) => (i === 0 || i === 3 ? g.freshName(`${base}_out${i}`) : ''));
      const twin = g.addNode('Attention', att.inputs, [...attrs, Attribute.int('qk_matmul_output_mode', 3)], {
        name: g.freshName(base),
        outputs: outs,
        after: att,
      });
      nodes.push(twin);
      let probs = twin.output(3);
      const t = knownElemType(att.input(0));
      if (t !== DataType.FLOAT) {
        const cast = g.addNode('Cast', [probs], { to: DataType.FLOAT }, { name: g.freshName(`${base}_Cast`), after: twin });
        nodes.push(cast);
        probs = cast.output(0);
      }
      sites.push({ node: att, probs });
      continue;
    }
    let after: Node = att;
    const op = (type: string, ins: (Value | null)[], attrs: Record<string, unknown> = {}): Value => {
      const node = g.addNode(type, ins, attrs, { name: g.freshName(`${base}_${type}`), after });
      nodes.push(node);
      after = node;
      return node.output(0);
    };
    const f32 = (v: Value): Value => (knownElemType(v) === DataType.FLOAT ? v : op('Cast', [v], { to: DataType.FLOAT }));
    const H = att.getInt('num_heads') as number;
    const { q: hq, k: hk } = qkSizes(att) as { q: number; k: number };
    const D = hq / H;
    const x = f32(att.input(0) as Value);
    let qkv = op('MatMul', [x, f32(att.input(1) as Value)]);
    if (present(att.input(2))) qkv = op('Add', [qkv, f32(att.input(2) as Value)]);
    const axis = i64(`${base}_axis`, [-1]);
    const q = op('Slice', [qkv, i64(`${base}_q0`, [0]), i64(`${base}_q1`, [hq]), axis]);
    const k = op('Slice', [qkv, i64(`${base}_k0`, [hq]), i64(`${base}_k1`, [hq + hk]), axis]);
    const heads = i64(`${base}_heads`, [0, 0, H, D]);
    const Q = op('Transpose', [op('Reshape', [q, heads])], { perm: [0, 2, 1, 3] });
    const K = op('Transpose', [op('Reshape', [k, heads])], { perm: [0, 2, 3, 1] });
    const scale = att.getFloat('scale', 0) || 1 / Math.sqrt(D);
    let scores = op('Mul', [op('MatMul', [Q, K]), konst(`${base}_scale`, Tensor.scalar(DataType.FLOAT, scale))]);
    let mask: Value | null = null;
    const mi = att.input(3);
    if (present(mi)) {
      const attend = op('Greater', [op('Cast', [mi], { to: DataType.INT64 }), konst(`${base}_zero`, Tensor.scalar(DataType.INT64, 0n))]);
      const filter = att.getFloat('mask_filter_value', -10000) as number;
      const fill = op('Where', [attend, konst(`${base}_0f`, Tensor.scalar(DataType.FLOAT, 0)), konst(`${base}_fill`, Tensor.scalar(DataType.FLOAT, filter))]);
      // rank 2 known: [B, S] -> [B, 1, 1, S]; unknown: reshaped to exactly [B, 1, 1, S] from x's shape, which fails at
      // run time (no capture, the caller falls back) for any mask that is not [B, S]
      const shape =
        inferRank(mi) === 2
          ? i64(`${base}_mask_shape`, [0, 1, 1, -1])
          : op(
              'Concat',
              [
                op('Gather', [op('Shape', [x]), i64(`${base}_b`, [0])], { axis: 0 }),
                i64(`${base}_11`, [1, 1]),
                op('Gather', [op('Shape', [x]), i64(`${base}_s`, [1])], { axis: 0 }),
              ],
              { axis: 0 },
            );
      mask = op('Reshape', [fill, shape]);
    }
    if (att.getInt('unidirectional', 0)) {
      const s = op('Gather', [op('Shape', [x]), konst(`${base}_one`, Tensor.scalar(DataType.INT64, 1n))], { axis: 0 });
      const idx = op('Range', [konst(`${base}_start`, Tensor.scalar(DataType.INT64, 0n)), s, konst(`${base}_delta`, Tensor.scalar(DataType.INT64, 1n))]);
      const future = op('Greater', [op('Reshape', [idx, i64(`${base}_row`, [1, -1])]), op('Reshape', [idx, i64(`${base}_col`, [-1, 1])])]);
      const lowest = konst(`${base}_lowest`, Tensor.scalar(DataType.FLOAT, -3.4028234663852886e38));
      mask = op('Where', [future, lowest, mask ?? konst(`${base}_0c`, Tensor.scalar(DataType.FLOAT, 0))]);
    }
    if (mask) scores = op('Add', [scores, mask]);
    sites.push({ node: att, probs: op('Softmax', [scores], { axis: 3 }) });
  }
  let removed = false;
  return {
    sites,
    unsupported,
    remove(): void {
      if (removed) return;
      removed = true;
      g.removeNodes(nodes);
      for (const c of consts) g.removeInitializer(c);
    },
  };
}
