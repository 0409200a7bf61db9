// Child process of bench-quantize: load + convert (float16) or quantize (int8 dynamic, int4 MatMulNBits) + save of one
// model with the built library (dist/), in a fresh process per run (so the times include compiling the conversion
// kernel and warming up, as a user's run does, and peak RSS is this work's alone). Prints one JSON line.
import { performance } from 'node:perf_hooks';
import { peakRss } from './peak-rss.mjs';
import { loadModel, saveModel } from '../dist/onnx/io.js';
import { convertFloat } from '../dist/quantize/convert.js';
import { quantizeDynamic, quantizeInt4 } from '../dist/quantize/int8/index.js';

const [, , input, output, dtype = 'fp16'] = process.argv;
const t0 = performance.now();
const model = loadModel(input);
const t1 = performance.now();
let message;
if (dtype === 'int8' || dtype === 'int4') {
  const report = dtype === 'int8' ? quantizeDynamic(model) : quantizeInt4(model);
  message = report.message;
} else {
  const report = convertFloat(model, { dtype });
  message = `${report.message}; ${report.totals.tensors} tensors, clamped ${report.totals.clamped}, flushed ${report.totals.flushed}`;
}
const t2 = performance.now();
saveModel(model, output);
const t3 = performance.now();
process.stdout.write(JSON.stringify({ load: t1 - t0, convert: t2 - t1, save: t3 - t2, total: t3 - t0, peakRssBytes: peakRss(), message }) + '\n');
