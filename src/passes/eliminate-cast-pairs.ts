/**
 * eliminate-cast-pairs: removes a round trip Cast A -> B -> A when B holds every value of A exactly.
 *
 *     x:A ──Cast(to=B)──> t ──Cast(to=A)──> y          x ──> (users of y)
 *
 * Fires when A (the input's element type) is known (declared, or inferred by util/infer.ts), the second Cast goes
 * back to A, t is read only by it, and B represents every value of A exactly (see util/dtypes.ts): float16 ->
 * float32 -> float16, int32 -> int64 -> int32, uint8 -> float16 -> uint8 ... but never float32 -> float16 -> float32
 * (rounds), int64 -> float64 -> int64 (loses bits above 2^53) or int32 -> uint32 -> int32 (wraps). Graph outputs keep their names. Recurses into subgraphs and
 * function bodies.
 */
import { dtypeName } from '../ir/dtype.js';
import { rule, rulePass, type Rule } from '../rewrite/driver.js';
import { cast } from '../rewrite/pattern.js';
import { representsExactly } from './util/dtypes.js';
import { inferElemType } from './util/infer.js';

export const rules: Rule[] = [
  rule({
    name: 'cast-round-trip',
    count: 'removed',
    pattern: cast(cast('x', { as: 'first' }), { as: 'second' }),
    // A -> B -> C (not a round trip) is no near miss: only reasons (strings) are reported
    explainMinDepth: 3,
    condition: (m) => {
      const a = inferElemType(m.value('x'));
      const b = m.node('first').getInt('to');
      const back = m.node('second').getInt('to');
      if (b === undefined || back === undefined) return 'a Cast has no integer `to` attribute (opset < 6)';
      if (a === undefined) return `the element type of ${m.value('x')} is unknown`;
      if (back !== a) return false;
      if (!representsExactly(b, a))
        return `${dtypeName(a)} -> ${dtypeName(b)} -> ${dtypeName(a)} is not exact: ${dtypeName(b)} cannot hold every ${dtypeName(a)} value`;
      return true;
    },
    rewrite: (m) => m.value('x'),
  }),
];

export default rulePass({
  name: 'eliminate-cast-pairs',
  description: 'remove Cast A->B->A round trips where B holds every value of A exactly',
  kind: 'cleanup',
  rules,
});
