/**
 * A strict reader of the Prometheus text exposition format 0.0.4 (for the --prometheus tests) and promtool, when it
 * is installed (Debian package prometheus).
 */
import { spawnSync } from 'node:child_process';

export const hasPromtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

/** `promtool check metrics` on a text: its exit status and its output (empty when it has nothing to say). */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text exposition format 0.0.4: every line is a HELP, a TYPE, or a sample of the
 * family declared just before; names and label names are valid; label values are properly escaped; no series twice;
 * histograms have cumulative buckets ending in +Inf equal to _count. Throws on the first violation.
 */
export function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  if (!text.endsWith('\n')) throw new Error('the text must end with a line feed');
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const out: Sample[] = [];
  const seen = new Set<string>();
  let current: string | null = null;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith('# HELP ')) {
      const name = line.slice(7).split(' ')[0]!;
      if (!NAME.test(name) || helps.has(name)) throw new Error(`bad or repeated HELP: ${where}`);
      helps.add(name);
      return;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (!NAME.test(name!) || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type!) || types.has(name!))
        throw new Error(`bad TYPE: ${where}`);
      types.set(name!, type!);
      current = name!;
      return;
    }
    if (line.startsWith('#') || line.trim() === '') throw new Error(`unexpected line: ${where}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample: ${where}`);
    const name = m[1]!;
    const family = current!;
    const ok = types.get(family) === 'histogram' ? [`${family}_bucket`, `${family}_sum`, `${family}_count`].includes(name) : name === family;
    if (!current || !ok) throw new Error(`sample outside its family: ${where}`);
    const labels: Record<string, string> = {};
    let rest = m[3] ?? '';
    while (rest.length) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      if (!lm || !LABEL.test(lm[1]!)) throw new Error(`bad label set: ${where}`);
      if (lm[1]! in labels) throw new Error(`label repeated: ${where}`);
      labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(lm[0].length);
    }
    const v = m[4]!;
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : v === 'NaN' ? NaN : Number(v);
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$|^[-+]Inf$|^NaN$/i.test(v)) throw new Error(`bad value: ${where}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`series repeated: ${where}`);
    seen.add(key);
    out.push({ name, labels, value });
  });
  // histograms: cumulative buckets, +Inf == _count
  for (const [fam, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of out.filter((x) => x.name === `${fam}_bucket`)) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${fam}_bucket without le`);
      const k = JSON.stringify(Object.entries(rest).sort());
      (series.get(k) ?? series.set(k, []).get(k)!).push(s);
    }
    for (const [k, bs] of series) {
      for (let i = 1; i < bs.length; i++) {
        if (!(Number(bs[i]!.labels.le === '+Inf' ? Infinity : bs[i]!.labels.le) > Number(bs[i - 1]!.labels.le))) throw new Error(`${fam}: le not increasing`);
        if (bs[i]!.value < bs[i - 1]!.value) throw new Error(`${fam}: buckets not cumulative`);
      }
      if (bs[bs.length - 1]!.labels.le !== '+Inf') throw new Error(`${fam}: no +Inf bucket`);
      const count = out.find((x) => x.name === `${fam}_count` && JSON.stringify(Object.entries(x.labels).sort()) === k);
      if (!count || count.value !== bs[bs.length - 1]!.value) throw new Error(`${fam}: _count differs from the +Inf bucket`);
    }
  }
  return { types, samples: out };
}
