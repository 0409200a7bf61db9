/**
 * eliminate-identity: removes Identity nodes.
 *
 *     x ──Identity──> y ──> users          x ──> users
 *
 * Fires on every Identity (ai.onnx, any opset; tensors, sequences and optionals alike). When y is a graph output the
 * output keeps its name: x is renamed to it, which the driver allows only when x is a node output of the same graph
 * that is not already a graph output. So an Identity that passes a graph input (or an initializer, or a value of an
 * enclosing scope, as If branches often do) straight to a graph output is kept, and --explain says why.
 * Recurses into If/Loop/Scan bodies and function bodies (through the driver).
 */
import { rule, rulePass, type Rule } from '../rewrite/driver.js';
import { identity } from '../rewrite/pattern.js';

export const rules: Rule[] = [
  rule({
    name: 'identity',
    count: 'removed',
    pattern: identity('x'),
    rewrite: (m) => m.value('x'),
  }),
];

export default rulePass({
  name: 'eliminate-identity',
  description: 'remove Identity nodes (graph outputs keep their names)',
  kind: 'cleanup',
  rules,
});
