/**
 * `autoglm bench` in-process: exit codes (0 pass, 1 failed gate, 2 usage), the reports it writes, the table it
 * prints, and the not-runnable row. Uses the tiny BERT fixture with few runs: these tests check wiring and
 * decisions, not timing (benchmark.test.ts does that).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { buildBert } from '../../fixtures/models/bert.js';
import { bf16MatMul, perturbAttention, save, tempDir, tinyBert } from '../bench/models.js';
import { presets, runPasses } from '../../src/optimize/registry.js';
import { prune } from '../../src/prune/index.js';

let tmp: string;
beforeAll(() => {
  tmp = tempDir('autoglm-cli-bench-');
  save(tinyBert(), tmp, 'base.onnx');
  save(tinyBert(), tmp, 'cand.onnx');
  save(bf16MatMul(tinyBert()), tmp, 'bf16.onnx');
  // two random-weight BERTs (other seeds) with near-uniform attention: no entry is anywhere near 0.2
  const flat = (seed: number) => perturbAttention(buildBert({ layers: 2, hidden: 32, heads: 2, intermediate: 64, classifier: 2, seed }), 0.01);
  save(flat(1), tmp, 'flat-a.onnx');
  save(flat(2), tmp, 'flat-b.onnx');
  fs.writeFileSync(path.join(tmp, 'budget.json'), JSON.stringify({ gates: ['graphF1 >= 0.95', 'params <= 1x'] }));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(...args: string[]) {
  const io = captureIO(tmp);
  const code = await main(['bench', ...args], io);
  return { code, out: io.stdout(), err: io.stderr(), info: io.infoText() };
}

const FAST = ['--dim', 'batch=2', '--dim', 'sequence=16', '--runs', '5', '--warmup', '1', '--threads', '1'];

describe('autoglm bench', () => {
  it('exit 0 when the gates pass; prints the table, writes JSON, Markdown, JUnit and HTML from one result', async () => {
    const { code, out, err, info } = await cli(
      'cand.onnx',
      '--baseline',
      'base.onnx',
      ...FAST,
      '--gate',
      'latency.p50 <= 1.5x',
      '--budget',
      'budget.json',
      '--markdown',
      'r.md',
      '--junit',
      'r.xml',
      '--html',
      'r.html',
    );
    expect(code, err).toBe(0);
    expect(out).toMatch(/base\.onnx \(baseline\)\s+cand\.onnx/);
    expect(out).toMatch(/graph F1 last \/ all \(edges 0\.2\)\s+reference\s+1\.000 \/ 1\.000/);
    expect(out).toMatch(/graph F1 edges baseline \/ candidate \(last; all\)\s+reference\s+(\d+)\/\1; (\d+)\/\2 \(need \d+\)/);
    expect(out).toMatch(/all 3 gate\(s\) passed/);
    expect(out).not.toMatch(/\x1b\[/);
    // progress goes to stderr (the info channel) as plain lines when it is not a terminal; errors stay apart
    expect(info).toMatch(/^timing: \d+\/5/m);
    expect(info).toMatch(/wrote HTML report: r\.html/);
    expect(err).toBe('');
    const md = fs.readFileSync(path.join(tmp, 'r.md'), 'utf8');
    expect(md).toMatch(/✅ all 3 gate\(s\) passed/);
    const xml = fs.readFileSync(path.join(tmp, 'r.xml'), 'utf8');
    expect(xml.match(/<testcase /g)).toHaveLength(3);
    expect(xml).toMatch(/failures="0" errors="0" skipped="0"/);
    const html = fs.readFileSync(path.join(tmp, 'r.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toMatch(/All 3 gate\(s\) passed/);
  });

  it('--json prints the result object (schema 1) and nothing else on stdout', async () => {
    const { code, out } = await cli('cand.onnx', '-b', 'base.onnx', ...FAST, '--json', '--opt-level', 'basic', '--seed', '3');
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.schema).toBe(1);
    expect(r.settings).toMatchObject({ optimizationLevel: 'basic', threads: 1, seed: 3, runs: 5, warmup: 1, executionProvider: 'cpu' });
    expect(r.environment.onnxruntime).toMatch(/^\d+\.\d+/);
    expect(r.candidates[0].label).toBe('cand.onnx');
  });

  it('exit 1 when a gate fails', async () => {
    const { code, out } = await cli('cand.onnx', '--baseline', 'base.onnx', ...FAST, '--gate', 'size <= 0.5x', '--gate', 'graphF1 >= 0.95');
    expect(code).toBe(1);
    expect(out).toMatch(/FAIL\s+cand\.onnx\s+size <= 0\.5x/);
    expect(out).toMatch(/1 of 2 gate\(s\) failed/);
  });

  it('a bf16 candidate is a "not runnable" row, not a crash; its runtime gates are skipped, which fails the run (exit 1) unless --allow-skipped', async () => {
    const strict = await cli('bf16.onnx', 'cand.onnx', '--baseline', 'base.onnx', ...FAST, '--gate', 'latency.p50 <= 2x', '--json');
    expect(strict.code).toBe(1);
    const doc = JSON.parse(strict.out);
    expect(doc.passed).toBe(false);
    expect(doc.gates[0]).toMatchObject({ candidate: 'bf16.onnx', status: 'skipped', reason: 'not-runnable', blocks: true });
    expect(strict.err).toMatch(/1 of 2 gate\(s\) did not run, which is not a pass \(bf16\.onnx latency\.p50 <= 2x: skipped; --allow-skipped accepts them\)/);
    const { code, out } = await cli('bf16.onnx', 'cand.onnx', '--baseline', 'base.onnx', ...FAST, '--gate', 'latency.p50 <= 2x', '--allow-skipped');
    expect(code).toBe(0);
    expect(out).toMatch(/1 of 2 gate\(s\) passed, 1 skipped \(allowed by --allow-skipped\)/);
    expect(out).toMatch(/status\s+ok\s+not runnable on this EP\s+ok/);
    expect(out).toMatch(/bf16\.onnx: not runnable on this execution provider \(cpu\)/);
    expect(out).toMatch(/SKIPPED\s+bf16\.onnx/);
    expect(out).toMatch(/PASS(?: \(inconclusive\))?\s+cand\.onnx/);
  });

  it('exit 2 for bad usage, with a clear message', async () => {
    const missingDim = await cli('cand.onnx', '--baseline', 'base.onnx', '--dim', 'batch=2', '--runs', '2');
    expect(missingDim.code).toBe(2);
    expect(missingDim.err).toMatch(/no size given for dimension 'sequence'.*--dim sequence=/);
    const badGate = await cli('cand.onnx', '--baseline', 'base.onnx', ...FAST, '--gate', 'latency <= fast');
    expect(badGate.code).toBe(2);
    expect(badGate.err).toMatch(/cannot read the gate 'latency <= fast'/);
    const noBaseline = await cli('cand.onnx', ...FAST);
    expect(noBaseline.code).toBe(2);
    expect(noBaseline.err).toMatch(/--baseline/);
    const noFile = await cli('missing.onnx', '--baseline', 'base.onnx', ...FAST);
    expect(noFile.code).toBe(2);
    expect(noFile.err).toMatch(/missing\.onnx: no such file/);
    const badLevel = await cli('cand.onnx', '--baseline', 'base.onnx', ...FAST, '--opt-level', 'max');
    expect(badLevel.code).toBe(2);
    const badDir = await cli('cand.onnx', '--baseline', 'base.onnx', ...FAST, '--html', 'nowhere/r.html');
    expect(badDir.code).toBe(2);
    expect(badDir.err).toMatch(/folder .*nowhere does not exist/);
    const badDimSyntax = await cli('cand.onnx', '--baseline', 'base.onnx', '--dim', 'batch:2');
    expect(badDimSyntax.code).toBe(2);
    expect(badDimSyntax.err).toMatch(/write name=size/);
  });

  it('exit 1 when the baseline itself cannot run', async () => {
    const { code, err } = await cli('cand.onnx', '--baseline', 'bf16.onnx', ...FAST);
    expect(code).toBe(1);
    expect(err).toMatch(/the baseline bf16\.onnx cannot be measured: not runnable on this execution provider/);
  });

  it('near-uniform attention (random BERTs, two seeds): the graph F1 gate fails as INCONCLUSIVE, edge counts shown', async () => {
    const { code, out, err } = await cli(
      'flat-b.onnx',
      '--baseline',
      'flat-a.onnx',
      ...FAST,
      '--gate',
      'graphF1 >= 0.95',
      '--markdown',
      'flat.md',
      '--junit',
      'flat.xml',
    );
    expect(code).toBe(1);
    expect(out).toMatch(/graph F1 last \/ all \(edges 0\.2\)\s+reference\s+INCONCLUSIVE \(1\.000 \/ 1\.000\)/);
    expect(out).toMatch(/graph F1 edges baseline \/ candidate \(last; all\)\s+reference\s+0\/0; 0\/0 \(need 4\)/);
    expect(out).toMatch(/INCONCLUSIVE\s+flat-b\.onnx\s+graphF1 >= 0\.95\s+INCONCLUSIVE: graph F1 is inconclusive.*--graph-threshold 4\/T/);
    expect(out).toMatch(/1 of 1 gate\(s\) skipped or inconclusive: not a pass/);
    expect(err).toMatch(/did not run, which is not a pass/);
    expect(fs.readFileSync(path.join(tmp, 'flat.md'), 'utf8')).toMatch(/❌ INCONCLUSIVE \| flat-b\.onnx/);
    expect(fs.readFileSync(path.join(tmp, 'flat.xml'), 'utf8')).toMatch(/<failure type="inconclusive"/);
    // per-row top-k always has edges: on near-uniform rows they are noise, so the two seeds disagree and the gate fails
    const topk = await cli('flat-b.onnx', '--baseline', 'flat-a.onnx', ...FAST, '--gate', 'graphF1 >= 0.95', '--graph-edges', 'topk:2', '--json');
    expect(topk.code).toBe(1);
    const r = JSON.parse(topk.out);
    expect(r.settings).toMatchObject({ graphThreshold: null, graphEdges: 'topk:2' });
    expect(r.candidates[0].fidelity.graphF1.edges.all).toMatchObject({ baseline: 64, conclusive: true });
    expect(r.gates[0].status).toBe('fail');
    // a threshold relative to uniform attention does not invent edges either
    const rel = await cli('flat-b.onnx', '--baseline', 'flat-a.onnx', ...FAST, '--gate', 'graphF1 >= 0.95', '--graph-threshold', '4/T', '--json');
    expect(rel.code).toBe(1);
    expect(JSON.parse(rel.out).gates[0]).toMatchObject({ status: 'skipped', reason: 'inconclusive' });
  });

  const charA = path.resolve('fixtures/torch/char-tf-a.onnx');
  const charB = path.resolve('fixtures/torch/char-tf-b.onnx');
  const evalJson = path.resolve('fixtures/torch/char-tf-eval.json');
  it.skipIf(![charA, charB, evalJson].every((f) => fs.existsSync(f)))(
    'trained char-level transformers from two seeds: graph F1 well below 0.95 and the gate fails; identical models give 1.0 with edges',
    async () => {
      const ids = JSON.parse(fs.readFileSync(evalJson, 'utf8')).inputs.input_ids.data.slice(0, 128);
      fs.writeFileSync(path.join(tmp, 'text.json'), JSON.stringify({ input_ids: { dims: [2, 64], dtype: 'int64', data: ids } }));
      const { code, out } = await cli(
        charB,
        charA,
        '--baseline',
        charA,
        '--inputs',
        'text.json',
        '--runs',
        '3',
        '--warmup',
        '1',
        '--threads',
        '1',
        '--session-repeats',
        '1',
        '--gate',
        'graphF1 >= 0.95',
        '--json',
      );
      expect(code).toBe(1);
      const r = JSON.parse(out);
      const [other, same] = r.candidates;
      expect(other.fidelity.graphF1.score).toBeLessThan(0.85);
      expect(other.fidelity.graphF1.edges.all.conclusive).toBe(true);
      expect(same.fidelity.graphF1).toMatchObject({ score: 1, lastLayer: 1, allLayers: 1 });
      expect(same.fidelity.graphF1.edges.all.baseline).toBeGreaterThan(50);
      expect(r.gates.map((g: { status: string }) => g.status)).toEqual(['fail', 'pass']);
    },
  );

  it('a fused candidate (--target ort, com.microsoft Attention) gets its graph F1 from attention: 1.0 unchanged, lower pruned', async () => {
    const bert = () => buildBert({ layers: 2 });
    const f = bert();
    runPasses(f, presets.transformer!, { target: 'ort' });
    expect(f.graph.nodes.filter((n) => n.opType === 'Attention')).toHaveLength(2);
    save(bert(), tmp, 'bert.onnx');
    save(f, tmp, 'bert-fused.onnx');
    const { model: p } = await prune(bert(), { method: 'magnitude', sparsity: 0.6 });
    runPasses(p, presets.transformer!, { target: 'ort' });
    save(p, tmp, 'bert-pruned-fused.onnx');
    const { code, out } = await cli('bert-fused.onnx', 'bert-pruned-fused.onnx', '--baseline', 'bert.onnx', ...FAST, '--gate', 'graphF1 >= 0.95', '--json');
    expect(code).toBe(1);
    const [same, pruned] = JSON.parse(out).candidates.map((c: { fidelity: { graphF1: Record<string, unknown> } }) => c.fidelity.graphF1);
    expect(same).toMatchObject({ source: 'attention', score: 1, lastLayer: 1, allLayers: 1 });
    expect(same.note).toMatch(/2 fused Attention layer\(s\) read through a decomposed twin/);
    expect((same.edges as { all: { baseline: number } }).all.baseline).toBeGreaterThan(0);
    expect(pruned).toMatchObject({ source: 'attention' });
    expect(pruned.score as number).toBeLessThan(0.95);
  });

  it('a model that cannot run on the CPU with a gate on it: exit 1 by default', async () => {
    const { code, out } = await cli('bf16.onnx', '--baseline', 'base.onnx', ...FAST, '--gate', 'graphF1 >= 0.95');
    expect(code).toBe(1);
    expect(out).toMatch(/SKIPPED\s+bf16\.onnx\s+graphF1 >= 0\.95\s+bf16\.onnx is not runnable on this execution provider \(cpu\)/);
  });
});
