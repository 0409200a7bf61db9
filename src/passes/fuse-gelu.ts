/**
 * fuse-gelu: the exact (erf) and the tanh-approximated GELU become one node.
 *
 *   x · 0.5 · (1 + erf(x / √2))                               ──>  Gelu(x)                     (gelu-erf)
 *   x · 0.5 · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))        ──>  Gelu(x, approximate='tanh') (gelu-tanh)
 *
 *   opset >= 20, or raisable to 20 (util/opset.ts):   Gelu-20 (ai.onnx)
 *   --target ort below opset 20:                      com.microsoft Gelu (erf) / FastGelu (tanh), no raise
 *
 * Spellings matched (operand order of Add/Mul is free): the 0.5 applied to x, to (1 + erf), or to the product, or a
 * division of the product by 2; x / √2 or x · (1/√2); x³ as Pow(x, 3), x·(x·x) or (x·x)·x; the tanh argument as
 * √(2/π)·(x + 0.044715·x³) or, as Megatron writes it, (√(2/π)·x)·(1 + 0.044715·x·x). Constants match within float32
 * rounding (√(2/π) written as 0.79788456 is accepted). Fires when every intermediate is read only inside the match;
 * x may have other readers. With --target onnx below opset 20, a node that changes meaning at the raise (e.g. a
 * ReduceMean-13 with an `axes` attribute: run fuse-layer-norm first) makes it a near miss.
 * Recurses into subgraphs and function bodies.
 */
import { SQRT2, SQRT_2_OVER_PI, add, c, div, erf, mul, oneOf, pow, tanh, type Pattern } from '../rewrite/pattern.js';
import type { Match, Rule } from '../rewrite/driver.js';
import { fusedName, fusionPass, type FusionEnv } from './util/fusion.js';

/** x · 0.5 · φ in the groupings exporters write. */
const half = (phi: Pattern): Pattern => oneOf(mul(mul('x', c(0.5)), phi), mul(mul('x', phi), c(0.5)), mul('x', mul(phi, c(0.5))), div(mul('x', phi), c(2)));

const erfForm = half(add(erf(oneOf(div('x', c(SQRT2)), mul('x', c(1 / SQRT2)))), c(1)));

const cube = oneOf(pow('x', c(3)), mul('x', mul('x', 'x')), mul(mul('x', 'x'), 'x'));
const tanhArg = oneOf(mul(c(SQRT_2_OVER_PI), add('x', mul(c(0.044715), cube))), mul(mul(c(SQRT_2_OVER_PI), 'x'), add(c(1), mul(c(0.044715), mul('x', 'x')))));
const tanhForm = half(add(tanh(tanhArg), c(1)));

function rules(env: FusionEnv): Rule[] {
  const contrib = (m: Match) => m.ctx.target === 'ort' && m.opset() < 20;
  const condition = (m: Match) => {
    if (contrib(m)) return true;
    const need = env.raise.need(m, 20, 'Gelu');
    return need === true ? true : `${need} (--target ort emits com.microsoft Gelu / FastGelu instead)`;
  };
  const rule = (name: string, pattern: Pattern, approximate: 'none' | 'tanh'): Rule => ({
    name,
    pattern,
    explainMinDepth: 3,
    condition,
    rewrite: (m, r) => {
      if (contrib(m))
        return r.op(
          approximate === 'tanh' ? 'FastGelu' : 'Gelu',
          [m.value('x')],
          {},
          { domain: 'com.microsoft', name: fusedName(m.root, approximate === 'tanh' ? 'FastGelu' : 'Gelu') },
        );
      env.raise.want(m, 20);
      return r.op('Gelu', [m.value('x')], approximate === 'tanh' ? { approximate: 'tanh' } : {}, { name: fusedName(m.root, 'Gelu') });
    },
  });
  return [rule('gelu-erf', erfForm, 'none'), rule('gelu-tanh', tanhForm, 'tanh')];
}

export default fusionPass({
  name: 'fuse-gelu',
  description: 'fuse erf and tanh GELU into Gelu (opset 20), or com.microsoft Gelu / FastGelu with --target ort',
  rules,
});
