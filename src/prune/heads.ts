/**
 * Structured analysis of attention heads in unfused (torch.onnx.export style) attention:
 *
 *   x ─MatMul(Wq)─Add(bq)─Reshape[B,S,H,D]─Transpose─┐
 *   x ─MatMul(Wk)─Add(bk)─Reshape[B,S,H,D]─Transpose─MatMul─Div─Add(mask)─Softmax─┐
 *   x ─MatMul(Wv)─Add(bv)─Reshape[B,S,H,D]─Transpose────────────────────────────MatMul─Transpose─Reshape[B,S,H*D]─MatMul(Wo)
 *
 * GPT-2 (torch export, after canonicalizeForStructured): one packed projection x ─MatMul(Wqkv)─Add─Split[E,E,E] feeds
 * the three Reshapes; the head blocks of each part sit at their part's offset in Wqkv (WeightSlice.offset) and the
 * Split sizes follow the head count. Its causal mask Where(cond, scores, min) is part of the score chain (cond must
 * broadcast over heads), and k.size(-2) read through a Transpose -> Shape -> Slice is harmless.
 *
 * LLaMA (grouped-query attention): q and k pass through rotary embeddings (an element-wise region of Mul/Add/Neg and
 * Slice/Concat on the head-size axis, with cos/sin that broadcast over heads), and K/V are repeated by torch's repeat_kv
 * (Unsqueeze -> Expand -> Reshape). A unit is then a KV group: one K/V head and the nRep query heads that read it
 * (contiguous: query head h reads K/V head floor(h / nRep)); the Expand and Reshape targets' head entries follow, and a
 * Shape read of the head axis is allowed when it only builds this block's own Reshape/Expand targets.
 *
 * Head h owns columns h*D..h*D+D-1 of Wq, Wk, Wv (and the biases) and the same rows of Wo. Removing heads cuts those
 * blocks together and rewrites the shape constants that encode the head count: the H of each split Reshape and the
 * H*D of the merge Reshape, whether the shape is one constant or built by Concat from Shape/Gather pieces and
 * constants (the constant piece is replaced, or copied when something else reads it). -1 entries need no edit.
 *
 * The head axis is followed through every Transpose to the two attention MatMuls, where it must be a batch axis of
 * both operands; the score chain between them may scale by constants and add a mask that broadcasts over heads
 * (proved from constants, declared shapes, Unsqueeze, or a runtime probe when given). Values of the pattern may be
 * read elsewhere only by Shape -> Gather of an axis whose size does not change (batch, sequence). Anything else
 * leaves the layer's heads alone, with the reason.
 */
import type { Graph, Node, Value } from '../ir/graph.js';
import { findAttentionSoftmax } from '../measure/attention.js';
import { constantInts, constantOf } from '../rewrite/constant.js';
import { describe, expandEntries, reshapeEntries, shapeReadProblem, type ShapeEntry } from './shape-spec.js';
import { ShapeFacts } from './shape-facts.js';
import type { DimEdit, ShapeEdit, ShapeMap, SinkInput, SkippedUnit, UnitGroup, WeightSlice } from './types.js';
import { isStandardDomain } from '../ir/model.js';

const PASS = new Set(['Identity', 'Dropout', 'Cast']);
/** what rotary embeddings do to q and k per head: x*cos + rotate_half(x)*sin, rotate_half = Concat(-x2, x1) */
const REGION = new Set(['Add', 'Sub', 'Mul', 'Neg', 'Slice', 'Concat']);
/** shape arithmetic torch writes between a Shape read and the Reshape/Expand target it builds */
const SHAPE_ARITH = new Set([
  'Gather',
  'Unsqueeze',
  'Squeeze',
  'Concat',
  'Mul',
  'Add',
  'Sub',
  'Div',
  'Reshape',
  'Equal',
  'Where',
  'Cast',
  'ConstantOfShape',
  'Slice',
]);
const SCORE_OPS = new Set(['Add', 'Sub', 'Mul', 'Div']);

