/**
 * Raising a model's default (ai.onnx) opset so a fusion can emit an operator that only exists from a later version
 * (LayerNormalization 17, Gelu 20, HardSwish 14, RMSNormalization 23) — but only when every other node means the
 * same under the new version. Nothing is ever converted: a node whose schema changed between the two versions in a
 * way that affects it (Unsqueeze with an `axes` attribute across 13, ReduceMean with `axes` across 18, Softmax on a
 * non-last axis across 13, ...) blocks the raise, and the fusion reports it as a near miss.
 *
 *   const need = opsetNeed(m, 17);         // true, or the reason the opset cannot be raised
 *   ...after the rules ran: raiseOpset(model, 17)
 *
 * Matches that block each other (the ReduceMean-13 of every RMSNorm in an opset-17 export blocks RMSNormalization-23
 * for the others) get a second run that ignores those blockers, when every live blocker lies inside a match refused
 * only for the opset (OpsetRaise.retry); if one survived the second run, raising fails loudly instead.
 *
 * Blockers are looked at in the main graph and its subgraphs (which share the model's imports). Function bodies keep
 * their own imports and are never raised. The IR version is raised to the minimum the new opset needs.
 */
import { OperationError } from '../../errors.js';
import type { Node } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { isStandardDomain } from '../../ir/model.js';
import type { Match } from '../../rewrite/driver.js';
import { knownRank } from './types.js';

/** Why `node` would mean something else (or be invalid) once read under `to` instead of `from`; undefined if not. */
type Check = (node: Node) => string | undefined;

const hasAttr =
  (name: string): Check =>
  (n) =>
    n.attributes.has(name) ? `uses the old form (attribute '${name}')` : undefined;
const always: (why: string) => Check = (why) => () => why;

