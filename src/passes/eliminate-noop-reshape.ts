/**
 * eliminate-noop-reshape: removes Reshapes that do not change the shape, and collapses Reshape chains.
 *
 *     x:[B,128,768] ──Reshape([0,128,-1])──> y          x ──> (users of y)                      (noop-reshape)
 *     x ──Reshape(s1)──> t ──Reshape(s2)──> y          x ──Reshape(s2)──> y                     (reshape-chain)
 *
 * noop-reshape fires when the target shape is a constant and the input's shape is known with the same rank, and
 * every target entry provably keeps its dimension: 0 (copy, unless allowzero=1), a number equal to the static input
 * dimension, or the single -1 (all other dims being equal, it can only resolve to the input's own dimension;
 * a static zero-sized dimension elsewhere makes -1 ambiguous and is refused). A symbolic input dimension compared
 * with a number cannot be proven equal: refused with a reason.
 * reshape-chain fires when s2 is a constant without 0 entries (or the outer Reshape has allowzero=1): such a shape
 * depends only on the element count, which the inner Reshape does not change; t must be read only by the outer
 * Reshape. Reshape before opset 5 (shape as an attribute) does not match. Graph outputs keep their names.
 * Recurses into subgraphs and function bodies.
 */
import { rule, rulePass, type Rule } from '../rewrite/driver.js';
import { anyConst, reshape, _ } from '../rewrite/pattern.js';
import { knownShape } from './util/types.js';

export const rules: Rule[] = [
  rule({
    name: 'noop-reshape',
    count: 'removed',
    pattern: reshape('x', anyConst('shape')),
    explainMinDepth: 2,
    condition: (m) => {
      const x = m.value('x');
      const xs = knownShape(x);
      if (!xs) return `the shape of ${x} is unknown`;
      const s = m.numbers('shape');
      const allowzero = m.root.getInt('allowzero', 0) === 1;
      if (s.length !== xs.length) return false;
      let minusOne = -1;
      for (let i = 0; i < s.length; i++) {
        const d = xs[i];
        if (s[i] === 0 && !allowzero) continue;
        if (s[i] === -1) {
          if (minusOne >= 0) return false;
          minusOne = i;
          continue;
        }
        if (typeof d !== 'number') return `dimension ${i} of ${x} is ${d ?? 'unknown'}, not provably ${s[i]}`;
        if (d !== s[i]) return false;
      }
      if (minusOne >= 0 && xs.some((d, i) => i !== minusOne && d === 0)) return 'a zero-sized dimension makes -1 ambiguous';
      return true;
    },
    rewrite: (m) => m.value('x'),
  }),
  rule({
    name: 'reshape-chain',
    count: 'collapsed',
    pattern: reshape(reshape('x', _), anyConst('shape')),
    condition: (m) => {
      const allowzero = m.root.getInt('allowzero', 0) === 1;
      if (!allowzero && m.numbers('shape').includes(0)) return 'the outer target shape copies dimensions (0) from the intermediate';
      return true;
    },
    rewrite: (m, r) => {
      const az = m.root.getInt('allowzero');
      return r.op('Reshape', [m.value('x'), m.value('shape')], az === undefined ? {} : { allowzero: az }, { name: m.root.name || 'Reshape' });
    },
  }),
];

export default rulePass({
  name: 'eliminate-noop-reshape',
  description: 'remove Reshape nodes that keep the shape; collapse Reshape of Reshape',
  kind: 'cleanup',
  rules,
});
