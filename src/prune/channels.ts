/**
 * Structured analysis of FFN neurons and Conv channels: which weights must be cut together so that removing a unit
 * keeps every shape valid.
 *
 *   x ─MatMul(W1)─Add(b1)─[Div √2, Erf, Add 1, Mul x, Mul 0.5]─MatMul(W2)─>      neuron i: W1[:, i], b1[i], W2[i, :]
 *   x ─Conv(W1)─BN─Relu─Conv(W2)─>                                             channel c: W1[c], BN[c], W2[:, c]
 *   x ─Conv(W1)─BN─┬───────────Add─Relu─dwConv─BN─Relu─Pool─Flatten─Gemm─>      a residual group: every Conv writing
 *                  └Conv─BN─Relu─Conv─┘                                         into the stream and every reader agree
 *
 * The analysis follows the channel axis as a component over (value, axis) pairs, starting at a producing weight
 * (MatMul/Gemm with a constant right operand, Conv with group 1). Element-wise ops link their operands (constants of
 * the channel size are cut too, scalars are left alone), BatchNormalization and depthwise Conv carry the channel
 * through (their parameters are cut, the Conv's `group` follows), pools keep it, Flatten after a global pool maps it
 * to the feature axis, and a Shape read only for other axes is harmless. The component ends at consuming weights
 * (MatMul/Gemm left operand, Conv input), whose reduction axis is cut.
 *
 * Anything else makes the whole component unsafe and it is left alone with the reason: a graph input or output
 * (the stream is part of the interface), a Reshape/Transpose/Concat/Gather, a reduction over the channel axis
 * (LayerNorm's ReduceMean), a value captured by a subgraph, a grouped Conv that is not depthwise, or a weight that
 * another node outside the component also reads. Only the main graph is analysed.
 */
import type { Graph, Node, Value } from '../ir/graph.js';
import { constantInts, constantOf } from '../rewrite/constant.js';
import { BINARY_OPS, ShapeFacts, UNARY_OPS } from './shape-facts.js';
import { describe, shapeReadProblem } from './shape-spec.js';

export { describe };
import type { AttrEdit, DimEdit, ShapeMap, SinkInput, SkippedUnit, UnitGroup, UnitKind, WeightSlice } from './types.js';
import { isStandardDomain } from '../ir/model.js';

const POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const GLOBAL_POOLS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const REDUCES = new Set([
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceSumSquare',
]);
const NORMS = new Set(['BatchNormalization', 'InstanceNormalization']);

interface Member {
  k: number;
  rank?: number;
}

