/**
 * The driver: applies pattern rules to a model until nothing more matches.
 *
 *   const rule: Rule = {
 *     name: 'transpose-of-transpose',
 *     pattern: transpose(transpose('x', { as: 'inner' }), { as: 'outer' }),
 *     condition: (m) => m.node('inner').attr('perm') ? true : 'inner Transpose has no perm',
 *     rewrite: (m, r) => r.op('Transpose', [m.value('x')], { perm: compose(...) }),
 *   };
 *   applyRules(model, [rule], { pass: 'fuse-consecutive-transposes', ctx });
 *
 * For each graph (main graph, every If/Loop/Scan body, every function body) the driver visits nodes in order and
 * tries the rules indexed under the node's op type. A match is accepted only when, in this order:
 *   1. the structure matches (some commutative order / alternative; see pattern.ts), all nodes in one graph scope;
 *   2. no intermediate value (output of a matched node other than the root) is read outside the match or is a graph
 *      output — the match will delete those nodes;
 *   3. the rule's condition holds;
 *   4. the rewrite builds its replacement (through the Rewriter, detached) without calling `r.fail(reason)`;
 *   5. every root output that is read or is a graph output gets a replacement, and each replacement can take its
 *      place (graph outputs keep their names: see replace.ts).
 * Only then is anything mutated: new nodes are inserted before the root, root outputs are replaced, and the driver
 * (never the rule) removes the matched nodes and whatever became dead through them. A failure at any step moves on
 * to the next variant; when none succeeds the deepest failure becomes a NearMiss (node + reason) for --explain.
 * Sweeps repeat until a fixed point (at most `maxSweeps`).
 */
import { OperationError } from '../errors.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { normDomain, type Model, type ModelFunction } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { defaultContext, type NearMiss, type Pass, type PassContext, type PassKind, type PassResult } from '../pass/pass.js';
import { constantOf, numbersOf } from './constant.js';
import { removeDeadFrom } from './dead.js';
import { Matcher } from './matcher.js';
import { opCount, rootOpTypes, toPattern, type CheckResult, type Pattern } from './pattern.js';
import { replaceValue, replacementProblem } from './replace.js';
import { RewriteFailure, Rewriter } from './rewriter.js';

export type RewriteResult = Value | readonly (Value | null | undefined)[] | RewriteFailure;

/**
 * A rule. `B` is the names its pattern binds; write rules with rule({ ... }) so that B is inferred from the pattern
 * and the Match given to condition/rewrite accepts only those names (a misspelt `m.value('xx')` does not compile).
 * Annotated as a plain `Rule`, the names are unchecked strings.
 */
export interface Rule<B extends string = string> {
  name: string;
  pattern: Pattern<B> | string | number | null;
  /**
   * Extra checks on the whole match. Return true to accept; a reason string to refuse with a near miss (the rule
   * could have fired: "input shape unknown"); false to refuse quietly (the node is simply not a candidate: a Cast
   * that really changes the type), which is reported only when the match reached explainMinDepth nodes.
   */
  condition?(m: Match<B>): CheckResult;
  /** builds the replacement of the root's outputs: one value (output 0) or one per output (null: must be unused) */
  rewrite(m: Match<B>, r: Rewriter): RewriteResult;
  /** counts key for each application (default: the rule's name); r.countAs() overrides it per application */
  count?: string;
  /**
   * Nodes (bound with `as`) whose outputs may be read outside the match or be graph outputs (a KV cache's `present`):
   * the rewrite must then give each such output a replacement with r.replaceAlso(old, new), or the match is refused.
   */
  escapes?: readonly B[];
  /**
   * Structural failures (and `false` conditions) that matched fewer operator nodes than this are not reported as near
   * misses (default: min(2, pattern size), so a one-node rule reports every candidate; set 2 to silence them).
   */
  explainMinDepth?: number;
}

/** A rule whose binding names are checked at compile time (see Rule). */
export function rule<B extends string>(r: Rule<B>): Rule<B> {
  return r;
}

