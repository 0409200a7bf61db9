/**
 * quantize-int4 (weights only, blockwise): MatMul by a constant float32 matrix -> com.microsoft::MatMulNBits.
 *
 *   A ──MatMul(W:[K,N] f32)──> t [──Add(c:[N])──> y]
 *       =>  A ──MatMulNBits(Wq:[N, K/bs, bs/2] u8, scales:[N * K/bs], [zero_points:[N, ceil(K/bs / 2)] u8], bias)──> y
 *           attributes K, N, bits = 4, block_size = bs, accuracy_level
 *
 * Layout (ContribOperators.md): B is W transposed ([N, K]), cut along K into blocks of block_size; each block is a
 * blob of block_size / 2 bytes, element 2i in the low nibble of byte i and element 2i+1 in the high nibble. Scales
 * are [N, n_blocks] row-major. Zero points, when present, pack two blocks per byte the same way (even block in the low
 * nibble); when absent the runtime uses 8. The last block of a K that is not a multiple of block_size is padded with
 * the zero point. Dequantized: W[k, n] = (q - zp) * scale[n, k / bs].
 *
 * symmetric = false (default) stores a zero point per block (min/max to 0..15); true omits zero_points (extreme
 * value -> -8 around 8), smaller but coarser.
 * accuracy_level 4 lets the CPU kernel quantize A to int8 blockwise (faster, a little less exact); 0 computes in
 * float.
 *
 * A block size above K is lowered to the smallest power of two >= K (at least 16), so a small K is not mostly padding.
 * Fires on MatMul, and on Gemm with transA = 0 (transB either way: W is read transposed; alpha is folded into the
 * scales; a constant row-vector C times beta becomes the bias), with a float32 rank-2 constant weight with K >= 16,
 * read only by nodes that fire (the same analysis as quantize-dynamic); folds a following bias Add. Recurses into
 * subgraphs; not into function bodies.
 */
import { DataType } from '../../ir/dtype.js';
import type { Node, Value } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { addWeight, dropIfUnused, ensureOpset, graphsWithPaths, MS_DOMAIN, nodeName, replaceKeepingOutput } from './graph-util.js';
import { finishReport, type IntQuantizeReport, type QuantizedNode, type SkippedNode, type SkipReasonCode, type WeightReport } from './report.js';
import { examine, type Candidate } from './dynamic.js';
import { addEmbeddings, type EmbeddingOptions } from './embeddings.js';
import { floatValues, quantizeNBits4, tinyScaleWarning, type NBitsWeights } from './weights.js';

export interface Int4Options {
  /** 16, 32 (default), 64, 128 or 256 */
  blockSize?: 16 | 32 | 64 | 128 | 256;
  /** MatMulNBits accuracy_level: 0 (unset, float A), 1 fp32, 2 fp16, 3 bf16, 4 int8 A (default 4) */
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /** omit zero points (runtime default 8); default false */
  symmetric?: boolean;
  /** fold a following bias Add (default true) */
  foldBias?: boolean;
  minElements?: number;
  exclude?: string[];
  subgraphs?: boolean;
  /**
   * embedding tables read by Gather: stored int8 per row, as quantize-dynamic does (default true; false leaves them
   * float32). MatMulNBits has no Gather form, and in a decoder the tables are a large part of the file.
   */
  embeddings?: boolean | EmbeddingOptions;
}

