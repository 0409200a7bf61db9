/**
 * A registry of passes by name, with named presets (flat lists of pass names): lookup with "did you mean" for a
 * misspelt name, and resolution of lists that mix names, presets and Pass objects. The graph passes (src/passes)
 * and the full registry with the conversion and pruning wrappers (src/optimize/registry.ts) are two instances.
 */
import { UsageError } from '../errors.js';
import type { Pass } from './pass.js';

export class PassRegistry {
  private readonly byName: ReadonlyMap<string, Pass>;

  constructor(
    readonly passes: readonly Pass[],
    readonly presets: Readonly<Record<string, readonly string[]>>,
  ) {
    this.byName = new Map(passes.map((p) => [p.name, p]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The pass called `name`; an unknown name raises a UsageError listing the passes and presets (closest first). */
  get(name: string): Pass {
    const p = this.byName.get(name);
    if (p) return p;
    const names = [...this.byName.keys()];
    const close = names
      .map((n) => ({ n, d: editDistance(name, n) }))
      .filter((x) => x.d <= Math.max(2, Math.floor(name.length / 3)))
      .sort((a, b) => a.d - b.d)
      .map((x) => x.n);
    const hint = close.length
      ? ` Did you mean ${close
          .slice(0, 3)
          .map((n) => `'${n}'`)
          .join(' or ')}?`
      : '';
    const preset = this.presets[name] ? ` ('${name}' is a preset: use it where a list of passes is accepted.)` : '';
    throw new UsageError(`unknown pass '${name}'.${hint}${preset} Passes: ${names.join(', ')}. Presets: ${Object.keys(this.presets).join(', ')}.`);
  }

  /** Expands preset names and resolves pass names, keeping order (a preset's passes appear where it is named). */
  resolve(list: readonly (Pass | string)[]): Pass[] {
    const out: Pass[] = [];
    for (const item of list) {
      if (typeof item !== 'string') out.push(item);
      else if (!this.byName.has(item) && this.presets[item]) out.push(...this.presets[item].map((n) => this.get(n)));
      else out.push(this.get(item));
    }
    return out;
  }
}

/** Levenshtein distance (insertions, deletions, substitutions). */
export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}
