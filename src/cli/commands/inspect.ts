/** `autoglm inspect <model>`: what is in a model. */
import type { Command } from 'commander';
import { inspectModel, type InspectResult } from '../../inspect.js';
import { loadModel } from '../../onnx/io.js';
import { formatShape } from '../../ir/types.js';
import { printable, type CliIO } from '../ui/io.js';
import type { ExitCode } from '../exit.js';
import { fmtBytes, fmtCount } from '../../util/format.js';
import { renderTable } from '../../util/table.js';
import { helpEpilogue } from '../ui/usage.js';

export function register(program: Command, io: CliIO, _exit?: ExitCode): void {
  program
    .command('inspect')
    .description('show what is in a model: opsets, inputs/outputs, op histogram, parameters, size')
    .addHelpText('after', helpEpilogue(['autoglm inspect model.onnx', 'autoglm inspect model.onnx --json | jq .parameters.total']))
    .argument('<model>', 'ONNX model file')
    .option('--json', 'print a stable JSON object instead of tables')
    .action((file: string, opts: { json?: boolean }) => {
      const result = inspectModel(loadModel(file));
      if (opts.json) io.out(JSON.stringify(result, null, 2) + '\n');
      else io.out(renderInspect(result, io));
    });
}

export function renderInspect(r: InspectResult, io: CliIO): string {
  const c = io.color;
  const lines: string[] = [];
  const p = r.parameters;
  if (r.file) {
    lines.push(
      `${c.bold('file')}       ${printable(r.file.path)}  ${fmtBytes(r.file.size)}${r.file.externalBytes ? ` + ${fmtBytes(r.file.externalBytes)} external (${printable(r.file.externalFiles.join(', '))})` : ''}`,
    );
  }
  lines.push(`${c.bold('ir')}         ${r.irVersion}   ${c.bold('opsets')} ${printable(r.opsets.map((o) => `${o.domain} ${o.version}`).join(', '))}`);
  if (r.producer.name) lines.push(`${c.bold('producer')}   ${printable(`${r.producer.name} ${r.producer.version}`)}`);
  lines.push(`${c.bold('nodes')}      ${r.nodes.total} (main graph ${r.nodes.mainGraph}, subgraphs ${r.nodes.subgraphs}, functions ${r.nodes.functions})`);
  lines.push(
    `${c.bold('parameters')} ${fmtCount(p.total)} (${p.total}), non-zero ${p.nonZero} (${p.total ? ((100 * p.nonZero) / p.total).toFixed(1) : '0.0'}%), ${fmtBytes(p.bytes)} in ${p.tensors} tensors`,
  );
  lines.push('');
  const io2 = [
    ...r.inputs.map((v) => ['input', v.name, v.dtype, formatShape(v.shape ?? undefined)]),
    ...r.outputs.map((v) => ['output', v.name, v.dtype, formatShape(v.shape ?? undefined)]),
  ];
  lines.push(renderTable(['', 'name', 'dtype', 'shape'], io2, { align: ['left', 'left', 'left', 'left'] }));
  if (p.byDtype.length) {
    lines.push(
      renderTable(
        ['weights', 'params', 'non-zero', 'bytes', 'tensors'],
        p.byDtype.map((d) => [d.dtype, d.params, d.nonZero, fmtBytes(d.bytes), d.tensors]),
      ),
    );
  }
  lines.push(
    renderTable(
      ['op', 'domain', 'count'],
      r.ops.map((o) => [o.opType, o.domain || 'ai.onnx', o.count]),
      { align: ['left', 'left', 'right'] },
    ),
  );
  return lines.join('\n');
}
