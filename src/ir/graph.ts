/**
 * The in-memory graph: Value, Node, Attribute and Graph, linked by object references.
 *
 * Def-use chains are kept current by every mutation: a Value knows its producer and each (node, input index) that
 * reads it, including nodes inside subgraphs that capture it from an outer scope. Nodes are mutated only through
 * these methods, so the chains can never go stale. Graphs nest: a subgraph (If/Loop/Scan body) is a Graph whose
 * `parentNode` is the node holding it, and name lookup walks outwards through the scopes.
 */
import type { OpaqueFields, OpaqueMessage } from './fields.js';
import { Tensor } from './tensor.js';
import type { TypeProto } from './types.js';

export class IRError extends Error {}

export interface Use {
  node: Node;
  index: number;
}

// ------------------------------------------------------------------------------------------------ Value

export class Value {
  private _name: string;
  type?: TypeProto;
  docString?: string;
  /** ValueInfoProto fields not modelled here (metadata_props, unknown fields) */
  extra: OpaqueFields = {};
  /** true when the value was listed in value_info (so it is written there again) */
  inValueInfo = false;
  producer: Node | null = null;
  producerIndex = -1;
  /** the scope that defines this value */
  graph: Graph | null = null;
  /** initializer data, when this value is an initializer */
  initializer?: Tensor;
  /** graphs that list this value among their outputs */
  readonly outputOf: Graph[] = [];
  private readonly _uses: Use[] = [];

  constructor(name: string, type?: TypeProto) {
    this._name = name;
    this.type = type;
  }

  get name(): string {
    return this._name;
  }
  /** Renames the value (the graph's initializer index follows). Callers choose a unique name (Graph.freshName). */
  set name(n: string) {
    if (n === this._name) return;
    const g = this.graph;
    if (g && this.initializer) g._renameInitializer(this, this._name, n);
    else g?.names.add(n);
    this._name = n;
    if (this.initializer) this.initializer.name = n;
  }

  get uses(): readonly Use[] {
    return this._uses;
  }
  /** Nodes reading this value (each once). */
  get consumers(): Node[] {
    return [...new Set(this._uses.map((u) => u.node))];
  }
  get isGraphOutput(): boolean {
    return this.outputOf.length > 0;
  }
  get isGraphInput(): boolean {
    return !!this.graph && this.graph.inputs.includes(this);
  }
  get isInitializer(): boolean {
    return this.initializer !== undefined;
  }

  /**
   * The constant this value holds, if it is one: an initializer that is not also an overridable graph input, or the
   * output of a `Constant` node whose value is a tensor (as paddle2onnx writes weights).
   */
  constTensor(): Tensor | undefined {
    if (this.initializer) return this.isGraphInput ? undefined : this.initializer;
    const p = this.producer;
    if (p && p.opType === 'Constant' && p.domain === '') {
      const a = p.attributes.get('value');
      if (a && a.type === AttrType.TENSOR) return a.value as Tensor;
    }
    return undefined;
  }

  /** @internal use-list maintenance, called by Node only */
  _addUse(node: Node, index: number): void {
    this._uses.push({ node, index });
  }
  /** @internal */
  _removeUse(node: Node, index: number): void {
    const i = this._uses.findIndex((u) => u.node === node && u.index === index);
    if (i < 0) throw new IRError(`internal: ${this._name} has no use ${node.label}#${index}`);
    this._uses.splice(i, 1);
  }

  /** Points every reader of this value at `other` instead (graph outputs too when `includeOutputs`). */
  replaceAllUsesWith(other: Value, opts: { includeOutputs?: boolean } = {}): void {
    if (other === this) return;
    for (const u of [...this._uses]) u.node.setInput(u.index, other);
    if (opts.includeOutputs) {
      for (const g of [...this.outputOf]) g.outputs.forEach((v, i) => v === this && g.setOutput(i, other));
    }
  }

  toString(): string {
    return `%${this._name}`;
  }
}

// ------------------------------------------------------------------------------------------------ Attribute

export enum AttrType {
  UNDEFINED = 0,
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10,
  SPARSE_TENSOR = 11,
  SPARSE_TENSORS = 12,
  TYPE_PROTO = 13,
  TYPE_PROTOS = 14,
}

