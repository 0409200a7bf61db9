/**
 * Text safe to print on one line: control characters (which could move the cursor, retitle a terminal, or split a
 * one-line error in two when they come from a model's names) are shown as escapes (\n, \x1b, ...).
 */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
