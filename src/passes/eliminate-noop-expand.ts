/**
 * eliminate-noop-expand: removes an Expand that cannot broadcast its input any further.
 *
 *     x:[B,12,T,T] ──Expand([1,1,1])──> y          x ──> (users of y)
 *
 * Expand's output shape is the broadcast of the input shape and the (right-aligned) target shape. It is the input
 * shape exactly when the target is a constant of rank <= the input's and every target entry is 1 or equals a static
 * input dimension. Fires only then. A symbolic or unknown input dimension facing an entry > 1 could be 1 at run time
 * (and then broadcast), so such nodes are kept with a reason. Graph outputs keep their names. Recurses into subgraphs
 * and function bodies.
 */
import { rule, rulePass, type Rule } from '../rewrite/driver.js';
import { anyConst, expand } from '../rewrite/pattern.js';
import { knownShape } from './util/types.js';

export const rules: Rule[] = [
  rule({
    name: 'noop-expand',
    count: 'removed',
    pattern: expand('x', anyConst('shape')),
    explainMinDepth: 2,
    condition: (m) => {
      const x = m.value('x');
      const xs = knownShape(x);
      if (!xs) return `the shape of ${x} is unknown`;
      const s = m.numbers('shape');
      if (s.length > xs.length) return false;
      const off = xs.length - s.length;
      for (let i = 0; i < s.length; i++) {
        const d = xs[off + i];
        if (s[i] === 1 || d === s[i]) continue;
        if (typeof d !== 'number') return `dimension ${off + i} of ${x} is ${d ?? 'unknown'}; it could be 1 and broadcast to ${s[i]}`;
        return false;
      }
      return true;
    },
    rewrite: (m) => m.value('x'),
  }),
];

export default rulePass({
  name: 'eliminate-noop-expand',
  description: 'remove Expand nodes whose target shape cannot broadcast the input further',
  kind: 'cleanup',
  rules,
});
