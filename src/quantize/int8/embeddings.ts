/**
 * quantize-embeddings (weights only): a large float32 table read by Gather along axis 0 is stored as int8 with one
 * scale per row; compute stays float32.
 *
 *   form 'dequantize' (opset >= 13, per-axis DequantizeLinear):
 *     T:[V,D] f32 ──Gather(ids)──> y   =>   Tq:[V,D] i8 ──DequantizeLinear(s:[V], axis=0)──> T' ──Gather(ids)──> y
 *   form 'gather' (opset >= 7: the Mul broadcasts [.., D] by [.., 1], which Mul-6 and onnxruntime cannot): gather the
 *   int8 rows and their scales, then scale only the rows that were read
 *     Tq ──Gather(ids)──> Cast(float) ──Mul──> y
 *     S:[V,1] ──Gather(ids)──────────────┘             (S gathered to [..., 1] broadcasts over D)
 *
 * Maths: row r: s_r = max|T[r,:]| / 127, Tq[r,:] = rne(T[r,:] / s_r); T' = Tq * s_r. Both forms compute the same y.
 * The 'dequantize' form rebuilds the whole float table on every run (onnxruntime does not constant-fold
 * DequantizeLinear): V*D operations per call, 23M for BERT-base's word table. 'gather' touches only the rows read.
 *
 * Fires when the table is a float32 constant of rank 2 with at least minElements elements, and every reader is a
 * Gather with axis 0 reading it as input 0 (a table tied to an output projection is left float32). One table read by
 * several Gathers is quantized once. Recurses into subgraphs like dynamic.ts.
 */
import { DataType } from '../../ir/dtype.js';
import type { Node, Value } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { addWeight, dropIfUnused, graphsWithPaths, nodeName, replaceKeepingOutput } from './graph-util.js';
import type { QuantizedNode, SkippedNode, WeightReport } from './report.js';
import { quantizeRows8, tinyScaleWarning, WeightReader } from './weights.js';

export interface EmbeddingOptions {
  /** tables with fewer elements stay float32 (default 65536) */
  minElements?: number;
  /** default 'gather' (cheaper at run time; see the header); 'dequantize' needs opset 13 */
  form?: 'gather' | 'dequantize';
  exclude?: string[];
  subgraphs?: boolean;
}

export interface EmbeddingResult {
  quantized: QuantizedNode[];
  skipped: SkippedNode[];
  weights: WeightReport[];
  warnings: string[];
  opsetsAdded: Record<string, number>;
  settings: Record<string, unknown>;
}

/**
 * The `embeddings` option of the int8 and int4 rewrites: quantizes the Gather tables unless it is false (nodes in
 * `exclude` left alone), appends what it did to `into`, and returns its settings for the report (false when off).
 */
export function addEmbeddings(
  model: Model,
  option: boolean | EmbeddingOptions | undefined,
  exclude: Iterable<string>,
  subgraphs: boolean | undefined,
  into: Omit<EmbeddingResult, 'settings'>,
): Record<string, unknown> | false {
  if (option === false) return false;
  const eo = typeof option === 'object' ? option : {};
  const r = quantizeEmbeddings(model, { ...eo, exclude: [...exclude, ...(eo.exclude ?? [])], subgraphs });
  into.quantized.push(...r.quantized);
  into.skipped.push(...r.skipped);
  into.weights.push(...r.weights);
  into.warnings.push(...r.warnings);
  Object.assign(into.opsetsAdded, r.opsetsAdded);
  return r.settings;
}

