/**
 * Patterns that read like the formula they match (the matcher that runs them is matcher.ts).
 *
 * ── The DSL ──────────────────────────────────────────────────────────────────────────────────────────────────────
 *
 *   import { mul, add, div, erf, c, SQRT2 } from '../rewrite/pattern.js';
 *   // GELU (erf form):  x * 0.5 * (1 + erf(x / sqrt 2))
 *   const gelu = mul(mul('x', c(0.5)), add(erf(div('x', c(SQRT2))), c(1)));
 *
 * Building blocks (every place that takes a pattern also takes a string, a number or null):
 *
 *   'x' / v('x', pred?)        a variable: binds the value found there; every occurrence of 'x' must be the SAME value
 *   1.5   / c(1.5, {rtol,atol,as,anyShape})   a constant equal to 1.5 within a per-dtype tolerance (float32 rtol
 *                              1e-5, float16 1e-3, bfloat16 1e-2; integers exact). By default it must hold exactly one
 *                              element (shape [], [1], [1,1], ...); `anyShape: true` accepts uniform tensors.
 *   anyScalar('eps')           any one-element constant (bound as 'eps': m.scalar('eps'))
 *   anyConst('w')              any constant tensor (initializer or Constant node; bound: m.tensor('w'))
 *   constWhere('w', t => ..)   a constant the predicate accepts (return true, false or a reason string)
 *   _ / any()                  any present value, not bound;     null / absent()   an omitted optional input
 *   oneOf(p1, p2, ...)         alternatives, tried in order (with backtracking)
 *   optCast(p, to?)            p, or Cast(p) (the Casts exporters insert around constants and inputs)
 *   op('LayerNormalization', ['x', 'scale', _], { domain, attrs, as, output, rest, where })
 *   add/sub/mul/div/pow/... (see the list at the end of the file): shorthands for op() with the same options
 *
 * op() options: `domain` ('' and 'ai.onnx' are the same), `attrs: { perm: [0, 2, 1, 3], axis: attrIs(-1, -1),
 * epsilon: (v) => v < 1e-3 }` (a literal must equal the attribute, a function gets the attribute's JS value or
 * undefined and returns true, false or a reason), `as: 'ln'` (binds the node: m.node('ln')), `output: 1` (the
 * value must be that output of the node; default 0), `rest: true` (the node may have more inputs than listed; by
 * default the count, ignoring trailing omitted inputs, must be equal), `where: (node) => true | 'reason'`.
 *
 * Commutative operators (Add, Mul, Max, Min, Sum, Mean, And, Or, Xor, Equal, BitwiseAnd/Or/Xor) with two inputs are
 * matched in both operand orders automatically: the matcher backtracks over the orders, the alternatives of oneOf and
 * optional Casts, so `mul('x', c(0.5))` also matches `Mul(0.5, x)` and a variable bound in one branch is unbound
 * again when that branch fails. `variants(p)` lists the expansions explicitly (for documentation and tests).
 *
 * ── Writing a rule (driver.ts applies it) ─────────────────────────────────────────────────────────────────────
 *
 *   import { rulePass, type Rule } from '../rewrite/driver.js';
 *   const rules: Rule[] = [{
 *     name: 'gelu-erf',                          // near misses and counts use it (or `count: 'fused'`)
 *     pattern: mul(mul('x', c(0.5)), add(erf(div('x', c(SQRT2))), c(1))),
 *     condition: (m) => m.opset() >= 20 || 'Gelu needs opset 20',   // true | 'reason' (a near miss) | false
 *     rewrite: (m, r) => r.op('Gelu', [m.value('x')]),            // replaces the root's output 0
 *   }];
 *   export default rulePass({ name: 'fuse-gelu', description: '...', kind: 'fusion', rules });
 *
 * The root is the pattern's outermost operator; rules are indexed by its op type, so only those nodes are tried.
 * `m` (Match): m.value('x'), m.node('ln') (bound with `as`), m.tensor('w') / m.scalar('eps') / m.numbers('s')
 * (constants), m.root, m.nodes (every matched node), m.graph, m.model, m.opset(domain?), m.inFunction, m.ctx (target,
 * options). `r` (Rewriter): r.op(type, inputs, attrs?, { domain, name }) -> Value, r.ops(type, inputs, n, ...) ->
 * Value[], r.node(...) -> Node, r.constant(base, tensor), r.constantNode(tensor), r.ints([..]), r.scalar(v, dtype?),
 * r.fail('reason') (return it: nothing is changed), r.countAs('key'). Return one Value (replaces output 0) or an
 * array indexed by output (null for an output that must be unused). Attributes follow Graph.addNode: integers
 * become INT, so write floats with f(1e-5) from ir/graph.
 *
 * The driver (never the rule) checks that intermediate values do not escape the match, inserts the new nodes before
 * the root, keeps graph-output names, removes the dead nodes and constants, imports new operator domains, and
 * recurses into subgraphs and function bodies. Nothing mutates unless every check and the rewrite succeed.
 *
 * Failures carry a reason tied to the deepest node the match reached ("Mul(y) input 1: %t comes from Tanh, expected
 * Add"), which the driver reports as a NearMiss under --explain.
 */