/** What a condition or rewrite sees of a successful match; `B` is the names the pattern binds. */
export class Match<B extends string = string> {
  constructor(
    /** the node producing the matched value (the pattern's outermost operator) */
    readonly root: Node,
    /** every matched operator node, root first */
    readonly nodes: readonly Node[],
    readonly graph: Graph,
    readonly model: Model,
    readonly ctx: PassContext,
    private readonly values: ReadonlyMap<string, Value>,
    private readonly named: ReadonlyMap<string, Node>,
    private readonly fn?: ModelFunction,
  ) {}
  has(name: string): boolean {
    return this.values.has(name) || this.named.has(name);
  }
  /** The value bound to a variable or named constant. */
  value(name: B): Value {
    const v = this.values.get(name);
    if (!v) throw new Error(`pattern binds no value '${name}'`);
    return v;
  }
  /** The node bound with `as: name`. */
  node(name: B): Node {
    const n = this.named.get(name);
    if (!n) throw new Error(`pattern binds no node '${name}'`);
    return n;
  }
  /** The constant tensor bound to `name`. */
  tensor(name: B): Tensor {
    const t = constantOf(this.value(name));
    if (!t) throw new Error(`'${name}' is not a constant`);
    return t;
  }
  /** The single element of the constant bound to `name`. */
  scalar(name: B): number {
    const vals = numbersOf(this.tensor(name));
    if (vals?.length !== 1) throw new Error(`'${name}' is not a one-element numeric constant`);
    return vals[0];
  }
  /** Elements of a constant bound to `name`, as numbers. */
  numbers(name: B): number[] {
    const vals = numbersOf(this.tensor(name));
    if (!vals) throw new Error(`'${name}' is not a numeric constant`);
    return vals;
  }
  /** The imported version of an operator set for this graph ('' = ai.onnx); 0 when not imported. */
  opset(domain = ''): number {
    const d = normDomain(domain);
    const own = this.fn?.opsetImports.find((o) => normDomain(o.domain) === d)?.version;
    return own ?? this.model.opset(d) ?? 0;
  }
  /** True inside a model-local function body. */
  get inFunction(): boolean {
    return !!this.fn;
  }
}

export interface ApplyOptions {
  /** pass name used in near misses */
  pass?: string;
  ctx?: PassContext;
  /** apply inside If/Loop/Scan bodies (default true) */
  subgraphs?: boolean;
  /** apply inside model-local function bodies (default true) */
  functions?: boolean;
  /** sweeps over the model before giving up on a fixed point (default 10) */
  maxSweeps?: number;
}

export interface ApplyResult {
  applied: number;
  counts: Record<string, number>;
  sweeps: number;
}

interface Prepared {
  rule: Rule;
  pattern: Pattern;
  minDepth: number;
}

interface Scope {
  fn?: ModelFunction;
}

