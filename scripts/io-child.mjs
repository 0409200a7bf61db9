// Child process of bench-io: loads and saves one model with the built library and reports time and peak memory.
// A separate process, so peak RSS is this work's alone (not the parent's model building).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
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
// Peak resident memory of this process. Not getrusage's maxRSS: on Linux it is inherited from the parent across
// fork and exec, so a child of a process holding a 400 MB model would report that. /proc's VmHWM belongs to this
// address space only.
function peakRss() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}
process.stdout.write(JSON.stringify({ loadMs: t1 - t0, saveMs: t2 - t1, totalMs: t2 - t0, peakRssBytes: peakRss(), startRssBytes: rss0 }) + '\n');