import { AttrType, type Attribute, type Graph, type Node, type Value } from '../ir/graph.js';
import { DataType } from '../ir/dtype.js';
import { normDomain } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { numbersOf } from './constant.js';

export const SQRT2 = Math.SQRT2;
export const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

// ------------------------------------------------------------------------------------------------ pattern types

/** A check's answer: true to accept, false or a reason string to refuse. */
export type CheckResult = boolean | string;
/** An attribute's value as JS: number, number[], string, string[], Tensor, Graph (undefined when absent). */
export type AttrJS = number | number[] | string | string[] | Tensor | Graph | Tensor[] | Graph[] | unknown;
export type AttrCheck = number | string | readonly number[] | ((value: AttrJS | undefined, node: Node) => CheckResult);

/**
 * The names a pattern binds (variables, nodes bound with `as`, named constants), carried in its type only: a rule
 * written with rule({ pattern, rewrite }) gets a Match whose value()/node()/tensor() accept exactly those names, so
 * a misspelt binding is a compile error. Never set at run time.
 */
declare const BINDS: unique symbol;
export interface Binds<B extends string> {
  readonly [BINDS]?: B;
}
/** The binding names of a pattern-like: a string is a variable; numbers, null and unbound patterns bind nothing. */
export type BindingsOf<P> = P extends string ? P : P extends Binds<infer B> ? B : never;

export interface OpOptions<N extends string = string> {
  domain?: string;
  attrs?: Record<string, AttrCheck>;
  /** bind the matched node under this name (m.node(name)) */
  as?: N;
  /** which output of the node the matched value must be (default 0) */
  output?: number;
  /** accept nodes with more inputs than the pattern lists */
  rest?: boolean;
  where?: (node: Node) => CheckResult;
  /** override the built-in commutativity of the op type */
  commutative?: boolean;
}

export interface OpPattern<B extends string = string> extends Binds<B> {
  kind: 'op';
  opType: string;
  domain: string;
  inputs: Pattern[];
  opts: OpOptions;
  commutative: boolean;
  /** commutative with two inputs that are not the same pattern: the matcher also tries them swapped */
  swappable: boolean;
}
export interface VarPattern<B extends string = string> extends Binds<B> {
  kind: 'var';
  name: string;
  where?: (v: Value) => CheckResult;
}
export interface ConstPattern<B extends string = string> extends Binds<B> {
  kind: 'const';
  name?: string;
  describe: string;
  test: (t: Tensor, v: Value) => CheckResult;
}
export interface OneOfPattern<B extends string = string> extends Binds<B> {
  kind: 'oneOf';
  alts: Pattern[];
}
export interface AnyPattern extends Binds<never> {
  kind: 'any';
}
export interface AbsentPattern extends Binds<never> {
  kind: 'absent';
}
export type Pattern<B extends string = string> = OpPattern<B> | VarPattern<B> | ConstPattern<B> | OneOfPattern<B> | AnyPattern | AbsentPattern;
export type PatternLike = Pattern | string | number | null;

