// Child process of bench-io: loads and saves one model with the built library and reports time and peak memory.
// A separate process, so peak RSS is this work's alone (not the parent's model building).
import { performance } from 'node:perf_hooks';
import { peakRss } from './peak-rss.mjs';
import { loadModel, saveModel } from '../dist/onnx/io.js';

const [, , input, output, mode] = process.argv;
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const model = loadModel(input);
const t1 = performance.now();
let t2 = t1;
if (mode !== 'load') {
  saveModel(model, output);
  t2 = performance.now();
}
process.stdout.write(JSON.stringify({ loadMs: t1 - t0, saveMs: t2 - t1, totalMs: t2 - t0, peakRssBytes: peakRss(), startRssBytes: rss0 }) + '\n');
