/**
 * eliminate-duplicate-initializers: merges constants with byte-equal contents.
 *
 *     w1 = [1,2,3] ──> A          w1 = [1,2,3] ──> A
 *     w2 = [1,2,3] ──> B                       └─> B          (w2 removed)
 *     Constant([1,2,3]) ──> C                  └─> C          (Constant node removed)
 *
 * Constants are initializers that are not graph inputs, and Constant nodes (any `value*` form). Two are the same
 * when element type, dims and bytes are equal (a hash of samples of the bytes first, then a whole byte comparison). The kept one is the first seen
 * walking each graph in order — initializers before Constant nodes, so every use stays after its definition — and
 * a duplicate in a subgraph is merged into a constant of an enclosing scope visible at that point (defined before
 * the node holding the subgraph). A duplicate that is a graph output is left alone (its name is the interface).
 * Function bodies are processed on their own (they cannot see the main graph). Counts: merged.
 */
import { createHash } from 'node:crypto';
import type { Graph, Value } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { DataType } from '../ir/dtype.js';
import { constantOf } from '../rewrite/constant.js';
import type { Pass, PassResult } from '../pass/pass.js';
import { isStandardDomain } from '../ir/model.js';

type Table = Map<string, { value: Value; tensor: Tensor }[]>;

/** Tensors up to this size are hashed whole; larger ones by SAMPLES windows of WINDOW bytes spread over them. */
const WHOLE_MAX = 256 << 10;
const SAMPLES = 16;
const WINDOW = 4096;

/**
 * The bucket of a constant: type, shape and a hash of its bytes — all of them for small constants, evenly spread
 * samples (first and last window included) for large ones, read without loading the weight (a 400 MB model's
 * weights are not all read, nor kept, to find the few duplicates). Equal constants always share a bucket; members
 * of a bucket are compared whole (Tensor.sameDataAs) before anything is merged.
 */
function keyOf(t: Tensor): string {
  const h = createHash('sha1');
  if (t.dataType === DataType.STRING) for (const s of t.strings) h.update(String(s.length)).update(':').update(s);
  else {
    const lazy = t.lazyBytes();
    const n = t.byteLength;
    if (!lazy) {
      const bytes = t.rawBytes();
      if (n <= WHOLE_MAX) h.update(bytes);
      else for (let i = 0; i < SAMPLES; i++) h.update(bytes.subarray(sampleAt(i, n), sampleAt(i, n) + WINDOW));
    } else if (n <= WHOLE_MAX) h.update(lazy.read());
    else {
      const buf = new Uint8Array(WINDOW);
      for (let i = 0; i < SAMPLES; i++) {
        lazy.readInto(buf, sampleAt(i, n), WINDOW);
        h.update(buf);
      }
    }
  }
  return `${t.dataType}|${t.dims.join(',')}|${h.digest('hex')}`;
}

/** Start of sample window i of SAMPLES over n bytes (n > WHOLE_MAX), from 0 to n - WINDOW. */
function sampleAt(i: number, n: number): number {
  return Math.floor(((n - WINDOW) * i) / (SAMPLES - 1));
}

function visit(g: Graph, outer: Table, stats: { merged: number }): void {
  // a child scope sees the parent's table; additions stay local (copy-on-write per key)
  const table: Table = new Map(outer);
  const merge = (v: Value): boolean => {
    const t = constantOf(v);
    if (!t || v.isGraphOutput) return false;
    const k = keyOf(t);
    const list = table.get(k) ?? [];
    const same = list.find((e) => e.value !== v && e.tensor.sameDataAs(t));
    if (!same) {
      table.set(k, [...list, { value: v, tensor: t }]);
      return false;
    }
    v.replaceAllUsesWith(same.value);
    stats.merged++;
    return true;
  };
  for (const v of [...g.initializers.values()]) {
    if (v.isGraphInput) continue;
    if (merge(v)) g.removeInitializer(v);
  }
  for (const n of [...g.nodes]) {
    if (n.opType === 'Constant' && isStandardDomain(n.domain) && n.outputs.length === 1 && n.outputs[0]) {
      if (merge(n.outputs[0])) g.removeNode(n);
      continue;
    }
    for (const sg of n.subgraphs()) visit(sg, table, stats);
  }
}

const pass: Pass = {
  name: 'eliminate-duplicate-initializers',
  description: 'merge byte-equal initializers and Constant nodes',
  kind: 'cleanup',
  lossless: true,
  recursesIntoSubgraphs: true,
  run(model): PassResult {
    const stats = { merged: 0 };
    visit(model.graph, new Map(), stats);
    for (const fn of model.functions) visit(fn.graph, new Map(), stats);
    return { modified: stats.merged > 0, counts: stats.merged ? { merged: stats.merged } : {} };
  },
};

export default pass;