class Unsafe extends Error {
  constructor(
    readonly where: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const IN = (i: number) => i;
const OUT = (i: number) => -(i + 1);

/** Explores one component from a seed; throws Unsafe with the first reason it is not prunable. */
class Component {
  readonly members = new Map<Value, Member>();
  readonly slices: WeightSlice[] = [];
  readonly attrEdits: AttrEdit[] = [];
  readonly sinks: SinkInput[] = [];
  readonly nodes = new Set<Node>();
  readonly sources: Node[] = [];
  private readonly visited = new Map<Node, Set<number>>();
  private readonly once = new Set<Node>();
  private readonly queue: Value[] = [];

  constructor(
    readonly graph: Graph,
    readonly facts: ShapeFacts,
  ) {}

  run(seed: Node, m: Member): void {
    this.add(seed.output(0), m, seed);
    while (this.queue.length) {
      const v = this.queue.shift()!;
      if (v.producer) this.visitPort(v.producer, OUT(v.producerIndex));
      else if (v.isGraphInput) throw new Unsafe(v.name, `reaches the graph input '${v.name}' (part of the model's interface)`);
      else throw new Unsafe(v.name, `reaches the constant '${v.name}'`);
      if (v.isGraphOutput) throw new Unsafe(v.name, `reaches the graph output '${v.name}' (part of the model's interface)`);
      for (const u of v.uses) {
        if (u.node.graph !== this.graph) throw new Unsafe(v.name, `'${v.name}' is read inside a subgraph of ${describe(rootNode(u.node, this.graph))}`);
        this.visitPort(u.node, IN(u.index));
      }
    }
  }

  private add(v: Value, m: Member, at: Node): void {
    const e = this.members.get(v);
    if (e) {
      if (e.k !== m.k) throw new Unsafe(describe(at), `the channel axis of '${v.name}' is axis -${e.k} on one path and -${m.k} on another`);
      if (e.rank === undefined) e.rank = m.rank;
      return;
    }
    this.members.set(v, { k: m.k, rank: m.rank ?? this.facts.rank(v) });
    this.queue.push(v);
  }

  private slice(node: Node, input: number, axis: number, role: WeightSlice['role']): void {
    this.slices.push({ node, input, axis, width: 1, role });
  }

  private visitPort(node: Node, port: number): void {
    let ports = this.visited.get(node);
    if (!ports) this.visited.set(node, (ports = new Set()));
    if (ports.has(port)) return;
    ports.add(port);
    this.nodes.add(node);
    const op = node.opType;
    const fromOut = port < 0;
    const idx = fromOut ? -port - 1 : port;
    const v = fromOut ? node.outputs[idx]! : node.inputs[idx]!;
    const m = this.members.get(v)!;
    const what = fromOut ? `produced by ${describe(node)}` : `read by ${describe(node)}`;
    if (!isStandardDomain(node.domain)) throw new Unsafe(describe(node), `'${v.name}' is ${what} (operator of domain ${node.domain}, not understood)`);
    if (node.subgraphs().length) throw new Unsafe(describe(node), `'${v.name}' is ${what} (control flow)`);

    if (op === 'MatMul') return this.matmul(node, fromOut, idx, m);
    if (op === 'Gemm') return this.gemm(node, fromOut, idx, m);
    if (op === 'Conv') return this.conv(node, fromOut, idx, m);
    if (NORMS.has(op)) return this.norm(node, fromOut, idx, m);
    if (UNARY_OPS.has(op)) return this.unary(node, fromOut, idx, m);
    if (BINARY_OPS.has(op)) return this.binary(node, m);
    if (POOLS.has(op)) return this.pool(node, fromOut, idx, m);
    if (op === 'Flatten') return this.flatten(node, fromOut, m);
    if (REDUCES.has(op)) return this.reduce(node, fromOut, idx, m);
    if (op === 'Shape' && !fromOut) return this.shape(node, m);
    if (op === 'Reshape' || op === 'Transpose')
      throw new Unsafe(
        describe(node),
        `'${v.name}' is ${what}, which moves the channel axis${op === 'Reshape' ? ' (for attention heads use --units heads)' : ''}`,
      );
    throw new Unsafe(describe(node), `'${v.name}' is ${what}, which this analysis does not see through`);
  }

  private matmul(node: Node, fromOut: boolean, idx: number, m: Member): void {
    const b = constantOf(node.input(1));
    const aConst = constantOf(node.input(0));
    if (!fromOut && idx === 1) throw new Unsafe(describe(node), `'${node.input(1)!.name}' is the right operand of ${describe(node)} (activation x activation)`);
    if (b?.rank !== 2 || aConst) throw new Unsafe(describe(node), `${describe(node)} does not multiply an activation by a 2-D constant weight`);
    if (m.k !== 1) throw new Unsafe(describe(node), `the channel axis reaches ${describe(node)} on axis -${m.k}, not the feature axis`);
    if (fromOut) {
      this.slice(node, 1, 1, 'source');
      this.sources.push(node);
    } else {
      this.slice(node, 1, 0, 'sink');
      this.sinks.push({ value: node.input(0)!, axisFromEnd: 1, slice: this.slices[this.slices.length - 1] });
    }
  }

  private gemm(node: Node, fromOut: boolean, idx: number, m: Member): void {
    const b = constantOf(node.input(1));
    if (b?.rank !== 2) throw new Unsafe(describe(node), `${describe(node)} has no constant 2-D weight`);
    if (!fromOut && idx !== 0) throw new Unsafe(describe(node), `'${node.inputs[idx]!.name}' is input ${idx} of ${describe(node)}`);
    const transA = node.getInt('transA', 0);
    const transB = node.getInt('transB', 0);
    if (m.k !== 1) throw new Unsafe(describe(node), `the channel axis reaches ${describe(node)} on axis -${m.k}`);
    if (fromOut) {
      this.slice(node, 1, transB ? 0 : 1, 'source');
      this.sources.push(node);
      const c = node.input(2);
      if (c) {
        const ct = constantOf(c);
        if (!ct) throw new Unsafe(describe(node), `the bias of ${describe(node)} is not a constant`);
        if (ct.size > 1) {
          const ax = ct.rank - 1;
          if (ct.rank === 0 || ct.dims[ax] === 1) return;
          if (ct.rank === 2 && ct.dims[0] !== 1) throw new Unsafe(describe(node), `the bias of ${describe(node)} varies per row`);
          this.slice(node, 2, ax, 'param');
        }
      }
    } else {
      if (transA) throw new Unsafe(describe(node), `${describe(node)} transposes its input`);
      this.slice(node, 1, transB ? 1 : 0, 'sink');
      this.sinks.push({ value: node.input(0)!, axisFromEnd: 1, slice: this.slices[this.slices.length - 1] });
    }
  }

  private conv(node: Node, fromOut: boolean, idx: number, m: Member): void {
    const w = constantOf(node.input(1));
    if (!w) throw new Unsafe(describe(node), `${describe(node)} has no constant weight`);
    if (!fromOut && idx !== 0) throw new Unsafe(describe(node), `'${node.inputs[idx]!.name}' is input ${idx} of ${describe(node)}`);
    const r = w.rank;
    if (m.k !== r - 1) throw new Unsafe(describe(node), `the channel axis reaches ${describe(node)} on axis -${m.k}, not the channel axis`);
    const group = node.getInt('group', 1);
    const depthwise = group > 1 && w.dims[1] === 1 && w.dims[0] === group;
    if (group > 1 && !depthwise) throw new Unsafe(describe(node), `${describe(node)} is a grouped convolution (group ${group}) that is not depthwise`);
    if (node.input(2) && !constantOf(node.input(2))) throw new Unsafe(describe(node), `the bias of ${describe(node)} is not a constant`);
    if (depthwise) {
      if (!this.once.has(node)) {
        this.once.add(node);
        this.slice(node, 1, 0, 'param');
        if (node.input(2)) this.slice(node, 2, 0, 'param');
        this.attrEdits.push({ node, name: 'group', perUnit: 1 });
      }
      if (fromOut) this.add(node.input(0)!, { k: m.k, rank: r }, node);
      else this.add(node.output(0), { k: m.k, rank: r }, node);
      return;
    }
    if (fromOut) {
      this.slice(node, 1, 0, 'source');
      if (node.input(2)) this.slice(node, 2, 0, 'param');
      this.sources.push(node);
    } else {
      this.slice(node, 1, 1, 'sink');
      this.sinks.push({ value: node.input(0)!, axisFromEnd: m.k, slice: this.slices[this.slices.length - 1] });
    }
  }

  private norm(node: Node, fromOut: boolean, idx: number, m: Member): void {
    if (!fromOut && idx !== 0) throw new Unsafe(describe(node), `'${node.inputs[idx]!.name}' is a parameter of ${describe(node)}`);
    if (fromOut && idx !== 0) throw new Unsafe(describe(node), `${describe(node)} is in training mode`);
    if (extraOutputUsed(node)) throw new Unsafe(describe(node), `${describe(node)} is in training mode`);
    const rank = m.rank ?? this.facts.rank(fromOut ? node.output(0) : node.input(0));
    if (rank === undefined) throw new Unsafe(describe(node), `the rank of the input of ${describe(node)} is unknown`);
    if (m.k !== rank - 1) throw new Unsafe(describe(node), `the channel axis reaches ${describe(node)} on axis -${m.k}, not axis 1`);
    if (!this.once.has(node)) {
      this.once.add(node);
      for (let i = 1; i < node.inputs.length; i++) {
        const t = constantOf(node.input(i));
        if (!t) throw new Unsafe(describe(node), `parameter ${i} of ${describe(node)} is not a constant`);
        if (t.size > 1) this.slice(node, i, 0, 'param');
      }
    }
    this.add(fromOut ? node.input(0)! : node.output(0), { k: m.k, rank }, node);
  }

  private unary(node: Node, fromOut: boolean, idx: number, m: Member): void {
    if (fromOut && idx !== 0) throw new Unsafe(describe(node), `output ${idx} of ${describe(node)} is used`);
    if (!fromOut && idx !== 0) throw new Unsafe(describe(node), `'${node.inputs[idx]!.name}' is a parameter of ${describe(node)}`);
    for (let i = 1; i < node.inputs.length; i++) {
      const t = node.input(i) && constantOf(node.input(i));
      if (node.input(i) && t?.size !== 1) throw new Unsafe(describe(node), `parameter ${i} of ${describe(node)} is not a scalar constant`);
    }
    if (extraOutputUsed(node)) throw new Unsafe(describe(node), `a second output of ${describe(node)} is used`);
    this.add(fromOut ? node.input(0)! : node.output(0), m, node);
  }

  private binary(node: Node, m: Member): void {
    if (this.once.has(node)) return;
    this.once.add(node);
    const k = m.k;
    let outRank: number | undefined = 0;
    node.inputs.forEach((x, i) => {
      if (!x) return;
      const xr = this.members.get(x)?.rank ?? this.facts.rank(x);
      outRank = outRank === undefined || xr === undefined ? undefined : Math.max(outRank, xr);
      if (this.members.has(x)) return;
      const t = constantOf(x);
      if (t) {
        if (t.rank < k || t.dims[t.rank - k] === 1) return; // broadcast along the channel axis
        this.slice(node, i, t.rank - k, 'param');
        return;
      }
      const d = this.facts.dimFromEnd(x, k);
      if (d === 1) return; // broadcasts along the channel axis (a per-sample scale, a mask)
      this.add(x, { k, rank: xr }, node);
    });
    for (const o of node.outputs) if (o) this.add(o, { k, rank: outRank }, node);
  }

  private pool(node: Node, fromOut: boolean, idx: number, m: Member): void {
    if ((fromOut && idx !== 0) || (!fromOut && idx !== 0)) throw new Unsafe(describe(node), `the indices output of ${describe(node)} is used`);
    if (extraOutputUsed(node)) throw new Unsafe(describe(node), `the indices output of ${describe(node)} is used`);
    const rank = m.rank ?? this.facts.rank(fromOut ? node.output(0) : node.input(0));
    if (rank !== undefined && m.k !== rank - 1) throw new Unsafe(describe(node), `the channel axis reaches ${describe(node)} on axis -${m.k}, not axis 1`);
    this.add(fromOut ? node.input(0)! : node.output(0), { k: m.k, rank }, node);
  }

  private flatten(node: Node, fromOut: boolean, m: Member): void {
    const axis = node.getInt('axis', 1);
    const x = node.input(0)!;
    const rank = (fromOut ? undefined : m.rank) ?? this.facts.rank(x);
    if (axis !== 1 || rank === undefined) throw new Unsafe(describe(node), `${describe(node)} merges the channel axis with others`);
    // the channel axis survives only when every axis after it has size 1 (after a global pool)
    const p = x.producer;
    const trailingOnes =
      (p && GLOBAL_POOLS.has(p.opType) && isStandardDomain(p.domain)) ||
      Array.from({ length: rank - 2 }, (_, i) => this.facts.dimFromEnd(x, i + 1)).every((d) => d === 1);
    if (!trailingOnes) throw new Unsafe(describe(node), `${describe(node)} merges the channel axis with spatial axes`);
    if (fromOut) {
      if (m.k !== 1) throw new Unsafe(describe(node), `the channel axis reaches ${describe(node)} on axis -${m.k}`);
      this.add(x, { k: rank - 1, rank }, node);
    } else {
      if (m.k !== rank - 1) throw new Unsafe(describe(node), `the channel axis reaches ${describe(node)} on axis -${m.k}, not axis 1`);
      this.add(node.output(0), { k: 1, rank: 2 }, node);
    }
  }

  private reduce(node: Node, fromOut: boolean, idx: number, m: Member): void {
    if (idx !== 0) throw new Unsafe(describe(node), `'${node.inputs[idx]!.name}' gives the axes of ${describe(node)}`);
    const x = node.input(0)!;
    const axes = node.getInts('axes') ?? constantInts(node.input(1));
    const keep = node.getInt('keepdims', 1) !== 0;
    const overChannel = `'${x.name}' is reduced over its channel axis by ${describe(node)} (a normalisation or pooling over features mixes the units)`;
    if (!axes) throw new Unsafe(describe(node), `'${x.name}' is reduced over every axis by ${describe(node)}`);
    // negative axes name the channel axis without knowing the rank
    if (!fromOut && axes.includes(-m.k)) throw new Unsafe(describe(node), overChannel);
    const rank = (fromOut ? undefined : m.rank) ?? this.facts.rank(x);
    if (rank === undefined) {
      if (keep && axes.every((a) => a < 0)) {
        if (axes.includes(-m.k)) throw new Unsafe(describe(node), overChannel);
        this.add(fromOut ? x : node.output(0), { k: m.k }, node);
        return;
      }
      throw new Unsafe(describe(node), `'${x.name}' is reduced by ${describe(node)} and its rank is not known`);
    }
    const norm = axes.map((a) => (a < 0 ? a + rank : a));
    if (fromOut) {
      const outRank = keep ? rank : rank - norm.length;
      let pos = outRank - m.k;
      if (!keep) for (const a of [...norm].sort((a1, b1) => a1 - b1)) if (a <= pos) pos++;
      if (norm.includes(pos)) throw new Unsafe(describe(node), overChannel);
      this.add(x, { k: rank - pos, rank }, node);
      return;
    }
    const pos = rank - m.k;
    if (norm.includes(pos)) throw new Unsafe(describe(node), overChannel);
    const after = keep ? 0 : norm.filter((a) => a > pos).length;
    this.add(node.output(0), { k: m.k - after, rank: keep ? rank : rank - norm.length }, node);
  }

  private shape(node: Node, m: Member): void {
    const x = node.input(0)!;
    const rank = m.rank ?? this.facts.rank(x);
    if (rank === undefined) throw new Unsafe(describe(node), `the shape of '${x.name}' is read by ${describe(node)}`);
    const problem = shapeReadProblem(node, [rank - m.k], this.facts);
    if (problem) throw new Unsafe(describe(node), problem);
  }
}

/** Whether an output after the first is read or is a graph output (BN statistics, Dropout mask, MaxPool indices). */
const extraOutputUsed = (n: Node): boolean => n.outputs.slice(1).some((o) => o && (o.uses.length > 0 || o.isGraphOutput));

function rootNode(n: Node, g: Graph): Node {
  let cur = n;
  while (cur.graph && cur.graph !== g && cur.graph.parentNode) cur = cur.graph.parentNode;
  return cur;
}

function isSeed(n: Node): UnitKind | undefined {
  if (!isStandardDomain(n.domain) || !n.outputs[0]) return undefined;
  if ((n.opType === 'MatMul' || n.opType === 'Gemm') && constantOf(n.input(1))?.rank === 2 && !constantOf(n.input(0))) return 'ffn';
  if (n.opType === 'Conv' && constantOf(n.input(1)) && n.getInt('group', 1) === 1) return 'channels';
  return undefined;
}

export interface ChannelAnalysisOptions {
  kinds: readonly UnitKind[];
  shapes?: ShapeMap;
  /** values already claimed by another analysis (attention heads): seeds producing them are not reported */
  claimed?: ReadonlySet<Node>;
}

/** Finds FFN-neuron and Conv-channel groups of the main graph. */
export function analyzeChannels(graph: Graph, opts: ChannelAnalysisOptions): { groups: UnitGroup[]; skipped: SkippedUnit[] } {
  const facts = new ShapeFacts(opts.shapes);
  const groups: UnitGroup[] = [];
  const skipped: SkippedUnit[] = [];
  const seen = new Set<Value>();
  for (const seed of graph.nodes) {
    const kind = isSeed(seed);
    if (!kind || !opts.kinds.includes(kind) || seen.has(seed.output(0))) continue;
    const c = new Component(graph, facts);
    const wRank = constantOf(seed.input(1))!.rank;
    const id = `${kind}:${seed.name || seed.output(0).name}`;
    try {
      c.run(seed, kind === 'channels' ? { k: wRank - 1, rank: wRank } : { k: 1 });
      for (const v of c.members.keys()) seen.add(v);
      const g = finish(c, kind, id, seed);
      groups.push(g);
    } catch (e) {
      for (const v of c.members.keys()) seen.add(v);
      if (!(e instanceof Unsafe)) throw e;
      if (opts.claimed?.has(seed)) continue;
      skipped.push({ id, kind, where: e.where, reason: e.reason });
    }
  }
  return { groups, skipped };
}

function finish(c: Component, seedKind: UnitKind, id: string, seed: Node): UnitGroup {
  const kind: UnitKind = c.sources.some((n) => n.opType === 'Conv') ? 'channels' : seedKind;
  if (!c.sinks.length) throw new Unsafe(describe(seed), `the output of ${describe(seed)} reaches no weight that consumes it`);
  const units = constantOf(seed.input(1))!.dims[c.slices[0].axis];
  for (const s of c.slices) {
    const t = constantOf(s.node.input(s.input))!;
    if (t.dims[s.axis] !== units)
      throw new Unsafe(describe(s.node), `${describe(s.node)} has ${t.dims[s.axis]} entries on the channel axis, the group ${units}`);
  }
  // every weight must belong to this group alone (a shared weight would have to be cut for its other readers too)
  for (const s of c.slices) {
    const v = s.node.input(s.input)!;
    for (const u of v.uses) {
      if (!c.slices.some((o) => o.node === u.node && o.input === u.index))
        throw new Unsafe(describe(u.node), `the weight '${v.name}' is also read by ${describe(u.node)}, outside the group`);
    }
    if (v.isGraphOutput) throw new Unsafe(v.name, `the weight '${v.name}' is a graph output`);
  }
  const dimEdits: DimEdit[] = [];
  for (const [v, m] of c.members) {
    if (v.type) dimEdits.push({ value: v, axisFromEnd: m.k, perUnit: 1 });
  }
  return {
    id,
    kind,
    units,
    unitWidth: 1,
    label: c.sources.map((n) => n.name || n.output(0).name).join(', '),
    slices: c.slices,
    shapeEdits: [],
    attrEdits: c.attrEdits,
    dimEdits,
    sinks: c.sinks,
    nodes: [...c.nodes].map(describe),
  };
}
