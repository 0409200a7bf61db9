/**
 * fuse-matmul-add: a MatMul by a constant matrix followed by a bias Add becomes one Gemm.
 *
 *     A:[M, K] ──MatMul(B:[K, N])──> t ──Add(c)──> y          A ──Gemm(B, c)──> y        (alpha = beta = 1)
 *
 * Gemm computes A·B + C with C unidirectionally broadcast to [M, N], so y is unchanged when C broadcasts along the
 * rows only. Fires when:
 *   - A has rank 2: declared (inputs, outputs, value_info) or implied by its producer (Flatten, Gemm, a Reshape to a
 *     2-element constant shape, an elementwise op of rank-2 inputs); a 3-D A (transformer activations) does not fire,
 *     Gemm has no batch dimensions;
 *   - B is a constant of rank 2 and a float type; c is a constant with one element, or of shape [N] or [1, N];
 *   - t is read only by the Add and is not a graph output (the driver checks);
 *   - opset >= 7 (earlier Gemm needs the `broadcast` attribute to broadcast C).
 * B and c are reused as they are. Recurses into subgraphs and function bodies.
 */
import { DataType, dtypeName } from '../ir/dtype.js';
import { rule, rulePass, type Rule } from '../rewrite/driver.js';
import { add, anyConst, matmul } from '../rewrite/pattern.js';
import { inferRank, squeezeLeading } from './util/fusion.js';

const GEMM_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

export const rules: Rule[] = [
  rule({
    name: 'matmul-add',
    pattern: add(matmul('a', anyConst('b'), { as: 'mm' }), anyConst('c')),
    condition: (m) => {
      if (m.opset() < 7) return `Gemm before opset 7 needs broadcast=1 (opset ${m.opset()})`;
      const b = m.tensor('b');
      if (b.rank !== 2) return `B of ${m.node('mm').label} has rank ${b.rank}, Gemm needs a matrix`;
      if (!GEMM_TYPES.has(b.dataType)) return `B is ${dtypeName(b.dataType)}; Gemm is fused for float types only`;
      const rank = inferRank(m.value('a'));
      if (rank === undefined) return `the rank of ${m.value('a')} is unknown (Gemm needs A of rank 2)`;
      if (rank !== 2) return `A has rank ${rank}; Gemm needs rank 2`;
      const c = m.tensor('c');
      if (c.dataType !== b.dataType) return `bias is ${dtypeName(c.dataType)}, B is ${dtypeName(b.dataType)}`;
      const n = b.dims[1];
      const cd = squeezeLeading(c.dims);
      if (c.rank > 2 || !(c.size === 1 || (cd.length === 1 && cd[0] === n))) return `bias of shape [${c.dims}] does not broadcast to [${n}] along the rows`;
      return true;
    },
    rewrite: (m, r) => r.op('Gemm', [m.value('a'), m.value('b'), m.value('c')], {}, { name: m.node('mm').name || 'Gemm' }),
  }),
];

export default rulePass({
  name: 'fuse-matmul-add',
  description: 'turn MatMul (2-D input, constant matrix) + bias Add into Gemm',
  kind: 'fusion',
  rules,
});
