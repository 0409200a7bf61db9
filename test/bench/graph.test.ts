/**
 * autoglm graph: the relation graph is exactly what graph F1 counts (same edges, same kept/lost/added counts as
 * graph F1's tp/fn/fp), on the two trained char-level transformers; DOT renders with Graphviz when it is installed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadVocab, relationGraph, renderGraphDot, renderGraphSvg, tokenIds } from '../../src/bench/graph.js';
import { computeGraphF1 } from '../../src/measure/fidelity.js';
import { parseEdgeRule } from '../../src/measure/graph-f1.js';
import { probeModel } from '../../src/measure/probe.js';
import { loadModel } from '../../src/onnx/io.js';
import { charEvalFeeds } from '../helpers/torch-fixtures.js';

const FIX = path.resolve(__dirname, '../../fixtures/torch');
const A = () => loadModel(path.join(FIX, 'char-tf-a.onnx'));
const B = () => loadModel(path.join(FIX, 'char-tf-b.onnx'));

describe('relation graph', () => {
  const feeds = [charEvalFeeds().feeds];
  for (const rule of ['0.2', '4/T']) {
    it(`lists the edges graph F1 counts (edge rule ${rule})`, async () => {
      const r = parseEdgeRule(rule);
      const g = await relationGraph(B(), feeds, { rule: r, against: A() });
      const pa = await probeModel(A(), feeds, { attention: true });
      const pb = await probeModel(B(), feeds, { attention: true });
      const f1 = computeGraphF1({
        threshold: r,
        baselineCapture: pa.capture,
        candidateCapture: pb.capture,
        baselineWhyNot: null,
        candidateWhyNot: null,
        baselineOutputs: [],
        candidateOutputs: [],
        pairs: [],
      });
      expect(f1.source).toBe('attention');
      const last = f1.edges.last;
      expect(g.counts).toEqual({ kept: last.common, lost: last.baseline - last.common, added: last.candidate - last.common });
      expect(g.f1).toBeCloseTo(f1.lastLayer, 12);
      expect(last.baseline).toBeGreaterThan(10); // a trained model: a real graph, not a vacuous one
      expect(g.edges.length).toBe(g.counts!.kept + g.counts!.lost + g.counts!.added);
      // the graph of the baseline alone has exactly the baseline's edges
      const gb = await relationGraph(A(), feeds, { rule: r });
      expect(gb.edges.length).toBe(last.baseline);
      const keys = (es: typeof g.edges) => new Set(es.map((e) => `${e.from}>${e.to}`));
      const kb = keys(gb.edges);
      for (const e of g.edges) expect(kb.has(`${e.from}>${e.to}`)).toBe(e.status !== 'added');
      // causal: a position never attends to a later one
      expect(g.edges.every((e) => e.to <= e.from)).toBe(true);
      if (rule === '0.2') expect(gb.edges.every((e) => e.weight > 0.2)).toBe(true);
    });
  }

  it('labels positions with tokens from a vocabulary', async () => {
    const ascii = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));
    const g = await relationGraph(A(), [charEvalFeeds().feeds], { rule: parseEdgeRule('0.2'), vocab: ascii });
    const ids = tokenIds(charEvalFeeds().feeds)!;
    expect(g.tokens).toEqual(ids);
    expect(g.labels[0]).toBe(`0:${String.fromCharCode(ids[0]!)}`);
    const dot = renderGraphDot(g);
    expect(dot).toMatch(/^digraph "attention" \{/);
    expect(dot.match(/->/g)).toHaveLength(g.edges.length);
  });

  it('reads vocabularies as JSON arrays, token -> id objects and lines', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-vocab-'));
    fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify(['x', 'y']));
    fs.writeFileSync(path.join(dir, 'o.json'), JSON.stringify({ y: 1, x: 0 }));
    fs.writeFileSync(path.join(dir, 'v.txt'), 'x\ny\n');
    expect(loadVocab(path.join(dir, 'a.json'))).toEqual(['x', 'y']);
    expect(loadVocab(path.join(dir, 'o.json'))).toEqual(['x', 'y']);
    expect(loadVocab(path.join(dir, 'v.txt'))).toEqual(['x', 'y']);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"x": "y"}');
    expect(() => loadVocab(path.join(dir, 'bad.json'))).toThrow(/expected a JSON array/);
  });

  const hasDot = spawnSync('dot', ['-V']).status === 0;
  if (!hasDot) console.warn('Graphviz dot is not installed (Debian package graphviz): skipping the SVG rendering test');
  it.skipIf(!hasDot)('renders to SVG with Graphviz dot, every edge drawn', async () => {
    const g = await relationGraph(B(), [charEvalFeeds().feeds], { rule: parseEdgeRule('0.2'), against: A() });
    const svg = renderGraphSvg(renderGraphDot(g));
    expect(svg).toMatch(/<svg /);
    expect(svg.match(/class="edge"/g)).toHaveLength(g.edges.length);
    expect(svg).toMatch(/stroke="#d62728"/); // a lost edge
  });
});
