/**
 * Typed bindings: a rule written with rule({ ... }) gets a Match that accepts exactly the names its pattern binds,
 * so a misspelt binding is a compile error (`npm run typecheck` runs over the tests: each @ts-expect-error below
 * fails the typecheck if the misspelling ever compiles again). At run time the misspelling still throws.
 */
import { describe, expect, it } from 'vitest';
import { createModel, floatTensor } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { applyRules, rule } from '../../src/rewrite/driver.js';
import { add, anyConst, c, mul, oneOf, op, optCast, relu, type BindingsOf } from '../../src/rewrite/pattern.js';

describe('typed pattern bindings', () => {
  it('infers the names a pattern binds: variables, `as` nodes, named constants, through oneOf and optCast', () => {
    const p = add(mul('x', anyConst('w'), { as: 'scale' }), oneOf(c(1, { as: 'one' }), optCast('b', { as: 'cast' })));
    const names: BindingsOf<typeof p>[] = ['x', 'w', 'scale', 'one', 'b', 'cast'];
    // @ts-expect-error 'y' is not bound by the pattern
    const wrong: BindingsOf<typeof p> = 'y';
    expect(names).toHaveLength(6);
    expect(wrong).toBe('y');
  });

  it('rejects a misspelt name in condition and rewrite at compile time, and still throws at run time', () => {
    const r = rule({
      name: 'relu-of-add',
      pattern: relu(op('Add', ['x', anyConst('bias')], { as: 'sum' })),
      condition: (m) => m.node('sum').inputs.length === 2,
      // @ts-expect-error 'xx' is not a binding of this pattern (the pattern binds x, bias, sum)
      rewrite: (m, w) => w.op('Relu', [m.value('xx')]),
    });
    const { model, b } = createModel({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Relu', [b.op('Add', [x, b.init('k', floatTensor([2], new Float32Array([1, 2])))])]), 'y');
    expect(() => applyRules(model, [r])).toThrow(/binds no value 'xx'/);
  });
});