export type Int = number | bigint;
export type AttrValue =
  | number
  | bigint
  | string
  | Uint8Array
  | Tensor
  | Graph
  | OpaqueMessage
  | number[]
  | Int[]
  | (string | Uint8Array)[]
  | Tensor[]
  | Graph[]
  | OpaqueMessage[]
  | undefined;

export class Attribute {
  docString?: string;
  /** reference to an attribute of the enclosing function (then `value` is undefined) */
  refAttrName?: string;
  extra: OpaqueFields = {};
  constructor(
    public name: string,
    public type: AttrType,
    public value: AttrValue,
  ) {}

  static float(name: string, v: number): Attribute {
    return new Attribute(name, AttrType.FLOAT, v);
  }
  static int(name: string, v: Int): Attribute {
    return new Attribute(name, AttrType.INT, v);
  }
  static string(name: string, v: string): Attribute {
    return new Attribute(name, AttrType.STRING, v);
  }
  static floats(name: string, v: number[]): Attribute {
    return new Attribute(name, AttrType.FLOATS, v);
  }
  static ints(name: string, v: Int[]): Attribute {
    return new Attribute(name, AttrType.INTS, v);
  }
  static tensor(name: string, v: Tensor): Attribute {
    return new Attribute(name, AttrType.TENSOR, v);
  }
  static graph(name: string, v: Graph): Attribute {
    return new Attribute(name, AttrType.GRAPH, v);
  }
  /** Infers the attribute type from a JS value (numbers that are integers become INT; use `f()` for floats). */
  static infer(name: string, v: unknown): Attribute {
    if (v instanceof Attribute) return v;
    if (typeof v === 'bigint') return Attribute.int(name, v);
    if (typeof v === 'number') return Number.isInteger(v) ? Attribute.int(name, v) : Attribute.float(name, v);
    if (typeof v === 'string') return Attribute.string(name, v);
    if (v instanceof Tensor) return Attribute.tensor(name, v);
    if (v instanceof Graph) return Attribute.graph(name, v);
    if (Array.isArray(v)) {
      if (v.length === 0) return Attribute.ints(name, []);
      if (v.every((x) => typeof x === 'string')) return new Attribute(name, AttrType.STRINGS, v);
      if (v.every((x) => x instanceof Tensor)) return new Attribute(name, AttrType.TENSORS, v);
      if (v.every((x) => x instanceof Graph)) return new Attribute(name, AttrType.GRAPHS, v);
      if (v.every((x) => typeof x === 'bigint' || (typeof x === 'number' && Number.isInteger(x)))) return Attribute.ints(name, v);
      return Attribute.floats(name, v as number[]);
    }
    throw new IRError(`attribute ${name}: cannot infer a type for ${String(v)}`);
  }
}

/** Float attribute markers for builders: `{ epsilon: f(1e-5) }`, `{ scales: fs([1, 2]) }` (integers would become INT). */
export const f = (v: number): Attribute => Attribute.float('', v);
export const fs = (v: number[]): Attribute => Attribute.floats('', v);

// ------------------------------------------------------------------------------------------------ Node

export class Node {
  opType: string;
  domain: string;
  name: string;
  overload?: string;
  docString?: string;
  /** NodeProto fields not modelled here (metadata_props, device configurations, unknown fields) */
  extra: OpaqueFields = {};
  graph: Graph | null = null;
  readonly attributes = new Map<string, Attribute>();
  private readonly _inputs: (Value | null)[] = [];
  private readonly _outputs: (Value | null)[] = [];

  constructor(
    opType: string,
    inputs: readonly (Value | null)[],
    outputs: readonly (Value | null)[],
    opts: { domain?: string; name?: string; attributes?: Iterable<Attribute> } = {},
  ) {
    this.opType = opType;
    this.domain = opts.domain ?? '';
    this.name = opts.name ?? '';
    for (const a of opts.attributes ?? []) this.attributes.set(a.name, a);
    inputs.forEach((v) => this.appendInput(v));
    for (const o of outputs) {
      if (o) {
        if (o.producer) throw new IRError(`value ${o.name} already has a producer (${o.producer.label})`);
        o.producer = this;
        o.producerIndex = this._outputs.length;
      }
      this._outputs.push(o);
    }
  }

