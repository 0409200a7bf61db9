/**
 * fuse-hard-swish: the decomposed hard swish of MobileNetV3-style models becomes HardSwish (opset 14).
 *
 *   x · relu6(x + 3) / 6                      ──>  HardSwish(x)
 *   x · HardSigmoid(x, alpha=1/6, beta=0.5)   ──>  HardSwish(x)
 *
 *   HardSwish(x) = x · max(0, min(1, x/6 + 1/2)) = x · min(max(x + 3, 0), 6) / 6
 *
 * relu6 is matched as Clip(y, 0, 6) (min/max as inputs, opset 11+, or as attributes before), Min(Max(y, 0), 6),
 * Max(Min(y, 6), 0) or Min(Relu(y), 6); the 1/6 as Div(·, 6) or Mul(·, 1/6), applied to the product or to relu6;
 * operand order of Add/Mul/Max/Min is free. Fires when every intermediate is read only inside the match (x may have
 * other readers) and the opset is 14 or can be raised to it without another node changing meaning (util/opset.ts;
 * a Clip with min/max attributes inside the match itself does not block, as it is removed). Recurses into subgraphs
 * and function bodies.
 */
import { rule, type Rule } from '../rewrite/driver.js';
import { add, attrIs, c, div, max, min, mul, oneOf, op, relu, type PatternLike, type Pattern } from '../rewrite/pattern.js';
import { fusedName, fusionPass, type FusionEnv } from './util/fusion.js';

const relu6 = (y: PatternLike): Pattern =>
  oneOf(
    op('Clip', [y, c(0), c(6)]),
    op('Clip', [y], { attrs: { min: attrIs(0), max: attrIs(6) } }),
    min(max(y, c(0)), c(6)),
    max(min(y, c(6)), c(0)),
    min(relu(y), c(6)),
  );

const r6 = relu6(add('x', c(3)));
const sixth = 1 / 6;

const pattern = oneOf(
  div(mul('x', r6), c(6)),
  mul(mul('x', r6), c(sixth)),
  mul('x', div(r6, c(6))),
  mul('x', mul(r6, c(sixth))),
  mul('x', op('HardSigmoid', ['x'], { attrs: { alpha: attrIs(sixth, 0.2), beta: attrIs(0.5, 0.5) } })),
);

function rules(env: FusionEnv): Rule[] {
  return [
    rule({
      name: 'hard-swish',
      pattern,
      explainMinDepth: 3,
      condition: (m) => env.raise.need(m, 14, 'HardSwish'),
      rewrite: (m, r) => {
        env.raise.want(m, 14);
        return r.op('HardSwish', [m.value('x')], {}, { name: fusedName(m.root, 'HardSwish') });
      },
    }),
  ];
}

export default fusionPass({
  name: 'fuse-hard-swish',
  description: 'fuse x * relu6(x + 3) / 6 and x * HardSigmoid(x) into HardSwish (opset 14)',
  rules,
});
