/**
 * eliminate-noop-transpose: removes a Transpose whose permutation is the identity.
 *
 *     x ──Transpose(perm=[0,1,2])──> y          x ──> (users of y)
 *
 * Fires when `perm` is [0, 1, ..., n-1], or when `perm` is absent (which reverses the axes) and the input is known
 * to have rank 0 or 1. Graph outputs keep their names. Recurses into subgraphs and function bodies.
 */
import { rule, rulePass, type Rule } from '../rewrite/driver.js';
import { transpose } from '../rewrite/pattern.js';
import { isIdentityPerm, permOf } from './util/perm.js';

export const rules: Rule[] = [
  rule({
    name: 'noop-transpose',
    count: 'removed',
    pattern: transpose('x'),
    explainMinDepth: 2,
    condition: (m) => {
      const perm = permOf(m.root);
      if (!perm) return `Transpose has no perm and the rank of ${m.value('x')} is unknown`;
      return isIdentityPerm(perm);
    },
    rewrite: (m) => m.value('x'),
  }),
];

export default rulePass({
  name: 'eliminate-noop-transpose',
  description: 'remove Transpose nodes with the identity permutation',
  kind: 'cleanup',
  rules,
});