  /** A human label: name if any, else op type and first output. */
  get label(): string {
    return this.name || `${this.opType}(${this._outputs.find((o) => o)?.name ?? '?'})`;
  }
  get inputs(): readonly (Value | null)[] {
    return this._inputs;
  }
  get outputs(): readonly (Value | null)[] {
    return this._outputs;
  }
  /** The i-th input, or undefined when absent or omitted. */
  input(i: number): Value | undefined {
    return this._inputs[i] ?? undefined;
  }
  output(i = 0): Value {
    const o = this._outputs[i];
    if (!o) throw new IRError(`${this.label} has no output ${i}`);
    return o;
  }

  setInput(i: number, v: Value | null): void {
    const old = this._inputs[i];
    if (old === v) return;
    if (old) old._removeUse(this, i);
    while (this._inputs.length < i) this._inputs.push(null);
    this._inputs[i] = v;
    if (v) v._addUse(this, i);
  }
  appendInput(v: Value | null): void {
    this._inputs.push(v);
    if (v) v._addUse(this, this._inputs.length - 1);
  }
  /** Replaces the whole input list. */
  setInputs(vs: readonly (Value | null)[]): void {
    this.detachInputs();
    vs.forEach((v) => this.appendInput(v));
  }
  /** Drops trailing inputs from index `n` on. */
  truncateInputs(n: number): void {
    while (this._inputs.length > n) {
      const v = this._inputs.pop();
      if (v) v._removeUse(this, this._inputs.length);
    }
  }
  /** Removes this node's uses of its inputs (before deleting the node). */
  detachInputs(): void {
    this._inputs.forEach((v, i) => v?._removeUse(this, i));
    this._inputs.length = 0;
  }
  /** Moves output i to a new value object (the old one loses its producer). */
  setOutput(i: number, v: Value | null): void {
    const old = this._outputs[i];
    if (old) {
      old.producer = null;
      old.producerIndex = -1;
    }
    if (v) {
      if (v.producer && v.producer !== this) throw new IRError(`value ${v.name} already has a producer (${v.producer.label})`);
      v.producer = this;
      v.producerIndex = i;
      v.graph = this.graph;
    }
    this._outputs[i] = v;
  }

  // attributes ---------------------------------------------------------------------------------------------------

  attr(name: string): Attribute | undefined {
    return this.attributes.get(name);
  }
  setAttr(a: Attribute): this {
    this.attributes.set(a.name, a);
    return this;
  }
  getInt(name: string, def: number): number;
  getInt(name: string): number | undefined;
  getInt(name: string, def?: number): number | undefined {
    const a = this.attributes.get(name);
    return a && (a.type === AttrType.INT || a.type === AttrType.FLOAT) && a.value !== undefined ? Number(a.value) : def;
  }
  getFloat(name: string, def: number): number;
  getFloat(name: string): number | undefined;
  getFloat(name: string, def?: number): number | undefined {
    const a = this.attributes.get(name);
    return a && (a.type === AttrType.FLOAT || a.type === AttrType.INT) && a.value !== undefined ? Number(a.value) : def;
  }
  getInts(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    return a && a.type === AttrType.INTS ? (a.value as Int[]).map(Number) : undefined;
  }
  getFloats(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    return a && a.type === AttrType.FLOATS ? [...(a.value as number[])] : undefined;
  }
  getString(name: string, def: string): string;
  getString(name: string): string | undefined;
  getString(name: string, def?: string): string | undefined {
    const a = this.attributes.get(name);
    if (!a || a.type !== AttrType.STRING || a.value === undefined) return def;
    return typeof a.value === 'string' ? a.value : new TextDecoder().decode(a.value as Uint8Array);
  }
  getTensor(name: string): Tensor | undefined {
    const a = this.attributes.get(name);
    return a && a.type === AttrType.TENSOR ? (a.value as Tensor) : undefined;
  }
  /** Every subgraph held by this node's attributes (If branches, Loop/Scan bodies, ...). */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    for (const a of this.attributes.values()) {
      if (a.type === AttrType.GRAPH && a.value) out.push(a.value as Graph);
      else if (a.type === AttrType.GRAPHS && a.value) out.push(...(a.value as Graph[]));
    }
    return out;
  }

  toString(): string {
    const ins = this._inputs.map((v) => (v ? v.name : '""')).join(', ');
    const outs = this._outputs.map((v) => (v ? v.name : '""')).join(', ');
    return `${outs} = ${this.domain ? this.domain + '::' : ''}${this.opType}(${ins})`;
  }
}