/** Applies the rules everywhere in the model until none matches (or maxSweeps). */
export function applyRules(model: Model, rules: readonly Rule[], opts: ApplyOptions = {}): ApplyResult {
  const ctx = opts.ctx ?? defaultContext();
  const index = new Map<string, Prepared[]>();
  for (const rule of rules) {
    const pattern = toPattern(rule.pattern);
    if (rootOpTypes(pattern).includes('*')) throw new Error(`rule ${rule.name}: the pattern's root must be an operator (op(...) or oneOf of them)`);
    const prep = { rule, pattern, minDepth: rule.explainMinDepth ?? Math.min(2, Math.max(1, opCount(pattern))) };
    for (const t of rootOpTypes(pattern)) (index.get(t) ?? index.set(t, []).get(t)!).push(prep);
  }
  const counts: Record<string, number> = {};
  const reported = new Set<string>();
  let applied = 0;
  let sweeps = 0;
  const maxSweeps = opts.maxSweeps ?? 10;

  const tryRule = (p: Prepared, node: Node, g: Graph, scope: Scope): boolean => {
    const matcher = new Matcher(g, node);
    let plan: Plan | undefined;
    // 1. structure: the matcher backtracks over operand orders and alternatives; each complete match is checked here
    const ok = matcher.matchRoot(p.pattern, () => {
      const nodes = [...new Set(matcher.stack)];
      const root = nodes[0]!;
      const allowed = new Set((p.rule.escapes ?? []).map((k) => matcher.nodes.get(k)).filter((n): n is Node => !!n));
      const escape = escapingIntermediate(nodes, allowed);
      if (escape) return matcher.fail(escape.reason, escape.node, DEFINITE);
      const m = new Match(root, nodes, g, model, ctx, new Map(matcher.values), new Map(matcher.nodes), scope.fn);
      const refused = conditionRefusal(p.rule, m);
      if (refused) return matcher.fail(refused.reason, root, refused.nearMiss ? DEFINITE : undefined);
      const rw = new Rewriter(g, !!scope.fn, (d) => ensureDomain(model, scope.fn, d));
      const reps = buildReplacement(p.rule, m, rw);
      const problem = reps instanceof RewriteFailure ? reps.reason : (unreplaceableOutput(root, reps, rw) ?? unreplacedEscape(allowed, nodes, rw));
      if (problem !== undefined) {
        rw.discard();
        return matcher.fail(problem, root, DEFINITE);
      }
      plan = { rw, reps: reps as (Value | null)[], nodes };
      return true;
    });
    if (!ok || !plan) {
      reportNearMiss(p, matcher);
      return false;
    }
    commitRewrite(node, plan, g, model);
    const key = plan.rw.countKey ?? p.rule.count ?? p.rule.name;
    counts[key] = (counts[key] ?? 0) + 1;
    applied++;
    return true;
  };

  const reportNearMiss = (p: Prepared, matcher: Matcher): void => {
    const f = matcher.failure;
    if (!ctx.explain || !f || f.depth < p.minDepth) return;
    const key = `${p.rule.name}\u0000${f.node.label}\u0000${f.reason}`;
    if (reported.has(key)) return;
    reported.add(key);
    ctx.explain({ pass: opts.pass ?? '', rule: p.rule.name, node: f.node.label, reason: f.reason } satisfies NearMiss);
  };

  const sweepGraph = (g: Graph, scope: Scope): number => {
    let n = 0;
    for (const node of [...g.nodes]) {
      if (node.graph !== g) continue;
      for (const p of index.get(node.opType) ?? []) {
        if (node.graph !== g) break;
        try {
          if (tryRule(p, node, g, scope)) n++;
        } catch (e) {
          if (e instanceof OperationError) throw e;
          throw new OperationError(`rule ${p.rule.name} failed on ${node.label}: ${(e as Error).message}`, { cause: e });
        }
      }
      if (node.graph === g && opts.subgraphs !== false) for (const sg of node.subgraphs()) n += sweepGraph(sg, scope);
    }
    return n;
  };

  while (sweeps < maxSweeps) {
    sweeps++;
    let n = sweepGraph(model.graph, {});
    if (opts.functions !== false) for (const fn of model.functions) n += sweepGraph(fn.graph, { fn });
    if (n === 0) break;
  }
  return { applied, counts, sweeps };
}

// ------------------------------------------------------------------------------------------------ the steps of a match

/** Depth given to failures that happen after the structure matched: they always rank as the deepest. */
const DEFINITE = 1000;

interface Plan {
  rw: Rewriter;
  reps: (Value | null)[];
  nodes: Node[];
}

/**
 * 2. An intermediate value (an output of a matched node other than the root) that is a graph output or is read
 * outside the match: the match would delete its producer.
 */
function escapingIntermediate(nodes: readonly Node[], allowed: ReadonlySet<Node> = new Set()): { node: Node; reason: string } | undefined {
  const set = new Set(nodes);
  for (const x of nodes.slice(1)) {
    if (allowed.has(x)) continue;
    for (const o of x.outputs) {
      if (!o) continue;
      if (o.isGraphOutput) return { node: x, reason: `intermediate ${o} (from ${x.label}) is a graph output` };
      const u = o.uses.find((use) => !set.has(use.node));
      if (u) return { node: x, reason: `intermediate ${o} (from ${x.label}) is also used by ${u.node.label}, outside the match` };
    }
  }
  return undefined;
}

/**
 * 3. The rule's condition. A reason string is a near miss (the rule could have fired); plain false only means "not a
 * candidate" and ranks as a structural failure.
 */
function conditionRefusal(rule: Rule, m: Match): { reason: string; nearMiss: boolean } | undefined {
  if (!rule.condition) return undefined;
  const r = rule.condition(m);
  if (r === true) return undefined;
  return typeof r === 'string' ? { reason: r, nearMiss: true } : { reason: `condition of rule ${rule.name} does not hold`, nearMiss: false };
}

