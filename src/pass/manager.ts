/**
 * The pass manager: runs a list of passes over a model, by default to a fixed point
 * (the whole list again while any pass changed something, at most `maxIterations` = 10 rounds), and reports what
 * happened as data:
 *
 *   const report = runPassList(model, [eliminateIdentity, eliminateDeadNodes], { verify: true, explain: true });
 *   report.passes[0]  // { name: 'eliminate-identity', runs: 2, ms: 0.4, modified: true, counts: { removed: 3 }, ... }
 *
 * A pass that throws is re-thrown as an OperationError naming it (a UsageError from a bad option stays a UsageError,
 * prefixed with the pass name); with `verify: true` the IR is checked after every pass and the first pass that
 * leaves it inconsistent is named. Near misses (why a rewrite did not fire) are collected when `explain` is set:
 * the report keeps those of the last round (the state the model ended in); an `explain` callback sees every one as
 * it happens. Names and presets are resolved by a registry above this module (src/optimize/registry.ts's runPasses,
 * or src/passes' graphRegistry for the graph passes).
 */
import { OperationError, UsageError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { checkModel } from '../ir/verify.js';
import type { NearMiss, Pass, PassContext, PassKind, PassResult, Target } from './pass.js';

export interface RunOptions {
  target?: Target;
  /** collect near misses (true), or receive each one (a callback; they are collected too) */
  explain?: boolean | ((m: NearMiss) => void);
  /** repeat the list until nothing changes (default true) */
  fixedPoint?: boolean;
  /** rounds at most when running to a fixed point (default 10) */
  maxIterations?: number;
  /** check the IR after every pass (default false) */
  verify?: boolean;
  /** pass options: flat keys, or per-pass objects keyed by pass name */
  options?: Record<string, unknown>;
  log?: (message: string) => void;
}

export interface PassReport {
  name: string;
  kind: PassKind;
  /** times the pass ran (once per round) */
  runs: number;
  /** total wall time over all runs, in milliseconds */
  ms: number;
  modified: boolean;
  /** counts summed over all runs */
  counts: Record<string, number>;
  notes: string[];
}

export interface RunReport {
  /** one entry per list position (presets expanded), in order */
  passes: PassReport[];
  /** rounds run (the last one changed nothing when `converged`) */
  iterations: number;
  /** true when the last round changed nothing (a fixed point); false when the round cap stopped the run */
  converged: boolean;
  modified: boolean;
  nodesBefore: number;
  nodesAfter: number;
  totalMs: number;
  nearMisses: NearMiss[];
}

function countNodes(model: Model): number {
  let n = 0;
  for (const _ of model.allNodes()) n++;
  return n;
}

export function runPassList(model: Model, list: readonly Pass[], opts: RunOptions = {}): RunReport {
  const t0 = performance.now();
  const fixedPoint = opts.fixedPoint ?? true;
  const maxIterations = fixedPoint ? Math.max(1, opts.maxIterations ?? 10) : 1;
  const reports: PassReport[] = list.map((p) => ({ name: p.name, kind: p.kind, runs: 0, ms: 0, modified: false, counts: {}, notes: [] }));
  const nodesBefore = countNodes(model);
  // rewrites insert new nodes next to the ones they replace, which assumes topological order: files that are not
  // sorted (the format requires it, some exporters do not) are sorted first (stable, so sorted graphs stay as they are)
  for (const g of model.allGraphs()) g.sortTopologically();
  let round: NearMiss[] = [];
  let seen = new Set<string>();
  const explainFn = opts.explain
    ? (m: NearMiss) => {
        const key = `${m.pass}\u0000${m.rule}\u0000${m.node}\u0000${m.reason}`;
        if (seen.has(key)) return;
        seen.add(key);
        round.push(m);
        if (typeof opts.explain === 'function') opts.explain(m);
      }
    : undefined;
  const log = opts.log ?? (() => {});
  const ctx: PassContext = { target: opts.target ?? 'onnx', explain: explainFn, options: opts.options ?? {}, log };
  let iterations = 0;
  let converged = false;
  let modified = false;
  while (iterations < maxIterations) {
    iterations++;
    round = [];
    seen = new Set();
    let changed = false;
    list.forEach((pass, i) => {
      const r = reports[i];
      const start = performance.now();
      let res: PassResult;
      try {
        res = pass.run(model, ctx);
      } catch (e) {
        if (e instanceof UsageError) throw new UsageError(`${pass.name}: ${e.message}`);
        const msg = e instanceof Error ? e.message : String(e);
        throw new OperationError(`pass ${pass.name} failed: ${msg}`, { cause: e });
      } finally {
        r.ms += performance.now() - start;
        r.runs++;
      }
      for (const [k, n] of Object.entries(res.counts)) r.counts[k] = (r.counts[k] ?? 0) + n;
      for (const note of res.notes ?? []) if (!r.notes.includes(note)) r.notes.push(note);
      if (res.modified) {
        r.modified = true;
        changed = true;
      }
      if (opts.verify) {
        const problems = checkModel(model);
        if (problems.length) throw new OperationError(`pass ${pass.name} left the model inconsistent:\n  ${problems.slice(0, 10).join('\n  ')}`);
      }
    });
    modified ||= changed;
    if (!changed) {
      converged = true;
      break;
    }
  }
  if (fixedPoint && !converged) log(`passes did not reach a fixed point in ${maxIterations} rounds`);
  return {
    passes: reports,
    iterations,
    converged,
    modified,
    nodesBefore,
    nodesAfter: countNodes(model),
    totalMs: performance.now() - t0,
    nearMisses: opts.explain ? round : [],
  };
}