export function quantizeEmbeddings(model: Model, opts: EmbeddingOptions = {}): EmbeddingResult {
  const minElements = opts.minElements ?? 65536;
  const form = opts.form ?? 'gather';
  const exclude = new Set(opts.exclude ?? []);
  const opset = model.opset('') ?? 1;
  const res: EmbeddingResult = { quantized: [], skipped: [], weights: [], warnings: [], opsetsAdded: {}, settings: { minElements, form } };
  const skip = (n: Node, graph: string, reason: SkippedNode['reason'], detail: string) =>
    res.skipped.push({ name: nodeName(n), opType: n.opType, graph, reason, detail });

  const tables = new Map<Value, { node: Node; path: string }[]>();
  for (const { graph, path } of graphsWithPaths(model)) {
    if (opts.subgraphs === false && path !== 'main') continue;
    for (const n of graph.nodes) {
      if (n.opType !== 'Gather' || n.domain !== '') continue;
      const v = n.input(0);
      const t = v?.constTensor();
      if (!v || !t || t.dataType !== DataType.FLOAT || t.rank !== 2) continue; // not an embedding table: not reported
      if (t.size < minElements) continue;
      if (exclude.has(n.name) || exclude.has(nodeName(n))) {
        skip(n, path, 'excluded', `${nodeName(n)} is on the exclude list`);
        continue;
      }
      const axis = n.getInt('axis', 0);
      if (axis !== 0 && axis !== -2) {
        skip(n, path, 'gather-axis', `Gather along axis ${axis}; only row lookups (axis 0) are quantized`);
        continue;
      }
      if (form === 'gather' && opset < 7) {
        skip(n, path, 'opset', `the int8 rows are scaled by a broadcasting Mul, which needs opset 7 (model has ${opset})`);
        continue;
      }
      if (form === 'dequantize' && opset < 13) {
        skip(n, path, 'opset', `per-row DequantizeLinear needs opset 13 (model has ${opset}); use form 'gather'`);
        continue;
      }
      (tables.get(v) ?? tables.set(v, []).get(v)!).push({ node: n, path });
    }
  }

  const reader = new WeightReader();
  for (const [v, gathers] of tables) {
    const mine = new Set(gathers.map((g) => g.node));
    const other = v.uses.find((u) => !mine.has(u.node) || u.index !== 0);
    if (other || v.isGraphOutput) {
      const detail = other ? `table ${v.name} is also read by ${nodeName(other.node)} (${other.node.opType})` : `table ${v.name} is a graph output`;
      for (const g of gathers) skip(g.node, g.path, 'weight-shared', detail);
      continue;
    }
    const t = v.constTensor()!;
    const [V, D] = t.dims;
    const { q, scale, nonFinite, tinyScales } = quantizeRows8(reader.floats(t), V, D, true);
    if (nonFinite) {
      const detail = `table ${v.name} holds ${nonFinite} NaN or infinite value(s), which no int8 scale represents: kept float32`;
      for (const g of gathers) skip(g.node, g.path, 'weight-non-finite', detail);
      continue;
    }
    const tiny = tinyScaleWarning(`table ${v.name}`, tinyScales, scale.length);
    if (tiny) res.warnings.push(tiny);
    const scope = v.graph ?? gathers[0].node.graph!;
    const qv = addWeight(scope, `${v.name}_quantized`, DataType.INT8, [V, D], q);
    if (form === 'dequantize') {
      const sv = addWeight(scope, `${v.name}_scale`, DataType.FLOAT, [V], scale);
      // one DequantizeLinear at the top of the table's scope serves every Gather (all of them see that scope)
      const first = scope.nodes[0];
      const dq = scope.addNode(
        'DequantizeLinear',
        [qv, sv],
        { axis: 0 },
        { name: scope.freshName(`${v.name}_dequantize`), ...(first ? { before: first } : {}) },
      );
      for (const g of gathers) g.node.setInput(0, dq.output(0));
    } else {
      const sv = addWeight(scope, `${v.name}_scale`, DataType.FLOAT, [V, 1], scale);
      for (const { node } of gathers) {
        const g = node.graph!;
        const ids = node.input(1)!;
        const base = node.name || 'Gather';
        const rows = g.addNode('Gather', [qv, ids], { axis: 0 }, { before: node, name: g.freshName(`${base}_rows`) });
        const cast = g.addNode('Cast', [rows.output(0)], { to: DataType.FLOAT }, { before: node, name: g.freshName(`${base}_cast`) });
        const s = g.addNode('Gather', [sv, ids], { axis: 0 }, { before: node, name: g.freshName(`${base}_scales`) });
        replaceKeepingOutput(g, node, 'Mul', [cast.output(0), s.output(0)], {}, { name: `${base}_dequantize` }).name = g.freshName(`${base}_dequantize`);
      }
    }
    for (const { node, path } of gathers)
      res.quantized.push({
        name: nodeName(node),
        opType: 'Gather',
        graph: path,
        as: form === 'dequantize' ? 'DequantizeLinear+Gather' : 'Gather(int8)+Cast+Mul',
        weight: v.name,
        shape: [V, D],
      });
    res.weights.push({ name: v.name, elements: V * D, bytesBefore: 4 * V * D, bytesAfter: V * D + 4 * V, users: gathers.length, floatKept: false });
    if (!dropIfUnused(v)) res.warnings.push(`float table ${v.name} is still read and was kept`);
  }
  return res;
}