export const COMMUTATIVE: ReadonlySet<string> = new Set([
  'Add',
  'Mul',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'And',
  'Or',
  'Xor',
  'Equal',
  'BitwiseAnd',
  'BitwiseOr',
  'BitwiseXor',
]);

// ------------------------------------------------------------------------------------------------ constructors

export function toPattern(p: PatternLike): Pattern {
  if (p === null) return { kind: 'absent' };
  if (typeof p === 'string') return { kind: 'var', name: p };
  if (typeof p === 'number') return c(p);
  return p;
}

export function op<const I extends readonly PatternLike[], N extends string = never>(
  opType: string,
  inputs: I,
  opts: OpOptions<N> = {},
): NoInfer<OpPattern<BindingsOf<I[number]> | N>> {
  const domain = normDomain(opts.domain);
  const commutative = opts.commutative ?? (domain === '' && COMMUTATIVE.has(opType));
  const ins = inputs.map(toPattern);
  const swappable = commutative && ins.length === 2 && describePattern(ins[0]) !== describePattern(ins[1]);
  return { kind: 'op', opType, domain, inputs: ins, opts, commutative, swappable };
}

export function v<N extends string>(name: N, where?: (v: Value) => CheckResult): NoInfer<VarPattern<N>> {
  return { kind: 'var', name, where };
}

export const any = (): AnyPattern => ({ kind: 'any' });
export const _: AnyPattern = any();
export const absent = (): AbsentPattern => ({ kind: 'absent' });

export function oneOf<const A extends readonly PatternLike[]>(...alts: A): NoInfer<OneOfPattern<BindingsOf<A[number]>>> {
  return { kind: 'oneOf', alts: alts.map(toPattern) };
}

/**
 * `p`, or `Cast(p)`: exporters put a Cast where a type may differ. `to` accepts only a Cast to that type; `as` binds
 * the Cast node when there is one. `p` is tried first, so a variable binds the outermost value (the Cast's output).
 */
export function optCast<P extends PatternLike, N extends string = never>(p: P, opts: { to?: number; as?: N } = {}): NoInfer<OneOfPattern<BindingsOf<P> | N>> {
  return oneOf(p, op('Cast', [p], { ...(opts.to === undefined ? {} : { attrs: { to: opts.to } }), ...(opts.as ? { as: opts.as } : {}) }));
}

export interface ConstOptions<N extends string = string> {
  rtol?: number;
  atol?: number;
  /** bind the constant's value under this name */
  as?: N;
  /** accept tensors of any size whose every element matches (default: exactly one element) */
  anyShape?: boolean;
}

/** Default relative tolerance for comparing a float constant with a pattern's value. */
export function defaultRtol(dataType: number): number {
  switch (dataType) {
    case DataType.FLOAT16:
      return 1e-3;
    case DataType.BFLOAT16:
      return 1e-2;
    case DataType.FLOAT:
    case DataType.DOUBLE:
      return 1e-5;
    default:
      return 0;
  }
}

/** A constant equal to `value` (within tolerance for floats). */
export function c<N extends string = never>(value: number, opts: ConstOptions<N> = {}): NoInfer<ConstPattern<N>> {
  return {
    kind: 'const',
    name: opts.as,
    describe: String(+value.toPrecision(6)),
    test: (t) => {
      if (!opts.anyShape && t.size !== 1) return `constant has ${t.size} elements, expected one (${value})`;
      if (t.size === 0) return 'constant is empty';
      const vals = numbersOf(t);
      if (!vals) return `constant of this type cannot equal ${value}`;
      const rtol = opts.rtol ?? defaultRtol(t.dataType);
      const atol = opts.atol ?? (rtol > 0 ? 1e-7 : 0);
      for (const x of vals) {
        if (!(Math.abs(x - value) <= atol + rtol * Math.abs(value))) return `constant is ${+x.toPrecision(7)}, expected ${value}`;
      }
      return true;
    },
  };
}

