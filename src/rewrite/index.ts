/** The pattern-rewrite engine: the DSL (pattern.ts), the Rewriter, and the driver that applies rules. */
export * from './pattern.js';
export { Rewriter, RewriteFailure, type NewNodeOptions } from './rewriter.js';
export { applyRules, rulePass, Match, type Rule, type RewriteResult, type ApplyOptions, type ApplyResult, type RulePassSpec } from './driver.js';
export { replaceValue, replacementProblem } from './replace.js';
export { removeDeadFrom, isPure, isUnused } from './dead.js';
export { constantOf, constantInts, constantScalar, isConstant, numbersOf, scalarOf } from './constant.js';
export { Matcher, type Failure } from './matcher.js';
