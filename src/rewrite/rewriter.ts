/**
 * Rewriter: the one object through which a rule builds its replacement.
 *
 * Nothing it builds touches the graph until the driver commits: nodes are created detached (their input uses are
 * registered so def-use stays exact, and released again if the rewrite is abandoned), constants are held aside, and
 * every new value and node gets a name that is unique in the whole scope tree (Graph.freshName). On commit the new
 * nodes are inserted, in creation order, just before the root of the match (all values a match binds are defined
 * before its root, so the order stays topological), initializers are added (Constant nodes inside function bodies,
 * which cannot hold initializers), and operator-set imports are added for any new domain.
 */
import { DataType } from '../ir/dtype.js';
import { Attribute, Node, Value, type Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';

export class RewriteFailure {
  constructor(readonly reason: string) {}
}

export interface NewNodeOptions {
  domain?: string;
  /** base of the node's name (made unique); default: the op type */
  name?: string;
  /** number of outputs (default 1) */
  outputs?: number;
}

export class Rewriter {
  private readonly nodes: Node[] = [];
  private readonly inits: { value: Value; tensor: Tensor }[] = [];
  private readonly created = new Set<Value>();
  private committed = false;
  /** the counts key for this application, when the rule sets one (see countAs) */
  countKey?: string;
  /** replacements of outputs of matched nodes other than the root (rules with `escapes`: see replaceAlso) */
  readonly alsoReplaced = new Map<Value, Value>();

  constructor(
    readonly graph: Graph,
    /** true inside a function body: constants become Constant nodes */
    readonly inFunction: boolean,
    /** called with the domain of every new node, on commit (imports the operator set when missing) */
    private readonly ensureDomain: (domain: string) => void = () => {},
  ) {}

  /** Adds a node and returns its first output. */
  op(opType: string, inputs: readonly (Value | null | undefined)[], attrs: Record<string, unknown> = {}, opts: NewNodeOptions = {}): Value {
    return this.node(opType, inputs, attrs, opts).output(0);
  }
  /** Adds a node with `n` outputs and returns them. */
  ops(opType: string, inputs: readonly (Value | null | undefined)[], n: number, attrs: Record<string, unknown> = {}, opts: NewNodeOptions = {}): Value[] {
    return this.node(opType, inputs, attrs, { ...opts, outputs: n }).outputs as Value[];
  }
  node(opType: string, inputs: readonly (Value | null | undefined)[], attrs: Record<string, unknown> = {}, opts: NewNodeOptions = {}): Node {
    this.checkOpen();
    const base = (opts.name || opType).replace(/[^A-Za-z0-9_./]/g, '_');
    const n = opts.outputs ?? 1;
    const outs = Array.from({ length: n }, (_, i) => new Value(this.graph.freshName(`${base}_out${n > 1 ? i : ''}`)));
    const attributes = Object.entries(attrs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => (v instanceof Attribute ? Object.assign(new Attribute(k, v.type, v.value), { docString: v.docString }) : Attribute.infer(k, v)));
    const node = new Node(
      opType,
      inputs.map((v) => v ?? null),
      outs,
      { domain: opts.domain, name: this.graph.freshName(base), attributes },
    );
    this.nodes.push(node);
    for (const o of outs) this.created.add(o);
    return node;
  }

  /** A constant: an initializer of the match's graph (a Constant node inside a function body). */
  constant(base: string, tensor: Tensor): Value {
    this.checkOpen();
    if (this.inFunction) return this.constantNode(tensor, base);
    const value = new Value(this.graph.freshName(base));
    this.inits.push({ value, tensor });
    this.created.add(value);
    return value;
  }
  /** A Constant node holding the tensor (for graph outputs and function bodies). */
  constantNode(tensor: Tensor, base = 'const'): Value {
    const n = this.node('Constant', [], { value: Attribute.tensor('value', tensor) }, { name: base });
    return n.output(0);
  }
  /** A 1-D int64 constant (shapes, axes, perms). */
  ints(values: readonly (number | bigint)[], base = 'ints'): Value {
    return this.constant(
      base,
      Tensor.fromArray(
        DataType.INT64,
        [values.length],
        BigInt64Array.from(values, (x) => BigInt(x)),
      ),
    );
  }
  /** A scalar constant of the given type (default float32). */
  scalar(value: number, dataType: number = DataType.FLOAT, base = 'scalar'): Value {
    return this.constant(base, Tensor.scalar(dataType, dataType === DataType.INT64 || dataType === DataType.UINT64 ? BigInt(value) : value));
  }

  /** Abandons this rewrite with a reason (return its result from the rule's rewrite). */
  fail(reason: string): RewriteFailure {
    return new RewriteFailure(reason);
  }
  /** Counts this application under `key` instead of the rule's default key. */
  /** Replaces `old`, an output of a matched node the rule lets escape (Rule.escapes), by `v` on commit. */
  replaceAlso(old: Value, v: Value): void {
    this.checkOpen();
    this.alsoReplaced.set(old, v);
  }

  countAs(key: string): void {
    this.countKey = key;
  }

  /** True for values this rewriter created (they take the names of the values they replace). */
  isNew(v: Value): boolean {
    return this.created.has(v);
  }
  get newNodes(): readonly Node[] {
    return this.nodes;
  }

  /** @internal inserts everything before `before`; returns the value map for pending initializers */
  commit(before: Node): (v: Value) => Value {
    this.checkOpen();
    this.committed = true;
    const map = new Map<Value, Value>();
    for (const { value, tensor } of this.inits) {
      const real = this.graph.addInitializer(value.name, tensor);
      value.replaceAllUsesWith(real);
      map.set(value, real);
      this.created.add(real);
    }
    for (const n of this.nodes) {
      this.graph.insertBefore(n, before);
      if (n.domain) this.ensureDomain(n.domain);
    }
    return (v) => map.get(v) ?? v;
  }
  /** @internal releases the input uses of everything built */
  discard(): void {
    if (this.committed) return;
    this.committed = true;
    for (const n of this.nodes) n.detachInputs();
  }
  private checkOpen(): void {
    if (this.committed) throw new Error('this Rewriter has already been committed or discarded');
  }
}