/** Any constant with exactly one element. */
export function anyScalar<N extends string = never>(name?: N): NoInfer<ConstPattern<N>> {
  return { kind: 'const', name, describe: name ?? 'scalar', test: (t) => (t.size === 1 ? true : `constant has ${t.size} elements, expected a scalar`) };
}

/** Any constant tensor. */
export function anyConst<N extends string = never>(name?: N): NoInfer<ConstPattern<N>> {
  return { kind: 'const', name, describe: name ?? 'const', test: () => true };
}

/** A constant accepted by `pred` (true, false or a reason). */
export function constWhere<N extends string = never>(name: N | undefined, pred: (t: Tensor, v: Value) => CheckResult): NoInfer<ConstPattern<N>> {
  return { kind: 'const', name, describe: name ?? 'const?', test: pred };
}

/** Attribute check: equal to `expected`, where an absent attribute counts as `dflt` (its default in the spec). */
export function attrIs(expected: number | string | readonly number[], dflt?: number | string | readonly number[]): AttrCheck {
  return (value) => attrEquals(value === undefined ? dflt : value, expected);
}

// ------------------------------------------------------------------------------------------------ attributes

/** An attribute's value as plain JS (ints as numbers). */
export function attrValue(a: Attribute | undefined): AttrJS | undefined {
  if (!a || a.value === undefined) return undefined;
  switch (a.type) {
    case AttrType.INT:
      return Number(a.value);
    case AttrType.INTS:
      return (a.value as (number | bigint)[]).map(Number);
    case AttrType.FLOATS:
      return [...(a.value as number[])];
    case AttrType.STRING:
      return typeof a.value === 'string' ? a.value : new TextDecoder().decode(a.value as Uint8Array);
    case AttrType.STRINGS:
      return (a.value as (string | Uint8Array)[]).map((s) => (typeof s === 'string' ? s : new TextDecoder().decode(s)));
    default:
      return a.value;
  }
}

/** @internal equality of an attribute value with a pattern's literal (floats within 1e-6 relative) */
export function attrEquals(value: unknown, expected: unknown): boolean {
  if (typeof expected === 'number') {
    if (typeof value !== 'number') return false;
    if (Number.isInteger(expected) && Number.isInteger(value)) return value === expected;
    return Math.abs(value - expected) <= 1e-6 * Math.max(Math.abs(expected), 1e-30);
  }
  if (typeof expected === 'string') return value === expected;
  if (Array.isArray(expected)) {
    return Array.isArray(value) && value.length === expected.length && value.every((x, i) => attrEquals(x, expected[i]));
  }
  return value === expected;
}

/** @internal */
export function fmtAttr(x: unknown): string {
  if (Array.isArray(x)) return `[${x.join(',')}]`;
  return x === undefined ? 'absent' : String(x);
}

// ------------------------------------------------------------------------------------------------ description

const described = new WeakMap<Pattern, string>();

/**
 * The pattern written back as a formula: `Mul(Mul(x, 0.5), Add(Erf(Div(x, 1.41421)), 1))`. Memoized per pattern
 * object: large patterns share sub-patterns (attention's query and key heads appear in several alternatives), and
 * describing them as trees over and over cost more than matching.
 */
export function describePattern(p: PatternLike): string {
  const q = toPattern(p);
  const known = described.get(q);
  if (known !== undefined) return known;
  const text = describeOnce(q);
  described.set(q, text);
  return text;
}

function describeOnce(q: Pattern): string {
  switch (q.kind) {
    case 'op':
      return `${q.domain ? q.domain + '::' : ''}${q.opType}(${q.inputs.map(describePattern).join(', ')}${q.opts.rest ? ', ...' : ''})`;
    case 'var':
      return q.name;
    case 'const':
      return q.describe;
    case 'oneOf':
      return `oneOf(${q.alts.map(describePattern).join(' | ')})`;
    case 'any':
      return '_';
    case 'absent':
      return '∅';
  }
}

