/**
 * optimize(): one load, a pipeline of steps, one save. The order is fixed because each step needs what the one
 * before leaves: pruning works on the unfused graph it understands (FFN chains, attention Reshapes), fusion then
 * rewrites what is left, and precision conversion comes last so that fused ops are converted (or kept in float32)
 * as whole operators. Integer quantization is the exception: dynamic int8 and int4 run before the passes (see
 * intStep), static int8 after them; either way the result is checked against the model as it was before fusion.
 */
import { OperationError, UsageError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { countParameters } from '../inspect.js';
import { presets, resolvePasses } from './registry.js';
import type { RunReport } from '../pass/manager.js';
import { runPasses } from './registry.js';
import type { NearMiss } from '../pass/pass.js';
import { prune, type PruneReport } from '../prune/index.js';
import {
  checkQuantized,
  checkFloatConversion,
  convertFloat,
  convertMixed,
  parseNodeBlockList,
  quantizeDynamic,
  quantizeGuided,
  quantizeInt4,
  quantizeStatic,
  type GuidedReport,
  type IntCheckReport,
  type IntQuantizeReport,
  type QuantizeReport,
} from '../quantize/index.js';
import { synthesizeInputs } from '../inputs/synthesize.js';
import { symbolicDims } from '../inputs/describe.js';
import { withDefaultDims } from '../inputs/dims.js';
import { encodeModel } from '../onnx/encode.js';
import { decodeModelBytes } from '../onnx/io.js';
import { isIntQuantize, type FloatQuantizeConfig, type IntQuantizeConfig, type OptimizeConfig, type PresetName, type QuantizeConfig } from './config.js';

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
  /** int8 / int4: what was quantized, the self-check against the float model, and the --mixed search */
  intQuantize?: IntQuantizeReport;
  check?: IntCheckReport;
  guided?: GuidedReport;
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
    const chk = r.report.check;
    if (chk && !chk.passed)
      throw new OperationError(`the pruned model failed its self-check (${chk.failures.join('; ')}; worst output: ${chk.worstOutput}); nothing written`);
    model = r.model;
    report.prune = r.report;
    const p = r.report.parameters;
    report.steps.push({
      step: 'prune',
      ms: performance.now() - t0,
      summary: `${r.report.method}: parameters ${p.before} -> ${p.after} (removed ${p.removed}, zeroed ${p.zeroed})`,
    });
  }
  const int = quantize && isIntQuantize(quantize) ? quantize : undefined;
  // the float model the integer self-check compares with (after pruning: the check is about quantization alone)
  const floatCopy = quantize && quantize.check !== false ? decodeModelBytes(encodeModel(model)) : undefined;
  const intStep = async () => {
    const q = int!;
    opts.onStep?.('quantize', `quantizing to ${q.dtype}`);
    const t0 = performance.now();
    const r = await quantizeInteger(model, q, config.dims ?? {}, log);
    report.intQuantize = r.report;
    report.guided = r.guided;
    report.warnings.push(...r.warnings);
    report.steps.push({ step: 'quantize', ms: performance.now() - t0, summary: r.report.message });
  };
  // dynamic int8 and int4 go before the fusions: a fused Attention carries its Q/K/V weights as one constant input
  // that DynamicQuantizeMatMul cannot take, so quantizing after fusion leaves a quarter of the MatMul work float
  // (BERT-base, sequence 128: 0.48x float32 latency fused-then-quantized, 0.26x quantized-then-fused, 0.28x int8
  // alone). Static QDQ goes after them: Conv+BatchNorm must be folded before the weights are quantized.
  if (int && !int.static) await intStep();
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
  if (int?.static) await intStep();
  else if (quantize && !int) {
    const fq = quantize as FloatQuantizeConfig;
    opts.onStep?.('quantize', `converting to ${fq.dtype}`);
    const t0 = performance.now();
    const common = { ...fq, nodeBlockList: fq.nodeBlockList ? parseNodeBlockList(fq.nodeBlockList.join(',')) : undefined };
    const r = fq.mixed ? await convertMixed(model, { ...common, tolerance: fq.tolerance ?? 1e-2, dims: config.dims, log }) : convertFloat(model, common);
    report.quantize = r;
    report.warnings.push(...(r.warnings ?? []));
    report.steps.push({ step: 'quantize', ms: performance.now() - t0, summary: r.message });
    if (floatCopy && r.modified) {
      // the whole pipeline against the float32 model, as the user gets it; a model onnxruntime refuses throws
      const c = await checkFloatConversion(floatCopy, model, feedsFor(floatCopy, config.dims ?? {}, 2, 1000), {
        convert: common,
        minCosine: fq.minCosine,
        maxError: fq.mixed ? undefined : fq.tolerance,
      });
      report.check = c.check;
      report.warnings.push(...c.warnings);
      report.steps[report.steps.length - 1]!.summary += `; check ${c.check.passed ? 'passed' : 'FAILED'} (cosine ${c.check.cosine.toFixed(5)})`;
    }
  }
  if (int && floatCopy && report.intQuantize?.modified) {
    // the whole pipeline against the float model: fusion and quantization together, as the user gets them
    report.check = await checkQuantized(floatCopy, model, feedsFor(floatCopy, config.dims ?? {}, 2, 1000), {
      kind: report.intQuantize.kind,
      minCosine: int.minCosine,
      maxError: int.tolerance,
    });
    const c = report.check;
    report.steps[report.steps.findIndex((s) => s.step === 'quantize')].summary += `; check ${c.passed ? 'passed' : 'FAILED'} (cosine ${c.cosine.toFixed(5)})`;
  }
  report.after = stats(model);
  return { model, report };
}