/** op type -> the versions at which its schema changed incompatibly, with what breaks an old-form node. */
const CHANGES: Record<string, [number, Check][]> = {
  Unsqueeze: [[13, hasAttr('axes')]],
  Squeeze: [[13, hasAttr('axes')]],
  ReduceSum: [[13, hasAttr('axes')]],
  Split: [
    [13, hasAttr('split')],
    [18, (n) => (n.input(1) || n.attributes.has('num_outputs') ? undefined : 'has neither a split input nor num_outputs (required from Split-18)')],
  ],
  Slice: [[10, hasAttr('starts')]],
  Pad: [[11, hasAttr('pads')]],
  Resize: [[11, always('Resize-10 inputs (X, scales) are read as (X, roi) from Resize-11')]],
  Upsample: [[10, always('Upsample is deprecated from opset 10')]],
  Scatter: [[11, always('Scatter is deprecated from opset 11')]],
  TopK: [[10, hasAttr('k')]],
  Dropout: [
    [7, hasAttr('is_test')],
    [12, hasAttr('ratio')],
  ],
  Clip: [[11, (n) => (n.attributes.has('min') || n.attributes.has('max') ? "uses the old form (attributes 'min'/'max')" : undefined)]],
  BatchNormalization: [
    [7, hasAttr('is_test')],
    [9, hasAttr('spatial')],
    [
      14,
      (n) =>
        n.outputs.slice(1).some((o) => o && (o.uses.length || o.isGraphOutput))
          ? 'uses training-mode outputs, whose meaning changed in BatchNormalization-14'
          : undefined,
    ],
  ],
  GroupNormalization: [[21, always('scale and bias change from per-group to per-channel in GroupNormalization-21')]],
  GridSample: [
    [20, (n) => (['bilinear', 'bicubic'].includes(n.getString('mode', '')) ? `mode '${n.getString('mode')}' was renamed in GridSample-20` : undefined)],
  ],
  DFT: [[20, hasAttr('axis')]],
  Reshape: [[5, hasAttr('shape')]],
  Scan: [[9, always('Scan-8 has a batch axis that Scan-9 removed')]],
  Cast: [[6, (n) => (n.getString('to') !== undefined ? 'has a string `to` (Cast-1)' : undefined)]],
};
for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) {
  CHANGES[op] = [
    [
      13,
      (n) => {
        const r = knownRank(n.input(0));
        const a = n.getInt('axis');
        if (a === -1 || (r !== undefined && (a ?? 1) === r - 1)) return undefined;
        return `reads axis ${a ?? '1 (default)'} as "flatten from here" before ${n.opType}-13 and as one axis after${r === undefined ? ' (input rank unknown)' : ''}`;
      },
    ],
  ];
}
for (const op of ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'])
  CHANGES[op] = [[18, hasAttr('axes')]];
for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less', 'Gemm', 'PRelu'])
  CHANGES[op] = [[7, hasAttr('broadcast')]];
for (const op of ['Affine', 'ConstantFill', 'Crop', 'DynamicSlice', 'GRUUnit', 'GivenTensorFill', 'ImageScaler', 'ParametricSoftplus', 'Scale', 'ScaledTanh']) {
  CHANGES[op] = [[10, always(`${op} is an experimental operator removed in opset 10`)]];
}

/** The lowest IR version each opset needs (ONNX versioning table). */
export function minIrVersion(opset: number): number {
  if (opset >= 23) return 11;
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  if (opset >= 11) return 6;
  if (opset >= 10) return 5;
  if (opset >= 9) return 4;
  return 3;
}

export interface Blocker {
  node: Node;
  reason: string;
}

/** Nodes of the main graph (and its subgraphs) that would change meaning if the default opset went from its current version to `to`. */
export function opsetBlockers(model: Model, to: number): Blocker[] {
  const from = model.opset('') ?? 1;
  const out: Blocker[] = [];
  if (to <= from) return out;
  for (const n of model.graph.allNodes()) {
    if (!isStandardDomain(n.domain)) continue;
    for (const [since, check] of CHANGES[n.opType] ?? []) {
      if (since <= from || since > to) continue;
      const why = check(n);
      if (why) {
        out.push({ node: n, reason: `${n.label} (${n.opType}) ${why}` });
        break;
      }
    }
  }
  return out;
}

/** Sets the default opset to `to` (never lowers it) and the IR version to what it needs. */
export function raiseOpset(model: Model, to: number): void {
  if ((model.opset('') ?? 0) >= to) return;
  model.setOpset('', to);
  model.irVersion = Math.max(model.irVersion, minIrVersion(to));
}

/**
 * Tracks the opset raises a pass wants during one run: rules ask `need(m, version)` in their condition (true when
 * the operator is available now or the model can be raised to it), call `want(version)` from their rewrite, and the
 * pass calls `apply(model)` after the rules ran. Blockers are computed once per run and version; nodes removed by
 * earlier rewrites (no longer in a graph) and nodes of the current match (it removes them) no longer block.
 */
export class OpsetRaise {
  private readonly blockers = new Map<number, Blocker[]>();
  private wanted = 0;
  /** nodes of matches refused only because other nodes block the raise, by version (rules call need() last) */
  private readonly claimed = new Map<number, Set<Node>>();

  /** `ignore`: blockers that a first run found inside refused matches of the same pass (see retry()) */
  constructor(
    private readonly model: Model,
    private readonly ignore: ReadonlySet<Node> = new Set(),
  ) {}

  /** Rules call it last in their condition: a refusal here claims the match's nodes (see retry()). */
  need(m: Match, version: number, what: string, claim = true): true | string {
    const have = m.opset();
    if (have >= version) return true;
    if (m.inFunction) return `${what} needs opset ${version}; this function body imports opset ${have}`;
    let list = this.blockers.get(version);
    if (!list) this.blockers.set(version, (list = opsetBlockers(this.model, version)));
    const inMatch = new Set(m.nodes);
    const live = list.find((b) => b.node.graph !== null && !inMatch.has(b.node) && !this.ignore.has(b.node));
    if (!live) return true;
    if (!claim) return what;
    const claimed = this.claimed.get(version) ?? this.claimed.set(version, new Set()).get(version)!;
    for (const n of m.nodes) claimed.add(n);
    return `${what} needs opset ${version} and opset ${have} cannot be raised: ${live.reason}`;
  }

  /**
   * Matches that block each other (every RMSNorm of an opset-17 export holds a ReduceMean-13 that blocks the raise
   * for the others): when every live blocker of a version lies inside matches refused only for the opset, a second
   * run may ignore them, as each of those matches removes its own. Returns the nodes to ignore, or undefined.
   */
  retry(): Set<Node> | undefined {
    for (const [version, claimed] of this.claimed) {
      const live = opsetBlockers(this.model, version).filter((b) => b.node.graph !== null);
      if (live.length && live.every((b) => claimed.has(b.node))) return new Set(live.map((b) => b.node));
    }
    return undefined;
  }

  /** The wanted version, for a pass that ran its rules twice (see retry()). */
  get version(): number {
    return this.wanted;
  }
  /** Whether the operator of `version` is available now or after a raise (no reason). */
  can(m: Match, version: number): boolean {
    return this.need(m, version, '', false) === true;
  }
  want(m: Match, version: number): void {
    if (m.opset() < version) this.wanted = Math.max(this.wanted, version);
  }
  /** Raises the opset to the highest version a committed rewrite asked for; returns it (0 when none). */
  apply(applied: number, also = 0): number {
    const to = Math.max(this.wanted, also);
    if (!applied || !to) return 0;
    // the ignored blockers must all be gone: a rewrite that needs the version cannot stay beside them
    const live = this.ignore.size ? opsetBlockers(this.model, to).filter((b) => b.node.graph !== null) : [];
    if (live.length) throw new OperationError(`cannot raise the opset to ${to} after fusing: ${live[0].reason}`);
    raiseOpset(this.model, to);
    return to;
  }
}
