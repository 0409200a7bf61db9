/**
 * optimize(): one load, a pipeline of steps, one save. The order is fixed because each step needs what the one
 * before leaves: pruning works on the unfused graph it understands (FFN chains, attention Reshapes), fusion then
 * rewrites what is left, and precision conversion comes last so that fused ops are converted (or kept in float32)
 * as whole operators.
 */
import { UsageError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { countParameters } from '../inspect.js';
import { presets, resolvePasses } from './registry.js';
import type { RunReport } from '../pass/manager.js';
import { runPasses } from './registry.js';
import type { NearMiss } from '../pass/pass.js';
import { prune, type PruneReport } from '../prune/index.js';
import { convertFloat, convertMixed, parseNodeBlockList, type QuantizeReport } from '../quantize/index.js';
import type { OptimizeConfig, PresetName, QuantizeConfig } from './config.js';

export interface StepReport {
  step: 'prune' | 'passes' | 'quantize';
  ms: number;
  /** one line for the table */
  summary: string;
}

export interface OptimizeReport {
  steps: StepReport[];
  before: { nodes: number; params: number; weightBytes: number };
  after: { nodes: number; params: number; weightBytes: number };
  passes?: RunReport;
  prune?: PruneReport;
  quantize?: QuantizeReport;
  /** the pass list that ran, presets expanded */
  passList: string[];
  warnings: string[];
}

/** What a preset adds to the pipeline. Pass presets (`transformer`, `cnn`) come from the pass registry. */
export function presetPipeline(name: PresetName): Pick<OptimizeConfig, 'passes' | 'target' | 'quantize'> {
  const has = (p: string) => p in presets;
  switch (name) {
    case 'transformer':
      return { passes: [has('transformer') ? 'transformer' : 'cleanup'] };
    case 'cnn':
      return { passes: [has('cnn') ? 'cnn' : 'cleanup'] };
    case 'web':
      // onnxruntime-web and other runtimes that fuse little: standard ops only, every fusion, float16 compute with
      // a float32 interface
      return { passes: has('transformer') ? ['transformer', 'cnn'] : ['cleanup'], target: 'onnx', quantize: { dtype: 'fp16', keepIoTypes: true } };
  }
}

/** The pass names a config runs, in order, with presets expanded and disabled passes removed. */
export function passListFor(config: OptimizeConfig): string[] {
  const fromPreset = config.preset ? (presetPipeline(config.preset).passes ?? []) : [];
  const list = config.passes ?? fromPreset;
  const names = [...new Set(resolvePasses(list).map((p) => p.name))];
  for (const d of config.disable ?? []) resolvePasses([d]); // unknown names are usage errors
  const disabled = new Set(resolvePasses(config.disable ?? []).map((p) => p.name));
  return names.filter((n) => !disabled.has(n));
}

function stats(model: Model) {
  const p = countParameters(model, { nonZero: false }); // only totals: counting zeros would read every weight
  return { nodes: [...model.allNodes()].length, params: p.total, weightBytes: p.bytes };
}

export interface OptimizeRunOptions {
  log?: (message: string) => void;
  onStep?: (step: StepReport['step'], message: string) => void;
  explain?: (m: NearMiss) => void;
  verify?: boolean;
}

export async function optimize(model: Model, config: OptimizeConfig, opts: OptimizeRunOptions = {}): Promise<{ model: Model; report: OptimizeReport }> {
  const preset = config.preset ? presetPipeline(config.preset) : {};
  const target = config.target ?? preset.target ?? 'onnx';
  if (config.preset === 'web' && config.target === 'ort')
    throw new UsageError("the web preset emits standard ONNX ops only: it cannot be combined with target 'ort'");
  const quantize: QuantizeConfig | undefined = config.quantize === false ? undefined : (config.quantize ?? (preset.quantize as QuantizeConfig | undefined));
  const passList = passListFor(config);
  const report: OptimizeReport = { steps: [], before: stats(model), after: stats(model), passList, warnings: [] };
  const log = opts.log ?? (() => {});

  if (config.prune) {
    opts.onStep?.('prune', `pruning (${config.prune.method ?? 'graph'})`);
    const t0 = performance.now();
    const r = await prune(model, { dims: config.dims, ...config.prune });
    model = r.model;
    report.prune = r.report;
    const p = r.report.parameters;
    report.steps.push({
      step: 'prune',
      ms: performance.now() - t0,
      summary: `${r.report.method}: parameters ${p.before} -> ${p.after} (removed ${p.removed}, zeroed ${p.zeroed})`,
    });
  }
  if (passList.length) {
    opts.onStep?.('passes', `${passList.length} passes`);
    const t0 = performance.now();
    const r = runPasses(model, passList, { target, verify: opts.verify, log, explain: opts.explain });
    report.passes = r;
    const changed = r.passes
      .filter((p) => p.modified)
      .map(
        (p) =>
          `${p.name} ${Object.entries(p.counts)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
      );
    report.steps.push({
      step: 'passes',
      ms: performance.now() - t0,
      summary: `nodes ${r.nodesBefore} -> ${r.nodesAfter}${changed.length ? ': ' + changed.join(', ') : ''}`,
    });
  }
  if (quantize) {
    opts.onStep?.('quantize', `converting to ${quantize.dtype}`);
    const t0 = performance.now();
    const common = { ...quantize, nodeBlockList: quantize.nodeBlockList ? parseNodeBlockList(quantize.nodeBlockList.join(',')) : undefined };
    const r = quantize.mixed
      ? await convertMixed(model, { ...common, tolerance: quantize.tolerance ?? 1e-2, dims: config.dims, log })
      : convertFloat(model, common);
    report.quantize = r;
    report.warnings.push(...(r.warnings ?? []));
    report.steps.push({ step: 'quantize', ms: performance.now() - t0, summary: r.message });
  }
  report.after = stats(model);
  return { model, report };
}