/** Sizes for synthesized inputs: the config's dims, then 1 for a batch-like dimension and 32 for any other. */
function feedsFor(model: Model, dims: Record<string, number>, count: number, seed: number) {
  return synthesizeInputs(model, { dims: withDefaultDims(symbolicDims(model), dims), seed, count });
}

/** The integer step: int8 dynamic (default), int8 static QDQ, or int4 weights-only, with the mixed search. */
async function quantizeInteger(
  model: Model,
  q: IntQuantizeConfig,
  dims: Record<string, number>,
  log: (m: string) => void,
): Promise<{ report: IntQuantizeReport; guided?: GuidedReport; warnings: string[] }> {
  const warnings: string[] = [];
  const exclude = q.exclude ?? [];
  const dyn = { perChannel: q.perChannel ?? true, exclude };
  const int4 = { blockSize: q.blockSize ?? 32, accuracyLevel: q.accuracyLevel ?? 4, exclude };
  const checkFeeds = () => feedsFor(model, dims, 2, 1000);
  let report: IntQuantizeReport;
  let guided: GuidedReport | undefined;
  if (q.mixed) {
    if (q.static) throw new UsageError('quantize.mixed applies to dynamic int8 and int4, not static');
    const r = await quantizeGuided(model, {
      dtype: q.dtype,
      options: q.dtype === 'int4' ? int4 : dyn,
      feeds: checkFeeds(),
      minCosine: q.minCosine,
      maxError: q.tolerance,
      log,
    });
    report = r.report;
    guided = r.guided;
  } else if (q.dtype === 'int4') report = quantizeInt4(model, int4);
  else if (q.static) {
    warnings.push(
      'static int8 calibrated on 8 synthesized input sets: activation ranges measured on real data matter (autoglm quantize --static --calibration)',
    );
    report = await quantizeStatic(model, { calibration: feedsFor(model, dims, 8, 0), method: q.method ?? 'minmax', perChannel: q.perChannel ?? true, exclude });
  } else report = quantizeDynamic(model, dyn);
  warnings.push(...report.warnings);
  if (!report.modified) warnings.push(`${q.dtype}: ${report.message}`);
  return { report, guided, warnings };
}