// ------------------------------------------------------------------------------------------------ Graph

export interface AddNodeOptions {
  domain?: string;
  name?: string;
  /** number of outputs (auto-named), or explicit output names ('' for an omitted optional output) */
  outputs?: number | string[];
  /** insert before this node instead of appending */
  before?: Node;
  /** insert after this node instead of appending */
  after?: Node;
}

export class Graph {
  name: string;
  docString?: string;
  /** GraphProto fields not modelled here (metadata_props, unknown fields) */
  extra: OpaqueFields = {};
  /** node holding this graph in an attribute (null for a main graph or a function body) */
  parentNode: Node | null = null;
  /** sparse initializers, kept as decoded (not rewritten by passes) */
  sparseInitializers: OpaqueMessage[] = [];
  quantizationAnnotation: OpaqueMessage[] = [];
  /** value_info entries that name no value of this graph (kept so nothing is lost) */
  orphanValueInfo: OpaqueMessage[] = [];

  private readonly _nodes: Node[] = [];
  private readonly _inputs: Value[] = [];
  private readonly _outputs: Value[] = [];
  private readonly _initializers = new Map<string, Value>();
  _names?: NameSet;

  constructor(name = 'graph') {
    this.name = name;
  }

  get nodes(): readonly Node[] {
    return this._nodes;
  }
  get inputs(): readonly Value[] {
    return this._inputs;
  }
  get outputs(): readonly Value[] {
    return this._outputs;
  }
  get initializers(): ReadonlyMap<string, Value> {
    return this._initializers;
  }
  /** The graph enclosing this one, if it is a subgraph. */
  get parentGraph(): Graph | null {
    return this.parentNode?.graph ?? null;
  }
  /** The outermost graph of this scope chain (main graph or function body). */
  get root(): Graph {
    let g: Graph = this;
    while (g.parentGraph) g = g.parentGraph;
    return g;
  }

  // names ------------------------------------------------------------------------------------------------------

  /** The set of names used anywhere under the root graph; built on first use and kept current by the builders. */
  get names(): NameSet {
    const r = this.root;
    if (r !== this) return r.names;
    if (!this._names) {
      const s = new NameSet();
      for (const g of this.allGraphs()) {
        for (const v of g._inputs) s.add(v.name);
        for (const v of g._initializers.keys()) s.add(v);
        for (const n of g._nodes) {
          if (n.name) s.add(n.name);
          for (const o of n.outputs) if (o) s.add(o.name);
        }
      }
      this._names = s;
    }
    return this._names;
  }
  /** A name not used anywhere in this graph's root scope, derived from `base`. */
  freshName(base: string): string {
    return this.names.fresh(base);
  }

  // lookup -------------------------------------------------------------------------------------------------------

  /** Finds a value visible in this scope by name: local inputs, initializers, node outputs, then outer scopes. */
  lookup(name: string): Value | undefined {
    for (let g: Graph | null = this; g; g = g.parentGraph) {
      const v = g.lookupLocal(name);
      if (v) return v;
    }
    return undefined;
  }
  lookupLocal(name: string): Value | undefined {
    const init = this._initializers.get(name);
    if (init) return init;
    for (const v of this._inputs) if (v.name === name) return v;
    for (const n of this._nodes) for (const o of n.outputs) if (o && o.name === name) return o;
    return undefined;
  }

  // construction ------------------------------------------------------------------------------------------------

