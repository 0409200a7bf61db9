/**
 * npm run bench:quantize — float16 conversion of a BERT-base-sized model (12 layers, hidden 768, 12 heads, FFN 3072,
 * vocab 30522, 512 positions: ~110 M parameters, ~440 MB).
 *
 *   1. load + convert + save, timed per phase (target: under 1.5 s in all), RUNS times, each in a fresh process
 *      (scripts/quantize-child.mjs, the built library), medians and peak RSS; and the whole `autoglm quantize` command
 *      as a user runs it (process start to exit);
 *   2. latency of the float32 and the float16 model on onnxruntime CPU at batch 1, sequence 128: one session each,
 *      warmed up, then LATENCY_RUNS runs interleaved (fp32, fp16, fp16, fp32, ...) so drift hits both alike; medians
 *      and p90, the ratio of medians with a bootstrap 95% interval;
 *   3. fidelity of the float16 model on those inputs: the CPU run, the emulated float16 storage, and as a yardstick
 *      the weights-only conversion (float32 compute, float16 weights: the error weight rounding alone causes).
 *
 *   5. integer quantization (INT=0 skips it; INT_ONLY=1 runs only this part): int8 dynamic (DynamicQuantizeMatMul,
 *      per channel, embeddings int8) and int4 (MatMulNBits, block 32, accuracy level 4) of the same BERT-base-sized
 *      model: load + quantize + save in a fresh process (RUNS times, medians, peak RSS; target under 3 s), session
 *      creation, latency interleaved with float32 (fp32, int8, int4, then the reverse order, LATENCY_RUNS rounds),
 *      file size and output cosine; then the output cosine of a second BERT-base with Hugging Face's initialisation
 *      (normal(0, 0.02), as a real BERT starts training: buildBert({ init: 'hf' })) next to the random fixture's.
 *
 *   4. with LARGE=1: a model over protobuf's 2 GB limit (an MLP 17000 -> 17000 -> 17000, 578 M parameters, 2.3 GB of
 *      external data), converted once in a fresh process: time, peak RSS, and both models run by onnxruntime.
 *
 * Environment: RUNS (default 3), LATENCY_RUNS (default 20; 0 skips parts 2 and 3), THREADS (intra-op threads, default:
 * onnxruntime's choice), LARGE (1 adds part 4; needs ~3 GB of memory and 3.5 GB of disk). The machine's load average is printed: on a shared machine, read the minimum as well.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBert } from '../fixtures/models/bert.js';
import { buildMlp } from '../fixtures/models/mlp.js';
import { synthesizeInputs } from '../src/inputs/synthesize.js';
import { ratioOfMediansCI, summarize } from '../src/measure/stats.js';
import { loadModel, saveModel } from '../src/onnx/io.js';
import { adaptFeed } from '../src/inputs/adapt.js';
import { compareRuns, compareModels } from '../src/measure/compare-models.js';
import { measureEmulated } from '../src/quantize/emulate.js';
import { convertFloat } from '../src/quantize/convert.js';
import { createSession, runSession } from '../src/runtime/session.js';
import { quantizeDynamic, quantizeInt4 } from '../src/quantize/int8/index.js';

const RUNS = Number(process.env.RUNS ?? 3);
const LATENCY_RUNS = Number(process.env.LATENCY_RUNS ?? 20);
const THREADS = process.env.THREADS === undefined ? undefined : Number(process.env.THREADS);
const BERT_BASE = { layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocab: 30522, maxPositions: 512 };
const DIMS = { batch: 1, sequence: 128 };

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const ms = (x: number) => `${x.toFixed(0)} ms`;
const pad = (s: string, n: number) => s.padEnd(n);

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-bench-quantize-'));
  try {
    const fp32Path = path.join(dir, 'bert-base.onnx');
    const fp16Path = path.join(dir, 'bert-base-fp16.onnx');
    const t = performance.now();
    saveModel(buildBert(BERT_BASE), fp32Path);
    const size32 = fs.statSync(fp32Path).size;
    console.log(`built and saved BERT-base in ${ms(performance.now() - t)}: ${mib(size32)}`);
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'quantize-child.mjs');
    if (process.env.INT_ONLY === '1') {
      await integer(dir, child, fp32Path, size32);
      return;
    }

    // 1. load + convert + save, each run in a fresh process; then the CLI command as a whole
    const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'autoglm.js');
    const phases: Record<'load' | 'convert' | 'save' | 'total' | 'peak' | 'cli', number[]> = { load: [], convert: [], save: [], total: [], peak: [], cli: [] };
    let message = '';
    for (let i = 0; i < RUNS; i++) {
      const r = JSON.parse(execFileSync(process.execPath, [child, fp32Path, fp16Path, 'fp16'], { encoding: 'utf8' }));
      for (const k of ['load', 'convert', 'save', 'total'] as const) phases[k].push(r[k]);
      phases.peak.push(r.peakRssBytes);
      message = r.message;
      fs.rmSync(fp16Path, { force: true });
    }
    // the command as a user runs it, without the numeric self-check (the conversion's own cost) ...
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      execFileSync(process.execPath, [cli, 'quantize', fp32Path, '-o', fp16Path, '--dtype', 'fp16', '--force', '--no-check'], {
        stdio: 'ignore',
        env: { ...process.env, NO_COLOR: '1' },
      });
      phases.cli.push(performance.now() - t0);
    }
    // ... and once with it (the default): two onnxruntime sessions and runs on synthesized inputs. The random-weight
    // fixture fails it (12 random layers amplify float16 weight rounding: cosine ~0.998), which is the check working;
    // the exit status is shown, the file is not needed afterwards.
    const checked = path.join(dir, 'bert-base-fp16-checked.onnx');
    const t1 = performance.now();
    let checkStatus = 0;
    try {
      execFileSync(process.execPath, [cli, 'quantize', fp32Path, '-o', checked, '--dtype', 'fp16', '--force'], {
        stdio: 'ignore',
        env: { ...process.env, NO_COLOR: '1' },
      });
    } catch (e) {
      checkStatus = (e as { status?: number }).status ?? -1;
    }
    const checkedWall = performance.now() - t1;
    fs.rmSync(checked, { force: true });
    const size16 = fs.statSync(fp16Path).size;
    console.log(`\nconversion: ${message}`);
    console.log(`runs: ${RUNS}, each in a fresh process; medians (min..max)`);
    const labels = { load: 'load', convert: 'convert', save: 'save', total: 'load+convert+save', cli: 'quantize --no-check (wall)' } as const;
    for (const k of ['load', 'convert', 'save', 'total', 'cli'] as const) {
      const s = summarize(phases[k]);
      console.log(`  ${pad(labels[k], 26)} ${ms(s.p50).padStart(8)}  (${s.min.toFixed(0)}..${s.max.toFixed(0)})`);
    }
    console.log(
      `  ${pad('quantize, checked (wall)', 26)} ${ms(checkedWall).padStart(8)}  (one run, exit ${checkStatus}${checkStatus === 1 ? ': self-check refused it' : ''})`,
    );
    const totalMedian = summarize(phases.total).p50;
    console.log(`  target < 1500 ms: ${totalMedian < 1500 ? 'met' : 'MISSED'}`);
    console.log(`  peak RSS ${mib(summarize(phases.peak).p50)} (median; ${(summarize(phases.peak).p50 / size32).toFixed(2)}x the float32 file)`);
    console.log(`  file: ${mib(size32)} -> ${mib(size16)} (${((100 * size16) / size32).toFixed(1)}%)`);
    console.log(
      `  load average: ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} on ${os.cpus().length} cores`,
    );
    if (LATENCY_RUNS > 0) await latencyAndFidelity(fp32Path, fp16Path, size32, size16);
    if (process.env.INT !== '0') await integer(dir, child, fp32Path, size32);
    if (process.env.LARGE === '1') await large(dir, child);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function latencyAndFidelity(fp32Path: string, fp16Path: string, size32: number, size16: number): Promise<void> {
  let t: number;

  // 2. latency, interleaved
  const ref = loadModel(fp32Path);
  const feeds = synthesizeInputs(ref, { dims: DIMS, seed: 0, count: 1 })[0];
  const opts = { intraOpThreads: THREADS };
  t = performance.now();
  const s32 = await createSession(fp32Path, opts);
  const create32 = performance.now() - t;
  t = performance.now();
  const s16 = await createSession(fp16Path, opts);
  const create16 = performance.now() - t;
  const m16 = loadModel(fp16Path);
  const feeds16 = adaptFeed(feeds, m16);
  for (let i = 0; i < 3; i++) {
    await runSession(s32, feeds);
    await runSession(s16, feeds16);
  }
  const lat32: number[] = [];
  const lat16: number[] = [];
  let out32: Awaited<ReturnType<typeof runSession>> | undefined;
  let out16: Awaited<ReturnType<typeof runSession>> | undefined;
  for (let i = 0; i < LATENCY_RUNS; i++) {
    const order = i % 2 === 0 ? ['32', '16'] : ['16', '32'];
    for (const which of order) {
      const t0 = performance.now();
      if (which === '32') {
        out32 = await runSession(s32, feeds);
        lat32.push(performance.now() - t0);
      } else {
        out16 = await runSession(s16, feeds16);
        lat16.push(performance.now() - t0);
      }
    }
  }
  const a = summarize(lat32);
  const b = summarize(lat16);
  const ci = ratioOfMediansCI(lat16, lat32);
  console.log(
    `\nlatency, onnxruntime CPU, batch ${DIMS.batch} sequence ${DIMS.sequence}, ${LATENCY_RUNS} interleaved runs each (threads: ${THREADS ?? 'default'})`,
  );
  console.log(`  ${pad('model', 10)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'min'.padStart(9)} ${'session'.padStart(9)} ${'file'.padStart(10)}`);
  console.log(
    `  ${pad('float32', 10)} ${ms(a.p50).padStart(9)} ${ms(a.p90).padStart(9)} ${ms(a.min).padStart(9)} ${ms(create32).padStart(9)} ${mib(size32).padStart(10)}`,
  );
  console.log(
    `  ${pad('float16', 10)} ${ms(b.p50).padStart(9)} ${ms(b.p90).padStart(9)} ${ms(b.min).padStart(9)} ${ms(create16).padStart(9)} ${mib(size16).padStart(10)}`,
  );
  console.log(`  fp16/fp32 median ratio ${ci.ratio.toFixed(3)} (95% CI ${ci.lo.toFixed(3)}..${ci.hi.toFixed(3)})`);
  await s32.release();
  await s16.release();

  // 3. fidelity
  const real = compareRuns([out16!], [out32!]);
  const emulated = await measureEmulated(ref, { dtype: 'fp16' }, [feeds]);
  const wo = loadModel(fp32Path);
  convertFloat(wo, { dtype: 'fp16', weightsOnly: true });
  const weightsOnly = await compareModels(ref, wo, [feeds]);
  console.log('\nfidelity of float16 against float32 on those inputs (max rel err: relative to the output range)');
  for (const [label, f] of [
    ['onnxruntime CPU', real],
    ['fp16 storage emulated', emulated],
    ['weights-only (yardstick)', weightsOnly],
  ] as const) {
    for (const o of f)
      console.log(
        `  ${pad(label, 25)} ${pad(o.name, 18)} max abs ${o.maxAbsError?.toExponential(2)}  max rel ${o.rangeError?.toExponential(2)}  cosine ${o.cosine?.toFixed(6)}  overflows ${o.nonFinite}`,
      );
  }
}

/** Part 5: int8 and int4 of the BERT-base-sized model: conversion, latency against float32, size, fidelity. */
async function integer(dir: string, child: string, fp32Path: string, size32: number): Promise<void> {
  const kinds = ['int8', 'int4'] as const;
  const paths = { int8: path.join(dir, 'bert-base-int8.onnx'), int4: path.join(dir, 'bert-base-int4.onnx') };
  console.log(`\ninteger quantization of BERT-base (${RUNS} runs each in a fresh process; medians (min..max))`);
  for (const k of kinds) {
    const runs: { load: number; convert: number; save: number; total: number; peakRssBytes: number; message: string }[] = [];
    for (let i = 0; i < RUNS; i++) {
      fs.rmSync(paths[k], { force: true });
      runs.push(JSON.parse(execFileSync(process.execPath, [child, fp32Path, paths[k], k], { encoding: 'utf8' })));
    }
    const s = (f: (r: (typeof runs)[0]) => number) => summarize(runs.map(f));
    const tot = s((r) => r.total);
    console.log(`  ${k}: ${runs[0].message}`);
    console.log(
      `    load ${ms(s((r) => r.load).p50)}, quantize ${ms(s((r) => r.convert).p50)}, save ${ms(s((r) => r.save).p50)}; load+quantize+save ${ms(tot.p50)} (${tot.min.toFixed(0)}..${tot.max.toFixed(0)}), target < 3000 ms: ${tot.p50 < 3000 ? 'met' : 'MISSED'}; peak RSS ${mib(s((r) => r.peakRssBytes).p50)}`,
    );
  }
  const ref = loadModel(fp32Path);
  const feeds = synthesizeInputs(ref, { dims: DIMS, seed: 0, count: 1 })[0]!;
  const names = ['float32', ...kinds] as const;
  const files = { float32: fp32Path, ...paths };
  const sessions: Record<string, Awaited<ReturnType<typeof createSession>>> = {};
  const created: Record<string, number> = {};
  for (const n of names) {
    const t0 = performance.now();
    sessions[n] = await createSession(files[n], { intraOpThreads: THREADS });
    created[n] = performance.now() - t0;
  }
  for (const n of names) for (let i = 0; i < 3; i++) await runSession(sessions[n]!, feeds);
  const lat: Record<string, number[]> = { float32: [], int8: [], int4: [] };
  const outs: Record<string, Awaited<ReturnType<typeof runSession>>> = {};
  const rounds = Math.max(LATENCY_RUNS, 1);
  for (let i = 0; i < rounds; i++)
    for (const n of i % 2 ? [...names].reverse() : names) {
      const t0 = performance.now();
      outs[n] = await runSession(sessions[n]!, feeds);
      lat[n]!.push(performance.now() - t0);
    }
  for (const n of names) await sessions[n]!.release();
  console.log(`\n  latency, onnxruntime CPU, batch ${DIMS.batch} sequence ${DIMS.sequence}, ${rounds} interleaved rounds (threads: ${THREADS ?? 'default'})`);
  console.log(
    `  ${pad('model', 8)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'ratio (95% CI)'.padStart(22)} ${'session'.padStart(9)} ${'file'.padStart(18)} ${'cosine'.padStart(9)}`,
  );
  for (const n of names) {
    const a = summarize(lat[n]!);
    const ci = n === 'float32' ? undefined : ratioOfMediansCI(lat[n]!, lat.float32!);
    const size = fs.statSync(files[n]).size;
    const cos =
      n === 'float32'
        ? ''
        : compareRuns([outs[n]!], [outs.float32!])
            .map((o) => o.cosine!.toFixed(5))
            .join('/');
    console.log(
      `  ${pad(n, 8)} ${ms(a.p50).padStart(8)} ${ms(a.p90).padStart(8)} ${(ci ? `${ci.ratio.toFixed(3)} (${ci.lo.toFixed(2)}..${ci.hi.toFixed(2)})` : 'baseline').padStart(22)} ${`${ms(created[n]!)} ${n === 'float32' ? '' : `${(created[n]! / created.float32!).toFixed(2)}x`}`.padStart(9)} ${`${mib(size)} ${(size / size32).toFixed(2)}x`.padStart(18)} ${cos.padStart(9)}`,
    );
  }
  // fidelity of the same rewrite on a better-conditioned model of the same shape (Hugging Face initialisation)
  console.log('\n  output cosine (last_hidden_state), float32 vs quantized, batch 1 sequence 128, 2 input sets');
  for (const [label, build] of [
    ['random fixture (buildBert)', () => loadModel(fp32Path)],
    ["HF init (buildBert({ init: 'hf' }))", () => buildBert({ ...BERT_BASE, init: 'hf' })],
  ] as const) {
    const base = build();
    const f = synthesizeInputs(base, { dims: DIMS, seed: 3, count: 2 });
    const row: string[] = [];
    for (const k of kinds) {
      const m = build();
      if (k === 'int8') quantizeDynamic(m);
      else quantizeInt4(m);
      const fid = await compareModels(base, m, f);
      row.push(`${k} ${fid.map((o) => `${o.cosine!.toFixed(5)} (range err ${o.rangeError!.toExponential(1)})`).join(', ')}`);
    }
    console.log(`  ${pad(label, 36)} ${row.join('   ')}`);
  }
}

