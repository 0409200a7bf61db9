/**
 * Reading the committed torch fixtures (fixtures/torch/, made by its development-only Python scripts): the models'
 * paths, their reference inputs as onnxruntime feeds, and torch's reference outputs. Tests of fusion, quantization
 * and graph F1 on trained and really-exported models use these.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { Feeds } from '../../src/runtime/session.js';

export const TORCH_DIR = fileURLToPath(new URL('../../fixtures/torch', import.meta.url));
export const torchFixture = (file: string): string => path.join(TORCH_DIR, file);

export interface RefTensor {
  dtype: 'int64' | 'float32' | 'bool';
  shape: number[];
  data: (number | boolean)[];
}
export interface RefCase {
  inputs: Record<string, RefTensor>;
  outputs: Record<string, RefTensor>;
}

export const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(torchFixture(file), 'utf8')) as T;

export function toOrt(t: RefTensor): ort.Tensor {
  if (t.dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(t.data.map((v) => BigInt(v as number))), t.shape);
  if (t.dtype === 'bool') return new ort.Tensor('bool', Uint8Array.from(t.data.map((v) => (v ? 1 : 0))), t.shape);
  return new ort.Tensor('float32', Float32Array.from(t.data as number[]), t.shape);
}

export const feedsOf = (inputs: Record<string, RefTensor>): Feeds => Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, toOrt(v)]));

/** The exports' reference files: which models each covers and its cases. */
export function exportCases(file: string): { models: string[]; cases: RefCase[] } {
  return readJson(file);
}

/** The char-level transformers' evaluation windows: 8 held-out sequences of 64 ASCII ids. */
export function charEvalFeeds(): { feeds: Feeds; targets: number[]; top1: Record<'a' | 'b', number[]> } {
  const j = readJson<{ inputs: { input_ids: RefTensor }; targets: RefTensor; outputs: Record<string, RefTensor> }>('char-tf-eval.json');
  return {
    feeds: { input_ids: toOrt(j.inputs.input_ids) },
    targets: j.targets.data as number[],
    top1: { a: j.outputs.top1_a!.data as number[], b: j.outputs.top1_b!.data as number[] },
  };
}

/** The trained CNN's image sets (calibration: 64 images; test: 200 images, another generator seed), with labels. */
export function cnnImages(set: 'cnn-calib' | 'cnn-test'): { x: ort.Tensor; labels: number[]; torchTop1: number[] } {
  const meta = readJson<{ file: string; shape: number[]; labels: number[]; torch_top1: number[] }>(`${set}.json`);
  const buf = fs.readFileSync(torchFixture(meta.file));
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return { x: new ort.Tensor('float32', data, meta.shape), labels: meta.labels, torchTop1: meta.torch_top1 };
}

/** Arg-max over the last axis of a float tensor, one entry per row. */
export function argmaxRows(data: ArrayLike<number>, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / cols; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (data[r * cols + c]! > data[r * cols + best]!) best = c;
    out.push(best);
  }
  return out;
}