  addInput(nameOrValue: string | Value, type?: TypeProto): Value {
    const v = typeof nameOrValue === 'string' ? new Value(nameOrValue, type) : nameOrValue;
    v.graph = this;
    this._inputs.push(v);
    this.root._names?.add(v.name);
    return v;
  }
  removeInput(v: Value): void {
    const i = this._inputs.indexOf(v);
    if (i < 0) throw new IRError(`${v.name} is not an input of graph ${this.name}`);
    if (v.uses.length > 0 && !v.initializer) throw new IRError(`cannot remove input ${v.name}: it still has ${v.uses.length} use(s)`);
    if (v.isGraphOutput && !v.initializer) throw new IRError(`cannot remove input ${v.name}: it is a graph output`);
    this._inputs.splice(i, 1);
  }
  /** Adds (or attaches to an existing input of the same name) an initializer. */
  addInitializer(name: string, tensor: Tensor, type?: TypeProto): Value {
    if (this._initializers.has(name)) throw new IRError(`initializer ${name} already exists in graph ${this.name}`);
    const existing = this._inputs.find((v) => v.name === name);
    const v = existing ?? new Value(name, type);
    v.graph = this;
    tensor.name = name;
    v.initializer = tensor;
    this._initializers.set(name, v);
    this.root._names?.add(name);
    return v;
  }
  /** Adds an initializer under a fresh name derived from `base`. */
  addConstant(base: string, tensor: Tensor): Value {
    return this.addInitializer(this.freshName(base), tensor);
  }
  removeInitializer(v: Value): void {
    if (!v.initializer || this._initializers.get(v.name) !== v) throw new IRError(`${v.name} is not an initializer of graph ${this.name}`);
    if (v.uses.length > 0) throw new IRError(`cannot remove initializer ${v.name}: it still has ${v.uses.length} use(s)`);
    if (v.isGraphOutput) throw new IRError(`cannot remove initializer ${v.name}: it is a graph output`);
    this._initializers.delete(v.name);
    v.initializer = undefined;
    if (this._inputs.includes(v)) this._inputs.splice(this._inputs.indexOf(v), 1);
  }
  /** @internal */
  _renameInitializer(v: Value, from: string, to: string): void {
    if (this._initializers.get(from) === v) {
      this._initializers.delete(from);
      this._initializers.set(to, v);
    }
    this.root._names?.add(to);
  }

  addOutput(v: Value): void {
    this._outputs.push(v);
    v.outputOf.push(this);
  }
  setOutput(i: number, v: Value): void {
    const old = this._outputs[i];
    if (old === v) return;
    if (old) old.outputOf.splice(old.outputOf.indexOf(this), 1);
    this._outputs[i] = v;
    v.outputOf.push(this);
  }
  setOutputs(vs: readonly Value[]): void {
    for (const o of this._outputs) o.outputOf.splice(o.outputOf.indexOf(this), 1);
    this._outputs.length = 0;
    vs.forEach((v) => this.addOutput(v));
  }