/** Part 4: a model over 2 GB, weights in external data. */
async function large(dir: string, child: string): Promise<void> {
  const width = 17000;
  const src = path.join(dir, 'large.onnx');
  const out = path.join(dir, 'large-fp16.onnx');
  let t = performance.now();
  saveModel(buildMlp({ inputs: width, hidden: width, outputs: width }), src, { externalData: true });
  const bytes32 = fs.statSync(src).size + fs.statSync(`${src}.data`).size;
  console.log(`\nlarge: MLP ${width} -> ${width} -> ${width}, ${mib(bytes32)} (external data), built and saved in ${ms(performance.now() - t)}`);
  const r = JSON.parse(execFileSync(process.execPath, [child, src, out, 'fp16'], { encoding: 'utf8' }));
  const bytes16 = fs.statSync(out).size + fs.statSync(`${out}.data`).size;
  console.log(
    `  load ${ms(r.load)}, convert ${ms(r.convert)}, save ${ms(r.save)}: load+convert+save ${ms(r.total)}; peak RSS ${mib(r.peakRssBytes)} (${(r.peakRssBytes / bytes32).toFixed(2)}x the float32 model)`,
  );
  console.log(`  ${mib(bytes32)} -> ${mib(bytes16)}; ${r.message}`);
  t = performance.now();
  const s32 = await createSession(src);
  const s16 = await createSession(out);
  const feeds = synthesizeInputs(loadModel(src), { dims: { batch: 4 }, seed: 0, count: 1 })[0]!;
  const y32 = await runSession(s32, feeds);
  const y16 = await runSession(s16, adaptFeed(feeds, loadModel(out)));
  for (const o of compareRuns([y16], [y32]))
    console.log(
      `  onnxruntime CPU, batch 4: ${o.name} max rel ${o.rangeError?.toExponential(2)} cosine ${o.cosine?.toFixed(6)} (sessions and runs ${ms(performance.now() - t)})`,
    );
  await s32.release();
  await s16.release();
}

await main();
