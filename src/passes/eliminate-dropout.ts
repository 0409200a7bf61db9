/**
 * eliminate-dropout: removes Dropout in inference models.
 *
 *     x ──Dropout(ratio?, training_mode?)──> y, mask?          x ──> (users of y)
 *
 * In inference mode Dropout copies its input. It fires when the node is in inference mode:
 *   - opset 12+: no training_mode input, or a constant false one (ratio is then ignored, constant or not);
 *   - opset 7-11: always (there is no training switch in the graph; runtimes run it as a copy);
 *   - opset < 7: only with is_test=1 (the default is_test=0 means training).
 * and its mask output is absent or unused (not read, not a graph output). When y is a graph output the output keeps
 * its name (see eliminate-identity for when that is refused). Constants that fed only the Dropout (ratio,
 * training_mode) are removed with it. Recurses into subgraphs and function bodies.
 */
import { constantOf, numbersOf } from '../rewrite/constant.js';
import { rule, rulePass, type Rule } from '../rewrite/driver.js';
import { op } from '../rewrite/pattern.js';

export const rules: Rule[] = [
  rule({
    name: 'dropout',
    count: 'removed',
    pattern: op('Dropout', ['x'], { rest: true }),
    condition: (m) => {
      const d = m.root;
      const opset = m.opset();
      if (opset < 7 && d.getInt('is_test', 0) !== 1) return `Dropout-${opset} without is_test=1 runs in training mode`;
      const tm = d.input(2);
      if (opset >= 12 && tm) {
        const t = constantOf(tm);
        if (!t) return `training_mode ${tm} is not a constant`;
        if ((numbersOf(t) ?? [1]).some((x) => x !== 0)) return 'training_mode is true';
      }
      const mask = d.outputs[1];
      if (mask && (mask.uses.length > 0 || mask.isGraphOutput)) return `its mask output ${mask} is used`;
      return true;
    },
    rewrite: (m) => [m.value('x'), null],
  }),
];

export default rulePass({
  name: 'eliminate-dropout',
  description: 'remove Dropout in inference mode (training_mode absent or constant false, mask unused)',
  kind: 'cleanup',
  rules,
});
