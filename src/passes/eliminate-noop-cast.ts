/**
 * eliminate-noop-cast: removes a Cast to the type its input already has.
 *
 *     x:float32 ──Cast(to=FLOAT)──> y          x ──> (users of y)
 *
 * Fires when the input's element type is known — from its declared type (inputs, outputs, value_info), from the
 * constant it is, or inferred from its producers (util/infer.ts: torch writes no value_info, so the Cast torch
 * exports for `attn_weights.type(value.dtype)` after a float Softmax is decided there) — and equals `to`.
 * Casts before opset 6 (whose `to` is a string) are left alone. `saturate` (opset 19+) only matters for float8
 * targets, and a cast to the same type does not convert, so it is ignored. CastLike is not handled. Graph outputs keep their names. Recurses into subgraphs and
 * function bodies.
 */
import { AttrType } from '../ir/graph.js';
import { rule, rulePass, type Rule } from '../rewrite/driver.js';
import { cast } from '../rewrite/pattern.js';
import { inferElemType } from './util/infer.js';

export const rules: Rule[] = [
  rule({
    name: 'noop-cast',
    count: 'removed',
    pattern: cast('x'),
    explainMinDepth: 2,
    condition: (m) => {
      const a = m.root.attr('to');
      if (!a || a.type !== AttrType.INT) return 'Cast has no integer `to` attribute (opset < 6)';
      const to = Number(a.value);
      const from = inferElemType(m.value('x'));
      if (from === undefined) return `the element type of ${m.value('x')} is unknown`;
      // a real conversion is not a near miss: refuse quietly
      return from === to;
    },
    rewrite: (m) => m.value('x'),
  }),
];

export default rulePass({
  name: 'eliminate-noop-cast',
  description: 'remove Cast nodes whose input already has the target type',
  kind: 'cleanup',
  rules,
});
