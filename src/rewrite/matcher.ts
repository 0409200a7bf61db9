/**
 * The matcher behind pattern.ts: one matching attempt from a root node, continuation-passing so that commutative
 * operand orders, oneOf alternatives and optional Casts backtrack (bindings made in a failed branch are undone), and
 * the deepest failure is kept with a reason tied to a node (the driver turns it into a NearMiss).
 */
import type { Graph, Node, Value } from '../ir/graph.js';
import { normDomain } from '../ir/model.js';
import { constantOf } from './constant.js';
import { attrEquals, attrValue, fmtAttr, type ConstPattern, type OpPattern, type Pattern, type VarPattern } from './pattern.js';

export interface Failure {
  /** how far the match got (matched op nodes; checks after a full match rank above any structural failure) */
  depth: number;
  node: Node;
  reason: string;
}

/**
 * One matching attempt: bindings with backtracking, the stack of matched nodes, and the deepest failure seen.
 * Continuation-passing: `matchValue(p, v, k)` returns k()'s answer when p matches v, trying every variant until k
 * accepts one.
 */
export class Matcher {
  readonly values = new Map<string, Value>();
  readonly nodes = new Map<string, Node>();
  readonly stack: Node[] = [];
  failure?: Failure;

  constructor(
    readonly graph: Graph,
    readonly root: Node,
  ) {}

  fail(reason: string, node?: Node, bonus = 0): false {
    const depth = this.stack.length + bonus;
    if (!this.failure || depth > this.failure.depth) this.failure = { depth, node: node ?? this.stack[this.stack.length - 1] ?? this.root, reason };
    return false;
  }

  /** Matches the pattern against the root node (its output `output`, default 0). */
  matchRoot(p: Pattern, k: () => boolean): boolean {
    if (p.kind === 'op') {
      const out = this.root.outputs[p.opts.output ?? 0];
      if (!out) return this.fail(`${this.root.label} has no output ${p.opts.output ?? 0}`, this.root);
      return this.matchValue(p, out, k, 'root');
    }
    if (p.kind === 'oneOf') {
      for (const alt of p.alts) if (this.matchRoot(alt, k)) return true;
      return false;
    }
    const out = this.root.outputs[0];
    return out ? this.matchValue(p, out, k, 'root') : this.fail(`${this.root.label} has no output`, this.root);
  }

  matchValue(p: Pattern, val: Value | null, k: () => boolean, where: string): boolean {
    switch (p.kind) {
      case 'absent':
        return val ? this.fail(`${where}: expected an omitted input, found ${val}`) : k();
      case 'any':
        return val ? k() : this.fail(`${where}: input is omitted`);
      case 'var':
        return this.matchVar(p, val, k, where);
      case 'const':
        return this.matchConst(p, val, k, where);
      case 'oneOf':
        for (const alt of p.alts) if (this.matchValue(alt, val, k, where)) return true;
        return false;
      case 'op':
        return this.matchOp(p, val, k, where);
    }
  }

  private bind(name: string, val: Value, k: () => boolean, where: string): boolean {
    const prev = this.values.get(name);
    if (prev) return prev === val ? k() : this.fail(`${where}: '${name}' is ${prev} elsewhere in the match but ${val} here`);
    this.values.set(name, val);
    if (k()) return true;
    this.values.delete(name);
    return false;
  }

  private matchVar(p: VarPattern, val: Value | null, k: () => boolean, where: string): boolean {
    if (!val) return this.fail(`${where}: input is omitted, expected '${p.name}'`);
    if (p.where) {
      const r = p.where(val);
      if (r !== true) return this.fail(`${where}: ${val} rejected for '${p.name}'${typeof r === 'string' ? `: ${r}` : ''}`);
    }
    return this.bind(p.name, val, k, where);
  }

  private matchConst(p: ConstPattern, val: Value | null, k: () => boolean, where: string): boolean {
    if (!val) return this.fail(`${where}: input is omitted, expected constant ${p.describe}`);
    const t = constantOf(val);
    if (!t) return this.fail(`${where}: ${val} is not a constant (expected ${p.describe})`);
    const r = p.test(t, val);
    if (r !== true) return this.fail(`${where}: ${val}: ${typeof r === 'string' ? r : `constant rejected (expected ${p.describe})`}`);
    return p.name ? this.bind(p.name, val, k, where) : k();
  }

  private matchOp(p: OpPattern, val: Value | null, k: () => boolean, where: string): boolean {
    if (!val) return this.fail(`${where}: input is omitted, expected ${p.opType}`);
    const n = val.producer;
    if (!n) return this.fail(`${where}: ${val} is a graph ${val.isInitializer ? 'initializer' : 'input'}, expected ${p.opType}`);
    if (n.opType !== p.opType || normDomain(n.domain) !== p.domain)
      return this.fail(`${where}: ${val} comes from ${n.domain ? n.domain + '::' : ''}${n.opType}, expected ${p.opType}`);
    if (n.graph !== this.graph) return this.fail(`${where}: ${n.label} is in another graph scope`);
    const outIdx = p.opts.output ?? 0;
    if (val.producerIndex !== outIdx) return this.fail(`${where}: ${val} is output ${val.producerIndex} of ${n.label}, expected output ${outIdx}`);
    let count = n.inputs.length;
    while (count > 0 && !n.inputs[count - 1]) count--;
    if (count < p.inputs.length && p.inputs.slice(count).some((q) => q.kind !== 'absent'))
      return this.fail(`${n.label} has ${count} inputs, expected ${p.inputs.length}`, n);
    if (count > p.inputs.length && !p.opts.rest) return this.fail(`${n.label} has ${count} inputs, expected ${p.inputs.length}`, n);
    for (const [name, check] of Object.entries(p.opts.attrs ?? {})) {
      const value = attrValue(n.attributes.get(name));
      const r = typeof check === 'function' ? check(value, n) : attrEquals(value, check);
      if (r !== true)
        return this.fail(
          `${n.label}: attribute ${name}=${fmtAttr(value)}${typeof r === 'string' ? `: ${r}` : typeof check === 'function' ? ' rejected' : `, expected ${fmtAttr(check)}`}`,
          n,
        );
    }
    if (p.opts.where) {
      const r = p.opts.where(n);
      if (r !== true) return this.fail(`${n.label}: ${typeof r === 'string' ? r : 'rejected by the pattern'}`, n);
    }
    const as = p.opts.as;
    if (as) {
      const prev = this.nodes.get(as);
      if (prev && prev !== n) return this.fail(`${where}: node '${as}' is ${prev.label} elsewhere but ${n.label} here`, n);
    }
    const bound = as && !this.nodes.has(as);
    if (bound) this.nodes.set(as!, n);
    this.stack.push(n);
    const orders: number[][] = [p.inputs.map((_, i) => i)];
    if (p.swappable && count === 2) orders.push([1, 0]);
    let ok = false;
    for (const order of orders) {
      // order[i]: the node input matched by pattern input i
      if (this.matchInputs(p, n, order, 0, k)) {
        ok = true;
        break;
      }
    }
    this.stack.pop();
    if (bound && !ok) this.nodes.delete(as!);
    return ok;
  }

  private matchInputs(p: OpPattern, n: Node, order: number[], i: number, k: () => boolean): boolean {
    if (i === p.inputs.length) return k();
    const j = order[i];
    return this.matchValue(p.inputs[i], n.inputs[j] ?? null, () => this.matchInputs(p, n, order, i + 1, k), `${n.label} input ${j}`);
  }
}