/** 4. The rewrite, building its replacement detached (through the Rewriter): one value per root output, or its refusal. */
function buildReplacement(rule: Rule, m: Match, rw: Rewriter): (Value | null)[] | RewriteFailure {
  let res: RewriteResult;
  try {
    res = rule.rewrite(m, rw);
  } catch (e) {
    rw.discard();
    throw e;
  }
  if (res instanceof RewriteFailure) return res;
  return (Array.isArray(res) ? res : [res]).map((v: Value | null | undefined) => v ?? null);
}

/** 5. Every root output that is read or is a graph output gets a replacement that can take its place. */
function unreplaceableOutput(root: Node, reps: readonly (Value | null)[], rw: Rewriter): string | undefined {
  const forOutputs = new Set<Value>();
  for (let i = 0; i < root.outputs.length; i++) {
    const y = root.outputs[i];
    const r = reps[i] ?? null;
    if (!y) continue;
    if (!r) {
      if (y.uses.length || y.isGraphOutput) return `output ${y} of ${root.label} is still needed but the rewrite gives no replacement for it`;
      continue;
    }
    const problem = replacementProblem(y, r, rw.isNew(r));
    if (problem) return problem;
    if (y.isGraphOutput) {
      if (forOutputs.has(r)) return `${r} would replace two graph outputs`;
      forOutputs.add(r);
    }
  }
  return undefined;
}

/** 5b. Every output of a node allowed to escape that is read outside the match (or is a graph output) is replaced. */
function unreplacedEscape(allowed: ReadonlySet<Node>, nodes: readonly Node[], rw: Rewriter): string | undefined {
  const inside = new Set(nodes);
  for (const n of allowed)
    for (const o of n.outputs) {
      if (!o || (!o.isGraphOutput && o.uses.every((u) => inside.has(u.node)))) continue;
      const r = rw.alsoReplaced.get(o);
      if (!r) return `${o} (from ${n.label}) is read outside the match and the rewrite gives no replacement for it`;
      const problem = replacementProblem(o, r, rw.isNew(r));
      if (problem) return problem;
    }
  return undefined;
}

/** The only mutations: insert the new nodes before the root, replace its outputs, remove what became dead. */
function commitRewrite(node: Node, plan: Plan, g: Graph, model: Model): void {
  const { rw, reps, nodes } = plan;
  const resolve = rw.commit(node);
  const named = new Set<Value>();
  node.outputs.forEach((y, i) => {
    const r0 = reps[i];
    if (!y || !r0) return;
    const r = resolve(r0);
    const takeName = rw.isNew(r) && !named.has(r);
    named.add(r);
    replaceValue(y, r, { takeName });
  });
  for (const [y, r0] of rw.alsoReplaced) {
    const r = resolve(r0);
    replaceValue(y, r, { takeName: rw.isNew(r) && !named.has(r) });
    named.add(r);
  }
  removeDeadFrom([...rw.newNodes, ...nodes], g, model, { forceNodes: new Set([...nodes, ...rw.newNodes]) });
}

function ensureDomain(model: Model, fn: ModelFunction | undefined, domain: string): void {
  const d = normDomain(domain);
  if (d === '') return;
  if (model.opset(d) === undefined) model.setOpset(d, 1);
  if (fn && !fn.opsetImports.some((o) => normDomain(o.domain) === d)) fn.opsetImports.push({ domain: d, version: model.opset(d) ?? 1 });
}

// ------------------------------------------------------------------------------------------------ passes from rules

export interface RulePassSpec {
  name: string;
  description: string;
  kind: PassKind;
  rules: readonly Rule[];
  lossless?: boolean;
  tolerance?: { rtol: number; atol: number };
  /** default true: rules also apply inside subgraphs and function bodies */
  recursesIntoSubgraphs?: boolean;
}

/** A Pass that applies a rule set to a fixed point. Counts are keyed by each rule's `count` (or name). */
export function rulePass(spec: RulePassSpec): Pass {
  const recurse = spec.recursesIntoSubgraphs ?? true;
  return {
    name: spec.name,
    description: spec.description,
    kind: spec.kind,
    lossless: spec.lossless ?? true,
    tolerance: spec.tolerance,
    recursesIntoSubgraphs: recurse,
    run(model: Model, ctx: PassContext): PassResult {
      const res = applyRules(model, spec.rules, { pass: spec.name, ctx, subgraphs: recurse, functions: recurse });
      return { modified: res.applied > 0, counts: res.counts };
    },
  };
}
