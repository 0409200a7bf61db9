/**
 * fuse-bias-gelu (--target ort): the bias Add in front of a GELU moves into onnxruntime's fused kernels.
 *
 *   x ──Add(b)──> t ──Gelu──> y          x ──com.microsoft BiasGelu(x, b)──> y        (bias-gelu)
 *   x ──Add(b)──> t ──FastGelu──> y      x ──com.microsoft FastGelu(x, b)──> y        (bias-fast-gelu)
 *
 * BiasGelu(x, b) = Gelu(x + b) (erf form); FastGelu(x, b) = tanh-GELU(x + b). The GELU is com.microsoft Gelu or
 * Gelu-20 with approximate='none' for the first form, com.microsoft FastGelu without a bias or Gelu-20 with
 * approximate='tanh' for the second (run fuse-gelu first). Fires with --target ort only (com.microsoft operators),
 * when b is a float constant holding one value per element of the last axis ([C] or [1, .., C]; written as [C] since
 * the kernels take a 1-D bias), the other operand is not a constant, the last dimension of x is C when it is known,
 * and t is read only by the GELU. This is the MatMul + Add(bias) + GELU of a transformer's feed-forward layer.
 * Recurses into subgraphs and function bodies.
 */
import { Tensor } from '../ir/tensor.js';
import { isConstant } from '../rewrite/constant.js';
import { rulePass, type Match, type Rule } from '../rewrite/driver.js';
import { add, anyConst, attrIs, op, type Pattern } from '../rewrite/pattern.js';
import { foldableType, fusedName, squeezeLeading } from './util/fusion.js';
import { knownShape } from './util/types.js';

const biased = add('x', anyConst('bias'), { as: 'add' });

function condition(m: Match): true | string {
  if (m.ctx.target !== 'ort') return `${m.root.opType} + bias fuses into an onnxruntime contrib operator: use --target ort`;
  if (isConstant(m.value('x'))) return 'both operands of the bias Add are constants';
  const b = m.tensor('bias');
  const ok = foldableType(b, 'the bias');
  if (ok !== true) return ok as string;
  const dims = squeezeLeading(b.dims);
  if (dims.length !== 1 || dims[0] < 1) return `the bias of shape [${b.dims}] is not one value per element of the last axis`;
  const last = knownShape(m.value('x'))?.at(-1);
  if (typeof last === 'number' && last !== dims[0]) return `the bias has ${dims[0]} values, the last dimension of ${m.value('x')} is ${last}`;
  return true;
}

const rule = (name: string, pattern: Pattern, fused: string): Rule => ({
  name,
  pattern,
  condition,
  rewrite: (m, r) => {
    const b = m.tensor('bias');
    const bias = b.rank === 1 ? m.value('bias') : r.constant(`${m.value('bias').name}_1d`, Tensor.fromRaw(b.dataType, [b.size], b.rawBytes()));
    return r.op(fused, [m.value('x'), bias], {}, { domain: 'com.microsoft', name: fusedName(m.root, fused) });
  },
});

export const rules: Rule[] = [
  rule('bias-gelu', op('Gelu', [biased], { domain: 'com.microsoft' }), 'BiasGelu'),
  rule('bias-gelu', op('Gelu', [biased], { attrs: { approximate: attrIs('none', 'none') } }), 'BiasGelu'),
  rule('bias-fast-gelu', op('FastGelu', [biased], { domain: 'com.microsoft' }), 'FastGelu'),
  rule('bias-fast-gelu', op('Gelu', [biased], { attrs: { approximate: 'tanh' } }), 'FastGelu'),
];

export default rulePass({
  name: 'fuse-bias-gelu',
  description: 'fuse bias Add + Gelu into com.microsoft BiasGelu (FastGelu with its bias for tanh GELU); --target ort',
  kind: 'fusion',
  rules,
});