/** Number of operator nodes in the pattern (the longest alternative counts). */
export function opCount(p: Pattern): number {
  switch (p.kind) {
    case 'op':
      return 1 + p.inputs.reduce((s, i) => s + opCount(i), 0);
    case 'oneOf':
      return Math.max(0, ...p.alts.map(opCount));
    default:
      return 0;
  }
}

/** The op types a pattern's root can have ('*' when any node can be the root). */
export function rootOpTypes(p: Pattern): string[] {
  if (p.kind === 'op') return [p.opType];
  if (p.kind === 'oneOf') return [...new Set(p.alts.flatMap(rootOpTypes))];
  return ['*'];
}

/**
 * Every structural variant the matcher explores: commutative operand swaps, oneOf alternatives and optional Casts
 * expanded (for documentation and tests; matching itself backtracks instead of enumerating).
 */
export function variants(p: PatternLike): Pattern[] {
  const q = toPattern(p);
  if (q.kind === 'oneOf') return q.alts.flatMap(variants);
  if (q.kind !== 'op') return [q];
  let combos: Pattern[][] = [[]];
  for (const inp of q.inputs) {
    const vs = variants(inp);
    combos = combos.flatMap((pre) => vs.map((x) => [...pre, x]));
  }
  const out: Pattern[] = [];
  for (const ins of combos) {
    out.push({ ...q, inputs: ins });
    if (q.swappable) out.push({ ...q, inputs: [ins[1], ins[0]] });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ shorthands

type In = PatternLike;
const unary =
  (t: string) =>
  <X extends In, N extends string = never>(x: X, o?: OpOptions<N>): NoInfer<OpPattern<BindingsOf<X> | N>> =>
    op(t, [x], o);
const binary =
  (t: string) =>
  <A extends In, B extends In, N extends string = never>(a: A, b: B, o?: OpOptions<N>): NoInfer<OpPattern<BindingsOf<A> | BindingsOf<B> | N>> =>
    op(t, [a, b], o);

export const add = binary('Add');
export const sub = binary('Sub');
export const mul = binary('Mul');
export const div = binary('Div');
export const pow = binary('Pow');
export const matmul = binary('MatMul');
export const max = binary('Max');
export const min = binary('Min');
export const equal = binary('Equal');
export const reshape = binary('Reshape');
export const expand = binary('Expand');
export const sqrt = unary('Sqrt');
export const erf = unary('Erf');
export const tanh = unary('Tanh');
export const exp = unary('Exp');
export const log = unary('Log');
export const neg = unary('Neg');
export const abs = unary('Abs');
export const reciprocal = unary('Reciprocal');
export const relu = unary('Relu');
export const sigmoid = unary('Sigmoid');
export const softmax = unary('Softmax');
export const identity = unary('Identity');
export const transpose = unary('Transpose');
export const cast = unary('Cast');
export const shape = unary('Shape');
/** ReduceMean(x) with axes as an attribute (opset < 18) or, with `axes` given, as an input (opset 18+). */
export const reduceMean = <X extends In, A extends In = never, N extends string = never>(
  x: X,
  axes?: A,
  o?: OpOptions<N>,
): NoInfer<OpPattern<BindingsOf<X> | BindingsOf<A> | N>> => op('ReduceMean', axes === undefined ? [x] : [x, axes], o);
export const whereOp = <C extends In, A extends In, B extends In, N extends string = never>(
  cond: C,
  a: A,
  b: B,
  o?: OpOptions<N>,
): NoInfer<OpPattern<BindingsOf<C> | BindingsOf<A> | BindingsOf<B> | N>> => op('Where', [cond, a, b], o);
export const gemm = <A extends In, B extends In, C extends In = never, N extends string = never>(
  a: A,
  b: B,
  cIn?: C,
  o?: OpOptions<N>,
): NoInfer<OpPattern<BindingsOf<A> | BindingsOf<B> | BindingsOf<C> | N>> => op('Gemm', cIn === undefined ? [a, b] : [a, b, cIn], o);
