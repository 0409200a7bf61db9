/**
 * The layering of src/: the README's code map is a table of layers (bottom to top); every import between two parts
 * of src/ (its folders and root files) must point to the same layer or one below, and the import graph between
 * parts must have no cycle. Reads the real imports of every file, so an upward import fails here the day it is
 * written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');
const src = path.join(root, 'src');

/** part name -> layer index, from the README table between the layers markers. */
function readLayers(): Map<string, number> {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = /<!-- layers:begin -->([\s\S]*?)<!-- layers:end -->/.exec(readme);
  if (!m) throw new Error('README.md has no layers table');
  const layers = new Map<string, number>();
  for (const line of m[1].split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !/^\d+$/.test(cells[1])) continue;
    for (const p of cells[2].matchAll(/`([^`]+)`/g)) layers.set(p[1], Number(cells[1]));
  }
  return layers;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The part a file belongs to: its top-level folder under src/, or its own name for a root file. */
const partOf = (file: string): string => path.relative(src, file).split(path.sep)[0].replace(/\.ts$/, '');

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

interface Edge {
  from: string;
  to: string;
  file: string;
  spec: string;
}

function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(src)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(src + path.sep)) continue;
      const from = partOf(file);
      const to = partOf(target);
      if (from !== to) edges.push({ from, to, file: path.relative(root, file), spec });
    }
  }
  return edges;
}

function findCycle(edges: Edge[]): string[] | null {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, new Set());
    next.get(e.from)!.add(e.to);
  }
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 'done') return null;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of next.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

describe('layers of src/', () => {
  const layers = readLayers();
  const edges = importEdges();

  it('the README table names every part of src/, and only those', () => {
    const parts = new Set(sourceFiles(src).map(partOf));
    expect([...parts].filter((p) => !layers.has(p)).sort(), 'parts missing from the README layers table').toEqual([]);
    expect([...layers.keys()].filter((p) => !parts.has(p)).sort(), 'README layers that are not parts of src/').toEqual([]);
  });

  it('every import points to the same layer or below', () => {
    const upward = edges
      .filter((e) => layers.has(e.from) && layers.has(e.to) && layers.get(e.to)! > layers.get(e.from)!)
      .map((e) => `${e.file} imports ${e.spec} (${e.from}, layer ${layers.get(e.from)} -> ${e.to}, layer ${layers.get(e.to)})`);
    expect(upward).toEqual([]);
  });

  it('the import graph between parts has no cycle', () => {
    expect(findCycle(edges)).toBeNull();
  });

  it('the checker sees imports (a test that cannot fail is no test)', () => {
    expect(edges.some((e) => e.from === 'onnx' && e.to === 'ir')).toBe(true);
    expect(findCycle([...edges, { from: 'ir', to: 'onnx', file: 'x', spec: 'y' }])).not.toBeNull();
  });
});