class NotHeads extends Error {
  constructor(
    readonly where: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

interface Internal {
  value: Value;
  /** positions (from the start) whose size changes when heads go */
  changing: number[];
}

interface Branch {
  heads: number | undefined;
  headSize: number;
  hidden: number;
  headPos: number;
  dPos: number;
  rank: number;
  headEdit?: ShapeEdit;
  slices: WeightSlice[];
  source: Node;
  /** the part of a packed projection (q|k|v in one weight) split off by a Split on the feature axis */
  split?: { node: Node; output: number; equal: boolean };
  /** grouped-query attention: K/V heads repeated nRep times (Unsqueeze -> Expand -> Reshape), with the shape edits */
  repeat?: { nRep: number; edits: ShapeEdit[] };
}

/** A rotary region or a repeat found walking back, checked once the head axis is known (perms after it: `after`). */
interface Pending {
  after: number;
  check: (headPos: number, rank: number) => void;
}

class Tracer {
  readonly nodes = new Set<Node>();
  readonly internal: Internal[] = [];
  /** values read only through Shape (a Transpose of K whose size torch reads): not part of the pattern, but shrinking */
  readonly shapeOnly: Internal[] = [];
  readonly slices: WeightSlice[] = [];
  readonly shapeEdits: ShapeEdit[] = [];
  readonly sinks: SinkInput[] = [];

  constructor(
    readonly graph: Graph,
    readonly facts: ShapeFacts,
    readonly opset: number,
  ) {}

  fail(n: Node | Value, reason: string): never {
    throw new NotHeads('opType' in n ? describe(n) : n.name, reason);
  }

  trace(S: Node): UnitGroup {
    this.nodes.add(S);
    // scores: Softmax <- (Add mask | Div/Mul scale)* <- MatMul(Q, K^T)
    let cur = S.input(0)!;
    const sides: { node: Node; input: number; value: Value }[] = [];
    let mqk: Node | undefined;
    for (let step = 0; step < 8 && !mqk; step++) {
      const p = cur.producer;
      if (!p || !isStandardDomain(p.domain)) this.fail(S, `the scores of ${describe(S)} do not come from a MatMul of queries and keys`);
      this.internal.push({ value: cur, changing: [] });
      this.nodes.add(p);
      if (p.opType === 'MatMul' && !constantOf(p.input(0)) && !constantOf(p.input(1))) mqk = p;
      else if (SCORE_OPS.has(p.opType) && p.inputs.length === 2) {
        const dyn = p.inputs.map((x, i) => ({ x: x!, i })).filter(({ x }) => x && !constantOf(x));
        let chain = dyn.length === 1 ? dyn[0] : dyn.find(({ x }) => leadsToMatMul(x, 4));
        if (dyn.length === 2 && dyn.every(({ x }) => leadsToMatMul(x, 4))) chain = undefined;
        if (!chain) this.fail(p, `cannot tell the scores from the other operand of ${describe(p)}`);
        if (p.opType !== 'Add' && p.opType !== 'Mul' && chain.i !== 0) this.fail(p, `the scores are the divisor of ${describe(p)}`);
        p.inputs.forEach((x, i) => x && i !== chain!.i && sides.push({ node: p, input: i, value: x }));
        cur = chain.x;
      } else if (p.opType === 'Where' && p.inputs.length === 3) {
        // a causal mask: Where(cond, scores, min) (GPT-2); cond and the other branch must broadcast over heads
        const dyn = [1, 2].filter((i) => p.input(i) && !constantOf(p.input(i)) && leadsToMatMul(p.input(i)!, 4));
        if (dyn.length !== 1) this.fail(p, `cannot tell the scores from the other operand of ${describe(p)}`);
        p.inputs.forEach((x, i) => x && i !== dyn[0] && sides.push({ node: p, input: i, value: x }));
        cur = p.input(dyn[0])!;
      } else if (PASS.has(p.opType)) cur = p.input(0)!;
      else this.fail(p, `the scores of ${describe(S)} pass through ${describe(p)}`);
    }
    if (!mqk) this.fail(S, `no MatMul of queries and keys within 8 nodes of ${describe(S)}`);
    // probabilities: Softmax -> (Identity/Dropout/Cast)* -> MatMul(P, V)
    let probs = S.output(0);
    let mpv: Node | undefined;
    for (let step = 0; step < 4 && !mpv; step++) {
      const uses = probs.uses;
      if (uses.length !== 1 || probs.isGraphOutput)
        this.fail(probs, `the attention probabilities '${probs.name}' are read by ${uses.length} nodes${probs.isGraphOutput ? ' and are a graph output' : ''}`);
      const n = uses[0].node;
      this.internal.push({ value: probs, changing: [] });
      this.nodes.add(n);
      if (n.opType === 'MatMul' && uses[0].index === 0 && !constantOf(n.input(1))) mpv = n;
      else if (PASS.has(n.opType) && uses[0].index === 0) probs = n.output(0);
      else this.fail(n, `the attention probabilities pass through ${describe(n)}`);
    }
    if (!mpv) this.fail(S, `the probabilities of ${describe(S)} do not reach a MatMul with V`);

    const q = this.branch(mqk.input(0)!, 'query');
    const k = this.branch(mqk.input(1)!, 'key');
    const v = this.branch(mpv.input(1)!, 'value');
    const r = q.rank;
    if (k.rank !== r || v.rank !== r || r < 3) this.fail(mqk, `queries, keys and values have different ranks`);
    // grouped-query attention: K and V have G heads repeated nRep times; a unit is a KV group (1 K/V head, nRep Q heads)
    const nRep = k.repeat?.nRep ?? 1;
    if ((v.repeat?.nRep ?? 1) !== nRep || q.repeat) this.fail(mqk, `keys and values are not repeated alike`);
    const Hq = q.heads ?? (k.heads !== undefined ? k.heads * nRep : undefined) ?? (v.heads !== undefined ? v.heads * nRep : undefined);
    if (Hq === undefined || Hq % nRep !== 0) this.fail(mqk, `queries, keys and values disagree on the head count`);
    const G = Hq / nRep;
    if ((q.heads !== undefined && q.heads !== Hq) || [k, v].some((b) => b.heads !== undefined && b.heads !== G))
      this.fail(mqk, `queries, keys and values disagree on the head count`);
    for (const b of [q, k, v]) {
      const hb = b === q ? Hq : G;
      if (b.hidden !== hb * b.headSize) this.fail(b.source, `${describe(b.source)} has ${b.hidden} outputs, not ${hb} heads x ${b.headSize}`);
    }
    if (nRep > 1) {
      for (const s of q.slices) s.width *= nRep;
      if (q.headEdit) q.headEdit.perUnit = nRep;
    }
    const H = G;
    const p = q.headPos;
    if (p >= r - 2 || k.headPos !== p || v.headPos !== p) this.fail(mqk, `the head axis is not the same batch axis of both attention MatMuls`);
    if (q.dPos !== r - 1 || k.dPos !== r - 2 || v.dPos !== r - 1) this.fail(mqk, `the attention MatMuls do not contract the head size of queries and keys`);
    if (q.headSize !== k.headSize) this.fail(mqk, `queries and keys have different head sizes`);
    // the score chain must broadcast over heads
    const kk = r - p;
    for (const s of sides) {
      const t = constantOf(s.value);
      if (t) {
        if (t.rank < kk || t.dims[t.rank - kk] === 1) continue;
        if (t.dims[t.rank - kk] === H && nRep === 1) {
          this.slices.push({ node: s.node, input: s.input, axis: t.rank - kk, width: 1, role: 'param' });
          continue;
        }
        this.fail(s.node, `'${s.value.name}' has ${t.dims[t.rank - kk]} entries on the head axis`);
      }
      if (this.facts.dimFromEnd(s.value, kk) !== 1)
        this.fail(s.node, `'${s.value.name}' (read by ${describe(s.node)}) may differ per head; its shape is not known`);
    }
    const axisAttr = S.getInt('axis', this.opset >= 13 ? -1 : 1);
    if ((axisAttr < 0 ? axisAttr + r : axisAttr) !== r - 1) this.fail(S, `${describe(S)} is not over the last axis`);
    for (const x of this.internal.slice(0)) if (x.changing.length === 0 && x.value !== S.output(0)) x.changing = [p];
    this.internal.push({ value: S.output(0), changing: [p] });
    this.merge(mpv.output(0), p, r, Hq, v.headSize, nRep);
    for (const b of [k, v]) if (b.repeat) this.shapeEdits.push(...b.repeat.edits);

    // a packed projection: every part of its Split that is read must be one of this block's q, k, v
    for (const b of [q, k, v]) {
      if (!b.split) continue;
      const mine = [q, k, v].filter((o) => o.split?.node === b.split!.node).map((o) => o.split!.output);
      b.split.node.outputs.forEach((o, i) => {
        if (mine.includes(i)) return;
        if (b.split!.equal || (o && (o.uses.length || o.isGraphOutput)))
          this.fail(b.split!.node, `output ${i} of ${describe(b.split!.node)} is not the queries, keys or values of this attention`);
      });
      if (b.source !== [q, k, v].find((o) => o.split?.node === b.split!.node)!.source)
        this.fail(b.split.node, `the parts of ${describe(b.split.node)} disagree`);
    }
    for (const b of [q, k, v]) {
      this.slices.push(...b.slices);
      if (b.headEdit) this.shapeEdits.push(b.headEdit);
    }
    this.checkInternal();
    this.checkWeights();
    const dimEdits: DimEdit[] = [];
    for (const x of [...this.internal, ...this.shapeOnly]) {
      const dims = x.value.type ? this.facts.dims(x.value) : undefined;
      if (!dims) continue;
      for (const pos of x.changing) {
        const sz = dims[pos];
        if (sz === undefined) continue;
        dimEdits.push({ value: x.value, axisFromEnd: dims.length - pos, perUnit: sz / H });
      }
    }
    return {
      id: `heads:${S.name || S.output(0).name}`,
      kind: 'heads',
      units: H,
      unitWidth: v.headSize * nRep,
      label: S.name || S.output(0).name,
      slices: this.slices,
      shapeEdits: this.shapeEdits,
      attrEdits: [],
      dimEdits,
      sinks: this.sinks,
      nodes: [...this.nodes].map(describe),
    };
  }

  /** Q, K or V back to its projection: (Transpose | scale)* <- Reshape(split) <- (bias Add)* <- MatMul(x, W). */
  private branch(start: Value, role: string): Branch {
    const perms: number[][] = [];
    let cur = start;
    const chain: Value[] = [];
    let reshape: Node | undefined;
    const pending: Pending[] = [];
    let repeat: { reshape: Node; expand: Node; after: number } | undefined;
    for (let step = 0; step < 12 && !reshape; step++) {
      const p = cur.producer;
      if (!p || !isStandardDomain(p.domain)) this.fail(cur, `the ${role}s '${cur.name}' do not come from a Reshape into heads`);
      chain.push(cur);
      this.nodes.add(p);
      if (p.opType === 'Transpose') {
        const perm = p.getInts('perm');
        if (!perm) this.fail(p, `${describe(p)} has no perm`);
        perms.unshift(perm);
        cur = p.input(0)!;
      } else if ((p.opType === 'Mul' || p.opType === 'Div') && scalarOperand(p) !== undefined) cur = p.input(1 - scalarOperand(p)!)!;
      else if (
        p.opType === 'Reshape' &&
        !repeat &&
        p.input(0)?.producer?.opType === 'Expand' &&
        p.input(0)!.producer!.input(0)?.producer?.opType === 'Unsqueeze'
      ) {
        // repeat_kv: Reshape(Expand(Unsqueeze(x, h + 1), [.., Hkv, nRep, ..]), [.., Hkv * nRep, ..])
        const expand = p.input(0)!.producer!;
        const unsq = expand.input(0)!.producer!;
        for (const n of [expand, unsq]) this.nodes.add(n);
        chain.push(expand.output(0), unsq.output(0));
        repeat = { reshape: p, expand, after: perms.length };
        const axes = unsqueezeAxesOf(unsq);
        pending.push({
          after: perms.length,
          check: (h, rank) => {
            if (axes?.length !== 1 || (axes[0] < 0 ? axes[0] + rank + 1 : axes[0]) !== h + 1)
              this.fail(unsq, `${describe(unsq)} does not insert the repeat axis right after the head axis`);
          },
        });
        cur = unsq.input(0)!;
      } else if (REGION.has(p.opType) && p.inputs.filter((x) => x && !constantOf(x)).length >= 1) {
        const reg = this.region(cur, role);
        chain.push(...reg.values);
        pending.push({ after: perms.length, check: reg.check });
        cur = reg.root;
      } else if (p.opType === 'Reshape') reshape = p;
      else this.fail(p, `the ${role}s pass through ${describe(p)} before the attention`);
    }
    if (!reshape) this.fail(start, `the ${role}s do not come from a Reshape into heads`);
    const entries = this.parseShape(reshape, 1);
    const r = entries.length;
    if (r < 3) this.fail(reshape, `${describe(reshape)} does not split into heads`);
    let headPos = r - 2;
    let dPos = r - 1;
    for (const perm of perms) {
      if (perm.length !== r) this.fail(reshape, `a Transpose of the ${role}s has rank ${perm.length}, not ${r}`);
      headPos = perm.indexOf(headPos);
      dPos = perm.indexOf(dPos);
    }
    const headPosAt = (after: number): number => {
      let h = r - 2;
      for (const perm of perms.slice(0, perms.length - after)) h = perm.indexOf(h);
      return h;
    };
    for (const pd of pending) pd.check(headPosAt(pd.after), r);
    // positions along the chain, for the Shape->Gather readers: recompute from the Reshape forwards
    {
      let hp = r - 2;
      let dp = r - 1;
      const rev = [...chain].reverse(); // from the Reshape output up to `start`
      let pi = 0;
      for (const val of rev) {
        const prod = val.producer!;
        if (prod.opType === 'Transpose') {
          const perm = perms[pi++];
          hp = perm.indexOf(hp);
          dp = perm.indexOf(dp);
        }
        this.internal.push({ value: val, changing: [hp] });
      }
      void dp;
    }
    // projection: x <- (Add/Sub/Mul with a constant)* <- MatMul(x, W)
    let x = reshape.input(0)!;
    const slices: WeightSlice[] = [];
    let source: Node | undefined;
    let hidden = 0;
    const projChain: Value[] = [];
    // a packed projection: Split(x, sizes) on the last axis; the slices found after it (towards the weight) are packed
    let split: { node: Node; output: number; sizes: number[] | undefined; packedFrom: number } | undefined;
    for (let step = 0; step < 5 && !source; step++) {
      const p = x.producer;
      if (!p || !isStandardDomain(p.domain)) this.fail(x, `'${x.name}' is not produced by a projection`);
      projChain.push(x);
      this.nodes.add(p);
      const w = constantOf(p.input(1));
      if (p.opType === 'MatMul' && w && w.rank === 2 && !constantOf(p.input(0))) {
        source = p;
        hidden = w.dims[1];
        slices.push({ node: p, input: 1, axis: 1, width: 0, role: 'source' });
      } else if (p.opType === 'Gemm' && w && w.rank === 2 && !constantOf(p.input(0)) && !p.getInt('transA', 0)) {
        source = p;
        const transB = p.getInt('transB', 0);
        hidden = w.dims[transB ? 0 : 1];
        slices.push({ node: p, input: 1, axis: transB ? 0 : 1, width: 0, role: 'source' });
        const c = p.input(2) ? constantOf(p.input(2)) : undefined;
        if (p.input(2) && !c) this.fail(p, `the bias of ${describe(p)} is not a constant`);
        if (c && c.size > 1) slices.push({ node: p, input: 2, axis: c.rank - 1, width: 0, role: 'param' });
      } else if ((p.opType === 'Add' || p.opType === 'Sub' || p.opType === 'Mul') && p.inputs.length === 2) {
        const ci = constantOf(p.input(0)) ? 0 : constantOf(p.input(1)) ? 1 : -1;
        if (ci < 0) this.fail(p, `${describe(p)} adds a non-constant to the ${role} projection`);
        const t = constantOf(p.input(ci))!;
        if (t.rank > 1 && t.dims.slice(0, -1).some((d) => d !== 1)) this.fail(p, `the constant of ${describe(p)} is not per feature`);
        if (t.rank >= 1 && t.dims[t.rank - 1] !== 1) slices.push({ node: p, input: ci, axis: t.rank - 1, width: 0, role: 'param' });
        x = p.input(1 - ci)!;
      } else if (p.opType === 'Split' && !split) {
        const xr = this.facts.rank(p.input(0));
        const ax = p.getInt('axis', 0);
        if (xr === undefined || (ax < 0 ? ax + xr : ax) !== xr - 1) this.fail(p, `${describe(p)} does not split the feature axis`);
        if (p.getInts('split')) this.fail(p, `${describe(p)} gives its sizes as an attribute (opset < 13)`);
        const sizes = p.input(1) ? constantInts(p.input(1)) : undefined;
        if (p.input(1) && !sizes) this.fail(p, `the sizes of ${describe(p)} are not constant`);
        split = { node: p, output: x.producerIndex, sizes, packedFrom: slices.length };
        x = p.input(0)!;
      } else this.fail(p, `the ${role} projection passes through ${describe(p)}`);
    }
    if (!source) this.fail(reshape, `no projection weight found for the ${role}s`);
    let packedOffset = 0;
    if (split) {
      const n = split.node.outputs.length;
      const sizes = split.sizes ?? (hidden % n === 0 ? new Array<number>(n).fill(hidden / n) : undefined);
      if (!sizes || sizes.length !== n || sizes.reduce((a, b) => a + b, 0) !== hidden)
        this.fail(split.node, `${describe(split.node)} does not split the ${hidden} outputs of ${describe(source)} into its parts`);
      packedOffset = sizes.slice(0, split.output).reduce((a, b) => a + b, 0);
      hidden = sizes[split.output];
    }
    for (const val of projChain) this.internal.push({ value: val, changing: [] });
    const xr = this.facts.rank(reshape.input(0));
    if (xr !== undefined && xr !== r - 1) this.fail(reshape, `${describe(reshape)} does not split only the last axis`);
    const he = entries[r - 2];
    const de = entries[r - 1];
    let heads: number | undefined;
    let headSize: number;
    let headEdit: ShapeEdit | undefined;
    if (he.value !== undefined && he.value > 0 && de.value !== undefined && de.value > 0) {
      heads = he.value;
      headSize = de.value;
    } else if (he.value === -1 && de.value !== undefined && de.value > 0) headSize = de.value;
    else if (he.value !== undefined && he.value > 0 && de.value === -1) {
      heads = he.value;
      headSize = hidden / heads;
    } else this.fail(reshape, `${describe(reshape)} does not give the head count and head size as constants`);
    if (!Number.isInteger(headSize) || headSize <= 0 || hidden % headSize !== 0)
      this.fail(reshape, `${describe(reshape)} does not split ${hidden} features into heads`);
    if (heads !== undefined) {
      if (!he.edit) this.fail(reshape, `the head count of ${describe(reshape)} is not a constant`);
      headEdit = { ...he.edit, perUnit: 1 };
    }
    for (const s of slices) s.width = headSize;
    if (split) {
      if (packedOffset % headSize !== 0) this.fail(split.node, `${describe(split.node)} does not split on a head boundary`);
      for (const s of slices.slice(split.packedFrom)) s.offset = packedOffset / headSize;
    }
    for (const val of projChain)
      this.internal[this.internal.findIndex((i) => i.value === val)].changing = [this.facts.rank(val) !== undefined ? this.facts.rank(val)! - 1 : r - 2];
    if (split?.sizes) this.shapeEdits.push({ node: split.node, input: 1, index: split.output, perUnit: headSize });
    let rep: Branch['repeat'];
    if (repeat) {
      if (heads === undefined) this.fail(reshape, `the head count of ${describe(reshape)} is not a constant`);
      const h = headPosAt(repeat.after);
      const edits: ShapeEdit[] = [];
      let nRep: number | undefined;
      // the Expand target [.., Hkv, nRep, ..]: constant entries are edited, a dynamic head entry is read from a shape
      const ex = expandEntries(repeat.expand, this.facts);
      if (typeof ex !== 'string') {
        if (ex.length !== r + 1) this.fail(repeat.expand, `${describe(repeat.expand)} does not expand to rank ${r + 1}`);
        if (ex[h].value !== undefined) {
          if (ex[h].value !== heads || !ex[h].edit) this.fail(repeat.expand, `${describe(repeat.expand)} does not keep the ${heads} key/value heads`);
          edits.push({ ...ex[h].edit!, perUnit: 1 });
        }
        nRep = ex[h + 1].value;
      } else if (!this.headEntryDynamic(repeat.expand.input(1)!, h, 8))
        this.fail(repeat.expand, `the head count in the target of ${describe(repeat.expand)} is not read from a shape`);
      const re = this.parseShape(repeat.reshape, 1);
      if (re.length !== r) this.fail(repeat.reshape, `${describe(repeat.reshape)} does not merge the repeat axis into the heads`);
      const e = re[h];
      if (e.value !== undefined) {
        if (!e.edit || e.value % heads !== 0 || (nRep !== undefined && e.value !== heads * nRep))
          this.fail(repeat.reshape, `${describe(repeat.reshape)} does not merge ${heads} key/value heads into a multiple`);
        nRep = e.value / heads;
        edits.push({ ...e.edit, perUnit: nRep });
      }
      if (nRep === undefined || !Number.isInteger(nRep) || nRep < 1) this.fail(repeat.reshape, `the repeat count of ${describe(repeat.reshape)} is not known`);
      rep = { nRep, edits };
    }
    const sp = split && { node: split.node, output: split.output, equal: !split.sizes };
    return { heads, headSize, hidden, headPos, dPos, rank: r, headEdit, slices, source, split: sp, repeat: rep };
  }

  /** The context forwards: (Transpose)* -> Reshape(merge H, D) -> MatMul(., Wo). */
  private merge(ctx: Value, headPos: number, r: number, H: number, headSize: number, nRep: number): void {
    let cur = ctx;
    let hp = headPos;
    let dp = r - 1;
    let reshape: Node | undefined;
    for (let step = 0; step < 4 && !reshape; step++) {
      this.internal.push({ value: cur, changing: [hp] });
      const users = this.realUsers(cur, [hp]);
      if (users.length !== 1) this.fail(cur, `the attention context '${cur.name}' is read by ${users.length} nodes`);
      const n = users[0];
      this.nodes.add(n);
      if (n.opType === 'Transpose') {
        const perm = n.getInts('perm');
        if (!perm || perm.length !== r) this.fail(n, `${describe(n)} has no usable perm`);
        hp = perm.indexOf(hp);
        dp = perm.indexOf(dp);
        cur = n.output(0);
      } else if (n.opType === 'Reshape' && n.input(0) === cur) reshape = n;
      else this.fail(n, `the attention context passes through ${describe(n)}`);
    }
    if (!reshape) this.fail(ctx, `the attention context is not merged back by a Reshape`);
    if (hp !== r - 2 || dp !== r - 1) this.fail(reshape, `${describe(reshape)} does not merge heads and head size as its last axis`);
    const entries = this.parseShape(reshape, 1);
    if (entries.length !== r - 1) this.fail(reshape, `${describe(reshape)} does not merge exactly two axes`);
    const last = entries[r - 2];
    if (last.value === H * headSize) {
      if (!last.edit) this.fail(reshape, `the hidden size of ${describe(reshape)} is not a constant`);
      this.shapeEdits.push({ ...last.edit, perUnit: headSize * nRep });
    } else if (last.value !== -1) this.fail(reshape, `${describe(reshape)} does not merge to ${H * headSize} features`);
    const merged = reshape.output(0);
    this.internal.push({ value: merged, changing: [r - 2] });
    const users = this.realUsers(merged, [r - 2]);
    if (users.length !== 1) this.fail(merged, `the merged attention output '${merged.name}' is read by ${users.length} nodes`);
    const o = users[0];
    const w = constantOf(o.input(1));
    this.nodes.add(o);
    if (o.input(0) !== merged || !w || w.rank !== 2) this.fail(o, `the merged attention output is read by ${describe(o)}, not an output projection`);
    let slice: WeightSlice;
    const w0 = headSize * nRep;
    if (o.opType === 'MatMul') slice = { node: o, input: 1, axis: 0, width: w0, role: 'sink' };
    else if (o.opType === 'Gemm' && !o.getInt('transA', 0)) slice = { node: o, input: 1, axis: o.getInt('transB', 0) ? 1 : 0, width: w0, role: 'sink' };
    else this.fail(o, `the merged attention output is read by ${describe(o)}, not an output projection`);
    this.slices.push(slice);
    this.sinks.push({ value: merged, axisFromEnd: 1, slice });
  }

  /** Readers of v other than Shape -> Gather of axes that keep their size. */
  private realUsers(v: Value, changing: number[]): Node[] {
    const out: Node[] = [];
    for (const u of v.uses) if (!this.harmlessShape(u.node, changing)) out.push(u.node);
    return [...new Set(out)];
  }

  /** A Shape read of unchanged axes, or a Transpose whose output only such reads use (torch reads k.size(-2) of K). */
  private harmlessShape(n: Node, changing: number[]): boolean {
    if (n.opType === 'Shape') return !shapeReadProblem(n, changing, this.facts) || this.feedsBlockShapes(n.output(0), 0);
    const perm = n.opType === 'Transpose' ? n.getInts('perm') : undefined;
    const out = n.outputs[0];
    if (!perm || !out || out.isGraphOutput || !out.uses.length || n.outputs.length !== 1) return false;
    const moved = changing.map((c) => perm.indexOf(c));
    const ok = out.uses.every((u) => u.node.graph === this.graph && this.harmlessShape(u.node, moved));
    // its head axis shrinks with the rest: a declared shape there must follow (a stale one fails in onnxruntime)
    if (ok) this.shapeOnly.push({ value: out, changing: moved });
    return ok;
  }

  /**
   * Whether a shape read only builds the targets of this block's Reshape/Expand nodes (torch's repeat_kv reads
   * k.shape and writes [b, h * n, s, d]): the sizes it reads are those of the pruned tensor, so the targets follow.
   */
  private feedsBlockShapes(v: Value, depth: number): boolean {
    if (depth > 12 || v.isGraphOutput || !v.uses.length) return false;
    return v.uses.every(({ node: n, index }) => {
      if ((n.opType === 'Reshape' || n.opType === 'Expand') && index === 1 && this.nodes.has(n)) return true;
      if (!SHAPE_ARITH.has(n.opType) || !isStandardDomain(n.domain) || n.graph !== this.graph || this.nodes.has(n)) return false;
      return n.outputs.every((o) => !o || this.feedsBlockShapes(o, depth + 1));
    });
  }

  /** Whether every Concat building `v` (a shape) has a dynamic piece at position `pos` (read from a shape). */
  private headEntryDynamic(v: Value, pos: number, depth: number): boolean {
    const p = v.producer;
    if (constantOf(v)) return true;
    if (!p || depth < 0) return false;
    if (p.opType === 'Concat') {
      let at = 0;
      for (const x of p.inputs) {
        if (!x) continue;
        const len = constantOf(x)?.size ?? 1;
        if (pos >= at && pos < at + len) return !constantOf(x);
        at += len;
      }
      return false;
    }
    if (!SHAPE_ARITH.has(p.opType) && p.opType !== 'Shape') return false;
    if (p.opType === 'Shape') return true;
    return p.inputs.every((x) => !x || this.headEntryDynamic(x, pos, depth - 1));
  }

  /**
   * The element-wise region rotary embeddings make of q or k (x*cos + Concat(-x[.., d/2:], x[.., :d/2])*sin), walked
   * back from `end` to the one head-shaped value x it reads (produced by a Transpose or Reshape). Every other operand
   * (cos, sin) must broadcast over the heads, and the Slices and Concats must work on another axis than the heads'.
   */
  private region(end: Value, role: string): { root: Value; values: Value[]; check: Pending['check'] } {
    const values: Value[] = [];
    const others: { node: Node; value: Value }[] = [];
    const axisOps: { node: Node; axes: number[] }[] = [];
    const roots = new Set<Value>();
    const seen = new Set<Value>();
    const stack = [end];
    while (stack.length) {
      const v = stack.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      const p = v.producer;
      if (!p || !isStandardDomain(p.domain) || !REGION.has(p.opType) || constantOf(v)) {
        roots.add(v);
        continue;
      }
      if (seen.size > 32) this.fail(p, `the ${role}s pass through a region of more than 32 values before the attention`);
      this.nodes.add(p);
      if (v !== end) values.push(v);
      if (p.opType === 'Slice') {
        const axes = p.input(3) ? constantInts(p.input(3)) : undefined;
        const steps = p.input(4) ? constantInts(p.input(4)) : [1];
        if (!axes || !constantInts(p.input(1)) || !constantInts(p.input(2)) || !steps)
          this.fail(p, `${describe(p)} slices the ${role}s on axes that are not constant`);
        axisOps.push({ node: p, axes });
        stack.push(p.input(0)!);
      } else if (p.opType === 'Neg') stack.push(p.input(0)!);
      else if (p.opType === 'Concat') {
        axisOps.push({ node: p, axes: [p.getInt('axis', 0)] });
        for (const x of p.inputs) if (x) stack.push(x);
      } else
        p.inputs.forEach((x) => {
          if (!x) return;
          if (constantOf(x)) others.push({ node: p, value: x });
          else stack.push(x);
        });
    }
    const heads = [...roots].filter((v) => !constantOf(v) && (v.producer?.opType === 'Transpose' || v.producer?.opType === 'Reshape'));
    if (heads.length !== 1) this.fail(end, `the ${role}s '${end.name}' do not come from one head-shaped value`);
    const root = heads[0];
    for (const x of roots) if (x !== root) for (const u of x.uses) if (this.nodes.has(u.node)) others.push({ node: u.node, value: x });
    const check = (h: number, rank: number): void => {
      for (const { node, axes } of axisOps) if (axes.some((a) => (a < 0 ? a + rank : a) === h)) this.fail(node, `${describe(node)} works on the head axis`);
      for (const { node, value } of others) {
        if (value.isGraphInput) this.fail(node, `'${value.name}' (read by ${describe(node)}) is a graph input, part of the model's interface`);
        const t = constantOf(value);
        const d = t ? (rank - h > t.rank ? 1 : t.dims[t.rank - (rank - h)]) : this.facts.dimFromEnd(value, rank - h);
        if (d !== 1) this.fail(node, `'${value.name}' (read by ${describe(node)}) may differ per head`);
      }
    };
    return { root, values, check };
  }

  private parseShape(reshape: Node, input: number): ShapeEntry[] {
    const e = reshapeEntries(reshape, input, this.facts);
    if (typeof e === 'string') this.fail(reshape, e);
    return e;
  }

  private checkInternal(): void {
    for (const { value, changing } of this.internal) {
      if (value.isGraphOutput) this.fail(value, `'${value.name}' is a graph output`);
      for (const u of value.uses) {
        if (this.nodes.has(u.node)) continue;
        if (u.node.graph !== this.graph) this.fail(value, `'${value.name}' is read inside a subgraph`);
        if (!this.harmlessShape(u.node, changing)) this.fail(u.node, `'${value.name}' is also read by ${describe(u.node)}, outside the attention block`);
      }
    }
  }

  private checkWeights(): void {
    for (const s of this.slices) {
      const v = s.node.input(s.input)!;
      for (const u of v.uses)
        if (!this.slices.some((o) => o.node === u.node && o.input === u.index)) this.fail(u.node, `the weight '${v.name}' is also read by ${describe(u.node)}`);
    }
  }
}

function unsqueezeAxesOf(n: Node): number[] | undefined {
  return n.getInts('axes') ?? constantInts(n.input(1));
}

function scalarOperand(n: Node): number | undefined {
  for (const i of [1, 0]) {
    const t = constantOf(n.input(i));
    if (t && t.size === 1) return n.opType === 'Div' && i === 0 ? undefined : i;
  }
  return undefined;
}

function leadsToMatMul(v: Value, depth: number): boolean {
  const p = v.producer;
  if (!p || depth < 0) return false;
  if (p.opType === 'MatMul') return true;
  if (SCORE_OPS.has(p.opType) || PASS.has(p.opType)) return p.inputs.some((x) => x && !constantOf(x) && leadsToMatMul(x, depth - 1));
  if (p.opType === 'Where') return [1, 2].some((i) => p.input(i) && !constantOf(p.input(i)) && leadsToMatMul(p.input(i)!, depth - 1));
  return false;
}

/** Finds the attention-head groups of the main graph. `claimed` gets the Q/K/V projection nodes of every group found. */
export function analyzeHeads(graph: Graph, opts: { shapes?: ShapeMap; opset: number }): { groups: UnitGroup[]; skipped: SkippedUnit[]; claimed: Set<Node> } {
  const facts = new ShapeFacts(opts.shapes);
  const groups: UnitGroup[] = [];
  const skipped: SkippedUnit[] = [];
  const claimed = new Set<Node>();
  for (const S of findAttentionSoftmax(graph)) {
    const t = new Tracer(graph, facts, opts.opset);
    try {
      const g = t.trace(S);
      groups.push(g);
      for (const s of g.slices) if (s.role === 'source') claimed.add(s.node);
    } catch (e) {
      if (!(e instanceof NotHeads)) throw e;
      skipped.push({ id: `heads:${S.name || S.output(0).name}`, kind: 'heads', where: e.where, reason: e.reason });
    }
  }
  return { groups, skipped, claimed };
}
