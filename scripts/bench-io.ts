/**
 * npm run bench:io — load / save / load+save of a BERT-base-sized model (12 layers, hidden 768, ~110 M parameters,
 * ~440 MB), timed in a fresh child process per run (the built library, dist/), with peak RSS.
 * Targets (issue 2): load+save under 2 s, peak RSS under 1.5x the file size.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBert } from '../fixtures/models/bert.js';
import { saveModel } from '../src/onnx/io.js';
import { countParameters } from '../src/inspect.js';
import { summarize } from '../src/measure/stats.js';

const runs = Number(process.env.RUNS ?? 5);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-bench-io-'));
try {
  const input = path.join(dir, 'bert-base.onnx');
  const model = buildBert({ layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocab: 30522, maxPositions: 512 });
  saveModel(model, input);
  const size = fs.statSync(input).size;
  console.log(`model: ${(size / 2 ** 20).toFixed(1)} MiB, ${countParameters(model).total} parameters, ${model.graph.nodes.length} nodes`);
  const child = path.join(path.dirname(new URL(import.meta.url).pathname), 'io-child.mjs');
  const measure = (mode: 'load' | 'load+save') => {
    const rows = [];
    for (let i = 0; i < runs; i++) {
      const out = path.join(dir, `out-${i}.onnx`);
      rows.push(JSON.parse(execFileSync(process.execPath, [child, input, out, mode === 'load' ? 'load' : 'save'], { encoding: 'utf8' })));
      fs.rmSync(out, { force: true });
    }
    return rows;
  };
  const load = measure('load');
  const both = measure('load+save');
  const med = (xs: number[]) => summarize(xs).p50;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  console.log(`runs: ${runs} per row, each in a fresh process; medians (min..max)`);
  const row = (label: string, xs: number[], unit = 'ms') =>
    console.log(`${label.padEnd(24)} ${med(xs).toFixed(0).padStart(6)} ${unit}  (${Math.min(...xs).toFixed(0)}..${Math.max(...xs).toFixed(0)})`);
  row(
    'load',
    load.map((r) => r.loadMs),
  );
  row(
    'save (after load)',
    both.map((r) => r.saveMs),
  );
  row(
    'load+save',
    both.map((r) => r.totalMs),
  );
  const peak = med(both.map((r) => r.peakRssBytes));
  console.log(
    `${'peak RSS load+save'.padEnd(24)} ${mb(peak).padStart(9)}  = ${(peak / size).toFixed(2)}x the file size (process baseline ${mb(med(both.map((r) => r.startRssBytes)))})`,
  );
  console.log(
    `targets: load+save < 2000 ms: ${med(both.map((r) => r.totalMs)) < 2000 ? 'met' : 'MISSED'}; peak RSS < 1.5x file: ${peak < 1.5 * size ? 'met' : 'MISSED'}`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
