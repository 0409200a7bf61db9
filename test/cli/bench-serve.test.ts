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
import { hasPromtool, parseExposition, promtoolCheck } from '../helpers/prometheus.js';

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

  it('--scenario server --qps: the load point of every model, gates on it, JSON', async () => {
    const { code, out, err } = await cli(
      'cand.onnx',
      '-b',
      'base.onnx',
      ...FAST.map((a) => (a === 'batch=2' ? 'batch=1' : a)),
      '--scenario',
      'server',
      '--qps',
      '100',
      '--duration',
      '0.8',
      '--workers',
      '2',
      '--batching',
      'fixed:2',
      '--max-wait',
      '2',
      '--slo',
      'p99 <= 500ms',
      '--gate',
      'server.p99 <= 100x',
      '--gate',
      'server.dropped <= 0',
      '--prometheus',
      's.prom',
      '--json',
    );
    expect(code, err).toBe(0);
    const r = JSON.parse(out);
    for (const m of [r.baseline, r.candidates[0]]) {
      expect(m.server).toMatchObject({ workers: 2, batching: 'fixed:2', maxBatch: 2, maxWaitMs: 2, slo: { stat: 'p99', boundMs: 500 } });
      expect(m.server.load.completed).toBe(m.server.load.requests);
      expect(m.server.load.perPhase).toHaveLength(4);
      expect(m.server.load.meanBatch).toBeGreaterThanOrEqual(1);
    }
    expect(r.gates.map((g: { status: string }) => g.status)).toEqual(['pass', 'pass']);
    const prom = fs.readFileSync(path.join(tmp, 's.prom'), 'utf8');
    const series = parseExposition(prom).samples;
    const count = series.find((x) => x.name === 'autoglm_bench_latency_seconds_count' && x.labels.scenario === 'server' && x.labels.candidate === 'baseline');
    expect(count!.value).toBe(r.baseline.server.load.completed);
    if (hasPromtool) expect(promtoolCheck(prom)).toEqual({ status: 0, output: '' });
  });

  it('--decode through the CLI; serving flags without their mode are usage errors (exit 2)', async () => {
    const gpt = path.resolve(__dirname, '../../fixtures/torch/gpt2-past-tiny.onnx');
    const dims = ['--dim', 'batch=1', '--dim', 'sequence=2', '--dim', 'past_sequence=2', '--dim', 'past_sequence + sequence=4'];
    const d = await cli(
      gpt,
      '-b',
      gpt,
      ...dims,
      '--runs',
      '3',
      '--warmup',
      '1',
      '--decode',
      '--prompt',
      '8',
      '--tokens',
      '8',
      '--gate',
      'decode.agreement >= 1',
      '--prometheus',
      'd.prom',
    );
    expect(d.code, d.err).toBe(0);
    expect(d.out).toMatch(/decode: time to first token \(prompt 8\)/);
    expect(d.out).toMatch(/decode: token agreement with baseline\s+reference\s+100\.0%/);
    const dprom = fs.readFileSync(path.join(tmp, 'd.prom'), 'utf8');
    const tpot = parseExposition(dprom).samples.find((x) => x.name === 'autoglm_bench_latency_seconds_count' && x.labels.scenario === 'decode');
    expect(tpot!.value).toBe(3 * 7); // 3 repeats x (8 - 1) decode steps
    if (hasPromtool) expect(promtoolCheck(dprom)).toEqual({ status: 0, output: '' });
    const cases: [string[], RegExp][] = [
      [['--qps', '10'], /--qps needs --scenario server/],
      [['--scenario', 'server'], /needs --qps N or --find-max-qps/],
      [['--scenario', 'server', '--find-max-qps'], /--find-max-qps needs --slo/],
      [['--scenario', 'server', '--qps', '10', '--slo', 'p95 < 3'], /--slo 'p95 < 3'/],
      [['--scenario', 'server', '--qps', '10', '--batching', 'sometimes'], /--batching must be none, fixed:N/],
      [['--scenario', 'nightly'], /--scenario must be single or server/],
      [['--tokens', '5'], /need --decode/],
      [['--decode'], /--decode needs a decoder with past key\/value inputs/],
    ];
    for (const [extra, msg] of cases) {
      const r = await cli('cand.onnx', '-b', 'base.onnx', ...FAST, ...extra);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
    }
  });
});
