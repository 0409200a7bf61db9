/**
 * `autoglm graph <model>`: the relation graph of the last attention layer (what graph F1 counts), as DOT, JSON or SVG;
 * `--against <baseline>` colours the edges kept, lost and added. A thin layer over bench/graph.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { loadVocab, relationGraph, renderGraphDot, renderGraphJson, renderGraphSvg } from '../../bench/graph.js';
import { UsageError } from '../../errors.js';
import { adaptFeeds } from '../../inputs/adapt.js';
import { loadInputs } from '../../inputs/load.js';
import { synthesizeInputs } from '../../inputs/synthesize.js';
import { parseEdgeRule } from '../../measure/graph-f1.js';
import { loadModel, writeFileAtomic } from '../../onnx/io.js';
import type { ExitCode } from '../exit.js';
import type { CliIO } from '../ui/io.js';
import { collect, parseDims } from '../ui/options.js';
import type { Feeds } from '../../runtime/session.js';
import { helpEpilogue } from '../ui/usage.js';

interface GraphFlags {
  inputs?: string;
  dim: string[];
  seed?: string;
  set?: string;
  vocab?: string;
  format: string;
  against?: string;
  graphThreshold?: string;
  graphEdges?: string;
  output?: string;
}

export function register(program: Command, io: CliIO, _exit?: ExitCode): void {
  program
    .command('graph')
    .description("draw the last attention layer's relation graph (the edges graph F1 counts); --against colours kept, lost and added edges")
    .addHelpText(
      'after',
      helpEpilogue([
        'autoglm graph model.onnx --dim batch=1 --dim sequence=32 -o graph.dot',
        'autoglm graph pruned.onnx --against model.onnx --inputs inputs/ --vocab vocab.json --format svg -o graph.svg',
        'autoglm graph model.onnx --dim batch=1 --dim sequence=32 --graph-threshold 4/T --format json',
      ]),
    )
    .argument('<model>', 'ONNX model')
    .option('--inputs <path>', 'input file (.npy, .pb, .json) or folder of input sets, instead of synthesized inputs')
    .option('--dim <name=size>', 'size of a symbolic input dimension (repeatable)', collect, [])
    .option('--seed <n>', 'seed of synthesized inputs (default 0)')
    .option('--set <n>', 'which input set to draw (default 0)')
    .option('--vocab <file>', 'token labels: a JSON array, a JSON object token -> id, or one token per line')
    .option('--format <format>', 'dot, json or svg (svg needs Graphviz dot)', 'dot')
    .option('--against <baseline>', 'compare with a baseline model on the same inputs: edges kept, lost (red, dashed) and added (green)')
    .option('--graph-threshold <t>', 'edge threshold: absolute (default 0.2) or relative to uniform attention (4/T)')
    .option('--graph-edges <rule>', 'threshold (default) or topk:K')
    .option('-o, --output <file>', 'write here instead of stdout')
    .action(async (file: string, flags: GraphFlags) => {
      const at = (p: string): string => path.resolve(io.cwd, p);
      if (!['dot', 'json', 'svg'].includes(flags.format)) throw new UsageError(`--format must be dot, json or svg, got '${flags.format}'`);
      const rule = parseEdgeRule(flags.graphThreshold, flags.graphEdges);
      if (flags.output !== undefined) {
        const dir = path.dirname(at(flags.output));
        if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`--output ${flags.output}: folder ${dir} does not exist`);
      }
      const seed = flags.seed === undefined ? 0 : Number(flags.seed);
      if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got '${flags.seed}'`);
      const set = flags.set === undefined ? 0 : Number(flags.set);
      if (!Number.isInteger(set) || set < 0) throw new UsageError(`--set must be an integer >= 0, got '${flags.set}'`);
      const model = loadModel(at(file));
      const against = flags.against !== undefined ? loadModel(at(flags.against)) : undefined;
      let feeds: Feeds[];
      if (flags.inputs !== undefined) {
        if (!fs.existsSync(at(flags.inputs))) throw new UsageError(`--inputs ${flags.inputs}: no such file or folder`);
        feeds = loadInputs(at(flags.inputs), against ?? model);
      } else feeds = synthesizeInputs(against ?? model, { dims: parseDims(flags.dim), seed, count: set + 1 });
      feeds = adaptFeeds(feeds, model).feeds;
      const vocab = flags.vocab !== undefined ? loadVocab(at(flags.vocab)) : null;
      const g = await relationGraph(model, feeds, { rule, set, vocab, against });
      const dot = flags.format === 'json' ? '' : renderGraphDot(g, path.basename(file));
      const text = flags.format === 'json' ? renderGraphJson(g) : flags.format === 'svg' ? renderGraphSvg(dot) : dot;
      if (flags.output !== undefined) {
        writeFileAtomic(at(flags.output), [Buffer.from(text, 'utf8')]);
        io.info(
          `wrote ${flags.format} graph: ${flags.output} (${g.edges.length} edge(s)${g.counts ? `: kept ${g.counts.kept}, lost ${g.counts.lost}, added ${g.counts.added}` : ''})\n`,
        );
      } else io.out(text);
    });
}
