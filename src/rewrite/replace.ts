/**
 * Replacing one value by another while keeping the model's interface: the one place that decides what happens when
 * the value being replaced is a graph output.
 *
 * A graph output keeps its NAME. When the replacement is a new value (built by the rewrite) it simply takes the old
 * name. When it is an existing value, that value is renamed to the output's name, which is only allowed when it is a
 * node output of the same graph that is not already an output itself: a graph input, an initializer or a value of an
 * enclosing scope cannot be renamed without changing something else, so such replacements are refused (the caller
 * reports why).
 */
import type { Value } from '../ir/graph.js';

/** Why `replacement` cannot take `old`'s place (undefined when it can). `fresh`: replacement is new, not yet named. */
export function replacementProblem(old: Value, replacement: Value, fresh = false): string | undefined {
  if (old === replacement) return `${old} would replace itself`;
  if (replacement.producer && replacement.producer === old.producer) return `${replacement} comes from the node being replaced`;
  for (const g of old.outputOf) {
    if (replacement.outputOf.includes(g)) return `${replacement} is already an output of graph '${g.name}'; ${old} cannot become a second copy of it`;
    if (g !== old.graph || fresh) continue;
    if (replacement.isGraphOutput) return `${replacement} is already a graph output; graph output ${old} keeps its own name`;
    if (!replacement.producer) {
      const what = replacement.isInitializer ? 'an initializer' : replacement.isGraphInput ? 'a graph input' : 'a value without producer';
      return `graph output ${old} would become ${what} (${replacement}); kept so the model's interface does not change`;
    }
    if (replacement.producer.graph !== g) return `graph output ${old} would become ${replacement}, a value of an enclosing scope`;
  }
  return undefined;
}

/**
 * Points every use of `old` (and every graph output slot holding it) at `replacement`. `takeName`: give the
 * replacement old's name (always done when old is an output of its own graph). The replacement inherits old's type
 * when it has none, or when it becomes a graph output (the declared interface type).
 */
export function replaceValue(old: Value, replacement: Value, opts: { takeName?: boolean } = {}): void {
  const problem = replacementProblem(old, replacement, opts.takeName);
  if (problem) throw new Error(`cannot replace ${old} by ${replacement}: ${problem}`);
  const ownOutput = !!old.graph && old.outputOf.includes(old.graph);
  old.replaceAllUsesWith(replacement, { includeOutputs: true });
  if (ownOutput || opts.takeName) {
    const name = old.name;
    const g = old.graph ?? replacement.graph;
    old.name = g ? g.freshName(`${name}__replaced`) : `${name}__replaced`;
    replacement.name = name;
  }
  if (old.type && (!replacement.type || ownOutput)) replacement.type = old.type;
  if (ownOutput) {
    if (old.docString !== undefined) replacement.docString = old.docString;
    if (Object.keys(old.extra).length) replacement.extra = { ...old.extra };
  }
}