export function quantizeInt4(model: Model, opts: Int4Options = {}): IntQuantizeReport {
  const block = opts.blockSize ?? 32;
  const accuracyLevel = opts.accuracyLevel ?? 4;
  const symmetric = opts.symmetric ?? false;
  const foldBias = opts.foldBias ?? true;
  const minElements = opts.minElements ?? 0;
  const exclude = new Set(opts.exclude ?? []);
  if (!(block >= 16 && (block & (block - 1)) === 0)) throw new RangeError(`quantizeInt4: block size ${block} is not a power of two >= 16`);

  const quantized: QuantizedNode[] = [];
  const skipped: SkippedNode[] = [];
  const weights: WeightReport[] = [];
  const warnings: string[] = [];
  const opsetsAdded: Record<string, number> = {};
  const skip = (n: Node, path: string, reason: SkipReasonCode, detail: string) =>
    skipped.push({ name: nodeName(n), opType: n.opType, graph: path, reason, detail });
  for (const fn of model.functions)
    for (const n of fn.graph.allNodes())
      if (n.opType === 'MatMul' && n.domain === '') skip(n, `function ${fn.name}`, 'function-body', 'function bodies are not rewritten');

  const byWeight = new Map<Value, Candidate[]>();
  for (const { graph, path } of graphsWithPaths(model)) {
    if (opts.subgraphs === false && path !== 'main') continue;
    for (const n of graph.nodes) {
      if ((n.opType !== 'MatMul' && n.opType !== 'Gemm') || n.domain !== '') continue;
      const r = examine(n, graph, path, { exclude, minElements, format: 'int4', opset: model.opset('') ?? 0, foldBias });
      if (r === 'ignore') continue;
      if ('reason' in r) skip(n, path, r.reason, r.detail);
      else if (r.K < 16) skip(n, path, 'block-size', `K = ${r.K} is below the smallest block (16)`);
      else (byWeight.get(r.weight) ?? byWeight.set(r.weight, []).get(r.weight)!).push(r);
    }
  }

  for (const [w, cs] of byWeight) {
    const mine = new Set(cs.map((c) => c.node));
    const other = w.uses.find((u) => !mine.has(u.node) || u.index !== 1);
    if (other || w.isGraphOutput) {
      for (const c of cs)
        skip(
          c.node,
          c.path,
          'weight-shared',
          other ? `weight ${w.name} is also read by ${nodeName(other.node)} (${other.node.opType})` : `weight ${w.name} is a graph output`,
        );
      continue;
    }
    const { K, N, transposed, alpha } = cs[0];
    const scope = w.graph ?? cs[0].graph;
    // a block longer than K would be mostly padding: use the smallest power of two that covers K instead
    let bs = block;
    while (bs > 16 && bs / 2 >= K) bs /= 2;
    const values = floatValues(w.constTensor()!);
    // quantizeNBits4 reads W as [K, N]; a Gemm with transB = 1 stores it [N, K]
    const q: NBitsWeights = quantizeNBits4(transposed ? transpose2d(values, N, K) : values, K, N, bs, symmetric);
    if (q.nonFinite) {
      const detail = `weight ${w.name} holds ${q.nonFinite} NaN or infinite value(s), which no 4-bit scale represents: kept float32`;
      for (const c of cs) skip(c.node, c.path, 'weight-non-finite', detail);
      continue;
    }
    const tiny = tinyScaleWarning(`weight ${w.name}`, q.tinyScales, q.scales.length);
    if (tiny) warnings.push(tiny);
    // MatMulNBits has no alpha: Gemm's alpha scales every dequantized weight, so it multiplies every block's scale
    if (alpha !== 1) for (let i = 0; i < q.scales.length; i++) q.scales[i] *= alpha;
    const qv = addWeight(scope, `${w.name}_q4`, DataType.UINT8, [N, q.nBlocks, bs / 2], q.packed);
    const sv = addWeight(scope, `${w.name}_scales`, DataType.FLOAT, [N * q.nBlocks], q.scales);
    const zv = q.zeroPoints ? addWeight(scope, `${w.name}_zero_points`, DataType.UINT8, [N * Math.ceil(q.nBlocks / 2)], q.zeroPoints) : null;
    weights.push({
      name: w.name,
      elements: K * N,
      bytesBefore: 4 * K * N,
      bytesAfter: q.packed.length + 4 * q.scales.length + (q.zeroPoints?.length ?? 0),
      users: cs.length,
      floatKept: false,
    });
    for (const c of cs) {
      let bias: Value | null = null;
      if (c.bias) bias = c.bias.value ?? addWeight(c.graph, `${w.name}_bias`, DataType.FLOAT, [N], c.bias.data!);
      const oldBias = c.bias?.add ? c.bias.add.inputs.find((v) => v && v !== c.node.output(0)) : c.node.opType === 'Gemm' ? c.node.input(2) : undefined;
      const target = c.bias?.add ?? c.node;
      if (c.node.opType === 'Gemm' && c.node.inputs.length > 2) c.node.setInput(2, null);
      const fresh = replaceKeepingOutput(
        c.graph,
        target,
        'MatMulNBits',
        [c.node.input(0)!, qv, sv, zv, null, bias],
        { K, N, bits: 4, block_size: bs, accuracy_level: accuracyLevel },
        { domain: MS_DOMAIN, name: 'MatMulNBits', also: c.bias?.add ? [c.node] : [] },
      );
      if (c.node.name) fresh.name = c.node.name;
      if (oldBias) dropIfUnused(oldBias);
      quantized.push({
        name: nodeName(c.node),
        opType: c.node.opType,
        graph: c.path,
        as: `MatMulNBits(block ${bs})`,
        weight: w.name,
        shape: [K, N],
        ...(c.bias ? { biasFolded: c.bias.from } : {}),
      });
    }
    if (!dropIfUnused(w)) warnings.push(`float weight ${w.name} is still read and was kept`);
    ensureOpset(model, MS_DOMAIN, 1, opsetsAdded);
  }
  const embeddingSettings = addEmbeddings(model, opts.embeddings, exclude, opts.subgraphs, { quantized, skipped, weights, warnings, opsetsAdded });
  return finishReport('int4', {
    quantized,
    skipped,
    weights,
    warnings,
    opsetsAdded,
    settings: { blockSize: block, accuracyLevel, symmetric, foldBias, minElements, embeddings: embeddingSettings },
  });
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}
