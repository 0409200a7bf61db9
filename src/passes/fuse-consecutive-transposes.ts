/**
 * fuse-consecutive-transposes: composes two Transposes into one (or none).
 *
 *     x ──Transpose(p1)──> t ──Transpose(p2)──> y          x ──Transpose(p)──> y,   p[i] = p1[p2[i]]
 *                                                           x ──> (users of y)       when p is the identity
 *
 * Why: y[i-th axis] = t[p2[i]-th axis] = x[p1[p2[i]]-th axis]. Fires when both permutations are known (an absent
 * perm needs a known input rank), have the same length, and t is read only by the second Transpose and is not a
 * graph output (the driver refuses otherwise). Chains collapse pairwise over the driver's sweeps. Graph outputs keep
 * their names. Recurses into subgraphs and function bodies.
 */
import { rule, rulePass, type Match, type Rule } from '../rewrite/driver.js';
import { transpose } from '../rewrite/pattern.js';
import { composePerms, isIdentityPerm, isPermutation, permOf } from './util/perm.js';

/** Both permutations; the second's absent perm reverses as many axes as the first permutes. */
function perms(m: Match): [number[] | undefined, number[] | undefined] {
  const p1 = permOf(m.node('first'));
  const second = m.node('second');
  const p2 = second.getInts('perm') ?? (p1 ? p1.map((_, i) => p1.length - 1 - i) : undefined);
  return [p1, p2];
}

export const rules: Rule[] = [
  rule({
    name: 'transpose-pair',
    count: 'fused',
    pattern: transpose(transpose('x', { as: 'first' }), { as: 'second' }),
    condition: (m) => {
      const [p1, p2] = perms(m);
      if (!p1 || !p2) return `a Transpose has no perm and the rank of its input is unknown`;
      if (p1.length !== p2.length || !isPermutation(p1) || !isPermutation(p2)) return `perms [${p1}] and [${p2}] do not compose`;
      return true;
    },
    rewrite: (m, r) => {
      const [p1, p2] = perms(m);
      const p = composePerms(p1!, p2!);
      if (isIdentityPerm(p)) {
        r.countAs('removed');
        return m.value('x');
      }
      return r.op('Transpose', [m.value('x')], { perm: p }, { name: m.root.name || 'Transpose' });
    },
  }),
];

export default rulePass({
  name: 'fuse-consecutive-transposes',
  description: 'compose consecutive Transpose nodes; drop the pair when they cancel',
  kind: 'cleanup',
  rules,
});