  /**
   * Creates a node and inserts it (appended, or before/after a given node). Attributes come as Attribute objects or
   * plain JS values (see Attribute.infer). Returns the node; its outputs are fresh values.
   */
  addNode(opType: string, inputs: readonly (Value | null | undefined)[], attrs: Record<string, unknown> | Attribute[] = {}, opts: AddNodeOptions = {}): Node {
    const outSpec = opts.outputs ?? 1;
    const base = (opts.name || opType).replace(/[^A-Za-z0-9_.]/g, '_');
    const outNames = typeof outSpec === 'number' ? Array.from({ length: outSpec }, (_, i) => this.freshName(`${base}_out${outSpec > 1 ? i : ''}`)) : outSpec;
    const outputs = outNames.map((n) => (n === '' ? null : new Value(n)));
    const attributes = Array.isArray(attrs)
      ? attrs
      : Object.entries(attrs)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => (v instanceof Attribute ? Object.assign(new Attribute(k, v.type, v.value), { docString: v.docString }) : Attribute.infer(k, v)));
    const node = new Node(
      opType,
      inputs.map((v) => v ?? null),
      outputs,
      { domain: opts.domain, name: opts.name, attributes },
    );
    if (opts.before) this.insertBefore(node, opts.before);
    else if (opts.after) this.insertAfter(node, opts.after);
    else this.appendNode(node);
    return node;
  }

  appendNode(node: Node): void {
    this.attach(node);
    this._nodes.push(node);
  }
  insertBefore(node: Node, ref: Node): void {
    const i = this._nodes.indexOf(ref);
    if (i < 0) throw new IRError(`${ref.label} is not in graph ${this.name}`);
    this.attach(node);
    this._nodes.splice(i, 0, node);
  }
  insertAfter(node: Node, ref: Node): void {
    const i = this._nodes.indexOf(ref);
    if (i < 0) throw new IRError(`${ref.label} is not in graph ${this.name}`);
    this.attach(node);
    this._nodes.splice(i + 1, 0, node);
  }
  private attach(node: Node): void {
    if (node.graph) throw new IRError(`${node.label} already belongs to graph ${node.graph.name}`);
    node.graph = this;
    const names = this.root._names;
    for (const o of node.outputs) {
      if (!o) continue;
      o.graph = this;
      names?.add(o.name);
    }
    if (node.name) names?.add(node.name);
    for (const sg of node.subgraphs()) {
      sg.parentNode = node;
      sg._names = undefined;
      // names made inside a subgraph built on its own may clash with this scope's: rename those (values are
      // referenced by object, so renaming is safe)
      if (names) for (const g of sg.allGraphs()) g.adoptNames(names);
    }
  }
  /** Registers this graph's own names in `names`, renaming any value that is already taken. */
  private adoptNames(names: NameSet): void {
    const own = (v: Value) => {
      if (names.has(v.name)) v.name = names.fresh(v.name);
      else names.add(v.name);
    };
    this._inputs.forEach(own);
    for (const v of [...this._initializers.values()]) if (!this._inputs.includes(v)) own(v);
    for (const n of this._nodes) {
      n.outputs.forEach((o) => o && own(o));
      if (n.name) names.add(n.name);
    }
  }

  /**
   * Removes a node. Throws when one of its outputs is still read or is a graph output (pass `force` to drop them
   * anyway, for callers that rewire first and know better). Its input uses are released.
   */
  removeNode(node: Node, opts: { force?: boolean } = {}): void {
    if (node.graph !== this) throw new IRError(`${node.label} is not in graph ${this.name}`);
    if (!opts.force) {
      for (const o of node.outputs) {
        if (!o) continue;
        if (o.uses.length)
          throw new IRError(`cannot remove ${node.label}: its output ${o.name} is still used by ${o.uses.map((u) => u.node.label).join(', ')}`);
        if (o.isGraphOutput) throw new IRError(`cannot remove ${node.label}: its output ${o.name} is a graph output`);
      }
    }
    node.detachInputs();
    // subgraph captures are uses too: release them
    for (const sg of node.subgraphs()) sg.releaseCaptures();
    const i = this._nodes.indexOf(node);
    this._nodes.splice(i, 1);
    node.graph = null;
  }
  /** Removes many nodes at once (in any order); each must be unused once all of them are gone. */
  removeNodes(nodes: Iterable<Node>): void {
    const set = new Set(nodes);
    if (set.size === 0) return;
    for (const n of set) {
      for (const o of n.outputs) {
        if (!o) continue;
        const outside = o.uses.filter((u) => !set.has(u.node) && !isInside(u.node, set));
        if (outside.length) throw new IRError(`cannot remove ${n.label}: its output ${o.name} is still used by ${outside[0].node.label}`);
        if (o.isGraphOutput) throw new IRError(`cannot remove ${n.label}: its output ${o.name} is a graph output`);
      }
    }
    for (const n of set) {
      n.detachInputs();
      for (const sg of n.subgraphs()) sg.releaseCaptures();
    }
    let w = 0;
    for (let r = 0; r < this._nodes.length; r++) {
      const n = this._nodes[r];
      if (set.has(n)) n.graph = null;
      else this._nodes[w++] = n;
    }
    this._nodes.length = w;
  }
  /** Drops the uses that nodes of this graph (and nested ones) make of each other and of outer values. */
  private releaseCaptures(): void {
    for (const n of this._nodes) {
      n.detachInputs();
      for (const sg of n.subgraphs()) sg.releaseCaptures();
    }
  }

  // traversal ---------------------------------------------------------------------------------------------------

  /** Subgraphs nested anywhere below this graph. */
  subgraphsDeep(): Graph[] {
    const out: Graph[] = [];
    for (const n of this._nodes)
      for (const sg of n.subgraphs()) {
        out.push(sg);
        out.push(...sg.subgraphsDeep());
      }
    return out;
  }
  /** This graph and every subgraph below it. */
  allGraphs(): Graph[] {
    return [this, ...this.subgraphsDeep()];
  }
  /** Every node of this graph and of its subgraphs, depth first. */
  *allNodes(): IterableIterator<Node> {
    for (const n of this._nodes) {
      yield n;
      for (const sg of n.subgraphs()) yield* sg.allNodes();
    }
  }

  /** Values from outer scopes that nodes of this graph (or its subgraphs) read. */
  capturedValues(): Set<Value> {
    const out = new Set<Value>();
    const inScope = (v: Value): boolean => {
      for (let g: Graph | null = v.graph; g; g = g.parentGraph) if (g === this) return true;
      return false;
    };
    for (const n of this.allNodes()) for (const v of n.inputs) if (v && !inScope(v)) out.add(v);
    for (const v of this._outputs) if (!inScope(v)) out.add(v);
    return out;
  }

  /**
   * Reorders nodes topologically (stable: keeps the existing order where it is already valid). A node depends on its
   * inputs and on every outer value its subgraphs capture. Throws on a cycle.
   */
  sortTopologically(): void {
    const out = this.topologicalOrder();
    for (let i = 0; i < out.length; i++) this._nodes[i] = out[i];
  }

  /** The nodes in a valid (stable) topological order, without changing the graph; throws on a cycle. */
  topologicalOrder(): Node[] {
    const nodes = this._nodes;
    const index = new Map(nodes.map((n, i) => [n, i]));
    const users = new Map<Node, Node[]>();
    const remaining = new Map<Node, number>();
    for (const n of nodes) {
      const d = new Set<Node>();
      const addDep = (v: Value | null) => {
        const p = v?.producer;
        if (p && p !== n && index.has(p)) d.add(p);
      };
      n.inputs.forEach(addDep);
      for (const sg of n.subgraphs()) sg.capturedValues().forEach(addDep);
      remaining.set(n, d.size);
      for (const p of d) (users.get(p) ?? users.set(p, []).get(p)!).push(n);
    }
    // a binary heap on the original index keeps the result stable and the sort O(n log n)
    const heap = new MinHeap<Node>((a, b) => index.get(a)! - index.get(b)!);
    for (const n of nodes) if (remaining.get(n) === 0) heap.push(n);
    const out: Node[] = [];
    while (heap.size) {
      const n = heap.pop()!;
      out.push(n);
      for (const u of users.get(n) ?? []) {
        const r = remaining.get(u)! - 1;
        remaining.set(u, r);
        if (r === 0) heap.push(u);
      }
    }
    if (out.length !== nodes.length) {
      const stuck = nodes.filter((n) => remaining.get(n)! > 0).slice(0, 3);
      throw new IRError(`graph ${this.name} has a cycle through ${stuck.map((n) => n.label).join(', ')}`);
    }
    return out;
  }

  toString(): string {
    const lines = [`graph ${this.name}(${this._inputs.map((v) => v.name).join(', ')}) {`];
    for (const n of this._nodes) lines.push(`  ${n}`);
    lines.push(`  return ${this._outputs.map((v) => v.name).join(', ')}`, '}');
    return lines.join('\n');
  }
}

function isInside(node: Node, set: Set<Node>): boolean {
  for (let g = node.graph; g; g = g.parentGraph) if (g.parentNode && set.has(g.parentNode)) return true;
  return false;
}

/** Names in use in a scope tree, with a generator of fresh ones. */
export class NameSet {
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();
  add(n: string): void {
    this.used.add(n);
  }
  has(n: string): boolean {
    return this.used.has(n);
  }
  fresh(base: string): string {
    if (!this.used.has(base)) {
      this.used.add(base);
      return base;
    }
    let i = this.counters.get(base) ?? 1;
    while (this.used.has(`${base}_${i}`)) i++;
    this.counters.set(base, i + 1);
    const n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }
}

class MinHeap<T> {
  private readonly a: T[] = [];
  constructor(private readonly cmp: (x: T, y: T) => number) {}
  get size(): number {
    return this.a.length;
  }
  push(x: T): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.cmp(a[i], a[p]) >= 0) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.a;
    if (!a.length) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.cmp(a[l], a[m]) < 0) m = l;
        if (r < a.length && this.cmp(a[r], a[m]) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}
