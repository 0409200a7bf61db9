/**
 * `autoglm bench` serving-shaped options end to end, in-process: --prometheus, --scenario server, --decode. Tiny
 * models and short loads: these check wiring and decisions, not timing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { save, tempDir, tinyBert } from '../bench/models.js';

let tmp: string;
beforeAll(() => {
  tmp = tempDir('autoglm-cli-serve-');
  save(tinyBert(), tmp, 'base.onnx');
  save(tinyBert(), tmp, 'cand.onnx');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(...args: string[]) {
  const io = captureIO(tmp);
  const code = await main(['bench', ...args], io);
  return { code, out: io.stdout(), err: io.stderr(), info: io.infoText() };
}

const FAST = ['--dim', 'batch=2', '--dim', 'sequence=16', '--runs', '5', '--warmup', '1', '--threads', '1'];

describe('autoglm bench, serving options', () => {
  it('--prometheus writes the metrics of the run atomically', async () => {
    const { code, err, info } = await cli('cand.onnx', '-b', 'base.onnx', ...FAST, '--prometheus', 'm.prom');
    expect(code, err).toBe(0);
    expect(info).toMatch(/wrote Prometheus report: m\.prom/);
    const text = fs.readFileSync(path.join(tmp, 'm.prom'), 'utf8');
    expect(text).toMatch(/^# HELP autoglm_bench_metric /);
    expect(text).toMatch(/autoglm_bench_metric\{model="base\.onnx",candidate="cand\.onnx",scenario="single",metric="latency_p50_seconds"\} \d/);
    expect(text).toMatch(/autoglm_bench_latency_seconds_count\{model="base\.onnx",candidate="baseline",scenario="single"\} 5\n/);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('m.prom'))).toEqual(['m.prom']);
    const bad = await cli('cand.onnx', '-b', 'base.onnx', ...FAST, '--prometheus', 'nowhere/m.prom');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--prometheus nowhere\/m\.prom: folder .* does not exist/);
  });
});
